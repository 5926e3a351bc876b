"""MicroPython benchmark: building one P1 telegram (and its CRC), one JSON line."""
import sys

sys.path[:0] = [sys.argv[1] + "/firmware", sys.argv[1]]

import gc
import json
import time

from comms import p1

SNAP = {
    "import_wh": [1234567, 89], "export_wh": [5, 456789], "tariff": 2, "p_w": 1193.4,
    "vrms": 230.14, "irms": 5.19, "sags": 2, "swells": 1, "power_failures": 4,
    "long_power_failures": 2, "power_fail_log": [[1790000000, 240], [1791000000, 301]],
    "time_s": 1795449605, "equipment_id": "sim-0001", "text": "",
}
N = 200
best = None
for _ in range(5):
    t0 = time.ticks_us()
    for _ in range(N):
        telegram = p1.build_telegram(SNAP)
    us = time.ticks_diff(time.ticks_us(), t0) / N
    best = us if best is None or us < best else best
t0 = time.ticks_us()
for _ in range(N):
    p1.crc16(telegram)
crc_us = time.ticks_diff(time.ticks_us(), t0) / N
gc.collect()
before = gc.mem_alloc()
gc.disable()
p1.build_telegram(SNAP)
alloc = gc.mem_alloc() - before
gc.enable()
print(json.dumps({"telegram_bytes": len(telegram), "build_us": best, "crc_us": crc_us,
                  "alloc_bytes": alloc}))
