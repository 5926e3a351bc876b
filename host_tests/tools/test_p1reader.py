"""tools.p1reader as a technician runs it: telegrams built by the firmware (comms.p1), read
from a file, from pyserial's loop:// and from a pseudo-terminal; dsmr_parser decodes them;
a telegram with one changed byte is flagged CHECKSUM BAD and makes the exit code non-zero."""
import io
import json
import os
import subprocess
import sys
import time
import tty

import serial

import civiltime
from comms import p1
from tools import p1reader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 60

SNAP = {
    "import_wh": [1234567, 89], "export_wh": [5, 456789], "tariff": 2,
    "p_w": 1193.4, "vrms": 230.14, "irms": 5.19, "sags": 2, "swells": 1,
    "power_failures": 4, "long_power_failures": 2, "power_fail_log": [],
    "time_s": civiltime.utc_seconds(2026, 11, 23, 16, 0, 5),
    "equipment_id": "sim-0001", "text": "operator link: off (consumer opt-out)",
}


def _telegrams(n):
    return [p1.build_telegram(dict(SNAP, time_s=SNAP["time_s"] + k,
                                   import_wh=[SNAP["import_wh"][0] + k, 89]))
            for k in range(n)]


def _corrupt(telegram):
    """One changed byte: the first digit of import T1 (the CRC is left as it was)."""
    at = telegram.index(b"1-0:1.8.1(") + 10
    return telegram[:at] + b"9" + telegram[at + 1:]


def _tool(*args):
    return subprocess.run([sys.executable, "-m", "tools.p1reader"] + list(args),
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)


def _lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def test_every_telegram_in_a_file_is_decoded_with_its_values(tmp_path):
    path = tmp_path / "p1.out"
    path.write_bytes(b"".join(_telegrams(3)))
    proc = _tool("--file", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    *shown, summary = _lines(proc.stdout)
    assert summary["summary"] == {"telegrams": 3, "ok": 3, "failed": 0, "checksum_bad": 0}
    first = shown[0]
    assert first["import_kwh"] == [1234.567, 0.089]
    assert first["export_kwh"] == [0.005, 456.789]
    assert first["tariff"] == 2
    assert first["power_import_kw"] == 1.193 and first["power_export_kw"] == 0.0
    assert first["voltage_v"] == 230.1 and first["current_a"] == 5.0
    assert (first["power_failures"], first["long_power_failures"]) == (4, 2)
    assert (first["sags"], first["swells"]) == (2, 1)
    assert first["text"] == SNAP["text"] and first["equipment_id"] == "sim-0001"
    assert first["time_utc"] == "2026-11-23T16:00:05Z"
    assert [s["import_kwh"][0] for s in shown] == [1234.567, 1234.568, 1234.569]


def test_the_text_view_shows_the_registers(tmp_path):
    path = tmp_path / "p1.out"
    path.write_bytes(_telegrams(1)[0])
    proc = _tool("--file", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "import T1 1234.567 kWh  T2 0.089 kWh" in proc.stdout
    assert "230.1 V" in proc.stdout and "operator link: off" in proc.stdout


def test_a_changed_byte_is_flagged_counted_and_fails_the_exit_code(tmp_path):
    good = _telegrams(3)
    path = tmp_path / "p1.out"
    path.write_bytes(good[0] + _corrupt(good[1]) + good[2])
    proc = _tool("--file", str(path))
    assert proc.returncode == 1
    bad_lines = [line for line in proc.stdout.splitlines() if "CHECKSUM BAD" in line]
    expected_crc = "%04X" % p1.crc16(_corrupt(good[1])[:-6])
    given_crc = good[1][-6:-2].decode()
    assert bad_lines == ["#2 CHECKSUM BAD: expected %s, got %s (telegram ignored)"
                         % (expected_crc, given_crc)]
    assert "3 telegrams: 2 good, 1 failed (1 with a bad checksum)" in proc.stdout


def test_reading_goes_on_after_a_bad_telegram_over_loop_serial():
    port = serial.serial_for_url("loop://", timeout=0.1)
    good = _telegrams(4)
    # reading starts mid-telegram, as on a real port: the fragment is skipped
    port.write(good[0][40:] + good[1] + _corrupt(good[2]) + good[3])
    out = io.StringIO()
    args = p1reader._parser().parse_args(["--port", "loop://", "--json", "--idle", "0.3"])
    summary = p1reader.run(port, args, is_file=False, out=out)
    shown = _lines(out.getvalue())
    assert [s["ok"] for s in shown] == [True, False, True]
    assert shown[1]["error"] == "checksum"
    assert shown[2]["import_kwh"][0] == 1234.570
    assert summary == {"telegrams": 3, "ok": 2, "failed": 1, "checksum_bad": 1}


def test_main_over_loop_serial_exits_non_zero_for_a_bad_telegram(capsys):
    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(_corrupt(_telegrams(2)[1]))
    assert p1reader.main(["--port", "loop://", "--idle", "0.3"], stream=port) == 1
    assert "CHECKSUM BAD" in capsys.readouterr().out


def test_a_real_serial_device_path_is_read_until_quiet():
    """A pseudo-terminal stands in for a USB P1 cable; the "meter" sends a telegram every
    0.1 s (pyserial drops what was queued before it opened the port)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([sys.executable, "-m", "tools.p1reader", "--port",
                             os.ttyname(slave), "--json", "--count", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            os.write(master, _telegrams(1)[0])
            time.sleep(0.1)
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, stderr
    summary = _lines(stdout)[-1]["summary"]
    assert summary == {"telegrams": 2, "ok": 2, "failed": 0, "checksum_bad": 0}


def test_a_silent_port_is_one_clear_error():
    port = serial.serial_for_url("loop://", timeout=0.1)
    proc_args = ["--port", "loop://", "--idle", "0.2"]
    assert p1reader.main(proc_args, stream=port) == 1
    proc = _tool("--file", os.devnull)
    assert proc.returncode == 1
    assert proc.stderr.startswith("p1reader: no P1 telegram") and "Traceback" not in proc.stderr
