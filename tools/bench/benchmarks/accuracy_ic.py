"""MicroPython benchmark: the accuracy grid through the second front-end, the ATM90E32
driver on its register-level emulator (JSON lines): the ADC grid's points after the same
bench steps, single-phase and three-phase, and class 1 with a real CT in front of the
chip after the multi-point calibration."""
import sys

root = sys.argv[1]
sys.path[:0] = [root + "/host_tests", root + "/firmware", root]

import json

from host_tests.firmware import accuracy as acc

cal = acc.ic_factory_calibration()
for name, limit, scenario in acc.ic_grid():
    for phases in (1, 3):
        e = acc.ic_measure(cal, phases=phases, **scenario)
        e.update(name=name, limit_pct=limit, phases=phases)
        print(json.dumps(e))
one = acc.ic_factory_calibration(False, **acc.CT_ERRORS)
curve = acc.ic_factory_calibration(True, **acc.CT_ERRORS)
for name, limit, scenario in acc.ic_class1_grid():
    print(json.dumps({"ct_name": name[len("ic+ct "):], "limit_pct": limit,
                      "one_point_pct": acc.ic_measure(one, **scenario)["p_pct"],
                      "curve_pct": acc.ic_measure(curve, **scenario)["p_pct"]}))
