"""Bounded append-only record log (event logs, outbox, interval registers) on a flash store.

It must never lose a record whose append returned (except the oldest, counted in
dropped_total, when the log is full), never return a torn or corrupt record, and never
reuse or rewind a sequence number across reboots and power cuts.

On flash: segment files `<name>.<n>` (n = 0, 1, ... decimal) of at most segment_bytes,
only ever appended to; each holds records framed `<HHII` = magic 0x4C52, payload length,
seq (u32), CRC-32 over those 8 bytes + payload; then the payload. A torn tail stops the
scan of its segment and is never appended after (the next record opens a new segment).
Metadata `<name>.m` is a SlotStore holding `<II` = gone_through (records with seq <= it
were consumed or dropped), dropped_total. Old data goes by removing whole segments, after
the metadata saying so has been saved.
"""
import struct
from binascii import crc32

from storage.flash import StorageError, check_name
from storage.slots import SlotStore

_FRAME = "<HHII"
_FRAME_LEN = 12
_MAGIC = 0x4C52
_MAX_PAYLOAD = 0xFFFF
_MAX_SEQ = 0xFFFFFFFF
_META = "<II"
_CHUNK = 256  # read granularity while scanning; records are never read a segment at a time
# Segment entry fields: [index, first_seq (None if its first record is invalid), size].
_INDEX = 0
_FIRST = 1
_SIZE = 2


def frame(seq, payload):
    """The on-flash bytes of one record."""
    head = struct.pack("<HH", _MAGIC, len(payload)) + struct.pack("<I", seq)
    crc = crc32(payload, crc32(head)) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + bytes(payload)


class AppendLog:
    """Records (seq, payload bytes) with seq strictly increasing, oldest dropped when full."""

    def __init__(self, store, name, max_bytes, segment_bytes=None):
        check_name(name)
        if len(name) > 20:
            raise ValueError("bad-name", name)
        if segment_bytes is None:
            segment_bytes = max_bytes // 4
        if segment_bytes < _FRAME_LEN + 1 or segment_bytes > max_bytes:
            raise ValueError("bad-size", segment_bytes)
        self._store = store
        self._name = name
        self.max_bytes = max_bytes
        self._seg_bytes = segment_bytes
        self._max_payload = min(segment_bytes - _FRAME_LEN, _MAX_PAYLOAD)
        self._meta = SlotStore(store, name + ".m")
        self._open()

    # --- public -------------------------------------------------------------------------
    @property
    def first_seq(self):
        """Seq of the oldest record held, None if the log is empty."""
        return self._first

    @property
    def last_seq(self):
        """Seq of the newest record held, None if the log is empty."""
        return self._last

    def bytes_used(self):
        return sum(seg[_SIZE] for seg in self._segs)

    def append(self, payload):
        """Store payload as one record and return its seq once it is on flash."""
        n = len(payload)
        if n > self._max_payload:
            raise ValueError("record-too-large", n)
        seq = self._next_seq
        if seq > _MAX_SEQ:
            raise StorageError("seq-exhausted", self._name)
        data = frame(seq, payload)
        segs = self._segs
        roll = not segs or self._tail_full or segs[-1][_SIZE] + len(data) > self._seg_bytes
        new_index = segs[-1][_INDEX] + 1 if segs else 0
        if self.bytes_used() + len(data) > self.max_bytes:
            self._make_room(len(data), keep_tail=not roll)
        tail_last_before = self._tail_last
        if roll:
            segs.append([new_index, seq, 0])
            self._tail_last = None
            self._tail_full = False
        try:
            return self._write_tail(data, seq, seq)
        except Exception:
            if roll and self._next_seq == seq:
                segs.pop()  # the new segment was never written
                self._tail_last = tail_last_before
            raise

    def _write_tail(self, data, first, last):
        """Append the frames of records first..last to the tail segment; last once they
        are on flash. The numbers are spent even if the write fails: a record that landed
        whole but was not acknowledged must never share its seq with a later one."""
        self._next_seq = last + 1
        tail = self._segs[-1]
        size_before = tail[_SIZE]
        try:
            self._store.append(self._seg_name(tail[_INDEX]), data)
        except Exception:
            self._tail_full = True
            tail[_SIZE] = self._store.size(self._seg_name(tail[_INDEX])) or 0
            if tail[_SIZE] == size_before:
                # not one byte reached the flash: the numbers are free again, as they would
                # be after a reboot (which numbers on from what is on flash), so the log and
                # a hash chain over it show no gap for a write that never happened
                self._next_seq = first
            raise
        tail[_SIZE] += len(data)
        self._tail_last = last
        self._last = last
        if self._first is None:
            self._first = first
        return last

    def extend(self, payloads):
        """Store several records and return the last seq once they are on flash. Where
        they fit the tail segment it is one write (one copy of its partial last block, a
        block erase, instead of one per record); otherwise one append each. A failed write
        raises like append: what landed whole is found by the next scan."""
        payloads = list(payloads)
        frames_len = sum(_FRAME_LEN + len(p) for p in payloads)
        segs = self._segs
        if (len(payloads) < 2 or not segs or self._tail_full
                or segs[-1][_SIZE] + frames_len > self._seg_bytes
                or self.bytes_used() + frames_len > self.max_bytes
                or max(len(p) for p in payloads) > self._max_payload):
            seq = None
            for payload in payloads:
                seq = self.append(payload)
            return seq
        first = self._next_seq
        last = first + len(payloads) - 1
        if last > _MAX_SEQ:
            raise StorageError("seq-exhausted", self._name)
        return self._write_tail(b"".join(frame(first + k, p) for k, p in enumerate(payloads)),
                                first, last)

    def records(self, after_seq=None):
        """Iterate (seq, payload) oldest first, only seq > after_seq if given.

        Do not append or drop while iterating."""
        floor = self._gone if after_seq is None or after_seq < self._gone else after_seq
        segs = list(self._segs)
        for i in range(len(segs)):
            upper = self._next_first(segs, i + 1)
            if upper is not None and upper <= floor + 1:
                continue  # every record of this segment is <= floor
            for seq, payload, _end in self._scan(segs[i][_INDEX]):
                if seq > floor:
                    floor = seq
                    yield seq, payload

    def drop_through(self, seq):
        """Discard every record with seq <= seq (e.g. once acknowledged)."""
        seq = min(seq, self._next_seq - 1)
        if seq <= self._gone:
            return
        self._save_meta(seq, self.dropped_total)
        self._cleanup()
        self._refresh_ends()

    # --- internals ------------------------------------------------------------------------
    def _seg_name(self, index):
        return "%s.%d" % (self._name, index)

    def _save_meta(self, gone_through, dropped_total):
        self._meta.save(struct.pack(_META, gone_through, dropped_total))
        self._gone = gone_through
        self.dropped_total = dropped_total

    def _open(self):
        meta = self._meta.load()
        if meta is None:
            self._gone, self.dropped_total = 0, 0
        elif len(meta) != struct.calcsize(_META):
            raise StorageError("meta-format", self._name)
        else:
            self._gone, self.dropped_total = struct.unpack(_META, meta)
        prefix = self._name + "."
        indices = []
        for name in self._store.names():
            rest = name[len(prefix):]
            if name.startswith(prefix) and rest.isdigit():
                indices.append(int(rest))
        indices.sort()
        # A tail holding no valid record is only garbage from a cut: remove it.
        self._tail_last = None
        self._tail_full = False
        while indices:
            tail_name = self._seg_name(indices[-1])
            valid_end = 0
            for seq, _payload, end in self._scan(indices[-1]):
                self._tail_last = seq
                valid_end = end
            if self._tail_last is not None:
                self._tail_full = self._store.size(tail_name) > valid_end
                break
            self._store.remove(tail_name)
            indices.pop()
        self._segs = []
        for index in indices:
            first = None
            for seq, _payload, _end in self._scan(index):
                first = seq
                break
            self._segs.append([index, first, self._store.size(self._seg_name(index))])
        self._next_seq = max(self._gone, self._tail_last or 0) + 1
        self._cleanup()
        self._refresh_ends()

    def _refresh_ends(self):
        self._first = None
        for seq, _payload in self.records():
            self._first = seq
            break
        last = self._tail_last if self._segs else None
        self._last = last if last is not None and last > self._gone else None

    @staticmethod
    def _next_first(segs, start):
        for i in range(start, len(segs)):
            if segs[i][_FIRST] is not None:
                return segs[i][_FIRST]
        return None

    def _cleanup(self):
        """Remove whole segments from the front while every record in them is gone."""
        segs = self._segs
        while segs:
            if len(segs) == 1:
                gone = self._tail_last is None or self._tail_last <= self._gone
            else:
                upper = self._next_first(segs, 1)
                gone = segs[0][_FIRST] is None or (upper is not None and upper <= self._gone + 1)
            if not gone:
                return
            self._store.remove(self._seg_name(segs[0][_INDEX]))
            segs.pop(0)
            if not segs:
                self._tail_last = None

    def _make_room(self, need, keep_tail):
        """Drop the oldest segments until need more bytes fit; metadata first, then files."""
        segs = self._segs
        limit = len(segs) - 1 if keep_tail else len(segs)
        total = self.bytes_used()
        gone = self._gone
        dropped = 0
        count = 0
        while total + need > self.max_bytes and count < limit:
            for seq, _payload, _end in self._scan(segs[count][_INDEX]):
                if seq > gone:
                    gone = seq
                    dropped += 1
            total -= segs[count][_SIZE]
            count += 1
        if gone > self._gone:
            self._save_meta(gone, self.dropped_total + dropped)
        for _ in range(count):
            self._store.remove(self._seg_name(segs[0][_INDEX]))
            segs.pop(0)
        if not segs:
            self._tail_last = None
        self._refresh_ends()

    def _scan(self, index):
        """Yield (seq, payload, end offset) of one segment's valid records, reading in chunks;
        stops at the first torn or corrupt record."""
        name = self._seg_name(index)
        read = self._store.read
        buf = b""
        buf_pos = 0
        pos = 0
        while True:
            if pos + _FRAME_LEN > buf_pos + len(buf):
                buf = read(name, pos, _CHUNK)
                buf_pos = pos
                if buf is None or len(buf) < _FRAME_LEN:
                    return
            o = pos - buf_pos
            magic, length, seq, crc = struct.unpack_from(_FRAME, buf, o)
            if magic != _MAGIC:
                return
            end = pos + _FRAME_LEN + length
            if end > buf_pos + len(buf):
                buf = read(name, pos, max(_CHUNK, _FRAME_LEN + length))
                buf_pos = pos
                o = 0
                if buf is None or len(buf) < _FRAME_LEN + length:
                    return
            payload = buf[o + _FRAME_LEN:o + _FRAME_LEN + length]
            if crc32(payload, crc32(buf[o:o + 8])) & 0xFFFFFFFF != crc:
                return
            yield seq, payload, end
            pos = end
