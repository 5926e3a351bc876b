"""MicroPython benchmark: metering cost per sample pair vs a bare loop over the same buffer.

Run by tools/bench/report.py under the unix port: `micropython metering_cost.py ROOT`.
Prints one JSON line. Both loops read the same two samples per pair from the same
pre-filled buffer in the same run, so the ratio is free of machine speed.
"""
import sys

from array import array

sys.path[:0] = [sys.argv[1] + "/firmware", sys.argv[1]]

SOURCE_PAIRS = 4000  # one second of mains: 50 whole cycles, so replaying it wraps seamlessly
# the large buffer first, as firmware allocates its buffers at boot: run in a board-class
# heap (-X heapsize), compiling the imports below fragments it
SOURCE = array("H", bytes(4 * SOURCE_PAIRS))

import json  # noqa: E402
import time  # noqa: E402

import micropython  # noqa: E402
from boards import common, sim
from metering.calibration import Calibration
from metering.sampling import Sampler

PAIRS = 4000 * 4
BLOCK = 256
REPEATS = 7


@micropython.viper
def bare_viper(buf, n: int) -> int:
    p = ptr16(buf)  # noqa: F821
    s = 0
    for k in range(n):
        s += int(p[2 * k]) + int(p[2 * k + 1])
    return s


def bare_python(buf, n):
    s = 0
    for k in range(n):
        s += buf[2 * k] + buf[2 * k + 1]
    return s


class Replayed:
    """ADC pair that hands out blocks of one pre-filled buffer (no synthesis cost)."""

    rate_hz = common.SHARED.sample_pairs_per_s
    lost_pairs = 0
    block_pairs = BLOCK

    def __init__(self, source):
        self.source = source
        self.offset = 0

    def readinto(self, buf):
        copy_block(buf, self.source, self.offset)
        self.offset = (self.offset + len(buf)) % len(self.source)


def copy_block(dst, src, offset):
    """dst <- len(dst) codes of src from offset, wrapping at its end."""
    mv = memoryview(src)
    first = len(src) - offset
    if first >= len(dst):
        dst[:] = mv[offset:offset + len(dst)]
    else:
        dst[:first] = mv[offset:]
        dst[first:] = mv[:len(dst) - first]


def main():
    fe = sim.SimFrontEnd(load_a=5.0, phase_deg=30.0)
    source = SOURCE
    fe.fill(source, SOURCE_PAIRS)
    cal = Calibration(**common.shared_calibration())
    out = {}
    for name, use_viper, bare in (("viper", True, bare_viper), ("python", False, bare_python)):
        best_metering = best_bare = None
        blocks = PAIRS // BLOCK
        buf = array("H", bytes(4 * BLOCK))
        for _ in range(REPEATS):  # best of several: the machine is shared and noisy
            adc = Replayed(source)
            windows = []
            sampler = Sampler(adc, cal, windows.append, use_viper=use_viper)
            t0 = time.ticks_us()
            for _ in range(blocks):
                sampler.poll()
            metering_us = time.ticks_diff(time.ticks_us(), t0)
            # the bare loop also gets its blocks copied out of the same source
            t0 = time.ticks_us()
            for b in range(blocks):
                copy_block(buf, source, (b * 2 * BLOCK) % len(source))
                bare(buf, BLOCK)
            bare_us = time.ticks_diff(time.ticks_us(), t0)
            if best_metering is None or metering_us < best_metering:
                best_metering = metering_us
            if best_bare is None or bare_us < best_bare:
                best_bare = bare_us
        out[name] = {
            "pairs": blocks * BLOCK,
            "metering_us_per_pair": best_metering / (blocks * BLOCK),
            "bare_us_per_pair": best_bare / (blocks * BLOCK),
            "ratio": best_metering / best_bare,
            "windows": len(windows),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
