"""The audit log: hash-chained, bounded with an anchor, power-cut safe; any edit shows."""
from control.audit import AuditLog, AuditError, verify_chain, decode
from fakes.flash import FakeFlash, PowerLoss
from mptest import raises


def test_entries_chain_and_verify():
    flash = FakeFlash()
    log = AuditLog(flash)
    for k in range(5):
        log.append(1000 + k, "boot", "n=%d" % k)
    raw = list(log.raw())
    verify_chain(raw)
    assert [decode(e)["text"] for _s, e in raw] == ["n=%d" % k for k in range(5)]


def test_editing_any_entry_is_detected():
    flash = FakeFlash()
    log = AuditLog(flash)
    for k in range(6):
        log.append(1000 + k, "operator-link-off" if k % 2 else "operator-link-on")
    raw = list(log.raw())
    for victim in range(len(raw) - 1):  # an edit to the last shows against the next hash
        edited = list(raw)
        seq, entry = edited[victim]
        edited[victim] = (seq, entry[:-1] + bytes((entry[-1] ^ 1,)) if len(entry) > 38
                          else entry[:34] + b"\xff\xff" + entry[36:])
        assert raises(AuditError, verify_chain, edited).reason == "broken-chain"


def test_a_removed_entry_is_a_gap():
    flash = FakeFlash()
    log = AuditLog(flash)
    for k in range(4):
        log.append(1000 + k, "boot")
    raw = list(log.raw())
    assert raises(AuditError, verify_chain, raw[:1] + raw[2:]).reason == "gap"


def test_chain_continues_across_reopen_and_roll_off_keeps_an_anchor():
    flash = FakeFlash()
    log = AuditLog(flash, max_bytes=1200)
    seen = []
    for k in range(60):
        log.append(1000 + k, "boot", "entry %d" % k)
        if k == 30:
            log = AuditLog(flash, max_bytes=1200)  # reboot
    seen = list(log.raw())
    assert seen[0][0] > 1  # old entries rolled off
    verify_chain(seen)  # the kept entries still chain
    assert seen[-1][0] == 60


def test_power_cut_at_every_write_keeps_a_valid_chain():
    cut_at = 1
    while True:
        flash = FakeFlash(power_loss_after=cut_at)
        done = True
        try:
            log = AuditLog(flash, max_bytes=900)
            for k in range(25):
                log.append(k, "boot", "x" * (k % 7))
        except PowerLoss:
            done = False
        flash.reboot()
        log = AuditLog(flash, max_bytes=900)
        log.append(99, "power-failure")
        verify_chain(list(log.raw()))
        if done:
            break
        cut_at += 1
    assert cut_at > 20


def test_entries_the_full_flash_refuses_wait_in_ram_and_land_in_order_without_a_gap():
    from control import audit as audit_mod

    flash = FakeFlash()
    log = AuditLog(flash)
    log.append(1000, "boot", "before")
    real = flash.append

    def full(name, data):
        raise OSError(28, "ENOSPC")

    flash.append = full
    assert log.append(1001, "flash-full", "one") is None
    assert log.append(1002, "boot", "two") is None
    assert [t for _t, _c, t in log.waiting] == ["one", "two"]
    flash.append = real
    assert log.append(1003, "boot", "three") == 4
    assert [e["text"] for _s, e in log.entries()] == ["before", "one", "two", "three"]
    verify_chain(list(log.raw()))  # consecutive numbers, one chain
    flash.append = full
    for k in range(audit_mod.WAITING_MAX + 3):
        log.append(2000 + k, "boot", "x%d" % k)
    assert len(log.waiting) == audit_mod.WAITING_MAX and log.lost_in_ram == 3
