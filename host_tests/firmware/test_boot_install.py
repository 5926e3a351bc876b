"""Updates installed by the boot stage (boards with INSTALL_AT_BOOT): the running meter only
moves the package aside and writes a request; the boot stage, before the meter is built,
runs the crypto known answers and the same gate as ever, audits its verdict and leaves it
for the meter, which reports it (over the link when the package came that way). A crash
in the middle is not retried at every boot, a malformed request is refused, the package's
expiry is judged by the meter's clock at staging, and nothing is left on the flash."""
import os

import main
from boards import sim
from comms.fwlink import FirmwareDownload
from control.audit import AuditLog
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from fakes.tree import FakeTree
from fixtures.update import kit
from mptest import made_root, raises
from storage.flash import FileStore
import boot_install
from update import apply, firmware_slots, install_request, layout, loader
from update.errors import UpdateRejected
from update.policy import PolicyStore
from update.tree import FileTree

from host_tests.firmware import uplink_kit


class Flash:
    """One meter's flash in fakes: fw/ records, the file tree, data/ (audit, policy)."""

    def __init__(self):
        self.fw = FakeFlash()
        self.tree = FakeTree(self.fw)
        self.data = FakeFlash()
        self.clock = FakeClock(utc_s=kit.NOW_S)
        self.audit = AuditLog(self.data)
        self.gate().install_policy(kit.policy())

    def gate(self):
        return apply.Updater(self.fw, self.tree, "sim", "sim-v1", self.clock, self.audit,
                             policies=PolicyStore(self.data))

    def stage(self, package, channel="shell"):
        self.tree.write("update.pkg", package)
        return self.gate().stage_file("update.pkg", channel)

    def boot(self, activate=True):
        return boot_install.install_staged(self.fw, self.tree, self.data, sim, activate)

    def events(self):
        return [e["event"] for _, e in self.audit.entries()]

    def state(self):
        return firmware_slots.UpdateState(self.fw)


def test_staging_moves_the_package_aside_and_changes_nothing_active():
    flash = Flash()
    package = kit.package(version="2.0.0", counter=2)
    result = flash.stage(package)
    assert result == {"staged": True, "bytes": len(package), "channel": "shell"}
    assert flash.tree.size("update.pkg") is None
    assert flash.tree.size(layout.STAGED_PATH) == len(package)
    assert install_request.pending(flash.fw)
    assert (flash.state().active, flash.state().trial) == ("", False)
    assert flash.events()[-1] == "update-staged"


def test_the_boot_stage_verifies_and_installs_the_staged_package_on_trial():
    flash = Flash()
    flash.stage(kit.package(version="2.0.0", counter=2))
    assert flash.boot() == "accepted 2.0.0"
    state = flash.state()
    assert (state.active, state.trial, state.fields["active_version"]) == ("a", True, "2.0.0")
    assert flash.tree.size(layout.STAGED_PATH) is None  # nothing left behind
    assert not install_request.pending(flash.fw)
    assert install_request.read_result(flash.fw) == ("shell", "accepted 2.0.0")
    assert flash.events()[-2:] == ["update-staged", "update-accepted"]
    assert flash.boot() is None  # once only


def test_a_tampered_staged_package_is_refused_and_removed():
    flash = Flash()
    package = bytearray(kit.package(version="2.0.0", counter=2))
    package[-5] ^= 0x01
    flash.stage(bytes(package), "link")
    assert flash.boot() == "rejected hash-mismatch"
    assert (flash.state().active, flash.state().trial) == ("", False)
    assert flash.tree.size(layout.STAGED_PATH) is None
    assert install_request.read_result(flash.fw) == ("link", "rejected hash-mismatch")
    assert flash.events()[-1] == "update-rejected"


def test_the_package_expiry_is_judged_by_the_meters_clock_at_staging():
    flash = Flash()
    package = kit.package(version="2.0.0", counter=2, expires=kit.NOW_S + 60)
    flash.clock.advance_s(120)  # the meter staged it after it expired
    flash.stage(package)
    assert flash.boot() == "rejected expired"


def test_a_failed_crypto_self_test_in_the_boot_stage_refuses_the_package():
    flash = Flash()
    flash.stage(kit.package(version="2.0.0", counter=2))
    # the module the boot stage imports now: a meter built by another test released the
    # one imported at the top (main.BOOT_ONLY)
    import post as self_test

    real = self_test.crypto_failures
    self_test.crypto_failures = lambda: ["sha512"]
    try:
        assert flash.boot() == "rejected self-test-failed"
    finally:
        self_test.crypto_failures = real
    assert (flash.state().active, flash.state().trial) == ("", False)


def test_an_install_that_crashes_is_refused_once_and_not_retried_at_every_boot():
    flash = Flash()
    flash.stage(kit.package(version="2.0.0", counter=2))
    # the module the boot stage imports now: a meter built by another test released the
    # one imported at the top (main.ON_DEMAND)
    from update import apply as gate_module

    real = gate_module.Updater.install_file

    def crash(self, *args, **kwargs):
        raise MemoryError("memory allocation failed")

    gate_module.Updater.install_file = crash
    try:
        assert flash.boot() == "rejected internal-error: MemoryError"
    finally:
        gate_module.Updater.install_file = real
    assert flash.boot() is None  # the request went first
    assert flash.tree.size(layout.STAGED_PATH) is None


def test_a_malformed_request_is_refused_and_audited():
    flash = Flash()
    flash.stage(kit.package(version="2.0.0", counter=2))
    flash.fw.write(layout.INSTALL_REQUEST, b'{"channel": "shell", "utc": true}')
    assert flash.boot() == "rejected malformed"
    assert flash.events()[-1] == "update-rejected"
    flash.fw.write(layout.INSTALL_REQUEST, b"x" * 300)
    assert flash.boot() == "rejected malformed"
    assert (flash.state().active, flash.state().trial) == ("", False)


def test_staging_is_refused_while_a_firmware_is_on_trial_or_without_a_package():
    flash = Flash()
    missing = raises(UpdateRejected, flash.gate().stage_file, "nothing.pkg")
    assert missing.reason == "missing-file"
    flash.stage(kit.package(version="2.0.0", counter=2))
    flash.boot()
    flash.tree.write("update.pkg", kit.package(version="3.0.0", counter=3))
    error = raises(UpdateRejected, flash.gate().stage_file, "update.pkg")
    assert error.reason == "busy"
    assert not install_request.pending(flash.fw)


def test_over_the_link_the_verdict_follows_the_restart_sealed():
    from host_tests.firmware.test_fwlink import ChunkServer, _serve

    fw, clock, broker, head, intervals, audit, uplink = uplink_kit.uplink_rig()
    tree = FakeTree(fw)
    data = FakeFlash()
    gate = apply.Updater(fw, tree, "sim", "sim-v1", FakeClock(utc_s=kit.NOW_S), AuditLog(data),
                         policies=PolicyStore(data))
    gate.install_policy(kit.policy())
    restarts = []
    uplink.firmware = FirmwareDownload(
        lambda: apply.Receiver(tree), lambda path: apply.install_from_link(lambda: gate, path, True),
        idle_ms=50, after_accept=lambda: restarts.append(1))
    server = ChunkServer(kit.package(version="2.0.0", counter=2))
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == [] and restarts == [1]  # no verdict yet: the meter restarts
    assert tree.size("update.part") is None and tree.size(layout.STAGED_PATH) is not None
    # the boot stage, then the meter up again with the verdict to report
    assert boot_install.install_staged(fw, tree, data, sim) == "accepted 2.0.0"
    channel, verdict = install_request.read_result(fw)
    uplink.firmware = FirmwareDownload(lambda: apply.Receiver(tree), uplink.firmware.install,
                                       idle_ms=50, ready=lambda: False)
    uplink.firmware.pending_verdict(verdict, lambda: install_request.clear_result(fw))
    assert channel == "link"
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == ["accepted 2.0.0"]
    assert install_request.read_result(fw) is None  # delivered: the record is gone


def test_the_loader_installs_a_staged_package_before_it_chooses_the_slot():
    root = made_root("boot-install")
    with open(root + "/board.txt", "w") as f:
        f.write("sim")
    fw = FileStore(root + "/" + layout.FW_DIR)
    data = FileStore(root + "/" + sim.STORAGE_ROOT)
    tree = FileTree(root)
    gate = apply.Updater(fw, tree, "sim", "sim-v1", FakeClock(utc_s=kit.NOW_S), AuditLog(data),
                         policies=PolicyStore(data))
    gate.install_policy(kit.policy())
    tree.write("update.pkg", kit.package(version="2.0.0", counter=2))
    gate.stage_file("update.pkg")
    assert boot_install.run(root) == "accepted 2.0.0"  # the unix port goes on; a board resets
    assert loader.select_slot(fw, tree) == "fw/a"
    assert firmware_slots.UpdateState(fw).fields["boots"] == 1


def test_the_meter_built_after_the_boot_stage_shows_and_clears_its_verdict():
    cwd = os.getcwd()
    root = made_root("boot-verdict")
    os.chdir(root)
    try:
        app = main.build_app("sim", install_at_boot=True, paced=False, storage_root="data",
                             p1_path=None)
        assert app.install_at_boot and app.boot_install_verdict is None
        app.update_gate().install_policy([kit.policy()])
        package = kit.package(expires=app.hw.clock.time() + kit.DAY_S, counter=2,
                              version="2.0.0")
        with open("update.pkg", "wb") as f:
            f.write(package)
        assert app.install_update("update.pkg")["staged"]
        app.meter.save(clean=True)
        assert boot_install.install_pending("", sim) == "accepted 2.0.0"
        again = main.build_app("sim", install_at_boot=True, paced=False, storage_root="data",
                               p1_path=None)
        assert again.boot_install_verdict == "accepted 2.0.0"
        assert install_request.read_result(FileStore(layout.FW_DIR)) is None  # shell: shown
    finally:
        os.chdir(cwd)


def test_a_boot_with_nothing_staged_costs_one_stat_and_creates_nothing():
    root = made_root("boot-nothing")
    assert boot_install.run(root) is None
    assert os.listdir(root) == []  # no fw/ made on a factory meter
