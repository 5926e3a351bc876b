"""Code loaded on demand (ondemand.py): the control plane, the trust policy and the update
gate are on the heap only while a use runs, come back for the next use and work the same,
and nothing that stays loaded keeps them."""
import gc
import sys

import main
from fixtures.update import kit
from mptest import cpython_only, micropython_only, raises, temp_root
from refusal import TokenRefused

TOKEN_DOMAIN = b"open-meter/command/v1\x00"


def _app(tag):
    app = main.build_app("sim", install_at_boot=True, paced=False, storage_root=temp_root(tag),
                         p1_path=None)
    for _ in range(4):
        app.step()
    return app


def _token(meter_id, counter, expires, hour=22):
    """A set-tariffs command for `meter_id`, signed by the kit's release key."""
    body = {"type": "open-meter-command", "format": 1, "command": "set-tariffs",
            "params": {"schedule": {"low_from_hour": hour, "low_until_hour": 6,
                                    "low_weekdays": [5, 6]}},
            "meter": meter_id, "counter": counter, "expires": expires}
    return kit.envelope(body, ("release1",), TOKEN_DOMAIN)


def _loaded():
    return [name for name in main.ON_DEMAND if name in sys.modules]


def test_after_boot_the_meter_holds_no_on_demand_code():
    app = _app("ondemand-boot")
    assert _loaded() == []
    assert app.rare.loaded() == []
    assert app.rare.releases >= 1  # the boot's own uses loaded them, then let go


def test_tokens_apply_across_releases_and_each_use_lets_the_code_go():
    app = _app("ondemand-tokens")
    app.commission(kit.policy(), bytes(16), bytes(range(16)), bytes(range(16, 32)))
    assert _loaded() == []
    releases = app.rare.releases
    expires = app.hw.clock.time() + 3600
    assert app.apply_token(_token(app.meter_id, 1, expires, hour=21)).startswith("tariff")
    assert _loaded() == []
    # a new load of the same code: the counter spent by the first use still holds
    reason = raises(TokenRefused, app.apply_token, _token(app.meter_id, 1, expires, hour=20)).reason
    assert reason == "replayed"
    assert app.apply_token(_token(app.meter_id, 2, expires, hour=20)).startswith("tariff")
    assert _loaded() == []
    assert app.rare.releases == releases + 3
    assert app.meter.tariffs.low_from_hour == 20
    events = [e["event"] for _s, e in app.audit.entries()]
    assert events[-3:] == ["command-applied", "token-refused", "command-applied"]


def test_a_use_under_way_keeps_the_code_until_it_ends():
    app = _app("ondemand-nested")
    with app.rare:
        import update.policy  # noqa: F401

        with app.rare:
            pass
        assert "update.policy" in sys.modules  # the inner use ended; the outer has not
    assert "update.policy" not in sys.modules
    import update

    assert not hasattr(update, "policy")  # the package let go of it too


def test_uses_in_two_threads_run_one_after_the_other():
    # no import lock in MicroPython: a module another thread is still importing would be
    # found half-built, so a second thread's use waits until the first one has ended
    import _thread
    import time

    app = _app("ondemand-threads")
    events = []
    done = []

    def second():
        with app.rare:
            events.append("second in")
        done.append(1)

    with app.rare:
        events.append("first in")
        _thread.start_new_thread(second, ())
        time.sleep(0.2)  # the second thread had time to enter, were it let in
        events.append("first out")
    for _ in range(100):
        if done:
            break
        time.sleep(0.02)
    assert events == ["first in", "first out", "second in"], events


def test_a_module_imported_outside_a_use_is_let_go_by_its_package_too():
    app = _app("ondemand-outside")
    import update.policy  # noqa: F401 - outside a use, as a technician at the REPL may
    import update

    del sys.modules["update.policy"]  # as if a use had ended in another thread meanwhile
    assert hasattr(update, "policy")
    with app.rare:
        pass
    assert not hasattr(update, "policy")  # no stale copy kept by the package


def test_two_gates_built_for_two_uses_still_install_one_package_at_a_time():
    app = _app("ondemand-busy")
    seen = []

    class Stream:
        """A package stream whose first read tries a second install through a second gate."""

        def readinto(self, buf):
            return self.read_into(buf)

        def read(self, n=-1):
            self.read_into(None)
            return b""

        def read_into(self, buf):
            if not seen:
                seen.append(raises(Exception, app.update_gate().install, Stream()))
            return 0

    with app.rare:
        raises(Exception, app.update_gate().install, Stream())
    assert seen and getattr(seen[0], "reason", None) == "busy"


def test_the_shells_gate_helpers_run_as_uses_and_leave_no_code_behind():
    app = _app("ondemand-helpers")
    from update import apply  # as a technician types it at the REPL

    assert apply.status(app)["trial"] is False
    assert apply.after_boot(app) == ""  # nothing reverted
    assert apply.confirm(app) is False and apply.revert(app) is False  # nothing on trial
    assert _loaded() == []


@micropython_only("gc.mem_alloc: what the released code gave back to the heap")
def test_released_code_leaves_the_heap():
    app = _app("ondemand-heap")
    gc.collect()
    before = gc.mem_alloc()
    with app.rare:
        for name in main.ON_DEMAND:
            if not name.endswith("_viper"):  # its plain twin imports it where it can
                __import__(name)
        gc.collect()
        loaded = gc.mem_alloc() - before
    gc.collect()
    after = gc.mem_alloc() - before
    assert loaded > 20000, loaded  # the code really was loaded ...
    assert after < 1024, after  # ... and gave its heap back
    del app


@cpython_only("gc.get_objects: which functions and classes are still alive")
def test_nothing_that_stays_loaded_keeps_on_demand_code():
    # A fresh interpreter: here the test modules themselves hold these modules' classes.
    import json
    import os
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    script = """
import gc, json, sys, types
import main, service
app = main.app = main.build_app("sim", install_at_boot=True, paced=False,
                                storage_root=sys.argv[1], p1_path=None)
for _ in range(4):
    app.step()
app.commission(bytes.fromhex(sys.argv[2]), bytes(16), bytes(range(16)), bytes(range(16, 32)))
assert app.apply_token(bytes.fromhex(sys.argv[3])).startswith("tariff")
try:
    app.apply_token(b"{}")
except Exception:
    pass
service.firmware(); service.controlplane(); service.status()
gc.collect()
names = set(main.ON_DEMAND)
alive = set()
for obj in gc.get_objects():
    if isinstance(obj, types.ModuleType) and obj.__name__ in names:
        alive.add("module " + obj.__name__)
    elif isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", "") in names:
        alive.add("%s.%s" % (obj.__module__, obj.__qualname__))
print(json.dumps(sorted(alive)))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(root, "firmware"), root, os.path.join(root, "host_tests")]))
    # the policy made here: the test kit would keep the signing code alive over there
    token = _token("sim-0001", 1, 4102444800)  # the sim board's meter, until 2100
    out = subprocess.run([sys.executable, "-c", script, temp_root("ondemand-alive"),
                          kit.policy().hex(), token.hex()],
                         capture_output=True, text=True, env=env, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_on_demand_list_names_firmware_modules():
    for name in main.ON_DEMAND:
        if name.endswith("_viper"):
            continue
        __import__(name)
    assert len(set(main.ON_DEMAND)) == len(main.ON_DEMAND)
