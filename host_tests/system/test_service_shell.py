"""The field-service shell through the real mpremote on the virtual board."""
import json
import os

from tools.vboard import VirtualBoard
from host_tests.system.support.mpremote import mpremote


def _exec(vb, code):
    return mpremote(vb.device, "resume", "exec", code)


def test_status_fits_80_columns_and_has_a_json_form(tmp_path):
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        _exec(vb, "import time; time.sleep(1.5)")
        text = _exec(vb, "import service; service.status()")
        data = json.loads(_exec(vb, "import service; service.status(json=True)").strip().splitlines()[-1])
        readings = _exec(vb, "import service; service.readings()")
    lines = text.rstrip("\n").splitlines() + readings.rstrip("\n").splitlines()
    assert all(len(line) <= 80 for line in lines), [l for l in lines if len(l) > 80]
    assert "reactive kvarh  Q1 " in readings and "apparent kVAh   import " in readings
    assert len(data["readings"]["reactive_varh"]) == 4
    assert len(data["readings"]["apparent_vah"]) == 2
    assert "operator link: consumer switch on" in text
    assert data["board"] == "sim" and data["operator_link"]["keys"] is None
    assert data["readings"]["windows"] >= 1


def test_consumer_switch_from_the_shell_is_logged_and_survives_restart(tmp_path):
    fs = str(tmp_path / "fs")
    with VirtualBoard(fs_dir=fs) as vb:
        out = _exec(vb, "import service; service.comms(False)")
        assert "operator link is now off" in out
        log = _exec(vb, "import service; service.audit(5)")
        assert "operator-link-off" in log
    with VirtualBoard(fs_dir=fs) as vb:
        data = json.loads(_exec(vb, "import service; service.status(json=True)").strip().splitlines()[-1])
        assert data["operator_link"]["consumer_switch"] == "off"


def test_selftest_passes_on_a_running_meter(tmp_path):
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        _exec(vb, "import time; time.sleep(1.5)")
        out = _exec(vb, "import service; service.selftest()")
    assert "self-test passed" in out


def test_tools_field_runs_the_shell_against_the_virtual_board(tmp_path):
    import subprocess
    import sys

    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        proc = subprocess.run([sys.executable, "-m", "tools.field", "--port", vb.device,
                               "--json", "selftest"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "passed" in json.loads(proc.stdout)
        proc = subprocess.run([sys.executable, "-m", "tools.field", "--port", vb.device,
                               "comms", "maybe"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2


def test_tools_field_fails_clearly_without_a_meter():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "tools.field", "--port", "/dev/nonexistent",
                           "status"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("field: the meter did not answer")


def test_a_path_on_neither_side_is_refused_before_the_meter_is_asked(tmp_path):
    """A typo'd file name goes nowhere: tools.field looks on this computer, then asks the
    meter whether it has it, and only then runs the verb (nothing lands in the audit log)."""
    import subprocess
    import sys

    from tools.shared.paths import ROOT
    from tools.vboard import VirtualBoard

    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        def field(*args):
            return subprocess.run([sys.executable, "-m", "tools.field", "--port", vb.device]
                                  + list(args), cwd=str(tmp_path), capture_output=True,
                                  text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))

        before = field("--json", "audit", "50").stdout
        proc = field("apply", "tokne.json")
        assert proc.returncode == 1
        assert "no file tokne.json on this computer or on the meter" in proc.stderr
        assert field("--json", "audit", "50").stdout == before  # nothing was logged
