"""Flash seam and two-slot records: bad names refused, corrupt or torn slots never returned,
a power cut at any write leaves the old or the new payload. FileStore is checked on a real
directory; FakeFlash (the power-cut model every storage test relies on) is checked here."""

from mptest import raises, temp_root
from fakes.flash import FakeFlash, PowerLoss
from storage.flash import FileStore
from storage.slots import SlotStore, pack, seq_newer, unpack

TEARS = (None, 0, 0.5, 1)


def _payload(i):
    # Lengths vary (including empty) so a torn slot of one length can look like another.
    return bytes((i * 7 + k) & 0xFF for k in range((i * 5) % 23))


def _tmp_dir(tag):
    return temp_root(tag)  # unique per run: the unix port has no os.getpid()


# --- FakeFlash: the power-cut model -----------------------------------------------------

def test_fake_flash_torn_write_lands_only_a_prefix():
    flash = FakeFlash(power_loss_after=1, tear=0.5)
    raises(PowerLoss, flash.write, "f", b"12345678")
    assert flash.read("f") == b"1234"


def test_fake_flash_can_tear_at_byte_zero():
    flash = FakeFlash()
    flash.write("f", b"old")
    flash.arm(1, tear=0)
    raises(PowerLoss, flash.append, "f", b"new")
    assert flash.read("f") == b"old"


def test_fake_flash_stays_off_after_a_cut_until_reboot():
    flash = FakeFlash(power_loss_after=1)
    raises(PowerLoss, flash.write, "f", b"abc")
    raises(PowerLoss, flash.write, "g", b"abc")
    raises(PowerLoss, flash.remove, "f")
    assert flash.read("g") is None
    flash.reboot()
    flash.write("g", b"abc")
    assert flash.read("g") == b"abc"


def test_fake_flash_torn_rename_is_all_or_nothing():
    for tear, moved in ((0, False), (0.5, True), (1, True)):
        flash = FakeFlash()
        flash.write("new", b"N")
        flash.write("cur", b"C")
        flash.arm(1, tear=tear)
        raises(PowerLoss, flash.rename, "new", "cur")
        assert flash.read("cur") == (b"N" if moved else b"C")
        assert (flash.read("new") is None) == moved


def test_fake_flash_counts_writes_and_wear_per_name():
    flash = FakeFlash()
    flash.write("a", b"1234")
    flash.append("a", b"56")
    flash.remove("b")
    assert flash.writes == 3
    assert flash.wear == {"a": 6}


# --- names ------------------------------------------------------------------------------

BAD_NAMES = ("", "a/b", "..", "a..b", "/abs", "x" * 33)


def test_bad_names_are_rejected_with_value_error():
    flash = FakeFlash()
    for name in BAD_NAMES:
        raises(ValueError, flash.read, name)
        raises(ValueError, flash.write, name, b"x")
        raises(ValueError, SlotStore, flash, name)
    assert flash.writes == 0


def test_file_store_rejects_bad_names():
    store = FileStore(_tmp_dir("names"))
    for name in BAD_NAMES:
        raises(ValueError, store.write, name, b"x")
        raises(ValueError, store.read, name)
        raises(ValueError, store.remove, name)
    assert store.names() == []


# --- FileStore on a real directory ---------------------------------------------------------

def test_file_store_creates_missing_root_and_round_trips_bytes():
    root = _tmp_dir("fs")
    store = FileStore(root)
    assert store.read("cfg") is None and store.size("cfg") is None
    store.write("cfg", b"hello")
    store.append("cfg", b" world")
    assert store.read("cfg") == b"hello world"
    assert store.read("cfg", 6, 3) == b"wor"
    assert store.size("cfg") == 11
    store.write("cfg", b"x")
    assert store.read("cfg") == b"x"
    assert FileStore(root).read("cfg") == b"x"


def test_file_store_rename_replaces_and_remove_tolerates_missing():
    store = FileStore(_tmp_dir("ren"))
    store.write("b", b"old")
    store.write("a.tmp", b"new")
    store.rename("a.tmp", "b")
    assert store.read("b") == b"new"
    assert store.names() == ["b"]
    store.remove("b")
    store.remove("b")
    assert store.names() == []


def test_slot_store_works_on_a_real_directory():
    root = _tmp_dir("slots")
    SlotStore(FileStore(root), "cal").save(b"gain=1.002")
    slots = SlotStore(FileStore(root), "cal")
    assert slots.load() == b"gain=1.002"
    assert slots.seq == 1


# --- SlotStore ------------------------------------------------------------------------------

def test_load_is_none_before_anything_was_saved():
    slots = SlotStore(FakeFlash(), "energy")
    assert slots.load() is None
    assert slots.seq is None


def test_load_returns_the_last_saved_payload_after_reopen():
    flash = FakeFlash()
    slots = SlotStore(flash, "energy")
    for i in range(5):
        slots.save(_payload(i))
    again = SlotStore(flash, "energy")
    assert again.load() == _payload(4)
    assert again.seq == 5


def test_save_never_rewrites_the_slot_holding_the_newest_record():
    flash = FakeFlash()
    slots = SlotStore(flash, "energy")
    for i in range(6):
        newest = {n: d for n, d in flash.files.items() if unpack(d) and unpack(d)[0] == slots.seq}
        slots.save(_payload(i))
        for name, data in newest.items():
            assert flash.files[name] == data


def test_slot_file_is_exactly_header_crc_and_payload():
    data = pack(7, b"abc")
    assert len(data) == 23 and data[:4] == b"MSLT" and data[-3:] == b"abc"
    assert unpack(data) == (7, b"abc")
    assert unpack(data + b"\x00") is None
    assert unpack(data[:-1]) is None


def test_any_single_flipped_bit_in_the_newest_slot_falls_back_to_the_older():
    flash = FakeFlash()
    slots = SlotStore(flash, "cfg")
    slots.save(b"older")
    slots.save(b"newer")
    clean = flash.snapshot()
    for bit in range(8 * len(clean["cfg.b"])):
        flash.files = dict(clean)
        flash.flip_bit("cfg.b", bit)
        assert SlotStore(flash, "cfg").load() == b"older", bit


def test_corrupt_slots_are_never_returned():
    flash = FakeFlash()
    slots = SlotStore(flash, "cfg")
    slots.save(b"one")
    slots.save(b"two")
    flash.flip_bit("cfg.a", 100)
    flash.flip_bit("cfg.b", 30)
    again = SlotStore(flash, "cfg")
    assert again.load() is None
    assert again.seq is None


def test_slot_with_an_unknown_format_version_is_ignored():
    flash = FakeFlash()
    SlotStore(flash, "cfg").save(b"v1")
    data = bytearray(flash.files["cfg.a"])
    data[4] = 2  # format version 2, same CRC: a future format this firmware cannot read
    flash.files["cfg.a"] = bytes(data)
    assert SlotStore(flash, "cfg").load() is None


def test_sequence_number_wraps_and_the_newest_still_wins():
    flash = FakeFlash()
    flash.files["reg.a"] = pack(0xFFFFFFFF, b"before-wrap")
    slots = SlotStore(flash, "reg")
    assert slots.seq == 0xFFFFFFFF
    assert slots.save(b"after-wrap") == 0
    again = SlotStore(flash, "reg")
    assert again.load() == b"after-wrap"
    assert again.seq == 0
    again.save(b"next")
    assert SlotStore(flash, "reg").load() == b"next"


def test_seq_comparison_uses_serial_number_arithmetic():
    assert seq_newer(2, 1) and not seq_newer(1, 2)
    assert seq_newer(0, 0xFFFFFFFF) and not seq_newer(0xFFFFFFFF, 0)
    assert not seq_newer(5, 5)


def test_load_never_returns_a_torn_record_and_never_rewinds():
    saves = 8
    for tear in TEARS:
        cut_at = 1
        while True:
            flash = FakeFlash(power_loss_after=cut_at, tear=tear)
            slots = SlotStore(flash, "energy")
            completed = None
            inflight = None
            try:
                for i in range(saves):
                    inflight = _payload(i)
                    slots.save(inflight)
                    completed = inflight
            except PowerLoss:
                flash.reboot()
                loaded = SlotStore(flash, "energy").load()
                assert loaded == completed or loaded == inflight, (tear, cut_at, loaded)
                reopened = SlotStore(flash, "energy")
                reopened.save(b"after-cut")
                assert SlotStore(flash, "energy").load() == b"after-cut"
                cut_at += 1
                continue
            assert SlotStore(flash, "energy").load() == _payload(saves - 1)
            break
        assert cut_at == saves + 1  # one run cut at each of the saves, then one clean run
