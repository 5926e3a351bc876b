"""A firmware on trial that meters (so the watchdog stays fed) but never gets as far as
its confirmation is reverted once board.TRIAL_LIMIT_S has passed: the security counter
stays, the pointer returns to the previous firmware, the board restarts, the audit log
says why."""
import os
import sys

import main
from fixtures.update import kit
from mptest import made_root


def _booted_on_trial(limit_s):
    """A meter that installed a signed package and restarted into it: the App built with
    the trial slot first on sys.path, as the boot stage leaves it. Returns (app, resets)."""
    root = made_root("app-trial")
    os.chdir(root)
    first = main.build("sim", paced=False, storage_root="data", p1_path=None)
    gate = first.update_gate()
    gate.install_policy([kit.policy()])
    package = kit.package(expires=first.hw.clock.time() + kit.DAY_S, counter=2,
                          version="2.0.0")
    gate.install(kit.stream(package))  # staged in slot a, active on trial
    first.meter.save(clean=True)
    main.board_module("sim").TRIAL_LIMIT_S = limit_s  # read when the trial starts
    sys.path.insert(0, "fw/a")  # the modules are loaded already: nothing comes from it
    try:
        app = main.build("sim", paced=False, storage_root="data", p1_path=None)
    finally:
        sys.path.pop(0)
    resets = []
    app.hw.reset = lambda: resets.append(app.meter.sampler.windows)
    return app, resets


def _step_windows(app, count):
    target = app.meter.sampler.windows + count
    while app.meter.sampler.windows < target:
        app.step()


def _assert_confirmed(app, resets):
    """Meter on until the trial ends: it must have kept slot a, raised the security
    counter and not restarted the board."""
    while app.trial.on:
        app.step()
    state = app.update_gate().status()
    assert (state["active"], state["trial"], state["floor"]) == ("a", False, 2), state
    assert not resets


def test_a_trial_that_never_confirms_reverts_once_its_time_limit_passes():
    cwd = os.getcwd()
    limit_s = main.board_module("sim").TRIAL_LIMIT_S
    try:
        app, resets = _booted_on_trial(limit_s=0)
        assert app.trial.on and "on trial" in app.trial.firmware
        app.trial.confirm_windows = 10 ** 9  # metering goes on, the confirmation never comes
        _step_windows(app, 2)
        assert not app.trial.on and resets  # reverted and restarted at once
        state = app.update_gate().status()
        assert (state["active"], state["trial"], state["floor"]) == ("", False, 0)
        reverts = [e["text"] for _s, e in app.audit.entries() if e["event"] == "update-reverted"]
        assert reverts == ["not confirmed within 0 s"], reverts
    finally:
        main.board_module("sim").TRIAL_LIMIT_S = limit_s
        os.chdir(cwd)


def test_a_trial_within_its_time_limit_confirms_as_before():
    cwd = os.getcwd()
    limit_s = main.board_module("sim").TRIAL_LIMIT_S
    try:
        app, resets = _booted_on_trial(limit_s=limit_s)
        # unpaced, windows close faster than real time; the confirmation comes with the
        # first P1 telegram (one per wall-clock second) after trial_windows windows
        _step_windows(app, app.trial.confirm_windows)
        _assert_confirmed(app, resets)
    finally:
        main.board_module("sim").TRIAL_LIMIT_S = limit_s
        os.chdir(cwd)


def _trial_that_fails_once_at_its_end(fail):
    """A meter on trial whose end fails once as `fail(real_gate)` makes it; the trial must
    neither be dropped nor half-ended, and ends at a later block."""
    cwd = os.getcwd()
    limit_s = main.board_module("sim").TRIAL_LIMIT_S
    try:
        app, resets = _booted_on_trial(limit_s=limit_s)
        real = app.trial.gate
        failures = []

        def gate():
            if not failures:
                failures.append(1)
                return fail(real)
            return real()

        app.trial.gate = gate
        _step_windows(app, app.trial.confirm_windows)
        while not failures:
            try:
                app.step()
            except (MemoryError, OSError):
                assert app.trial.on and "on trial" in app.trial.firmware  # ends next time
        _assert_confirmed(app, resets)
    finally:
        main.board_module("sim").TRIAL_LIMIT_S = limit_s
        os.chdir(cwd)


def test_a_trial_whose_gate_cannot_be_built_at_its_end_stays_on_trial_and_ends_next_time():
    # the gate is built for each use (main.ON_DEMAND): in a fragmented heap its build may fail
    def no_heap(_real):
        raise MemoryError("memory allocation failed")

    _trial_that_fails_once_at_its_end(no_heap)


def test_a_trial_whose_confirmation_cannot_be_written_stays_on_trial_and_ends_next_time():
    class FullFlash:  # the gate, whose pointer record cannot be written this once
        def __init__(self, gate):
            self.gate = gate

        def confirm(self):
            raise OSError(28, "ENOSPC")

    _trial_that_fails_once_at_its_end(lambda real: FullFlash(real()))
