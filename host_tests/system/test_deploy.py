"""`make deploy`: compiled modules reach a board through the real mpremote and run there
(here the virtual board, compiled for its x86-64 unix port)."""
import os
import subprocess
import sys

from tools.deploy import cli as deploy, heap_budget
from tools.vboard import VirtualBoard

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def test_build_compiles_every_module_except_the_two_the_port_runs_as_files(tmp_path):
    files = deploy.build("sim", str(tmp_path))
    device = [d for _, d in files]
    assert "main.py" in device and "boot.py" in device
    assert "metering/sampling.mpy" in device
    assert not [d for d in device if d.endswith(".py") and d not in ("boot.py", "main.py")]
    for local, _ in files:
        assert os.path.getsize(local) > 0


def test_unknown_board_is_refused_with_one_line(capsys):
    assert deploy.main(["--board", "nonesuch", "--port", "/dev/null", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "unknown board" in err and len(err.strip().splitlines()) == 1


def test_deploy_to_virtual_board_replaces_source_with_compiled_modules(tmp_path):
    with VirtualBoard(fs_dir=str(tmp_path / "fs")) as vb:
        files = deploy.build("sim", str(tmp_path / "out"))
        cmd = deploy.mpremote_commands(vb.device, files, resume=True)
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
        probe = subprocess.run(
            [MPREMOTE, "connect", vb.device, "resume", "exec",
             "import os; print(sorted(os.listdir('/metering')))"],
            check=True, timeout=30, capture_output=True, text=True).stdout
    assert "'sampling.mpy'" in probe
    assert "'sampling.py'" not in probe  # the stale source would shadow the new code
    assert (tmp_path / "fs" / "metering" / "kernel_viper.mpy").exists()


def test_a_build_that_does_not_fit_the_stated_heap_is_refused_before_anything_is_copied(capsys):
    # 48 KB of GC heap cannot hold the meter and an update: refused, nothing run after
    assert deploy.main(["--board", "esp32", "--port", "/dev/null", "--heap-kb", "48",
                        "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "refusing" in captured.err and "48 KB" in captured.err
    assert "MemoryError" in captured.err  # says what failed, not only that it did
    assert "mpremote" not in captured.out  # no copy command was produced


def test_a_build_that_fits_the_stated_heap_says_the_budget_it_checked(capsys):
    assert deploy.main(["--board", "rp2040", "--port", "/dev/null", "--heap-kb", "1024",
                        "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "runs in 1024 KB of GC heap" in captured.err
    assert "%d bytes" % heap_budget.host_heap_bytes(1024) in captured.err
    assert "mpremote" in captured.out


def test_every_board_with_a_driver_has_a_budget():
    assert set(heap_budget.BUDGET_KB) == {"esp32", "rp2040"}
    assert heap_budget.host_heap_bytes(96) == 122880  # 96 KB at 0.8 (above the measured 0.72)
