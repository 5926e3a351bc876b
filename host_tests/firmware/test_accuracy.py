"""Accuracy of the metering algorithm on an ideal 12-bit front-end with one count of
noise: class 0.2S-like limits, far inside IEC 62053-21 class 1 / EN 50470-3 class B."""
from host_tests.firmware import accuracy as acc

_CAL = None


def _cal():
    global _CAL
    if _CAL is None:
        _CAL = acc.calibrated()
    return _CAL


def _check_points(select):
    failures = []
    for name, limit, scenario in acc.grid():
        if not select(name):
            continue
        e = acc.measure(_cal(), **scenario)
        if abs(e["p_pct"]) > limit:
            failures.append("%s: P error %.3f %% > %.1f %%" % (name, e["p_pct"], limit))
        if abs(e["v_pct"]) > acc.RMS_LIMIT_PCT:
            failures.append("%s: Vrms error %.3f %%" % (name, e["v_pct"]))
        i_limit = acc.RMS_LIMIT_PCT if "0.05 Ib" not in name else 0.5
        if abs(e["i_pct"]) > i_limit:
            failures.append("%s: Irms error %.3f %%" % (name, e["i_pct"]))
        if e["f_hz"] > acc.FREQ_LIMIT_HZ:
            failures.append("%s: frequency error %.4f Hz" % (name, e["f_hz"]))
    assert not failures, "; ".join(failures)


def test_active_power_within_limits_across_current_range_and_power_factors():
    _check_points(lambda name: "Hz" not in name and "harmonics" not in name and "bias" not in name)


def test_accuracy_holds_from_45_to_65_hz():
    _check_points(lambda name: "Hz" in name)


def test_accuracy_holds_with_third_and_fifth_harmonics():
    _check_points(lambda name: "harmonics" in name)


def test_drifting_dc_bias_leaves_no_error():
    _check_points(lambda name: "bias" in name)


def test_export_is_measured_as_negative_power():
    e = acc.measure(_cal(), load_a=acc.IB, phase_deg=180.0)
    assert e["p_w"] < 0
    assert abs(e["p_pct"]) < acc.P_LIMIT_PCT
