"""Activation: the pointer flips to a verified slot on trial; the loader counts trial boots,
reverts an unconfirmed or damaged slot by itself, and the security counter rises only on
confirmation. The Updater audits every accept, reject, confirm and revert."""
import sys

from control.audit import AuditLog
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from fakes.tree import FakeTree
from fixtures.update import kit
from mptest import raises
from update import firmware_slots, layout, loader
from update.apply import Receiver, Updater
from update.errors import UpdateRejected

MV = memoryview(bytearray(64))


class Meter:
    """One meter's flash: fw/ records, the slot folders, and data/ with its audit log."""

    def __init__(self, policy=None):
        self.flash = FakeFlash()  # fw/: pointer and policy records
        self.tree = FakeTree(self.flash)
        self.data = FakeFlash()  # data/: the audit log
        self.clock = FakeClock(utc_s=kit.NOW_S)
        self.audit = AuditLog(self.data)
        self.updater().install_policy(policy or kit.policy())

    def updater(self, **options):
        return Updater(self.flash, self.tree, "sim", "sim-v1", self.clock, self.audit, **options)

    def install(self, package, **options):
        return self.updater(**options).install(kit.stream(package))

    def boot(self, **options):
        return loader.select_slot(self.flash, self.tree, **options)

    def events(self):
        return [(e["event"], e["text"]) for _, e in self.audit.entries()]

    def state(self):
        return firmware_slots.UpdateState(self.flash)


def _release(tag, counter, **fields):
    return kit.package(kit.release_files(tag), version=tag, counter=counter, **fields)


def test_factory_image_boots_when_nothing_was_installed():
    assert Meter().boot() == ""


def test_accepted_package_runs_on_trial_from_the_other_slot():
    meter = Meter()
    result = meter.install(_release("r1", 1))
    assert result["slot"] == "a" and result["trial"]
    assert meter.boot() == "fw/a"
    state = meter.state()
    assert state.trial and state.fields["boots"] == 1 and state.floor == 0


def test_confirm_keeps_the_slot_and_raises_the_security_counter():
    meter = Meter()
    meter.install(_release("r1", 7))
    meter.boot()
    assert meter.updater().confirm()
    state = meter.state()
    assert not state.trial and state.floor == 7 and state.active == "a"
    assert meter.boot() == "fw/a"
    assert not meter.updater().confirm()  # nothing on trial any more


def test_a_revert_names_why_the_trial_failed_to_start_and_forgets_it():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.updater().confirm()
    meter.install(_release("r2", 2))
    for _ in range(layout.MAX_TRIAL_BOOTS):
        assert meter.boot() == "fw/b"
        # main.record_trial_failure, on the path where the new firmware failed
        meter.flash.write(layout.LAST_FAILURE, b"ImportError: no module named 'x'")
    assert meter.boot() == "fw/a"
    reason = meter.updater().report_boot()
    assert reason == ("r2 not confirmed after %d boots; last failure: ImportError: no module "
                      "named 'x'" % layout.MAX_TRIAL_BOOTS)
    assert meter.flash.read(layout.LAST_FAILURE) is None  # named once, then forgotten


def test_a_confirmed_trial_forgets_an_earlier_failed_start():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.boot()
    meter.flash.write(layout.LAST_FAILURE, b"OSError: 5")  # one start failed, the next ran
    meter.boot()
    assert meter.updater().confirm()
    assert meter.flash.read(layout.LAST_FAILURE) is None


def test_security_counter_is_not_raised_before_confirmation():
    meter = Meter()
    meter.install(_release("r1", 7))
    for _ in range(layout.MAX_TRIAL_BOOTS + 1):
        meter.boot()
    assert meter.state().floor == 0
    assert meter.install(_release("r0", 3))["version"] == "r0"  # lower is still allowed


def test_unconfirmed_trial_reverts_after_the_allowed_boots():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.updater().confirm()
    meter.install(_release("r2", 2))
    for _ in range(layout.MAX_TRIAL_BOOTS):
        assert meter.boot() == "fw/b"
    assert meter.boot() == "fw/a"
    state = meter.state()
    assert state.active == "a" and not state.trial and state.floor == 1
    assert "not confirmed" in meter.updater().report_boot()
    assert meter.events()[-1][0] == "update-reverted"
    assert meter.updater().report_boot() == ""  # audited once


def test_rollback_refused_after_confirmation():
    meter = Meter()
    meter.install(_release("r2", 2))
    meter.boot()
    meter.updater().confirm()
    exc = raises(UpdateRejected, meter.install, _release("r1", 1))
    assert exc.reason == "rollback"
    assert meter.events()[-1] == ("update-rejected", "rollback: security counter 1, meter has 2")


def test_new_package_refused_while_one_is_on_trial():
    meter = Meter()
    meter.install(_release("r1", 1))
    assert raises(UpdateRejected, meter.install, _release("r2", 2)).reason == "busy"
    assert meter.state().active == "a"


def test_revert_from_the_self_test_goes_back_at_once():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.updater().confirm()
    meter.install(_release("r2", 2))
    meter.boot()
    assert meter.updater().revert("self-test: ADC stuck")
    assert meter.boot() == "fw/a"
    assert meter.events()[-1] == ("update-reverted", "self-test: ADC stuck")


def test_loader_refuses_a_slot_whose_file_was_altered():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.boot()
    meter.updater().confirm()
    meter.tree.flip_bit("fw/a/metering/meter.py", 3)
    assert meter.boot() == ""
    assert "hash-mismatch" in meter.state().fields["reverted"]


def test_loader_refuses_a_slot_with_a_stray_module():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.tree.write("fw/a/metering/evil.py", b"x = 1\n")
    assert meter.boot() == ""
    assert "extra-file" in meter.state().fields["reverted"]


def test_damaged_trial_slot_reverts_to_the_previous_slot():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.updater().confirm()
    meter.install(_release("r2", 2))
    meter.tree.remove("fw/b/main.py")
    assert meter.boot() == "fw/a"


def test_rejected_package_leaves_the_running_slot_and_pointer_alone():
    meter = Meter()
    meter.install(_release("r1", 1))
    meter.updater().confirm()
    before = (dict(meter.state().fields), {p: d for p, d in meter.tree.files.items()
                                            if p.startswith("fw/a/")})
    raises(UpdateRejected, meter.install, _release("r2", 2, signers=("vendor",)))
    after = (dict(meter.state().fields), {p: d for p, d in meter.tree.files.items()
                                           if p.startswith("fw/a/")})
    assert after == before
    assert meter.events()[-1][0] == "update-rejected"


def test_audit_log_records_accept_and_confirm():
    meter = Meter()
    meter.install(_release("r1", 4))
    meter.updater().confirm()
    events = [e for e, _ in meter.events()]
    assert events == ["policy-changed", "update-accepted", "update-confirmed"]


def test_install_file_reads_the_package_from_flash_and_removes_it():
    meter = Meter()
    meter.tree.write("update.pkg", _release("r1", 1))
    assert meter.updater().install_file("update.pkg")["version"] == "r1"
    assert meter.tree.size("update.pkg") is None
    assert raises(UpdateRejected, meter.updater().install_file, "update.pkg").reason \
        == "missing-file"


def test_policy_rotation_through_the_updater_is_audited():
    meter = Meter()
    v2 = kit.policy(signers=("root1", "root2"), names=("root2", "release1"), version=2)
    assert meter.updater().install_policy([v2])["version"] == 2
    assert meter.events()[-1][0] == "policy-changed"
    # an old version signed by the meter's current root key: read, and refused as a rollback
    again = kit.policy(signers=("root2",), names=("root2", "release1"), version=2)
    raises(UpdateRejected, meter.updater().install_policy, [again])
    assert meter.events()[-1][1].startswith("policy: rollback")
    # one signed only by a root key the meter no longer holds is refused before it is
    # parsed (authenticate before parsing): its version is never read
    refused = raises(UpdateRejected, meter.updater().install_policy, [kit.policy(version=2)])
    assert refused.reason == "unknown-key"
    assert meter.events()[-1][1].startswith("policy: unknown-key")


def test_link_chunks_resume_where_the_file_ends():
    meter = Meter()
    package = _release("r1", 1)
    rx = Receiver(meter.tree)
    end = 0
    for start in range(0, len(package), 100):
        end = rx.write(start, package[start:start + 100])
    assert rx.write(0, package[:100]) == end  # a repeat is ignored, its end returned
    assert rx.write(end + 5, b"x") == end  # a gap is refused
    assert end == len(package)
    assert meter.updater().install_file(rx.path)["version"] == "r1"


def test_link_refuses_more_than_the_limit():
    rx = Receiver(FakeTree(FakeFlash()), "part", max_bytes=10)
    rx.write(0, b"12345")
    assert raises(UpdateRejected, rx.write, 5, b"123456").reason == "too-large"


def test_use_slot_puts_the_slot_first_and_drops_the_root():
    saved_path = list(sys.path)
    saved_modules = dict(sys.modules)
    try:
        sys.path[:] = ["", "/lib", ".frozen"]
        loader.use_slot("fw/b", "/")
        assert sys.path[:2] == ["/fw/b", "/fw/b/lib"]
        assert "" not in sys.path and "/lib" in sys.path
        assert "update.firmware_slots" not in sys.modules and "storage.slots" not in sys.modules
        assert loader.running_slot() == "fw/b"  # the App's answer to "am I on trial?"
        sys.path[:] = ["", "/lib"]
        assert loader.running_slot() == ""  # the factory image
    finally:
        sys.path[:] = saved_path
        for name in saved_modules:
            sys.modules[name] = saved_modules[name]


def test_a_flash_error_while_staging_is_an_audited_refusal_and_changes_nothing():
    meter = Meter()
    before = dict(meter.state().fields)
    real_create = meter.tree.create
    calls = [0]

    def create_until_full(path):
        calls[0] += 1
        if calls[0] > 2:
            raise OSError(28, "no space left on device")
        return real_create(path)

    meter.tree.create = create_until_full
    exc = raises(UpdateRejected, meter.install, kit.package(kit.release_files("r2"), counter=2))
    assert exc.reason == "internal-error" and "OSError" in exc.detail
    assert meter.state().fields == before  # the pointer is untouched
    assert [p for p in meter.tree.files if p.startswith("fw/a/")] == []  # nothing staged
    assert meter.events()[-1][0] == "update-rejected"
    assert "internal-error" in meter.events()[-1][1]


def test_a_second_install_while_one_is_under_way_is_refused_as_busy():
    """The shell and the operator link share one gate: a package that arrives while
    another is being staged is refused (and logged), and the first completes."""
    meter = Meter()
    gate = meter.updater()
    package = _release("r1", 1)
    seen = []

    class Interrupting:  # the link's package arrives while the shell's is being read
        def __init__(self, data):
            self.inner = kit.stream(data)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def readinto(self, buf):
            if not seen:
                seen.append(raises(UpdateRejected, gate.install, kit.stream(package)).reason)
            return self.inner.readinto(buf)

    assert gate.install(Interrupting(package))["accepted"]
    assert seen == ["busy"]
    assert ("update-rejected", "busy: another package is being installed") in meter.events()
