"""A whole firmware update on the virtual board, as a field technician does it with
`python -m tools.field`: the operator-signed package is copied and verified, the meter
restarts into the new slot on trial, confirms itself once metering runs and the
self-test passes, and the security counter rises. Then a signed but broken release
crashes at every boot: the boot stage counts the failed boots and returns to the
confirmed firmware by itself. The registers never go back and every step is audited."""
import ast
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tools.update import container as pkg
from tools.vboard import VirtualBoard, micropython_binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def tool(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "tools.update"] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def field(port, *args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "tools.field", "--port", port] + list(args),
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def field_json(port, *args, refused=False):
    """The verb's result; a refusal must exit 1 (tools.field fails loudly), else 0."""
    proc = field(port, "--json", *args, ok=not refused)
    if refused:
        assert proc.returncode == 1 and "field: the meter refused" in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def board_value(port, code):
    proc = subprocess.run([MPREMOTE, "connect", port, "resume", "exec", code],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """PEM keys, a root-signed policy, a good release (counter 3) and a broken one
    (counter 4: its app.py raises at import), both vendor + operator signed."""
    if micropython_binary() is None or not os.path.exists(MPREMOTE):
        pytest.skip("micropython or mpremote not in the venv (make venv)")
    work = str(tmp_path_factory.mktemp("vbupdate"))
    for name in ("root", "release", "vendor"):
        tool(work, "keygen", "--out", name + ".pem")
    tool(work, "policy", "create", "--root", "root.pub.pem", "--release", "release.pub.pem",
         "--vendor", "vendor.pub.pem", "--out", "policy.json")
    tool(work, "sign", "policy.json", "--key", "root.pem")
    # compiled, as releases are: a board has no heap to spare for compiling source
    tool(work, "build", "--board", "sim", "--version", "2.0.0", "--counter", "3", "--mpy",
         "--out", "good.pkg")
    files = pkg.firmware_files("sim", mpy=True, out_dir=os.path.join(work, "mpy"))
    broken_app = os.path.join(work, "app.py")
    with open(broken_app, "w") as f:
        f.write("raise RuntimeError('release 2.1.0 cannot start')\n")
    files = [("app.py", broken_app) if dev == "app.mpy" else (dev, host) for dev, host in files]
    body = pkg.manifest_body("sim", "2.1.0", 4, int(time.time()) + 86400, files)
    pkg.write_package(os.path.join(work, "broken.pkg"), pkg.envelope(body), files)
    for name in ("good.pkg", "broken.pkg"):
        tool(work, "sign", name, "--key", "vendor.pem")
        tool(work, "sign", name, "--key", "release.pem")
    return work


def _wait_for(port, predicate, what, timeout_s=90):
    """The firmware state once predicate(state) holds; the meter may be restarting."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        proc = field(port, "--json", "firmware", ok=False)
        if proc.returncode == 0:
            last = json.loads(proc.stdout)
            if predicate(last):
                return last
        time.sleep(1)
    raise AssertionError("%s: not within %d s (last state %s)" % (what, timeout_s, last))


def test_update_on_trial_confirms_itself_and_a_broken_release_reverts(packages, tmp_path):
    fs = tmp_path / "fs"
    with VirtualBoard(fs_dir=str(fs)) as vb:
        port = vb.device
        subprocess.run([MPREMOTE, "connect", port, "resume", "fs", "cp",
                        os.path.join(packages, "policy.json"), ":policy.json"], check=True,
                       capture_output=True, timeout=60)
        board_value(port, "import main\nfrom update import apply\n"
                    "print(repr(apply.policy_from_file(main.app, 'policy.json')))")
        before = field_json(port, "readings")

        accepted = field_json(port, "update", os.path.join(packages, "good.pkg"))
        assert accepted["accepted"] and accepted["slot"] == "a" and accepted["trial"]
        field(port, "reboot")
        on_trial = _wait_for(port, lambda s: s["active"] == "a", "restart into slot a")
        assert on_trial["active_version"] == "2.0.0"
        confirmed = _wait_for(port, lambda s: not s["trial"], "self-confirmation")
        assert (confirmed["active"], confirmed["floor"], confirmed["reverted"]) == ("a", 3, "")
        assert board_value(port, "import main\nprint(repr(main.__file__))") == "fw/a/main.py"
        after = field_json(port, "readings")
        for name in ("import_wh", "export_wh"):
            assert all(a >= b for a, b in zip(after[name], before[name])), (before, after)

        accepted = field_json(port, "update", os.path.join(packages, "broken.pkg"))
        assert accepted["accepted"] and accepted["slot"] == "b"
        field(port, "reboot")
        # slot b crashes at every boot; the boot stage gives up on it after its trial boots
        back = _wait_for(port, lambda s: s["active"] == "a" and not s["trial"]
                         and s["reverted"] == "", "revert to 2.0.0", 120)
        assert (back["active_version"], back["floor"], back["trial"]) == ("2.0.0", 3, False)
        assert vb.reboots >= 4  # the technician's reboot, failed trial boots, the revert
        events = [e["event"] for e in field_json(port, "audit", "12")]
        assert events.count("update-accepted") == 2
        assert "update-confirmed" in events and events[-1] != "update-accepted"
        assert "update-reverted" in events
        texts = " ".join(e["text"] for e in field_json(port, "audit", "12"))
        assert "2.1.0" in texts
        # why it failed is kept: the exception at import, named in the revert's entry
        assert "last failure: RuntimeError: release 2.1.0 cannot start" in texts
        final = field_json(port, "readings")
        for name in ("import_wh", "export_wh"):
            assert all(a >= b for a, b in zip(final[name], after[name]))
    assert not (fs / "update.pkg").exists()  # removed once accepted
    shutil.rmtree(str(fs), ignore_errors=True)


def test_policy_rotation_from_the_shell_revokes_a_release_key(packages, tmp_path):
    """The technician applies version 2 (old root and new root signed) with tools.field;
    a version signed by the new root alone is refused and logged; afterwards a package
    signed by the revoked release key is refused."""
    work = packages
    tool(work, "keygen", "--out", "root2.pem")
    tool(work, "keygen", "--out", "release2.pem")
    tool(work, "policy", "rotate", "--from", "policy.json", "--add-root", "root2.pub.pem",
         "--remove", "root.pub.pem", "--remove", "release.pub.pem",
         "--add-release", "release2.pub.pem", "--out", "p2-half.json")
    tool(work, "sign", "p2-half.json", "--key", "root2.pem")
    shutil.copy(os.path.join(work, "p2-half.json"), os.path.join(work, "p2.json"))
    tool(work, "sign", "p2.json", "--key", "root.pem")
    # 1M: this board runs the factory image from source, compiling the update gate and
    # the control plane next to the running meter (a board imports them as .mpy)
    with VirtualBoard(fs_dir=str(tmp_path / "fs"), heap="1M") as vb:
        port = vb.device
        for name in ("policy.json", "p2-half.json", "p2.json"):
            subprocess.run([MPREMOTE, "connect", port, "resume", "fs", "cp",
                            os.path.join(work, name), ":" + name], check=True,
                           capture_output=True, timeout=60)
        board_value(port, "import main\nfrom update import apply\n"
                    "print(repr(apply.policy_from_file(main.app, 'policy.json')))")
        refused = field_json(port, "policy", "p2-half.json", refused=True)
        assert refused == {"applied": False, "reason": "unknown-key",
                           "detail": refused["detail"]}
        assert field_json(port, "firmware")["policy_version"] == 1
        applied = field_json(port, "policy", "p2.json")
        assert applied["applied"] and applied["version"] == 2
        refused = field_json(port, "update", os.path.join(work, "good.pkg"), refused=True)
        # only the vendor's signature still counts: the release key was revoked
        assert refused["reason"] == "vendor-only" and "revoked" in refused["detail"]
        events = [e["event"] for e in field_json(port, "audit", "4")]
        assert events[-3:] == ["update-rejected", "policy-changed", "update-rejected"]
