"""MicroPython benchmark: heap the running meter needs (tools/bench/report.py sets -X heapsize).

Builds the full App for the sim board (unpaced ADC, flash in a temp folder), meters
for WINDOWS windows and reports the heap in use after a collection at steady state.
"""
import sys

sys.path[:0] = [sys.argv[1]]  # the compiled (.mpy) device tree
WINDOWS = int(sys.argv[3]) if len(sys.argv) > 3 else 30

import gc
import json

import micropython

gc.collect()
base = gc.mem_alloc()
import main  # noqa: E402

main.board_module("sim")  # board code counts as code, not as the meter's heap
# main imports the App only when it builds one (after the boot stage): import it here so
# that its code is counted as code in every run, not by chance as the meter's heap
import app  # noqa: E402,F401
# and the crypto modules the uplink keeps. Not the code the App loads only for a use and
# releases (main.ON_DEMAND: the control plane, the policy, the update gate, SHA-512 and
# Ed25519): held here, it would stay loaded for the whole run
from crypto import aes, gcm  # noqa: E402,F401

gc.collect()
after_import = gc.mem_alloc()
app = main.build("sim", paced=False, storage_root=sys.argv[2], p1_path=None)
gc.collect()
after_build = gc.mem_alloc()
steady = 0
low_free = gc.mem_free()
meter = app.meter
while meter.sampler.windows < WINDOWS:
    meter.poll()
    free = gc.mem_free()
    if free < low_free:
        low_free = free
gc.collect()
steady = gc.mem_alloc()
print(json.dumps({
    "heap_total": gc.mem_alloc() + gc.mem_free(),
    "interpreter_base": base,
    "after_imports": after_import,
    "after_build": after_build,
    "steady_after_collect": steady,
    "lowest_free_while_running": low_free,
    "windows": meter.sampler.windows,
    "peak_bytes": micropython.mem_peak() if hasattr(micropython, "mem_peak") else None,
}))
