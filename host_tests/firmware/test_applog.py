"""Append-only log: records come back in order with rising seq, a full log drops the oldest
and counts them, torn or corrupt records are never returned, and a power cut at any write
keeps every acknowledged record and never rewinds the sequence number."""

from mptest import raises, temp_root
from fakes.flash import FakeFlash, PowerLoss
from storage.applog import AppendLog, frame
from storage.flash import FileStore

TEARS = (None, 0, 0.5, 1)


def _payload(i):
    return bytes((i * 13 + k) & 0xFF for k in range(3 + (i * 7) % 17))


def _fill(log, count, start=0):
    return [(log.append(_payload(i)), _payload(i)) for i in range(start, start + count)]


def _segments(flash, name="ev"):
    return [n for n in flash.names() if n.startswith(name + ".") and n[len(name) + 1:].isdigit()]


class _ReadCounter:
    """Wraps a store and remembers the largest single read."""

    def __init__(self, store):
        self.store = store
        self.largest_read = 0

    def read(self, name, offset=0, length=None):
        data = self.store.read(name, offset, length)
        if data is not None:
            self.largest_read = max(self.largest_read, len(data))
        return data

    def __getattr__(self, attr):
        return getattr(self.store, attr)


# --- plain behaviour ----------------------------------------------------------------------

def test_empty_log_has_no_records():
    log = AppendLog(FakeFlash(), "ev", 1024)
    assert list(log.records()) == []
    assert log.first_seq is None and log.last_seq is None
    assert log.dropped_total == 0


def test_records_come_back_in_order_with_rising_seq():
    log = AppendLog(FakeFlash(), "ev", 4096)
    written = _fill(log, 20)
    assert list(log.records()) == written
    assert [s for s, _ in written] == list(range(1, 21))
    assert log.first_seq == 1 and log.last_seq == 20


def test_records_after_seq_skips_older_ones():
    log = AppendLog(FakeFlash(), "ev", 1024, segment_bytes=100)
    written = _fill(log, 20)
    assert list(log.records(after_seq=12)) == written[12:]
    assert list(log.records(after_seq=20)) == []


def test_reopen_keeps_records_and_continues_the_sequence():
    flash = FakeFlash()
    written = _fill(AppendLog(flash, "ev", 1024, segment_bytes=100), 10)
    log = AppendLog(flash, "ev", 1024, segment_bytes=100)
    assert list(log.records()) == written
    assert log.append(b"next") == 11


def test_drop_through_discards_consumed_records_and_seq_keeps_rising():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 1024, segment_bytes=100)
    written = _fill(log, 12)
    log.drop_through(5)
    assert list(log.records()) == written[5:]
    assert log.first_seq == 6
    log.drop_through(12)
    assert list(log.records()) == [] and log.last_seq is None
    assert _segments(flash) == []
    reopened = AppendLog(flash, "ev", 1024, segment_bytes=100)
    assert list(reopened.records()) == []
    assert reopened.append(b"after") == 13


def test_drop_through_removes_whole_consumed_segments_only():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 4096, segment_bytes=64)
    written = _fill(log, 16)
    before = _segments(flash)
    log.drop_through(written[7][0])
    after = _segments(flash)
    assert 0 < len(after) < len(before)
    assert list(AppendLog(flash, "ev", 4096, segment_bytes=64).records()) == written[8:]


def test_full_log_drops_the_oldest_first_and_counts_them():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 400, segment_bytes=100)
    written = _fill(log, 60)
    kept = list(log.records())
    assert kept == written[len(written) - len(kept):]
    assert log.dropped_total == len(written) - len(kept) > 0
    assert log.bytes_used() <= 400
    assert sum(len(flash.files[n]) for n in _segments(flash)) <= 400
    # Whole-segment drops: at most one segment's worth below the budget is given up.
    assert sum(len(frame(s, p)) for s, p in kept) > 400 - 100 - 40


def test_dropped_total_and_seq_survive_reopen():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 400, segment_bytes=100)
    _fill(log, 60)
    again = AppendLog(flash, "ev", 400, segment_bytes=100)
    assert again.dropped_total == log.dropped_total
    assert list(again.records()) == list(log.records())
    assert again.append(b"x") == 61


def test_consumed_records_are_not_counted_as_dropped():
    log = AppendLog(FakeFlash(), "ev", 400, segment_bytes=100)
    for i in range(60):
        log.drop_through(log.append(_payload(i)))
    assert log.dropped_total == 0


def test_torn_tail_record_is_dropped_on_open_and_never_appended_after():
    flash = FakeFlash()
    written = _fill(AppendLog(flash, "ev", 1024), 3)
    tail = _segments(flash)[-1]
    flash.files[tail] += frame(4, b"torn-record")[:9]
    log = AppendLog(flash, "ev", 1024)
    assert list(log.records()) == written
    assert log.append(b"fresh") == 4
    assert list(AppendLog(flash, "ev", 1024).records()) == written + [(4, b"fresh")]


def test_corrupt_record_is_never_returned():
    flash = FakeFlash()
    written = _fill(AppendLog(flash, "ev", 4096, segment_bytes=1024), 10)
    name = _segments(flash)[0]
    clean = flash.files[name]
    for bit in range(0, 8 * len(clean), 5):
        flash.files[name] = clean
        flash.flip_bit(name, bit)
        got = list(AppendLog(flash, "ev", 4096, segment_bytes=1024).records())
        assert got == written[:len(got)], bit  # a clean prefix, nothing altered


def test_failed_append_never_shares_its_seq_with_a_later_record():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 1024)
    log.append(b"one")
    flash.arm(1, tear=1)  # the record lands whole, but the caller sees an error
    raises(PowerLoss, log.append, b"two")
    flash.reboot()  # a transient fault: the same object carries on
    three = log.append(b"three")
    got = list(AppendLog(flash, "ev", 1024).records())
    assert got == [(1, b"one"), (2, b"two"), (three, b"three")] and three == 3


def test_record_larger_than_a_segment_is_rejected():
    flash = FakeFlash()
    log = AppendLog(flash, "ev", 400, segment_bytes=100)
    raises(ValueError, log.append, bytes(89))
    assert flash.writes == 0
    assert log.append(bytes(88)) == 1


def test_bad_names_and_sizes_are_rejected():
    flash = FakeFlash()
    for name in ("", "a/b", "..", "x" * 21):
        raises(ValueError, AppendLog, flash, name, 1024)
    raises(ValueError, AppendLog, flash, "ev", 1024, 2048)
    raises(ValueError, AppendLog, flash, "ev", 40)


def test_scan_reads_record_by_record_not_whole_segments():
    counter = _ReadCounter(FakeFlash())
    log = AppendLog(counter, "ev", 64 * 1024, segment_bytes=16 * 1024)
    written = [(log.append(bytes(100)), bytes(100)) for _ in range(100)]
    written.append((log.append(bytes(range(256)) * 4), bytes(range(256)) * 4))
    counter.largest_read = 0
    assert list(AppendLog(counter, "ev", 64 * 1024, segment_bytes=16 * 1024).records()) == written
    assert counter.largest_read <= 1024 + 12


def test_append_log_works_on_a_real_directory():
    path = temp_root("applog")  # unique per run: the unix port has no os.getpid()
    log = AppendLog(FileStore(path), "ev", 400, segment_bytes=100)
    written = _fill(log, 30)
    log.drop_through(written[-5][0])
    again = AppendLog(FileStore(path), "ev", 400, segment_bytes=100)
    assert list(again.records()) == written[-4:]


# --- power cuts at every write -----------------------------------------------------------

class _Run:
    """What the code under test acknowledged before the cut."""

    def __init__(self):
        self.acked = []  # (seq, payload) whose append returned
        self.inflight = None  # payload of the append in progress
        self.consumed = 0  # last drop_through that returned
        self.dropping = 0  # drop_through in progress (may or may not have landed)


def _scenario(log, run, appends, drop_every):
    for i in range(appends):
        run.inflight = _payload(i)
        run.acked.append((log.append(run.inflight), run.inflight))
        run.inflight = None
        if drop_every and i % drop_every == drop_every - 1:
            # Alternate keeping the newest record and consuming everything.
            run.dropping = run.acked[-1 - (i // drop_every) % 2][0]
            log.drop_through(run.dropping)
            run.consumed = run.dropping


def _check_after_cut(log, run, bounded):
    got = list(log.records())
    seqs = [s for s, _ in got]
    assert seqs == sorted(set(seqs)), "seq not strictly increasing"
    acked = dict(run.acked)
    last_acked = run.acked[-1][0] if run.acked else 0
    for seq, payload in got:
        # Every record held is one that was acknowledged, or the one in flight at the cut.
        assert acked.get(seq) == payload or (seq > last_acked and payload == run.inflight)
    held = set(seqs)
    missing = [s for s, _ in run.acked if s > run.consumed and s not in held]
    if not bounded:
        assert all(s <= run.dropping for s in missing), missing
    else:
        # Only the oldest go, and each one lost beyond a consumed range is counted.
        assert not got or all(s < seqs[0] for s in missing), missing
        assert len([s for s in missing if s > run.dropping]) <= log.dropped_total
        assert log.bytes_used() <= log.max_bytes
    new_seq = log.append(b"after-cut")
    assert new_seq > last_acked and (not seqs or new_seq > seqs[-1])
    assert list(log.records())[-1] == (new_seq, b"after-cut")


def _cut_at_every_write(max_bytes, segment_bytes, appends, drop_every, bounded):
    runs = 0
    for tear in TEARS:
        cut_at = 1
        while True:
            flash = FakeFlash(power_loss_after=cut_at, tear=tear)
            run = _Run()
            try:
                log = AppendLog(flash, "ev", max_bytes, segment_bytes)
                _scenario(log, run, appends, drop_every)
            except PowerLoss:
                flash.reboot()
                log = AppendLog(flash, "ev", max_bytes, segment_bytes)
                _check_after_cut(log, run, bounded)
                cut_at += 1
                runs += 1
                continue
            assert [s for s, _ in log.records()][-1] == run.acked[-1][0]
            break
    return runs


def test_power_cut_at_every_write_keeps_every_acknowledged_record():
    runs = _cut_at_every_write(4096, 96, appends=14, drop_every=5, bounded=False)
    assert runs > 4 * 14


def test_power_cut_while_full_only_ever_loses_the_oldest_records():
    runs = _cut_at_every_write(240, 60, appends=24, drop_every=0, bounded=True)
    assert runs > 4 * 24


def test_power_cut_while_full_and_consuming_keeps_acknowledged_records():
    runs = _cut_at_every_write(240, 60, appends=20, drop_every=6, bounded=True)
    assert runs > 4 * 20


# --- several records in one write --------------------------------------------------------

class _AppendCounter(FakeFlash):
    appends = 0

    def append(self, name, data):
        self.appends += 1
        return FakeFlash.append(self, name, data)


def test_extend_writes_records_that_fit_the_tail_in_one_write():
    flash = _AppendCounter()
    log = AppendLog(flash, "ev", 4096, 1024)
    log.append(b"zero")
    before = flash.appends
    last = log.extend([b"one", b"two", b"three", b"four"])
    assert flash.appends == before + 1 and last == 5
    assert list(AppendLog(flash, "ev", 4096, 1024).records()) == [
        (1, b"zero"), (2, b"one"), (3, b"two"), (4, b"three"), (5, b"four")]
    assert log.last_seq == 5 and log.append(b"five") == 6


def test_extend_falls_back_to_one_write_each_where_the_tail_cannot_hold_them():
    flash = _AppendCounter()
    log = AppendLog(flash, "ev", 4096, 64)
    log.append(b"x" * 30)
    before = flash.appends
    log.extend([b"a" * 20, b"b" * 20])  # 64 bytes of frames do not fit beside 42
    assert flash.appends == before + 2
    assert [p for _s, p in log.records()] == [b"x" * 30, b"a" * 20, b"b" * 20]


def test_an_extend_cut_off_keeps_whole_records_and_never_reuses_a_seq():
    for tear in (0, 0.5, 1):
        flash = FakeFlash()
        log = AppendLog(flash, "ev", 4096, 1024)
        log.append(b"zero")
        flash.arm(1, tear=tear)
        raises(PowerLoss, log.extend, [b"one", b"two", b"three"])
        flash.reboot()
        again = AppendLog(flash, "ev", 4096, 1024)
        got = list(again.records())
        assert got == [(1, b"zero"), (2, b"one"), (3, b"two"), (4, b"three")][:len(got)], tear
        seq = again.append(b"after")
        assert seq > (got[-1][0] if got else 0) and list(again.records())[-1] == (seq, b"after")
