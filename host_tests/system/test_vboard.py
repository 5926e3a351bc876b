"""The virtual board driven by the real mpremote CLI, as a field technician would drive a meter.

Every mpremote call has a timeout: a hung board fails the test instead of blocking the run.
"""
import ast
import os
import time

import pytest

from host_tests.system.support.mpremote import MPREMOTE, mpremote
from tools.deploy.stage import layout, stage
from tools.vboard import VirtualBoard, micropython_binary

needs_tools = pytest.mark.skipif(
    micropython_binary() is None or not os.path.exists(MPREMOTE),
    reason="micropython or mpremote not in the venv (make venv)",
)


def board_eval(device, expr):
    """The value of a Python expression evaluated on the board (printed with repr)."""
    out = mpremote(device, "resume", "exec", "print(repr(%s))" % expr)
    return ast.literal_eval(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def vboard(tmp_path_factory):
    if micropython_binary() is None or not os.path.exists(MPREMOTE):
        pytest.skip("micropython or mpremote not in the venv (make venv)")
    fs_dir = tmp_path_factory.mktemp("vboard") / "fs"
    with VirtualBoard(fs_dir=str(fs_dir)) as vb:
        yield vb


# --- staging: the flash layout ---

def test_stage_puts_firmware_at_flash_root_and_board_modules_under_boards(tmp_path):
    device_paths = set(stage("sim", str(tmp_path)))
    assert {"main.py", "metering/meter.py", "boards/__init__.py", "boards/common.py",
            "boards/sim.py", "board.txt"} <= device_paths
    assert not any(p.startswith("firmware/") for p in device_paths)
    assert (tmp_path / "board.txt").read_text().strip() == "sim"
    for _host, device_path in layout("sim"):
        assert (tmp_path / device_path).is_file()


def test_restage_keeps_meter_data(tmp_path):
    stage("sim", str(tmp_path))
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "registers").write_bytes(b"kept")
    stage("sim", str(tmp_path))
    assert (tmp_path / "data" / "registers").read_bytes() == b"kept"


# --- the running board, through mpremote ---

@needs_tools
def test_firmware_meters_while_a_technician_is_connected(vboard):
    windows = "__import__('main').app.meter.snapshot()['windows']"
    windows_before = board_eval(vboard.device, windows)
    time.sleep(2.5)  # the sim closes one measurement window per second of wall time
    windows_after = board_eval(vboard.device, windows)
    assert windows_after >= windows_before + 1


@needs_tools
def test_copied_file_is_listed_and_lands_in_the_flash_folder(vboard, tmp_path):
    local = tmp_path / "notes.txt"
    local.write_text("visit 2024-05-02: seal intact\n")
    mpremote(vboard.device, "resume", "fs", "cp", str(local), ":notes.txt")
    listing = mpremote(vboard.device, "resume", "fs", "ls", ":")
    assert "notes.txt" in listing.split()
    on_host = os.path.join(vboard.fs_dir, "notes.txt")
    with open(on_host) as f:
        assert f.read() == "visit 2024-05-02: seal intact\n"


@needs_tools
def test_board_reads_back_a_copied_file(vboard, tmp_path):
    local = tmp_path / "readback.txt"
    local.write_text("line one\nline two\n")
    mpremote(vboard.device, "resume", "fs", "cp", str(local), ":readback.txt")
    assert board_eval(vboard.device, "open('readback.txt').read()") == "line one\nline two\n"


@needs_tools
def test_flash_folder_is_the_board_root(vboard):
    names = board_eval(vboard.device, "__import__('os').listdir('/')")
    assert {"main.py", "boards", "metering", "board.txt"} <= set(names)
    assert not {"etc", "usr", "proc", "bin"} & set(names)


# --- resets and power cuts ---

@needs_tools
def test_soft_reset_from_mpremote_restarts_the_interpreter_without_the_firmware(tmp_path):
    # plain `mpremote exec` soft-resets first; a board then skips main.py (raw REPL reset)
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        out = mpremote(vb.device, "exec", "import sys; print('main' in sys.modules)")
        assert out.strip().splitlines()[-1] == "False"
        assert vb.reboots == 1
        assert board_eval(vb.device, "1 + 1") == 2  # still there for the next client


@needs_tools
def test_flash_content_survives_switching_the_board_off(tmp_path):
    fs_dir = str(tmp_path / "fs")
    local = tmp_path / "keep.txt"
    local.write_text("kept\n")
    with VirtualBoard(fs_dir=fs_dir) as vb:
        mpremote(vb.device, "resume", "fs", "cp", str(local), ":keep.txt")
    with VirtualBoard(fs_dir=fs_dir) as vb:
        assert board_eval(vb.device, "open('keep.txt').read()") == "kept\n"


def test_calibration_step_runs_at_the_repl_of_the_virtual_board(tmp_path):
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        # the sim's reference source: switch the load off, then run the no-load step
        out = mpremote(vb.device, "resume", "exec",
                       "import main; main.app.hw.front_end.set(load_a=0.0); "
                       "c, applied = main.app.calibrate('no-load', windows=3); "
                       "print('floor', c.i_noise_counts, applied)")
    assert "floor" in out
    stored = (tmp_path / "fs" / "data" / "calibration").read_bytes()
    assert b"#cal v1 crc32=" in stored


@needs_tools
def test_a_second_board_on_the_same_flash_is_refused_and_the_first_runs_on(tmp_path):
    """Two virtual boards on one flash would log a false power failure and fork the audit
    chain: the second is refused before it touches anything."""
    from tools.vboard import BootError

    fs_dir = str(tmp_path / "fs")
    device_file = str(tmp_path / "device")
    with VirtualBoard(fs_dir=fs_dir, device_file=device_file) as first:
        second = VirtualBoard(fs_dir=fs_dir, device_file=device_file)
        with pytest.raises(BootError) as refused:
            second.start()
        assert "another virtual board (process %d) is using" % os.getpid() in str(refused.value)
        with open(device_file) as f:
            assert f.read().strip() == first.device  # the first board's device file stays
        assert board_eval(first.device, "1 + 1") == 2
    with VirtualBoard(fs_dir=fs_dir) as again:  # free once the first has stopped
        assert board_eval(again.device, "2 + 2") == 4


@needs_tools
def test_after_a_soft_reset_the_shell_says_what_to_do_and_reboot_brings_the_meter_back(tmp_path):
    """mpremote without `resume` soft-resets the board and the firmware stops: the shell
    says so and how to get it back, and service.reboot() restarts it."""
    import subprocess

    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        proc = subprocess.run([MPREMOTE, "connect", vb.device, "exec",
                               "import service; service.status()"],
                              capture_output=True, text=True, timeout=60)
        said = proc.stdout + proc.stderr
        assert "the meter is not running in this session" in said
        assert "service.reboot()" in said and "Traceback" in said
        subprocess.run([MPREMOTE, "connect", vb.device, "resume", "exec",
                        "import service; service.reboot()"],
                       capture_output=True, text=True, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                if board_eval(vb.device, "__import__('main').app is not None"):
                    break
            except AssertionError:
                pass
            assert time.monotonic() < deadline, "the meter did not come back"
            time.sleep(0.5)
        assert board_eval(vb.device, "__import__('main').app.meter.sampler.windows >= 0")
