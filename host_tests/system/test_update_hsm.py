"""The operator's keys in a PKCS#11 token (Debian's SoftHSM2) that never releases them:
they sign a policy and a package with tools.update, a virtual board takes the package
through the real mpremote and accepts it, a vendor-only package is refused, and the
boot stage then starts the new slot on the MicroPython unix port."""
import ast
import json
import os
import subprocess
import sys

import pytest

from host_tests.syspkg import require
from tools.update import container as pkg
from tools.vboard import VirtualBoard, micropython_binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "meter-op"
USER_PIN = "1234"  # test token only
SO_PIN = "5678"
ROOT_KEY = "pkcs11:token=%s;object=op-root-1" % TOKEN
RELEASE_KEY = "pkcs11:token=%s;object=op-release-1" % TOKEN


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    """A fresh SoftHSM2 token in a private token folder; returns (env, work dir)."""
    util = require("softhsm2-util", "softhsm2")
    pytest.importorskip("pkcs11", reason="python-pkcs11 not installed (requirements.txt)")
    work = tmp_path_factory.mktemp("hsm")
    (work / "tokens").mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
                    % (work / "tokens"))
    env = dict(os.environ, SOFTHSM2_CONF=str(conf), METER_HSM_PIN=USER_PIN,
               METER_PKCS11_MODULE=MODULE, PYTHONPATH=ROOT)
    subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--pin", USER_PIN,
                    "--so-pin", SO_PIN], env=env, check=True, capture_output=True, timeout=60)
    return env, str(work)


def tool(hsm, *args, ok=True):
    env, work = hsm
    proc = subprocess.run([sys.executable, "-m", "tools.update"] + list(args), cwd=work,
                          env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def signed(hsm):
    """Keys made in the token, a policy signed in it, and two packages: vendor + operator
    (HSM) signed, and vendor only."""
    env, work = hsm
    tool(hsm, "keygen", "--key", ROOT_KEY)
    tool(hsm, "keygen", "--key", RELEASE_KEY)
    tool(hsm, "keygen", "--out", "vendor.pem")
    tool(hsm, "policy", "create", "--root", ROOT_KEY, "--release", RELEASE_KEY,
         "--vendor", "vendor.pub.pem", "--out", "policy.json")
    tool(hsm, "sign", "policy.json", "--key", ROOT_KEY)
    tool(hsm, "build", "--board", "sim", "--version", "9.1.0", "--counter", "5",
         "--out", "vendor-only.pkg")
    tool(hsm, "sign", "vendor-only.pkg", "--key", "vendor.pem")
    tool(hsm, "sign", "vendor-only.pkg", "--key", RELEASE_KEY, "--out", "release.pkg")
    return work


def test_token_keys_are_sensitive_and_never_extractable(hsm, signed):
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    env, _ = hsm
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = env["SOFTHSM2_CONF"]
    try:
        token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
        with token.open(user_pin=USER_PIN) as session:
            key = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS,
                                  label="op-release-1")
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.SENSITIVE] is True
            with pytest.raises(pkcs11.PKCS11Error):
                key[Attribute.VALUE]
    finally:
        if old is None:
            del os.environ["SOFTHSM2_CONF"]
        else:
            os.environ["SOFTHSM2_CONF"] = old


def test_host_verify_accepts_hsm_signed_and_refuses_vendor_only(hsm, signed):
    assert "ACCEPTED" in tool(hsm, "verify", "release.pkg", "--policy", "policy.json").stdout
    proc = tool(hsm, "verify", "vendor-only.pkg", "--policy", "policy.json", ok=False)
    assert "REJECTED: vendor-only" in proc.stderr


def test_wrong_pin_is_refused_in_one_line(hsm, signed):
    env, work = hsm
    proc = subprocess.run([sys.executable, "-m", "tools.update", "sign", "release.pkg",
                           "--key", RELEASE_KEY, "--out", "x.pkg"], cwd=work,
                          env=dict(env, METER_HSM_PIN="0000"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "Pin" in proc.stderr


def mpremote(device, *args):
    proc = subprocess.run([MPREMOTE, "connect", device] + list(args), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def board_value(device, code):
    """Runs code on the board; the last line it prints, read as a Python literal."""
    out = mpremote(device, "resume", "exec", code)
    return ast.literal_eval(out.strip().splitlines()[-1])


_APPLY = ("import main\nfrom update import apply\nfrom update.errors import UpdateRejected\n"
          "try:\n print(repr({call}))\nexcept UpdateRejected as exc:\n"
          " print(repr({{'accepted': False, 'reason': exc.reason}}))\n")


def test_virtual_board_accepts_hsm_signed_package_and_refuses_vendor_only(signed, tmp_path):
    if micropython_binary() is None or not os.path.exists(MPREMOTE):
        pytest.skip("micropython or mpremote not in the venv (make venv)")
    fs = tmp_path / "fs"
    # The virtual board compiles the update gate from source next to the running meter;
    # 256K then runs out (fragmented heap). Boards run .mpy; the flow's own heap need is
    # measured by tools/bench/benchmarks/update_cost.py.
    with VirtualBoard(fs_dir=str(fs)) as vb:
        mpremote(vb.device, "resume", "fs", "cp", os.path.join(signed, "policy.json"),
                 ":policy.json")
        done = board_value(vb.device, _APPLY.format(
            call="apply.policy_from_file(main.app, 'policy.json')"))
        assert done["version"] == 1
        mpremote(vb.device, "resume", "fs", "cp", os.path.join(signed, "vendor-only.pkg"),
                 ":update.pkg")
        refused = board_value(vb.device, _APPLY.format(call="apply.from_file(main.app)"))
        assert refused == {"accepted": False, "reason": "vendor-only"}
        assert not (fs / "fw" / "a" / "manifest.json").exists()
        mpremote(vb.device, "resume", "fs", "cp", os.path.join(signed, "release.pkg"),
                 ":update.pkg")
        accepted = board_value(vb.device, _APPLY.format(call="apply.from_file(main.app)"))
        assert accepted["accepted"] and accepted["slot"] == "a"
        assert accepted["version"] == "9.1.0" and accepted["trial"]
        events = board_value(vb.device, "import main\nprint(repr([e['event'] for _, e in "
                             "main.app.audit.tail(4)]))")
        assert events[-3:] == ["policy-changed", "update-rejected", "update-accepted"]
    staged = pkg.Document(os.path.join(signed, "release.pkg"))
    for path, data in staged.records:
        assert (fs / "fw" / "a" / path).read_bytes() == data
    _boot_stage_starts_the_new_slot(str(fs))


def _boot_stage_starts_the_new_slot(fs):
    """After the reboot: the boot stage counts a trial boot and imports main from fw/a."""
    code = ("import sys\nsys.path[:] = ['', '.frozen']\nfrom update import loader\n"
            "folder = loader.boot()\nimport main\nprint(folder, main.__file__)\n")
    proc = subprocess.run([micropython_binary(), "-c", code], cwd=fs, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["fw/a", "fw/a/main.py"]
    import_state = subprocess.run(
        [micropython_binary(), "-c", "import sys\nsys.path[:] = ['']\nfrom update import firmware_slots"
         "\nfrom storage.flash import FileStore\nimport json\n"
         "print(json.dumps(firmware_slots.UpdateState(FileStore('fw')).fields))"],
        cwd=fs, capture_output=True, text=True, timeout=60)
    state = json.loads(import_state.stdout)
    assert state["trial"] and state["boots"] == 1 and state["active_version"] == "9.1.0"


def test_without_a_pin_or_a_terminal_the_tool_says_how_to_give_it(hsm):
    env, work = hsm
    env = {k: v for k, v in env.items() if k != "METER_HSM_PIN"}
    proc = subprocess.run([sys.executable, "-m", "tools.update", "keygen", "--key",
                           "pkcs11:token=%s;object=no-pin" % TOKEN], cwd=work, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "needs its PIN: set METER_HSM_PIN or run at a terminal" in proc.stderr
