"""Plaintext of an operator uplink message: quarter-hour readings and events.

  message := version u8 (1) | item*
  item    := type u8 | length u16 (big-endian) | body
  type 1, quarter-hour reading (25 bytes): record seq u32 | interval end UTC s u32 |
          import T1, T2, export T1, T2 Wh u32 each | status u8 (metering.intervals bits)
  type 2, event: seq u32 | UTC s u32 | code u16 | text (UTF-8, rest of the body)
  type 3, readings lost (outbox overflow): first seq u32 | count u32

Only what the operator needs: no instantaneous power, no per-second data.
The same codec runs on the board (encode) and in the head-end (decode).
"""
import struct

VERSION = 1
ITEM_READING = 1
ITEM_EVENT = 2
ITEM_LOST = 3
_READING = ">IIIIIIB"
_EVENT_HEAD = ">IIH"
_LOST = ">II"


class PayloadError(ValueError):
    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


def _item(kind, body):
    return struct.pack(">BH", kind, len(body)) + body


def reading(seq, rec):
    """rec: decoded interval record (metering.intervals.decode)."""
    return _item(ITEM_READING, struct.pack(
        _READING, seq, rec["end_s"], rec["import_wh"][0], rec["import_wh"][1],
        rec["export_wh"][0], rec["export_wh"][1], rec["status"]))


def event(seq, time_s, code, text=""):
    return _item(ITEM_EVENT, struct.pack(_EVENT_HEAD, seq, time_s, code) + text.encode())


def lost(first_seq, count):
    return _item(ITEM_LOST, struct.pack(_LOST, first_seq, count))


def message(items):
    return bytes((VERSION,)) + b"".join(items)


def decode(data):
    """List of dicts, one per item; refuses anything malformed as a whole."""
    if not data or data[0] != VERSION:
        raise PayloadError("bad-version")
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
        elif kind == ITEM_EVENT and n >= struct.calcsize(_EVENT_HEAD):
            head = struct.calcsize(_EVENT_HEAD)
            seq, time_s, code = struct.unpack(_EVENT_HEAD, body[:head])
            items.append({"type": "event", "seq": seq, "time_s": time_s, "code": code,
                          "text": bytes(body[head:]).decode()})
        elif kind == ITEM_LOST and n == struct.calcsize(_LOST):
            first, count = struct.unpack(_LOST, body)
            items.append({"type": "lost", "first_seq": first, "count": count})
        else:
            raise PayloadError("bad-item", "type %d length %d" % (kind, n))
    return items
