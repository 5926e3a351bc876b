"""Power cut at every write of the whole update flow (stage, verify, activate, boot,
confirm; and the revert paths), as MCUboot's simulator does: after every cut the meter
boots into a complete slot signed under its policy, the energy register record is
intact, and finishing the interrupted work brings the meter to the new release.

One FakeFlash carries the power for everything: pointer, policy, audit log, the `meter`
record standing in for the energy registers, and (through FakeTree) the slot folders.
"""
from control.audit import AuditLog
from fakes.clock import FakeClock
from fakes.flash import FakeFlash, PowerLoss
from fakes.tree import FakeTree
from fixtures.update import kit
from storage.slots import SlotStore
from update import firmware_slots, layout, loader
from update.apply import Updater
from update.manifest import Manifest
from update.policy import PolicyStore

TEARS = (None, 0, 1)
CHUNK = 64  # small chunks: every file is several writes, each a cut point
PACKAGES = {tag: kit.package(kit.release_files(tag), version=tag, counter=n)
            for tag, n in (("r0", 1), ("r1", 2), ("r2", 3))}
ENVELOPES = {}
for _tag in PACKAGES:
    _n = int.from_bytes(PACKAGES[_tag][8:12], "little")
    ENVELOPES[PACKAGES[_tag][12:12 + _n]] = _tag
ENERGY_WH = 123456


class Board:
    def __init__(self, flash, tree):
        self.flash = flash
        self.tree = tree

    def updater(self):
        clock = FakeClock(utc_s=kit.NOW_S)
        return Updater(self.flash, self.tree, "sim", "sim-v1", clock, AuditLog(self.flash),
                       buf=bytearray(CHUNK))

    def boot(self):
        return loader.select_slot(self.flash, self.tree, buf=bytearray(CHUNK))

    def meter(self):
        return SlotStore(self.flash, "meter")


def _golden():
    """r0 confirmed in slot a, then r1 confirmed in slot b: r2 will go into slot a."""
    flash = FakeFlash()
    board = Board(flash, FakeTree(flash))
    board.updater().install_policy(kit.policy())
    board.meter().save(b"%d" % ENERGY_WH)
    for tag in ("r0", "r1"):
        board.updater().install(kit.stream(PACKAGES[tag]))
        board.boot()
        board.updater().confirm()
    assert board.boot() == "fw/b"
    return board


def _update_and_confirm(board):
    board.updater().install(kit.stream(PACKAGES["r2"]))
    board.boot()
    board.meter().save(b"%d" % (ENERGY_WH + 1))  # metering runs on the trial firmware
    board.updater().confirm()
    board.boot()


def _update_never_confirmed(board):
    board.updater().install(kit.stream(PACKAGES["r2"]))
    for _ in range(layout.MAX_TRIAL_BOOTS + 1):
        board.boot()
    board.updater().report_boot()
    board.boot()


def _update_then_self_test_fails(board):
    board.updater().install(kit.stream(PACKAGES["r2"]))
    board.boot()
    board.updater().revert("self-test failed")
    board.boot()


def _check_boots_into_a_signed_slot(board):
    folder = board.boot()
    assert folder in ("fw/a", "fw/b"), folder
    slot = folder[-1]
    firmware_slots.check(board.tree, slot, bytearray(CHUNK))
    env = board.tree.files[folder + "/" + layout.MANIFEST_NAME]
    assert ENVELOPES.get(env) in ("r1", "r2")  # never r0: it was being overwritten
    manifest = Manifest.from_bytes(env)
    policy = PolicyStore(board.flash).current()
    policy.check_firmware(manifest.message, manifest.signatures)  # raises if not signed
    assert board.meter().load() in (b"%d" % ENERGY_WH, b"%d" % (ENERGY_WH + 1))
    return ENVELOPES[env]


def _finish(board):
    """After the cut, the technician (or the trial firmware) finishes the job."""
    state = firmware_slots.UpdateState(board.flash)
    if state.trial:
        board.updater().confirm()
    elif state.fields["active_version"] != "r2":
        _update_and_confirm(board)
    state = firmware_slots.UpdateState(board.flash)
    assert (state.fields["active_version"], state.trial, state.floor) == ("r2", False, 3)
    assert _check_boots_into_a_signed_slot(board) == "r2"


def _cut_everywhere(flow, finish=True):
    golden = _golden()
    clean = Board(golden.flash.copy(), None)
    clean.tree = golden.tree.copy(clean.flash)
    start = clean.flash.writes
    flow(clean)
    total = clean.flash.writes - start
    assert total > 20
    for tear in TEARS:
        for after in range(1, total + 1):
            board = Board(golden.flash.copy(), None)
            board.tree = golden.tree.copy(board.flash)
            board.flash.arm(after, tear)
            try:
                flow(board)
                raise AssertionError("no cut at write %d of %d" % (after, total))
            except PowerLoss:
                pass
            board.flash.reboot()
            _check_boots_into_a_signed_slot(board)
            if finish:
                _finish(board)
    return total


def test_power_cut_at_every_write_of_update_and_confirm():
    _cut_everywhere(_update_and_confirm)


def test_power_cut_at_every_write_of_an_unconfirmed_trial_and_its_revert():
    _cut_everywhere(_update_never_confirmed)


def test_power_cut_at_every_write_of_a_self_test_revert():
    _cut_everywhere(_update_then_self_test_fails)


def test_uncut_flows_end_where_they_should():
    board = _golden()
    _update_never_confirmed(board)
    state = firmware_slots.UpdateState(board.flash)
    assert (state.active, state.fields["active_version"], state.floor) == ("b", "r1", 2)
    _update_and_confirm(board)
    state = firmware_slots.UpdateState(board.flash)
    assert (state.active, state.fields["active_version"], state.floor) == ("a", "r2", 3)
