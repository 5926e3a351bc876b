"""A power-cut-safe record kept as two alternating slot files, `<name>.a` and `<name>.b`.

Guarantee: after a cut at any write, load() returns the old or the new payload, never
anything else, and never one older than the last completed save. It must never overwrite
the slot holding the newest valid record, nor return a slot whose CRC does not match.

Slot file: header `<4sHHII` = magic b"MSLT", format version 1, flags 0, sequence number
(u32, wraps; compared with RFC 1982 serial arithmetic), payload length; then CRC-32 (u32 LE)
over header + payload; then the payload. The file length must be exactly 20 + length.
"""
import struct
from binascii import crc32

from storage.flash import check_name

MAGIC = b"MSLT"
VERSION = 1
_HEAD = "<4sHHII"
_HEAD_LEN = 16
_OVERHEAD = 20
_SEQ_MASK = 0xFFFFFFFF
_SEQ_HALF = 0x80000000


def pack(seq, payload):
    """The bytes of one slot file holding payload with sequence number seq."""
    head = struct.pack(_HEAD, MAGIC, VERSION, 0, seq & _SEQ_MASK, len(payload))
    crc = crc32(payload, crc32(head)) & _SEQ_MASK
    return head + struct.pack("<I", crc) + bytes(payload)


def unpack(data):
    """(seq, payload) of a slot file's bytes, or None if it is missing, torn or corrupt."""
    if data is None or len(data) < _OVERHEAD:
        return None
    magic, version, flags, seq, length = struct.unpack_from(_HEAD, data, 0)
    if magic != MAGIC or version != VERSION or flags != 0 or length != len(data) - _OVERHEAD:
        return None
    (crc,) = struct.unpack_from("<I", data, _HEAD_LEN)
    payload = data[_OVERHEAD:]
    if crc32(payload, crc32(data[:_HEAD_LEN])) & _SEQ_MASK != crc:
        return None
    return seq, payload


def seq_newer(a, b):
    """True if sequence number a is after b (RFC 1982 serial arithmetic on 32 bits)."""
    diff = (a - b) & _SEQ_MASK
    return 0 < diff < _SEQ_HALF


class SlotStore:
    """One small record (calibration, energy registers, counters) on a flash store."""

    def __init__(self, store, name):
        check_name(name)
        check_name(name + ".a")
        self._store = store
        self._names = (name + ".a", name + ".b")
        self._newest = None  # index into _names of the newest valid slot
        self._seq = None
        self.load()

    @property
    def seq(self):
        """Sequence number of the newest valid record, None if there is none."""
        return self._seq

    def load(self):
        """Payload of the newest valid slot (re-read from flash), or None if neither is valid."""
        best = None
        best_index = None
        for index in (0, 1):
            record = unpack(self._store.read(self._names[index]))
            if record is not None and (best is None or seq_newer(record[0], best[0])):
                best = record
                best_index = index
        self._newest = best_index
        if best is None:
            self._seq = None
            return None
        self._seq = best[0]
        return best[1]

    def save(self, payload):
        """Write payload into the slot not holding the newest record; return its seq."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError("payload must be bytes")
        seq = 1 if self._seq is None else (self._seq + 1) & _SEQ_MASK
        target = 0 if self._newest is None else 1 - self._newest
        self._store.write(self._names[target], pack(seq, payload))
        # Only now is the new slot the newest: a failed write leaves the cache on the old one.
        self._newest = target
        self._seq = seq
        return seq
