"""Flash wear by design, counted: the meter's storage on real littlefs v2 (littlefs-python,
configured as MicroPython's boards configure it) with a block device that counts erases.
The state record stays inline in littlefs's directory (a save appends to a metadata
block instead of erasing a block of its own), so a day of metering costs about a
hundred erases, not three hundred (docs/METERING.md, Flash wear)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench", "benchmarks"))

littlefs = pytest.importorskip("littlefs", reason="littlefs-python not installed (make venv)")


def test_a_day_of_metering_erases_under_175_blocks_and_state_saves_almost_none():
    import flash_wear

    got = flash_wear.run(days=2, blocks=128)
    per_file = got["by_file_per_day"]
    assert got["saves_per_day"] > 200  # the meter saved as often as ever
    assert per_file["state"] <= 10, per_file  # inline: was one erase per save (217 a day)
    assert per_file["meter"] <= 30, per_file  # the hourly JSON record for older firmware
    # was 312 a day with only the JSON record; the four-quadrant companions of the
    # quarter-hours add about 24 (an hour's four in one write)
    assert per_file["qhq"] <= 30, per_file
    assert got["erases_per_day"] <= 175, got
    # ESP32 4 MB and Pico (1.4 MB file system) with three firmware copies static: the
    # fewest free blocks (200) at this rate last over a century to 100,000 cycles
    assert 100000 * 200 / got["erases_per_day"] / 365 >= 100


def test_the_state_record_fits_littlefs_inline_limit():
    import struct

    from metering import meter
    from storage import slots

    framed = len(slots.pack(1, bytes(struct.calcsize(meter._STATE))))
    assert framed <= 128  # MicroPython: cache_size = 4 * 32, littlefs's inline limit


def test_make_bench_runs_it_as_a_program_from_any_folder(tmp_path):
    # make bench starts it as a script (tools/bench/report.py): its own path finds the
    # firmware. It did not after the move to tools/bench/benchmarks, and only a fresh
    # make bench showed it
    import json
    import subprocess

    script = os.path.join(ROOT, "tools", "bench", "benchmarks", "flash_wear.py")
    proc = subprocess.run([sys.executable, script, "1", "64"], capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-1000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["days"] == 1 and got["saves_per_day"] > 200
