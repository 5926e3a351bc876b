"""The operator's day, from nothing, with the real tools and a real broker: keys and a
trust policy made with tools.update; the commissioning kit (tools.headend commission)
registers a meter's keys with the head-end and writes the technician's bundle; the
technician commissions the virtual board with tools.field; the head-end serves; a
set-operator-link token made with tools.command, signed by two release keys in turn, and
an install-keys rotation (tools.headend rotate-keys) travel to the meter over the operator
link; the meter's sealed audit log answers both; readings keep arriving, under the new keys
after the rotation, with no quarter-hour missing."""
import json
import os
import subprocess
import sys
import time

from host_tests.system.support.broker import Broker, Serve
from host_tests.system.support.mpremote import mpremote
from tools.shared.paths import ROOT
from tools.vboard import VirtualBoard

METER = "sim-0001"
WAIT_S = 60


def run(cwd, program, *args):
    proc = subprocess.run([sys.executable, "-m", program] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, "%s %s: %s%s" % (program, args, proc.stdout, proc.stderr)
    return proc.stdout


def run_json(cwd, program, *args):
    return json.loads(run(cwd, program, *args, "--json").strip().splitlines()[-1])


def field_json(work, port, verb):
    return json.loads(run(work, "tools.field", "--port", port, "--json", verb))


def _quarter_hours(vb, count):
    """`count` quarter-hours closed on the meter now (the sim's clock is wall time: a test
    cannot wait 15 minutes for each)."""
    mpremote(vb.device, "resume", "exec",
             "import main\na = main.app\nfor _ in range(%d):\n"
             "    with a.lock:\n"
             "        a.meter.intervals.close(a.hw.clock.time(), a.meter.registers.values())\n"
             % count)


def _until(what, check, work, port, timeout_s=WAIT_S):
    """Ask the meter to send (sendnow) until check() holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run(work, "tools.field", "--port", port, "sendnow")
        time.sleep(2)
        got = check()
        if got:
            return got
    raise AssertionError("timed out waiting for " + what)


def _commands(work, db):
    return {c["counter"]: c for c in run_json(work, "tools.headend", "commands", "--db", db)}


def test_commission_command_and_rotate_keys_over_the_operator_link(tmp_path):
    work = str(tmp_path)
    db = os.path.join(work, "headend.sqlite")
    for name in ("root", "rel1", "rel2"):
        run(work, "tools.update", "keygen", "--out", name + ".pem")
    run(work, "tools.update", "policy", "create", "--root", "root.pub.pem", "--release",
        "rel1.pub.pem", "--release", "rel2.pub.pem", "--threshold", "release=2",
        "--out", "policy.json")
    run(work, "tools.update", "sign", "policy.json", "--key", "root.pem")
    broker = Broker(work)
    try:
        kit = run_json(work, "tools.headend", "commission", "--db", db, "--meter-id", METER,
                       "--policy", "policy.json", "--broker", broker.address,
                       "--interval-s", "900", "--out", "bundle")
        title = kit["system_title"]
        keys_file = os.path.join(work, "bundle", "keys.json")
        assert os.stat(keys_file).st_mode & 0o077 == 0  # the technician's copy: owner only
        listed = run(work, "tools.headend", "keys", "list", "--db", db)
        assert title in listed and json.load(open(keys_file))["ek"] not in listed
        serve = Serve(broker, db)
        with VirtualBoard(fs_dir=os.path.join(work, "fs")) as vb:
            port = vb.device
            bundle = os.path.join(work, "bundle")
            out = run(bundle, "tools.field", "--port", port, "commission", "policy.json",
                      "keys.json", broker.address, "900")
            assert kit["policy_fingerprint"] in out  # what the technician reads back
            status = field_json(work, port, "status")
            assert status["system_title"] == title  # the meter shows what the kit printed

            # readings go once a day unless the consumer consents at the meter to more: this
            # test sends several sessions' worth within a minute
            first = field_json(work, port, "status")["operator_link"]["readings"]
            assert first == "once a day"
            run(work, "tools.field", "--port", port, "consent", "on")
            _quarter_hours(vb, 2)
            _until("the first readings", lambda: _readings(work, db, title) >= 2, work, port)

            # a signed set-operator-link, two release signers in turn, sent by the head-end
            run(work, "tools.command", "make", "set-operator-link", "--meter", METER,
                "--counter", "1", "--param", "broker=" + broker.address,
                "--param", "interval_s=3600", "--param", "tls_ca=null", "--out", "link.token")
            for key in ("rel1.pem", "rel2.pem"):
                run(work, "tools.command", "sign", "link.token", "--key", key)
            run(work, "tools.headend", "send", "--db", db, "link.token")
            answered = _until("the meter's answer to the link command",
                              lambda: _commands(work, db)[1]["result"], work, port)
            assert answered == "applied", _commands(work, db)
            status = field_json(work, port, "status")
            next_s = status["operator_link"]["next_send_utc"]
            assert status["operator_link"]["broker"] == broker.address and next_s

            # key rotation: new EK and AK wrapped under the KEK, signed, sent
            before = run_json(work, "tools.headend", "keys", "list", "--db", db)[0]
            run(work, "tools.headend", "rotate-keys", "--db", db, "--meter-id", METER,
                "--counter", "2", "--out", "keys.token")
            for key in ("rel1.pem", "rel2.pem"):
                run(work, "tools.command", "sign", "keys.token", "--key", key)
            run(work, "tools.headend", "send", "--db", db, "keys.token")
            _quarter_hours(vb, 2)
            _until("the rotation", lambda: _commands(work, db)[2]["result"], work, port)
            _quarter_hours(vb, 2)
            after = _until("readings under the new keys", lambda: _rotated(work, db), work,
                           port)
            assert after["ek_fingerprint"] != before["ek_fingerprint"]
            assert after["ak_fingerprint"] != before["ak_fingerprint"]
            meter_keys = field_json(work, port, "status")
            assert meter_keys["operator_link"]["keys"]["ek"] == after["ek_fingerprint"]
            _until("all six quarter-hours", lambda: _readings(work, db, title) >= 6, work, port)
        # no quarter-hour missing, none lost, nothing forged, the audit chain unbroken
        state = run_json(work, "tools.headend", "status", "--db", db)
        meter = [m for m in state["meters"] if m["meter"] == title][0]
        assert (meter["readings_lost"], meter["forgeries"], meter["chain_problems"]) == (0, 0, 0)
        csv = run(work, "tools.headend", "export", "--db", db, "--meter", title, "--csv", "-")
        seqs = [int(line.split(",")[1]) for line in csv.splitlines()[1:]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and len(seqs) >= 6
        # the fleet report shows both: the commands the meter applied and the rotated keys
        fleet = run_json(work, "tools.headend", "fleet", "--db", db)
        row = fleet["meters"][0]
        assert row["meter_id"] == METER and row["policy_fingerprint"] == kit["policy_fingerprint"]
        assert row["commands"].startswith("2 applied, 0 refused, 0 waiting; last install-keys")
        assert row["keys_since_s"] == after["rotated_s"] and not row["key_rotation_pending"]
        assert (row["break_glass"], row["operator_link"], row["readings_consent"]) == (
            False, "on", True)
        assert row["chain_problems"] == 0 and row["metering_module"]
        assert fleet["figures"]["on_current_policy_pct"] == 100.0
        text = run(work, "tools.headend", "fleet", "--db", db)
        assert "commands: 2 applied" in text and all(len(x) <= 80 for x in text.splitlines())
        table = run(work, "tools.headend", "fleet", "--db", db, "--format", "csv")
        assert table.splitlines()[1].startswith(title + "," + METER + ",1,")
    finally:
        broker.stop()


def _readings(work, db, title):
    state = run_json(work, "tools.headend", "status", "--db", db)
    return sum(m["readings"] for m in state["meters"] if m["meter"] == title)


def _rotated(work, db):
    row = run_json(work, "tools.headend", "keys", "list", "--db", db)[0]
    return row if row["rotated_s"] and not row["rotation_pending"] else None
