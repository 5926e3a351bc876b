"""Firmware over the operator link, end to end: tools.headend serve --firmware sends an
operator-signed package through a real broker (Debian's mosquitto; amqtt on a laptop)
to a meter on the MicroPython unix port, in chunks across sessions and a restart of the
meter; the meter's update gate accepts it and the head-end retires the package. A
vendor-only package sent the same way is refused and changes nothing."""
import json
import os
import shutil
import subprocess
import sys
import threading

from host_tests.system.support.broker import Broker, Serve, ok
from tools.deploy.stage import stage

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SCRIPT = os.path.join(ROOT, "host_tests", "system", "support", "firmware_e2e.py")
TITLE = "4f534d000000e2e3"  # FW_TITLE of host_tests/system/support/meter_e2e_keys.py
EK = "000102030405060708090a0b0c0d0e0f"
AK = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
NOW_S = 1795449600


def tool(cwd, *args):
    proc = subprocess.run([sys.executable, "-m", "tools.update"] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def meter(fs, port, sessions, session_ms):
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=1M", SCRIPT, ROOT, str(port),
                           "policy.json", str(sessions), str(session_ms)],
                          cwd=fs, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    sessions = [json.loads(line) for line in lines if line.startswith("{")]
    final = json.loads([line for line in lines if line.startswith("FINAL ")][0][6:])
    return sessions, final


def test_package_over_the_link_in_chunks_across_sessions_and_a_restart(tmp_path):
    work, fs, fw_dir = str(tmp_path / "keys"), str(tmp_path / "fs"), str(tmp_path / "outbox")
    for folder in (work, fw_dir):
        os.makedirs(folder)
    for name in ("root", "release", "vendor"):
        tool(work, "keygen", "--out", name + ".pem")
    tool(work, "policy", "create", "--root", "root.pub.pem", "--release", "release.pub.pem",
         "--vendor", "vendor.pub.pem", "--out", "policy.json")
    tool(work, "sign", "policy.json", "--key", "root.pem")
    expires = str(NOW_S + 30 * 86400)  # the meter's clock stands at NOW_S
    tool(work, "build", "--board", "sim", "--version", "3.0.0", "--counter", "2", "--mpy",
         "--expires", expires, "--out", "release.pkg")
    tool(work, "sign", "release.pkg", "--key", "release.pem")
    tool(work, "build", "--board", "sim", "--version", "3.0.1", "--counter", "2", "--mpy",
         "--expires", expires, "--out", "vendor.pkg")
    tool(work, "sign", "vendor.pkg", "--key", "vendor.pem")
    stage("sim", fs)
    shutil.copy(os.path.join(work, "policy.json"), os.path.join(fs, "policy.json"))

    broker = Broker(str(tmp_path), allow_amqtt=True)
    db = str(tmp_path / "headend.sqlite")
    ok("keys", "add", "--db", db, "--system-title", TITLE, "--ek", EK, "--ak", AK)
    serve = Serve(broker, db, "--firmware", fw_dir)
    package = os.path.join(fw_dir, TITLE + ".pkg")
    try:
        shutil.copy(os.path.join(work, "vendor.pkg"), package)
        sessions, final = meter(fs, broker.port, 1, 60000)
        assert final["active"] == "" and not final["trial"]
        assert os.path.exists(package + ".rejected") and not os.path.exists(package)

        shutil.copy(os.path.join(work, "release.pkg"), package)
        size = os.path.getsize(package)
        # short sessions: the transfer spans several, then the meter restarts mid-way
        first, final = meter(fs, broker.port, 2, 150)
        assert 0 < first[-1]["part_bytes"] < size and final["active"] == ""
        second, final = meter(fs, broker.port, 40, 150)
    finally:
        serve.proc.terminate()
        serve.wait()
        broker.stop()
    assert (final["active"], final["active_version"], final["trial"]) == ("a", "3.0.0", True)
    assert os.path.exists(package + ".accepted") and not os.path.exists(package)
    assert second[-1]["part_bytes"] == 0
    results = [e["result"] for e in serve.lines if e["event"] == "firmware"]
    assert results == ["rejected vendor-only", "accepted 3.0.0"]
    # resumed, never restarted from zero: one "sending" report per package
    assert sum(1 for e in serve.lines if e["event"] == "firmware-sending") == 2
