"""End to end over a real broker: the meter (MicroPython unix port, umqtt.simple from
micropython-lib, the firmware's uplink) -> Debian's mosquitto -> tools.headend (dlms-cosem,
SQLite). The broker is killed and restarted mid-run and the meter itself is killed and
restarted; every quarter-hour must arrive at the head-end exactly once."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from host_tests.system.support.broker import Broker, Serve, ok
from tools.deploy.stage import stage

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SCRIPT = os.path.join(ROOT, "host_tests", "system", "support", "meter_e2e.py")
TITLE = "4f534d000000e2e2"  # b"OSM\0\0\0\xe2\xe2", as in meter_e2e.py
EK = "000102030405060708090a0b0c0d0e0f"
AK = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
START_UTC = 1795449600


class MeterRun:
    def __init__(self, fs, data, port, start_utc, windows):
        self.proc = subprocess.Popen(
            [MICROPYTHON, SCRIPT, ROOT, data, str(port), str(start_utc), str(windows)],
            cwd=fs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.final = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("FINAL "):
                self.final = json.loads(line[6:])
            elif line.startswith("{"):
                self.lines.append(json.loads(line))

    def windows_done(self):
        return sum(1 for e in self.lines if "window" in e)

    def wait_windows(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        while self.windows_done() < n:
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "meter stalled at window %d" % self.windows_done()
            time.sleep(0.05)

    def finish(self, timeout=180):
        self.proc.wait(timeout)
        assert self.proc.returncode == 0, self.proc.stderr.read()
        for _ in range(50):
            if self.final is not None:
                break
            time.sleep(0.05)
        return self.final


def test_every_quarter_hour_arrives_exactly_once_across_broker_and_meter_restarts(tmp_path):
    broker = Broker(str(tmp_path), allow_amqtt=True)
    db = str(tmp_path / "headend.sqlite")
    ok("keys", "add", "--db", db, "--system-title", TITLE, "--ek", EK, "--ak", AK)
    serve = Serve(broker, db)
    fs, data = str(tmp_path / "fs"), str(tmp_path / "data")
    stage("sim", fs)
    try:
        first = MeterRun(fs, data, broker.port, START_UTC, 60)
        first.wait_windows(8)
        broker.stop()  # outage: the meter keeps metering and retries with back-off
        first.wait_windows(20)
        failures = [e for e in first.lines if str(e.get("result", "")).startswith("failed")]
        assert failures, "the outage was not noticed"
        broker.start()
        first.wait_windows(30)
        first.proc.send_signal(signal.SIGKILL)  # power cut on the meter
        first.proc.wait(10)
        second = MeterRun(fs, data, broker.port, START_UTC + 60 * 300 + 3600, 15)
        final = second.finish()
    finally:
        serve.proc.terminate()
        serve.wait()
        broker.stop()
    assert final["pending"] == 0
    meter_records = {seq: (end_s, imp, exp) for seq, end_s, imp, exp in final["records"]}
    assert len(meter_records) >= 12
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seq, end_s, import_t1_wh, import_t2_wh, export_t1_wh, "
                       "export_t2_wh, reactive_q1_varh FROM readings WHERE title = ? "
                       "ORDER BY seq", (TITLE,)).fetchall()
    # the four-quadrant companions arrive with their readings (type 5); a power cut loses
    # at most the companions of the hour not yet written, whose readings went as type 1
    q1 = [r[6] for r in rows if r[6] is not None]
    assert len(rows) - len(q1) <= 3 and q1 == sorted(q1) and q1[-1] > 0, [r[6] for r in rows]
    stored = {r[0]: (r[1], [r[2], r[3]], [r[4], r[5]]) for r in rows}
    assert len(rows) == len(stored)  # exactly once (primary key) ...
    assert stored == meter_records  # ... and every one of them, with the meter's values
    replays, forgeries = con.execute("SELECT replays, forgeries FROM meters WHERE title = ?",
                                     (TITLE,)).fetchone()
    assert forgeries == 0
