"""The control plane end to end on the virtual board, through the real mpremote: a fresh
meter listens on nothing; commissioning; operator-signed commands applied, refused ones
change nothing and are logged; break-glass on with the emergency key and off with root,
while metering and the P1 port carry on untouched."""
import json
import os
import time

from control import tokens
from fixtures.update import kit
from host_tests.system.support.mpremote import mpremote
from tools.vboard import VirtualBoard

METER = "sim-0001"


def _exec(vb, code):
    return mpremote(vb.device, "resume", "exec", code)


def _json(vb, code):
    return json.loads(_exec(vb, code).strip().splitlines()[-1])


def _token(command, params, signers, counter):
    body = {"type": "open-meter-command", "format": 1, "command": command, "params": params,
            "meter": METER, "counter": counter, "expires": int(time.time()) + 3600}
    return kit.envelope(body, signers, tokens.DOMAIN)


def _apply(vb, tmp_path, raw):
    path = tmp_path / "token.json"
    path.write_bytes(raw)
    mpremote(vb.device, "resume", "fs", "cp", str(path), ":token.json")
    return _json(vb, "import service; service.apply('token.json', json=True)")


def _sockets_of(pid):
    inodes = set()
    pids = [pid]
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    for p in pids:
        for fd in os.listdir("/proc/%d/fd" % p):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (p, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _listening_inodes():
    found = set()
    for table, listen_state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        with open("/proc/net/" + table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == listen_state:
                    found.add(cols[9])
    return found


def test_fresh_meter_listens_on_nothing(tmp_path):
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        _exec(vb, "import time; time.sleep(1)")
        mine = _sockets_of(vb._proc.pid)
        assert not mine & _listening_inodes()
        plane = _json(vb, "import service; service.controlplane(json=True)")
    assert plane["remote_access"].startswith("off")
    assert plane["policy"]["version"] is None  # not commissioned: nothing can be changed


def test_commands_break_glass_and_refusals_on_the_virtual_board(tmp_path):
    (tmp_path / "policy.json").write_bytes(kit.policy())
    (tmp_path / "keys.json").write_text(json.dumps(
        {"kek": "00" * 16, "ek": "11" * 16, "ak": "22" * 16}))
    fs = tmp_path / "fs"
    with VirtualBoard(fs_dir=str(fs)) as vb:
        for name in ("policy.json", "keys.json"):
            mpremote(vb.device, "resume", "fs", "cp", str(tmp_path / name), ":" + name)
        done = _json(vb, "import service; service.commission('policy.json', 'keys.json', json=True)")
        assert done["commissioned"]
        assert not (fs / "keys.json").exists()  # no plaintext key file stays on the flash
        # on a commissioned meter a technician's calibration step is only a proposal
        proposal = _json(vb, "import main, service, time; main.app.hw.front_end.set(load_a=0.0); "
                             "time.sleep(2.2); "
                             "r = service.calibrate('no-load', windows=2, json=True); "
                             "main.app.hw.front_end.set(load_a=5.0)")
        assert proposal["applied"] is False
        assert (fs / "data" / "calibration.proposed").exists()
        assert not (fs / "data" / "calibration").exists()
        text = _exec(vb, "import service; service.controlplane()")
        assert all(len(line) <= 80 for line in text.splitlines()), [
            line for line in text.splitlines() if len(line) > 80]
        assert "WHO CONTROLS METER sim-0001" in text and "break-glass: off" in text
        schedule = {"low_from_hour": 21, "low_until_hour": 7, "low_weekdays": [5, 6]}
        assert _apply(vb, tmp_path, _token("set-tariffs", {"schedule": schedule},
                                           ("release1",), 1))["applied"]
        refused = _apply(vb, tmp_path, _token("set-tariffs", {"schedule": schedule},
                                              ("vendor",), 2))
        assert refused == {"applied": False, "reason": "vendor-key",
                           "detail": "a vendor cannot command this meter"}
        before = _json(vb, "import service; service.readings(json=True)")
        p1_before = (fs / "p1.out").stat().st_size
        assert _apply(vb, tmp_path, _token("break-glass-on", {"reason": "drill"},
                                           ("emergency",), 3))["applied"]
        glass = _apply(vb, tmp_path, _token("set-tariffs", {"schedule": schedule},
                                            ("release1",), 4))
        assert glass["reason"] == "not-allowed-in-break-glass"
        plane = _json(vb, "import service; service.controlplane(json=True)")
        assert plane["break_glass"] is True
        assert [k["active"] for k in plane["policy"]["keys"] if k["owner"] == "vendor"] == [False]
        _exec(vb, "import time; time.sleep(2.5)")
        after = _json(vb, "import service; service.readings(json=True)")
        assert after["windows"] > before["windows"]  # metering carries on
        assert sum(after["import_wh"]) >= sum(before["import_wh"])
        assert (fs / "p1.out").stat().st_size > p1_before  # and so does the P1 port
        assert not _apply(vb, tmp_path, _token("break-glass-off", {"reason": "x"},
                                               ("emergency",), 5))["applied"]
        assert _apply(vb, tmp_path, _token("break-glass-off", {"reason": "over"},
                                           ("root1",), 6))["applied"]
        log = _json(vb, "import service; service.audit(12, json=True)")
    events = [e["event"] for e in log]
    assert events.count("token-refused") == 3
    assert "break-glass-on" in events and "break-glass-off" in events
    assert "command-applied" in events
