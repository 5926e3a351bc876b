"""MicroPython benchmark: measured errors at every accuracy test point (JSON lines)."""
import sys

root = sys.argv[1]
sys.path[:0] = [root + "/host_tests", root + "/firmware", root]

import json

from host_tests.firmware import accuracy as acc

cal = acc.calibrated()
for name, limit, scenario in acc.grid():
    e = acc.measure(cal, **scenario)
    e["name"] = name
    e["limit_pct"] = limit
    print(json.dumps(e))
