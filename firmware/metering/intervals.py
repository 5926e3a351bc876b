"""Quarter-hour interval register: the register readings at every :00/:15/:30/:45.

Each record is the four energy registers at the boundary (cumulative, as Dutch
regulation requires), so the delta between two records equals the register delta
exactly. Kept in a bounded append-only log on flash: at least 10 days.
"""
import struct

from compat import const
from storage.applog import AppendLog
import civiltime

QUARTER_S = const(900)
RETENTION_DAYS = const(12)  # >= 10 days required; margin for an outage of the uplink
# Quarter-hours kept in RAM while the flash refuses them (full): four hours, 21 bytes each
WAITING_MAX = const(16)
_RECORD = ">IIIIIB"  # end of interval (UTC s), import T1/T2, export T1/T2 (Wh), status
RECORD_SIZE = struct.calcsize(_RECORD)

# status bits
STATUS_SUMMER = const(1)  # DSMR summer/winter flag of the interval end, local time
STATUS_POWER_FAIL = const(2)  # the meter was off during (part of) this interval
STATUS_CLOCK_SET = const(4)  # the clock was corrected during this interval
STATUS_PARTIAL = const(8)  # the meter started during this interval
STATUS_ESTIMATED = const(16)  # over 2 % of the interval's samples lost: their energy estimated
STATUS_CLOCK_INVALID = const(32)  # closed by a clock not set since boot: times estimated


def encode(end_s, values, status):
    return struct.pack(_RECORD, end_s, values[0], values[1], values[2], values[3], status)


def decode(record):
    end_s, it1, it2, et1, et2, status = struct.unpack(_RECORD, record)
    return {"end_s": end_s, "import_wh": [it1, it2], "export_wh": [et1, et2], "status": status}


# The four-quadrant registers at the same boundary (metering.quadrants: reactive Q1..Q4
# varh, apparent import and export VAh), in a log of their own keyed by the interval end:
# the "qh" records keep the format firmware before them reads, so a revert stays safe
_QUADRANT_RECORD = ">IIIIIII"
QUADRANT_RECORD_SIZE = struct.calcsize(_QUADRANT_RECORD)
# written an hour at a time: each append copies the log's partial last block (an erase),
# and the readings' own log already takes one a quarter-hour. Until then they wait in RAM
# (the uplink reads them there too); a clean stop or a supply collapse writes them; a
# crash loses at most the hour's companions (their readings then go without them), never
# the registers, which their own record keeps.
QUADRANT_BATCH = const(4)


def encode_quadrants(end_s, values):
    return struct.pack(_QUADRANT_RECORD, end_s, *values)


class _Spool:
    """Records on their way to one log: waiting in RAM while the flash refuses them (full),
    written oldest first, never stored twice under two sequence numbers."""

    def __init__(self, log):
        self.log = log
        self.waiting = []  # records the flash refused (full), oldest first, kept in RAM
        self._unsure_after = None  # an append failed: its record may be on flash after this
        self.lost_in_ram = 0  # records dropped from a full waiting list

    def add(self, record):
        self.waiting.append(record)
        if len(self.waiting) > WAITING_MAX:
            self.waiting.pop(0)
            self.lost_in_ram += 1

    def flush(self, together=False):
        """Write the waiting records to flash, oldest first, stopping at the first the
        flash refuses (it stays waiting; the next close tries again). Returns the seq of
        the last record written, or None. together: all in one write (AppendLog.extend).

        An append can fail after its records landed (the flush that follows the write, a
        full directory): the next try looks for them on flash first, so a quarter-hour is
        never stored, and sent, twice under two sequence numbers."""
        seq = None
        while self.waiting and self._unsure_after is not None:
            landed = self._find(self.waiting[0], self._unsure_after)
            if landed is None:
                break
            self.waiting.pop(0)
            seq = landed
        self._unsure_after = None
        if together and self.waiting:
            before = self.log.last_seq or 0
            try:
                seq = self.log.extend(self.waiting)
            except OSError:
                self._unsure_after = before
                return seq
            del self.waiting[:]
        while self.waiting:
            before = self.log.last_seq or 0
            try:
                seq = self.log.append(self.waiting[0])
            except OSError:
                self._unsure_after = before
                return seq
            self.waiting.pop(0)
        return seq

    def _find(self, record, after_seq):
        """The seq of `record` among the records after after_seq on flash, or None (each
        record names its own quarter-hour's end, so an equal record is the same one)."""
        for seq, stored in self.log.records(after_seq):
            if bytes(stored) == bytes(record):
                return seq
        return None


class IntervalRegister:
    def __init__(self, store, now_s):
        # framing overhead is well under 32 bytes per record
        per_day = 96 * (RECORD_SIZE + 32)
        self.log = AppendLog(store, "qh", RETENTION_DAYS * per_day)
        self._spool = _Spool(self.log)
        self.quadrant_log = AppendLog(store, "qhq", RETENTION_DAYS * 96 * (QUADRANT_RECORD_SIZE + 32))
        self._quadrant_spool = _Spool(self.quadrant_log)
        self._next_end_s = (now_s // QUARTER_S + 1) * QUARTER_S
        self._status = STATUS_PARTIAL

    @property
    def waiting(self):
        return self._spool.waiting

    @property
    def lost_in_ram(self):
        return self._spool.lost_in_ram

    def last(self):
        """The newest record (decoded), or None."""
        last_seq = self.log.last_seq
        if last_seq is None:
            return None
        for _seq, record in self.log.records(last_seq - 1):
            return decode(record)
        return None

    def last_quadrants(self):
        """The newest four-quadrant record's six values on flash, or None."""
        last_seq = self.quadrant_log.last_seq
        if last_seq is None:
            return None
        for _seq, record in self.quadrant_log.records(last_seq - 1):
            return list(struct.unpack(_QUADRANT_RECORD, record)[1:])
        return None

    def flag(self, status_bits):
        self._status |= status_bits

    def clock_stepped(self, now_s, first_set):
        """The clock was corrected; first_set: from unset (estimated since boot) to the
        operator's time, whatever the step. Then the next boundary follows the true time
        (an estimate that ran days behind must not read as days switched off)."""
        self._status |= STATUS_CLOCK_SET
        if first_set:
            self._next_end_s = (now_s // QUARTER_S + 1) * QUARTER_S

    def due(self, now_s):
        return now_s >= self._next_end_s

    def close(self, now_s, values, quadrants=None):
        """Record the boundary just passed with the registers as they are now, and the
        four-quadrant registers (six values) beside it when given."""
        end_s = self._next_end_s
        if now_s - end_s >= QUARTER_S:  # the meter was off over whole intervals
            self._status |= STATUS_POWER_FAIL
            end_s = now_s // QUARTER_S * QUARTER_S
        status = self._status | (STATUS_SUMMER if civiltime.is_summer(end_s) else 0)
        self._next_end_s = end_s + QUARTER_S
        self._status = 0
        self._spool.add(encode(end_s, values, status))
        if quadrants is not None:
            self._quadrant_spool.add(encode_quadrants(end_s, quadrants))
        return self.flush(companions=len(self._quadrant_spool.waiting) >= QUADRANT_BATCH)

    def flush(self, companions=False):
        """Write the readings waiting in RAM (see _Spool.flush), and with companions the
        four-quadrant records too; the seq of the last reading written, or None."""
        seq = self._spool.flush()
        if companions:
            self._quadrant_spool.flush(together=True)
        return seq

    def records(self, after_seq=None):
        """(seq, decoded record) oldest first; a record whose four-quadrant companion is on
        flash carries it as "quadrants" (six values). Matched by the interval end: both
        logs are appended in end order, so one pass over each suffices; a reading without a
        companion (written by older firmware, or refused by a full flash) has none."""
        companions = self._companions(after_seq)
        pending = None  # the first companion not yet matched, None once they run out
        more = True
        for seq, record in self.log.records(after_seq):
            rec = decode(record)
            end_s = rec["end_s"]
            while more and (pending is None or pending[0] < end_s):
                try:  # next() with a default is not on every port
                    pending = next(companions)
                except StopIteration:
                    pending, more = None, False
            if pending is not None and pending[0] == end_s:
                rec["quadrants"] = list(pending[1:])
            yield seq, rec

    def _companions(self, after_seq):
        """The four-quadrant records from about where the readings after after_seq start:
        the two logs' seqs run apart only by appends one took and the other did not."""
        start = None
        if after_seq is not None:
            offset = (self.log.last_seq or 0) - (self.quadrant_log.last_seq or 0)
            start = max(0, after_seq - max(offset, 0) - WAITING_MAX)
        for _seq, record in self.quadrant_log.records(start):
            yield struct.unpack(_QUADRANT_RECORD, record)
        for record in list(self._quadrant_spool.waiting):  # the hour not yet written
            yield struct.unpack(_QUADRANT_RECORD, record)
