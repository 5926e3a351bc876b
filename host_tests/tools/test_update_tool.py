"""python -m tools.update with PEM keys: the vendor builds and signs, the operator reviews and
co-signs, the meter's own verifier (run by `verify`) decides; `cryptography` is the
independent check of every signature the tool writes."""
import json
import os
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tools.update import container as pkg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tool(cwd, *args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "tools.update"] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def tool_json(cwd, *args):
    return json.loads(tool(cwd, *args, "--json").stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Keys, a signed policy (root, release, vendor) and an unsigned sim package."""
    d = str(tmp_path_factory.mktemp("update"))
    for name in ("root", "release", "vendor", "root2"):
        tool(d, "keygen", "--out", name + ".pem")
    tool(d, "policy", "create", "--root", "root.pub.pem", "--release", "release.pub.pem",
         "--vendor", "vendor.pub.pem", "--out", "policy.json")
    tool(d, "sign", "policy.json", "--key", "root.pem")
    tool(d, "build", "--board", "sim", "--version", "2.0.0", "--counter", "3",
         "--out", "unsigned.pkg")
    return d


def _copy_signed(work, name, *keys):
    doc = pkg.Document(os.path.join(work, "unsigned.pkg"))
    doc.save(os.path.join(work, name))
    for key in keys:
        tool(work, "sign", name, "--key", key)
    return os.path.join(work, name)


def test_keygen_writes_a_private_key_only_its_owner_can_read(work):
    assert os.stat(os.path.join(work, "release.pem")).st_mode & 0o077 == 0
    assert tool(work, "keygen", "--out", "release.pem", ok=False).returncode == 1


def test_package_from_the_tree_lists_every_module_the_board_needs(work):
    doc = pkg.Document(os.path.join(work, "unsigned.pkg"))
    paths = [f["path"] for f in doc.body["files"]]
    assert {"main.py", "boards/sim.py", "update/verify.py", "metering/meter.py"} <= set(paths)
    assert paths == sorted(paths) and doc.body["hardware_id"] == "sim-v1"
    assert [p for p, _ in doc.records] == paths


def test_vendor_and_operator_signatures_verify_with_cryptography(work):
    path = _copy_signed(work, "both.pkg", "vendor.pem", "release.pem")
    doc = pkg.Document(path)
    by_id = {tool_json(work, "pubkey", k + ".pem")["keyid"]: k for k in ("vendor", "release")}
    assert sorted(by_id.values()) == ["release", "vendor"]
    for entry in doc.env["signatures"]:
        public = bytes.fromhex(tool_json(work, "pubkey", by_id[entry["keyid"]] + ".pem")["public"])
        Ed25519PublicKey.from_public_bytes(public).verify(
            bytes.fromhex(entry["sig"]), b"open-meter/manifest/v1\x00" + doc.env_raw[
                doc.env_raw.index(b'"signed":') + 9:-1])
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(entry["sig"]), b"x")


def test_verify_accepts_operator_cosigned_package(work):
    path = _copy_signed(work, "ok.pkg", "vendor.pem", "release.pem")
    data = tool_json(work, "verify", path, "--policy", "policy.json", "--board", "sim")
    assert data["accepted"] and data["security_counter"] == 3


def test_verify_refuses_vendor_only_package(work):
    path = _copy_signed(work, "vendor-only.pkg", "vendor.pem")
    proc = tool(work, "--json", "verify", path, "--policy", "policy.json", ok=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["reason"] == "vendor-only"
    assert proc.stderr.startswith("REJECTED: vendor-only")


def test_verify_refuses_rollback_and_wrong_board(work):
    path = _copy_signed(work, "r.pkg", "release.pem")
    proc = tool(work, "verify", path, "--policy", "policy.json", "--counter", "4", ok=False)
    assert "REJECTED: rollback" in proc.stderr
    proc = tool(work, "verify", path, "--policy", "policy.json", "--board", "esp32", ok=False)
    assert "REJECTED: wrong-board" in proc.stderr


def test_inspect_names_each_signers_role(work):
    path = _copy_signed(work, "i.pkg", "vendor.pem", "release.pem")
    data = tool_json(work, "inspect", path, "--policy", "policy.json")
    assert sorted(s["role"] for s in data["signatures"]) == ["operator-release", "vendor"]
    assert data["signed"]["version"] == "2.0.0"


def test_policy_rotation_needs_old_and_new_root_signatures(work):
    tool(work, "policy", "rotate", "--from", "policy.json", "--add-root", "root2.pub.pem",
         "--remove", "root.pub.pem", "--out", "p2.json")
    tool(work, "sign", "p2.json", "--key", "root2.pem")
    proc = tool(work, "policy", "check", "p2.json", "--current", "policy.json", ok=False)
    assert "REJECTED: unknown-key" in proc.stderr
    tool(work, "sign", "p2.json", "--key", "root.pem")
    data = tool_json(work, "policy", "check", "p2.json", "--current", "policy.json")
    assert data["version"] == 2


def test_revoked_release_key_no_longer_signs_for_the_meter(work):
    tool(work, "policy", "rotate", "--from", "policy.json", "--remove", "release.pub.pem",
         "--add-release", "root2.pub.pem", "--out", "p3.json")
    tool(work, "sign", "p3.json", "--key", "root.pem")
    path = _copy_signed(work, "old-key.pkg", "release.pem")
    proc = tool(work, "verify", path, "--policy", "p3.json", ok=False)
    assert "REJECTED: unknown-key" in proc.stderr


def test_mpy_package_holds_compiled_modules_and_main_as_source(work):
    tool(work, "build", "--board", "esp32", "--version", "2.0.0", "--counter", "3", "--mpy",
         "--out", "esp32.pkg")
    paths = [f["path"] for f in pkg.Document(os.path.join(work, "esp32.pkg")).body["files"]]
    assert "main.py" in paths and "boards/esp32.mpy" in paths
    assert not [p for p in paths if p.endswith(".py") and p != "main.py"]


def test_unreadable_key_is_one_line_error(work):
    proc = tool(work, "sign", "unsigned.pkg", "--key", "missing.pem", ok=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
