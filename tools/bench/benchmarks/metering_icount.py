"""MicroPython benchmark for instruction counts: one of three workloads over the same
pre-filled buffer, run by tools/bench/report.py under `valgrind --tool=callgrind`. The boards'
cores (Cortex-M0+, Xtensa LX6) run about one instruction per cycle in order, so the ratio
of instructions carries over to them better than wall time on an out-of-order x86.

Usage: micropython metering_icount.py ROOT setup|bare|meter
  setup  only builds the buffer (the baseline subtracted from the other two)
  bare   reads both samples of every pair in viper (plus the same block copy)
  meter  the Sampler with the viper kernel: windows, analysis and all
"""
import sys

ROOT, MODE = sys.argv[1], sys.argv[2]
sys.path[:0] = [ROOT + "/firmware", ROOT]

import gc  # noqa: E402
from array import array  # noqa: E402

from boards import common, sim  # noqa: E402
from metering.calibration import Calibration  # noqa: E402
from metering.sampling import Sampler  # noqa: E402
# the same bare loop and the same replayed ADC (wrapping copy) as the timing
from metering_cost import BLOCK, Replayed  # noqa: E402
from metering_cost import bare_viper as bare  # noqa: E402

PAIRS = 16000
REPEATS = 4
PAIRS_RUN = REPEATS * (PAIRS // BLOCK) * BLOCK


source = array("H", bytes(4 * PAIRS))
sim.SimFrontEnd(load_a=5.0, phase_deg=30.0).fill(source, PAIRS)
adc = Replayed(source)
gc.collect()  # every workload starts from the same clean heap: GC work is counted fairly
if MODE == "bare":
    buf = array("H", bytes(4 * BLOCK))
    for _ in range(REPEATS * (PAIRS // BLOCK)):
        adc.readinto(buf)
        bare(buf, BLOCK)
elif MODE == "meter":
    windows = []
    sampler = Sampler(adc, Calibration(**common.shared_calibration()), windows.append)
    for _ in range(REPEATS * (PAIRS // BLOCK)):
        sampler.poll()
print(PAIRS_RUN)
