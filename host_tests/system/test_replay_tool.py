"""tools.capture and tools.replay as a technician runs them: synthesise a capture, replay it
under the MicroPython unix port and on the virtual board, record one from the virtual board.

Every subprocess has a timeout: a hung board fails the test instead of blocking the run.
"""
import ast
import json
import os
import subprocess
import sys
import time

import pytest

from tools.vboard import VirtualBoard, micropython_binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
TIMEOUT_S = 120
LIMIT_PCT = 0.3

needs_micropython = pytest.mark.skipif(micropython_binary() is None,
                                       reason="micropython not in the venv (make venv)")


def tool(*args):
    """Runs `python -m tools.<args>` from the repo root; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m"] + ["tools." + args[0]] + list(args[1:]),
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)


def ok_json(*args):
    proc = tool(*args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pct(value, truth):
    return 100.0 * abs(value / truth - 1.0)


@pytest.fixture(scope="module")
def pf_half(tmp_path_factory):
    """5 s of a 5 A load at PF 0.5 inductive: (capture path, cal path, truth)."""
    folder = tmp_path_factory.mktemp("capture")
    wav, cal = str(folder / "pf05.wav"), str(folder / "pf05.json")
    made = ok_json("capture", "synth", wav, "--cal", cal, "--seconds", "5", "--load-a", "5",
                   "--phase-deg", "60", "--freq", "50", "--json")
    return wav, cal, made["truth"]


@pytest.fixture(scope="module")
def local_summary(pf_half):
    if micropython_binary() is None:
        pytest.skip("micropython not in the venv (make venv)")
    wav, cal, _ = pf_half
    return ok_json("replay", wav, "--cal", cal, "--json")


@pytest.fixture(scope="module")
def vboard(tmp_path_factory):
    if micropython_binary() is None or not os.path.exists(MPREMOTE):
        pytest.skip("micropython or mpremote not in the venv (make venv)")
    fs_dir = tmp_path_factory.mktemp("vboard") / "fs"
    with VirtualBoard(fs_dir=str(fs_dir)) as vb:  # start() returns once the firmware is up
        yield vb


def test_synth_writes_the_board_default_calibration(pf_half):
    _, cal, _ = pf_half
    with open(cal) as f:
        values = json.load(f)
    for name in ("v_per_count", "a_per_count", "v_offset", "i_offset", "adc_bits",
                 "i_delay_us", "phase_deg"):
        assert name in values


@needs_micropython
def test_replay_on_the_unix_port_matches_the_truth_of_a_pf_half_load(pf_half, local_summary):
    _, _, truth = pf_half
    for key in ("vrms", "irms", "p_w", "q_var", "freq_hz"):
        assert pct(local_summary[key], truth[key]) < LIMIT_PCT, key
    assert abs(local_summary["pf"] - 0.5) < 0.002
    assert local_summary["whole_windows"] >= 3


@needs_micropython
def test_import_energy_is_power_times_time(local_summary):
    s = local_summary
    expected_wh = s["p_w"] * s["registered_s"] / 3600.0
    assert pct(s["import_wh"], expected_wh) < 0.5
    assert s["export_wh"] == 0.0


@needs_micropython
def test_windows_option_lists_every_window(pf_half):
    wav, cal, _ = pf_half
    s = ok_json("replay", wav, "--cal", cal, "--json", "--windows")
    assert len(s["per_window"]) == s["windows"]
    assert sum(1 for w in s["per_window"] if w["whole_cycles"]) == s["whole_windows"]


@needs_micropython
def test_human_output_names_units(pf_half):
    wav, cal, _ = pf_half
    proc = tool("replay", wav, "--cal", cal)
    assert proc.returncode == 0, proc.stderr
    assert " V" in proc.stdout and " W" in proc.stdout and " Wh" in proc.stdout


def _one_line_failure(proc):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_malformed_cal_json_is_one_line_error(pf_half, tmp_path):
    wav, _, _ = pf_half
    bad = tmp_path / "bad.json"
    bad.write_text('{"v_per_count": 0.21,')
    assert "JSON" in _one_line_failure(tool("replay", wav, "--cal", str(bad)))


def test_cal_without_a_per_count_is_refused(pf_half, tmp_path):
    wav, _, _ = pf_half
    bad = tmp_path / "partial.json"
    bad.write_text('{"v_per_count": 0.21}')
    assert "a_per_count" in _one_line_failure(tool("replay", wav, "--cal", str(bad)))


def test_cal_with_an_unknown_field_is_refused(pf_half, tmp_path):
    wav, _, _ = pf_half
    bad = tmp_path / "unknown.json"
    bad.write_text('{"v_per_count": 0.21, "a_per_count": 0.03, "v_scale": 1}')
    assert "v_scale" in _one_line_failure(tool("replay", wav, "--cal", str(bad)))


def test_cal_out_of_range_is_refused(pf_half, tmp_path):
    wav, _, _ = pf_half
    bad = tmp_path / "range.json"
    bad.write_text('{"v_per_count": 0.21, "a_per_count": 0.03, "v_gain": 7}')
    assert "out-of-range" in _one_line_failure(tool("replay", wav, "--cal", str(bad)))


def test_missing_capture_is_one_line_error(pf_half, tmp_path):
    _, cal, _ = pf_half
    line = _one_line_failure(tool("replay", str(tmp_path / "none.wav"), "--cal", cal))
    assert "none.wav" in line


def test_malformed_wav_is_one_line_error_with_its_reason(pf_half, tmp_path):
    wav, cal, _ = pf_half
    cut = tmp_path / "cut.wav"
    with open(wav, "rb") as f:
        cut.write_bytes(f.read()[:5000])
    assert "truncated" in _one_line_failure(tool("replay", str(cut), "--cal", cal))


def test_plot_writes_a_png_of_the_capture_and_the_error_curve(pf_half, tmp_path):
    wav, cal, _ = pf_half
    errors = tmp_path / "errors.json"
    errors.write_text(json.dumps([
        {"current_a": 0.25, "error_pct": 0.12, "label": "PF 1"},
        {"current_a": 5.0, "error_pct": 0.01, "label": "PF 1"},
        {"current_a": 40.0, "error_pct": -0.03, "label": "PF 1"},
    ]))
    png = tmp_path / "capture.png"
    proc = tool("capture", "plot", wav, "--cal", cal, "--errors", str(errors), "-o", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_replay_on_the_virtual_board_gives_the_local_values(pf_half, local_summary, vboard):
    wav, cal, _ = pf_half
    on_board = ok_json("replay", wav, "--cal", cal, "--json", "--device", vboard.device)
    for key in ("vrms", "irms", "p_w", "q_var", "s_va", "pf", "freq_hz", "import_wh"):
        assert on_board[key] == pytest.approx(local_summary[key], rel=1e-6), key
    assert on_board["windows"] == local_summary["windows"]
    assert on_board["target"]["where"] == vboard.device
    assert on_board["target"]["pairs_per_s"] > 0


def _board_windows(device):
    proc = subprocess.run(
        [MPREMOTE, "connect", device, "resume", "exec",
         "import main; print(repr((main.app.running, main.app.meter.sampler.windows)))"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def test_record_from_the_virtual_board_replays_to_its_load(vboard, tmp_path):
    wav, cal = str(tmp_path / "rec.wav"), str(tmp_path / "rec.json")
    made = ok_json("capture", "record", wav, "--device", vboard.device, "--seconds", "3",
                   "--cal", cal, "--json")
    assert made["pairs"] == 3 * made["rate_hz"]
    s = ok_json("replay", wav, "--cal", cal, "--json")
    # the sim board's default load: 230 V, 5 A lagging 30 degrees, 50 Hz
    assert pct(s["vrms"], 230.0) < LIMIT_PCT and pct(s["irms"], 5.0) < LIMIT_PCT
    assert abs(s["pf"] - 0.8660) < 0.003 and abs(s["freq_hz"] - 50.0) < 0.01
    running, windows = _board_windows(vboard.device)
    assert running  # metering restarted after the recording
    time.sleep(2.5)
    assert _board_windows(vboard.device)[1] > windows


@needs_micropython
def test_a_load_below_the_starting_power_registers_nothing_by_default(tmp_path):
    """A replay registers what the meter would: below its starting power (half the
    starting current's power, 2.3 W here) nothing, unless asked for everything. The
    capture's calibration file is written beside it when none is named."""
    wav = str(tmp_path / "no-load.wav")
    made = ok_json("capture", "synth", wav, "--seconds", "5", "--load-a", "0.005",
                   "--phase-deg", "0", "--json")
    assert made["cal"] == str(tmp_path / "no-load.json") and 0 < made["truth"]["p_w"] < 2.3
    default = ok_json("replay", wav, "--cal", made["cal"], "--json")
    assert default["import_wh"] == 0.0 and default["p_w"] > 1.0  # measured, not registered
    everything = ok_json("replay", wav, "--cal", made["cal"], "--starting-power-w", "0",
                         "--json")
    assert everything["import_wh"] > 0.001
