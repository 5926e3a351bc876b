"""CPython benchmark: flash erases per day of a metering meter, counted on real littlefs.

The meter's storage (storage.flash.FileStore's interface) runs on littlefs v2 through
littlefs-python, configured as MicroPython configures it on the boards
(extmod/vfs_lfsx.c: 4 KiB blocks, read and prog size 32, cache 4 x 32 = 128 bytes,
lookahead 32, block_cycles 100), on a block device that counts erases per block. The
meter (sim front-end, clock sped up so that each window is five minutes) meters DAYS
days: state saves every 300 s and at each quarter-hour, the quarter-hour log, the audit
entries of a day. Prints one JSON line.

Usage: python tools/bench/benchmarks/flash_wear.py [DAYS] [BLOCKS]
"""
import json
import os
import sys

# tools/bench/benchmarks/ -> the repository (three levels up)
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path[:0] = [os.path.join(ROOT, "firmware"), ROOT, os.path.join(ROOT, "host_tests")]

import littlefs  # noqa: E402
from littlefs.context import UserContext  # noqa: E402
from littlefs.errors import LittleFSError  # noqa: E402

MISSING = (FileNotFoundError, LittleFSError)

BLOCK = 4096
SPEEDUP = 300  # one window of samples = five minutes of meter time
WINDOWS_PER_DAY = 86400 // SPEEDUP


class CountingDevice(UserContext):
    """A NOR flash: erases counted per block."""

    def __init__(self, blocks):
        super().__init__(buffsize=blocks * BLOCK)
        self.erases = [0] * blocks

    def erase(self, cfg, block):
        self.erases[block] += 1
        return super().erase(cfg, block)


class LfsStore:
    """storage.flash.FileStore's interface on a littlefs-python file system."""

    def __init__(self, fs, root):
        self.fs = fs
        self.root = root
        try:
            fs.mkdir(root)
        except Exception:  # noqa: BLE001 - it exists
            pass

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name, offset=0, length=None):
        try:
            with self.fs.open(self._path(name), "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read() if length is None else f.read(length)
        except MISSING:
            return None

    def write(self, name, data):
        with self.fs.open(self._path(name), "wb") as f:
            f.write(bytes(data))

    def append(self, name, data):
        # open(..., "ab") creates a missing file on the board; littlefs-python refuses
        mode = "ab" if self.size(name) is not None else "wb"
        with self.fs.open(self._path(name), mode) as f:
            f.write(bytes(data))

    def size(self, name):
        try:
            return self.fs.stat(self._path(name)).size
        except MISSING:
            return None

    def rename(self, old, new):
        self.fs.rename(self._path(old), self._path(new))

    def remove(self, name):
        try:
            self.fs.remove(self._path(name))
        except MISSING:
            pass

    def names(self):
        return sorted(self.fs.listdir(self.root))


class CountedStore:
    """Erases attributed to each file name written through it."""

    def __init__(self, store, device):
        self._store = store
        self._device = device
        self.by_file = {}

    def __getattr__(self, name):
        return getattr(self._store, name)

    def _counted(self, name, op, *args):
        before = sum(self._device.erases)
        result = getattr(self._store, op)(*args)
        key = name.split(".")[0].rstrip("0123456789")
        self.by_file[key] = self.by_file.get(key, 0) + sum(self._device.erases) - before
        return result

    def write(self, name, data):
        return self._counted(name, "write", name, data)

    def append(self, name, data):
        return self._counted(name, "append", name, data)

    def rename(self, old, new):
        return self._counted(new, "rename", old, new)

    def remove(self, name):
        return self._counted(name, "remove", name)


def run(days, blocks):
    from boards import common, sim
    from control.audit import AuditLog
    from fakes.clock import ClockedADC, FakeClock
    from metering.calibration import Calibration
    from metering.meter import Meter

    device = CountingDevice(blocks)
    fs = littlefs.LittleFS(context=device, block_size=BLOCK, block_count=blocks,
                           read_size=32, prog_size=32, cache_size=128, lookahead_size=32,
                           block_cycles=100)
    store = CountedStore(LfsStore(fs, "data"), device)
    clock = FakeClock()
    adc = ClockedADC(sim.SimADC(sim.SimFrontEnd(load_a=6.0, phase_deg=20.0)), clock, SPEEDUP)
    meter = Meter(adc, Calibration(**common.shared_calibration()), clock, store,
                  starting_power_w=2.3, sag_v=207.0, swell_v=253.0)
    audit = AuditLog(store)
    warmup = sum(device.erases)
    store.by_file = {}
    for day in range(days):
        target = meter.sampler.windows + WINDOWS_PER_DAY
        while meter.sampler.windows < target:
            meter.poll()
        for k in range(4):  # a day's audit entries: a boot, a clock correction, ...
            audit.append(clock.time(), "clock-corrected", "+%d s" % (k + 1))
    erases = sum(device.erases) - warmup
    return {"days": days, "blocks": blocks, "erases_per_day": erases / days,
            "by_file_per_day": {k: v / days for k, v in sorted(store.by_file.items())},
            "max_block_erases": max(device.erases), "blocks_erased": sum(1 for e in device.erases if e),
            "saves_per_day": meter.saves / days}


if __name__ == "__main__":
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    print(json.dumps(run(days, blocks)))
