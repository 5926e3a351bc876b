"""Plaintext of an operator uplink message: quarter-hour readings and events.

  message := version u8 (2; a head-end also reads 1, which has no type 5) | item*
  item    := type u8 | length u16 (big-endian) | body
  type 1, quarter-hour reading (25 bytes): record seq u32 | interval end UTC s u32 |
          import T1, T2, export T1, T2 Wh u32 each | status u8 (metering.intervals bits);
          sent for quarter-hours recorded before the four-quadrant registers existed
  type 5, quarter-hour reading with four-quadrant energy (49 bytes): as type 1, with
          reactive Q1, Q2, Q3, Q4 varh and apparent import, export VAh (u32 each)
          between the export registers and the status
  type 2, audit entry: seq u32 | the raw entry (prev hash(32) | UTC s u32 | code u16 |
          text), so the head-end can verify the hash chain (control.audit)
  type 3, readings lost (outbox overflow): first seq u32 | count u32
  type 4, firmware verdict on a package that came over the link: UTF-8 text,
          "accepted <version>" or "rejected <reason>" (at most 200 bytes)

Only what the operator needs: no instantaneous power, no per-second data.
The same codec runs on the board (encode) and in the head-end (decode).
"""
import struct

from refusal import Refusal

VERSION = 2
VERSIONS_READ = (1, 2)  # a head-end reads messages from meters with older firmware
ITEM_READING = 1
ITEM_EVENT = 2
ITEM_LOST = 3
ITEM_FW_RESULT = 4
ITEM_READING_4Q = 5
MAX_FW_RESULT = 200
_READING = ">IIIIIIB"
_READING_4Q = ">IIIIIIIIIIIIB"
_LOST = ">II"


class PayloadError(Refusal):
    pass


def _item(kind, body):
    return struct.pack(">BH", kind, len(body)) + body


def reading(seq, rec):
    """rec: decoded interval record (metering.intervals.decode): type 5 when it has the
    four-quadrant registers, else type 1."""
    imp = rec["import_wh"]
    exp = rec["export_wh"]
    quadrants = rec.get("quadrants")
    if quadrants is None:
        return _item(ITEM_READING, struct.pack(_READING, seq, rec["end_s"], imp[0], imp[1],
                                               exp[0], exp[1], rec["status"]))
    return _item(ITEM_READING_4Q, struct.pack(
        _READING_4Q, seq, rec["end_s"], imp[0], imp[1], exp[0], exp[1], quadrants[0],
        quadrants[1], quadrants[2], quadrants[3], quadrants[4], quadrants[5], rec["status"]))


def event(seq, raw_entry):
    return _item(ITEM_EVENT, struct.pack(">I", seq) + raw_entry)


def lost(first_seq, count):
    return _item(ITEM_LOST, struct.pack(_LOST, first_seq, count))


def fw_result(text):
    return _item(ITEM_FW_RESULT, text.encode()[:MAX_FW_RESULT])


def message(items):
    return bytes((VERSION,)) + b"".join(items)


def decode(data):
    """List of dicts, one per item; refuses anything malformed as a whole."""
    if not data or data[0] not in VERSIONS_READ:
        raise PayloadError("bad-version")
    version = data[0]
    items = []
    pos = 1
    while pos < len(data):
        if pos + 3 > len(data):
            raise PayloadError("truncated", "item header")
        kind, n = struct.unpack(">BH", data[pos:pos + 3])
        body = data[pos + 3:pos + 3 + n]
        if len(body) != n:
            raise PayloadError("truncated", "item body")
        pos += 3 + n
        if kind == ITEM_READING and n == struct.calcsize(_READING):
            seq, end_s, i1, i2, e1, e2, status = struct.unpack(_READING, body)
            items.append({"type": "reading", "seq": seq, "end_s": end_s,
                          "import_wh": [i1, i2], "export_wh": [e1, e2], "status": status})
        elif kind == ITEM_READING_4Q and version >= 2 and n == struct.calcsize(_READING_4Q):
            fields = struct.unpack(_READING_4Q, body)
            items.append({"type": "reading", "seq": fields[0], "end_s": fields[1],
                          "import_wh": [fields[2], fields[3]],
                          "export_wh": [fields[4], fields[5]],
                          "reactive_varh": list(fields[6:10]),
                          "apparent_vah": list(fields[10:12]), "status": fields[12]})
        elif kind == ITEM_EVENT and n >= 4 + 32 + 6:
            seq = struct.unpack(">I", body[:4])[0]
            raw = bytes(body[4:])
            time_s, code = struct.unpack(">IH", raw[32:38])
            items.append({"type": "event", "seq": seq, "raw": raw, "time_s": time_s,
                          "code": code, "text": raw[38:].decode()})
        elif kind == ITEM_LOST and n == struct.calcsize(_LOST):
            first, count = struct.unpack(_LOST, body)
            items.append({"type": "lost", "first_seq": first, "count": count})
        elif kind == ITEM_FW_RESULT and n <= MAX_FW_RESULT:
            items.append({"type": "fw_result", "text": bytes(body).decode()})
        else:
            raise PayloadError("bad-item", "type %d length %d" % (kind, n))
    return items


# downlink (head-end -> meter): the acknowledgement that lets the meter drop what it sent.
# Its own version: unchanged since version 1, so meters of every firmware read it.
ACK = 0x81
ACK_VERSION = 1
_ACK = ">BBII"


def ack(acked_invocation_counter, time_s):
    return struct.pack(_ACK, ACK_VERSION, ACK, acked_invocation_counter, time_s)


def decode_ack(data):
    if len(data) != struct.calcsize(_ACK):
        raise PayloadError("bad-ack", "length %d" % len(data))
    version, kind, acked, time_s = struct.unpack(_ACK, data)
    if version != ACK_VERSION or kind != ACK:
        raise PayloadError("bad-ack", "version/type")
    return acked, time_s
