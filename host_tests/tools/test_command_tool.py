"""python -m tools.command: the operator builds a command token, signers add their
signatures one after another, and the meter's own rules (run by `verify`) decide, with the
meter's reason when they refuse. `cryptography` checks every signature independently."""
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tools.shared.paths import ROOT
from tools.update import container

METER = "sim-0001"
NOW = 1795449600


def run(cwd, program, *args, ok=True):
    proc = subprocess.run([sys.executable, "-m", program] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def command(cwd, *args, ok=True):
    return run(cwd, "tools.command", *args, ok=ok)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Root, two release keys (threshold 2) and an emergency key in a signed policy."""
    d = str(tmp_path_factory.mktemp("command"))
    for name in ("root", "rel1", "rel2", "emergency", "vendor"):
        run(d, "tools.update", "keygen", "--out", name + ".pem")
    run(d, "tools.update", "policy", "create", "--root", "root.pub.pem", "--release",
        "rel1.pub.pem", "--release", "rel2.pub.pem", "--emergency", "emergency.pub.pem",
        "--vendor", "vendor.pub.pem", "--threshold", "release=2", "--out", "policy.json")
    run(d, "tools.update", "sign", "policy.json", "--key", "root.pem")
    return d


def _make_link_token(work, name, counter=7, meter=METER):
    command(work, "make", "set-operator-link", "--meter", meter, "--counter", str(counter),
            "--param", "broker=headend.example:8883", "--param", "interval_s=900",
            "--param", "tls_ca=null", "--expires", str(NOW + 86400), "--out", name)
    return os.path.join(work, name)


def _verify(work, name, *extra):
    return command(work, "verify", name, "--policy", "policy.json", "--meter", METER,
                   "--now", str(NOW), "--json", *extra, ok=False)


def test_a_token_signed_by_the_release_threshold_is_what_the_meter_accepts(work):
    _make_link_token(work, "link.token")
    body = container.Document(os.path.join(work, "link.token")).body
    assert body["params"] == {"broker": "headend.example:8883", "interval_s": 900, "tls_ca": None}
    assert _verify(work, "link.token").returncode == 1  # unsigned
    command(work, "sign", "link.token", "--key", "rel1.pem")
    one = _verify(work, "link.token")
    assert one.returncode == 1 and json.loads(one.stdout)["reason"] == "too-few-signatures"
    command(work, "sign", "link.token", "--key", "rel2.pem")  # the second signer, in turn
    two = _verify(work, "link.token")
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout) == {"accepted": True, "command": "set-operator-link",
                                      "counter": 7}
    # each signature checks out with an independent Ed25519 implementation
    doc = container.Document(os.path.join(work, "link.token"))
    policy = container.Document(os.path.join(work, "policy.json")).body
    for sig in doc.env["signatures"]:
        public = bytes.fromhex(policy["keys"][sig["keyid"]]["public"])
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(sig["sig"]),
                                                          doc.message())


def test_inspect_names_the_signers_roles_and_the_thresholds(work):
    _make_link_token(work, "inspect.token")
    command(work, "sign", "inspect.token", "--key", "emergency.pem")
    got = json.loads(command(work, "inspect", "inspect.token", "--policy", "policy.json",
                             "--json").stdout)
    assert [s["role"] for s in got["signers"]] == ["operator-emergency"]
    assert got["meets_threshold"] is False and got["meets_break_glass_threshold"] is True
    text = command(work, "inspect", "inspect.token", "--policy", "policy.json").stdout
    assert "set-operator-link for meter sim-0001, counter 7" in text
    assert "threshold met: no; in break-glass: yes" in text


def test_the_meter_refuses_a_replay_another_meter_a_vendor_and_an_expired_token(work):
    path = _make_link_token(work, "refusals.token")
    for key in ("rel1.pem", "rel2.pem"):
        command(work, "sign", "refusals.token", "--key", key)
    reasons = {
        "replayed": _verify(work, "refusals.token", "--last-counter", "7"),
        "expired": command(work, "verify", path, "--policy", "policy.json", "--meter",
                           METER, "--now", str(NOW + 2 * 86400), "--json", ok=False),
        "wrong-meter": command(work, "verify", path, "--policy", "policy.json", "--meter",
                               "sim-0002", "--now", str(NOW), "--json", ok=False),
    }
    for reason, proc in reasons.items():
        assert proc.returncode == 1 and json.loads(proc.stdout)["reason"] == reason, reason
        assert "REFUSED: " + reason in proc.stderr
    _make_link_token(work, "vendor.token")
    command(work, "sign", "vendor.token", "--key", "vendor.pem")
    assert json.loads(_verify(work, "vendor.token").stdout)["reason"] == "vendor-key"


def test_tools_update_signs_a_token_too(work):
    _make_link_token(work, "update-signed.token")
    run(work, "tools.update", "sign", "update-signed.token", "--key", "rel1.pem")
    run(work, "tools.update", "sign", "update-signed.token", "--key", "rel2.pem")
    assert _verify(work, "update-signed.token").returncode == 0


def test_bad_parameters_are_refused_before_anyone_signs(work):
    cases = [
        (["set-operator-link", "--param", "broker=x:1", "--param", "interval_s=60",
          "--param", "tls_ca=null"], "interval_s must be 900..604800"),
        (["set-operator-link", "--param", "broker=x:1"], "missing interval_s, tls_ca"),
        (["set-calibration", "--param", 'calibration={"v_gain": 7.0}'], "v_gain=7 outside"),
        (["set-calibration", "--param", 'calibration={"colour": 1}'], "not calibration fields"),
        (["break-glass-on", "--param", "reason= "], "reason must be a non-empty text"),
        (["set-tariffs", "--param", "schedule=@missing.json"], "cannot read missing.json"),
    ]
    for args, message in cases:
        proc = command(work, "make", *args, "--meter", METER, "--counter", "9",
                       "--out", "bad.token", ok=False)
        assert proc.returncode == 1 and message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.startswith("command: ") and "Traceback" not in proc.stderr


def test_a_file_that_is_no_token_is_named(work):
    proc = command(work, "sign", "policy.json", "--key", "rel1.pem", ok=False)
    assert proc.returncode == 1 and "policy.json is a open-meter-policy, not a command token" \
        in proc.stderr


def test_calibration_fractions_become_decimal_text_the_meter_reads(work):
    command(work, "make", "set-calibration", "--meter", METER, "--counter", "11",
            "--param", 'calibration={"i_crosstalk": 1e-05, "v_gain": 1.0021, "v_offset": 2050}',
            "--out", "cal.token")
    body = container.Document(os.path.join(work, "cal.token")).body
    assert body["params"]["calibration"] == {"i_crosstalk": "0.00001", "v_gain": "1.0021",
                                             "v_offset": 2050}


def test_the_current_curve_is_checked_and_signed_as_decimal_text(work):
    command(work, "make", "set-calibration", "--meter", METER, "--counter", "12",
            "--param", 'calibration={"i_curve": [[0.25, 1.0103, 1.2944], [5, 1.0, 0.0]]}',
            "--out", "curve.token")
    body = container.Document(os.path.join(work, "curve.token")).body
    # flat (current, gain, phase, ...): signed documents nest at most five deep
    assert body["params"]["calibration"] == {
        "i_curve": ["0.25", "1.0103", "1.2944", 5, "1", "0"]}
    proc = command(work, "make", "set-calibration", "--meter", METER, "--counter", "13",
                   "--param", 'calibration={"i_curve": [[5, 1.0, 0.0], [1, 1.0, 0.0]]}',
                   "--out", "bad.token", ok=False)
    assert proc.returncode == 1 and "currents must rise" in proc.stderr
