"""`python -m tools.calibrate`: a calibration from reference captures, run through the
firmware's own steps on the MicroPython unix port, and the error-curve plot."""
import json
import os
import subprocess
import sys

from boards import common

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _py(*args):
    return subprocess.run([sys.executable, "-m"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _synth(path, **kw):
    args = ["tools.capture", "synth", str(path), "--cal", str(path) + ".json", "--seconds", "4"]
    for k, v in kw.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    proc = _py(*args)
    assert proc.returncode == 0, proc.stderr


def test_calibration_from_captures_corrects_a_mistrimmed_record(tmp_path):
    _synth(tmp_path / "nl.wav", load_a=0.0)
    _synth(tmp_path / "pf1.wav", load_a=5.0, phase_deg=0.0)
    _synth(tmp_path / "pf05.wav", load_a=5.0, phase_deg=60.0)
    _synth(tmp_path / "check.wav", load_a=2.0, phase_deg=60.0, seed=3)
    base = common.shared_calibration()
    wrong = {"v_per_count": base["v_per_count"] * 1.03, "a_per_count": base["a_per_count"] * 0.98,
             "phase_deg": 1.5}
    (tmp_path / "base.json").write_text(json.dumps(wrong))
    p_check = 230.0 * 2.0 * 0.5
    proc = _py("tools.calibrate", "--cal", str(tmp_path / "base.json"),
               "--no-load", str(tmp_path / "nl.wav"), "--pf1", str(tmp_path / "pf1.wav"),
               "--pf05", str(tmp_path / "pf05.wav"), "--v-ref", "230", "--i-ref", "5",
               "--p-ref", "575", "--verify", "%s:%s" % (tmp_path / "check.wav", p_check),
               "--out", str(tmp_path / "cal.json"), "--plot", str(tmp_path / "err.png"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["steps"] == ["no-load", "pf1", "pf05"]
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert abs(cal["v_per_count"] * cal["v_gain"] / base["v_per_count"] - 1) < 0.001
    assert abs(cal["phase_deg"]) < 0.05
    assert abs(report["verification"][0]["error_pct"]) < 0.2
    assert (tmp_path / "err.png").stat().st_size > 1000


def test_missing_reference_is_one_clear_line(tmp_path):
    _synth(tmp_path / "pf1.wav", load_a=5.0, phase_deg=0.0)
    proc = _py("tools.calibrate", "--cal", str(tmp_path / "pf1.wav.json"),
               "--pf1", str(tmp_path / "pf1.wav"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("calibrate: step pf1 needs")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_points_of_the_current_curve_bring_a_real_front_end_into_class_1(tmp_path):
    """Captures of the ESP32 front-end profile (ADC non-linearity, CT error growing at low
    current): one point at Ib leaves 0.5 A at PF 0.5 about 2 % off; the curve's points at
    0.25, 1, 5 and 20 A (one pass) bring it within half of class 1's 1 %."""
    esp32 = {"front_end": "esp32"}
    _synth(tmp_path / "nl.wav", load_a=0.0, **esp32)
    _synth(tmp_path / "pf1.wav", load_a=5.0, phase_deg=0.0, **esp32)
    _synth(tmp_path / "pf05.wav", load_a=5.0, phase_deg=60.0, **esp32)
    points = []
    for amps in (0.25, 1.0, 5.0, 20.0):
        path = tmp_path / ("pt%g.wav" % amps)
        _synth(path, load_a=amps, phase_deg=60.0, **esp32)
        points += ["--point", "%s:%g:%g" % (path, amps, 230.0 * amps * 0.5)]
    _synth(tmp_path / "check.wav", load_a=0.5, phase_deg=60.0, seed=3, **esp32)
    common_args = ["tools.calibrate", "--cal", str(tmp_path / "nl.wav.json"),
                   "--no-load", str(tmp_path / "nl.wav"), "--pf1", str(tmp_path / "pf1.wav"),
                   "--pf05", str(tmp_path / "pf05.wav"), "--v-ref", "230", "--i-ref", "5",
                   "--p-ref", "575", "--verify", "%s:%s" % (tmp_path / "check.wav", 57.5),
                   "--json"]
    one = _py(*common_args)
    assert one.returncode == 0, one.stderr
    assert abs(json.loads(one.stdout)["verification"][0]["error_pct"]) > 1.5
    curve = _py(*(common_args + points + ["--out", str(tmp_path / "cal.json")]))
    assert curve.returncode == 0, curve.stderr
    report = json.loads(curve.stdout)
    assert report["steps"][-4:] == ["point 0.25 A", "point 1 A", "point 5 A", "point 20 A"]
    assert abs(report["verification"][0]["error_pct"]) < 0.5
    assert len(json.loads((tmp_path / "cal.json").read_text())["i_curve"]) == 4


def test_a_malformed_point_is_one_clear_line(tmp_path):
    _synth(tmp_path / "pf1.wav", load_a=5.0, phase_deg=0.0)
    proc = _py("tools.calibrate", "--cal", str(tmp_path / "pf1.wav.json"), "--v-ref", "230",
               "--point", "%s:five:575" % (tmp_path / "pf1.wav"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("calibrate: --point takes CAPTURE:I_REF:P_REF")
