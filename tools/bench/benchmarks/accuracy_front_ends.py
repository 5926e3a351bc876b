"""MicroPython benchmark: class 1 points on the ESP32 and RP2040 front-end profiles (ADC
non-linearity, reference, CT error vs current), each after a one-point and after the
multi-point factory calibration, plus the influence of voltage and temperature (JSON lines)."""
import sys

root = sys.argv[1]
sys.path[:0] = [root + "/host_tests", root + "/firmware", root]

import json

from host_tests.firmware import accuracy as acc

for profile in ("esp32", "rp2040"):
    one = acc.factory_calibration(profile, curve=False)
    curve = acc.factory_calibration(profile)
    print(json.dumps({"profile": profile, "curve_points": len(curve.curve.points)}))
    for name, limit, scenario in acc.class1_grid(profile):
        print(json.dumps({"profile": profile, "name": name[len(profile) + 1:], "limit_pct": limit,
                          "one_point_pct": acc.measure(one, **scenario)["p_pct"],
                          "curve_pct": acc.measure(curve, **scenario)["p_pct"]}))
    errors = acc.front_end_errors.PROFILES[profile]
    for label, influence in (("207 V", {"mains_v": 207.0}), ("253 V", {"mains_v": 253.0}),
                             ("-10 C", {"temp_c": -10.0}), ("55 C", {"temp_c": 55.0})):
        for frac in (0.1, 1.0, acc.IMAX / acc.IB):
            base = dict(errors, load_a=frac * acc.IB, phase_deg=0.0)
            at_ref = acc.measure(curve, **base)["p_pct"]
            shifted = acc.measure(curve, **dict(base, **influence))["p_pct"]
            print(json.dumps({"profile": profile, "influence": label, "ib": frac,
                              "shift_pct": shifted - at_ref}))
