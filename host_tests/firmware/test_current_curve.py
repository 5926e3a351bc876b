"""The multi-point current curve: its arithmetic, its record beside the single-point one
(what older firmware reads, what a cut leaves), and how a signed command carries it."""
import json

from boards import common
from control.handlers import numbers
from fakes.flash import FakeFlash, PowerLoss
from metering import calibration_store
from metering.calibration import Calibration, CalibrationError
from metering.calibration_store import CalibrationStore
from metering.current_curve import MAX_POINTS, CurrentCurve, CurveError
from mptest import raises

POINTS = [[0.25, 1.010, 1.30], [1.0, 1.004, 0.45], [5.0, 1.0, 0.0], [40.0, 0.999, -0.23]]


def _cal(points=POINTS, **changes):
    values = common.shared_calibration()
    values.update(changes)
    if points:
        values["i_curve"] = points
    return Calibration(**values)


def test_the_curve_is_exact_at_its_points_and_linear_in_log_current_between():
    curve = CurrentCurve(POINTS)
    for current, gain, phase in POINTS:
        g, p = curve.at(current)
        assert abs(g - gain) < 1e-12 and abs(p - phase) < 1e-12
    g, p = curve.at(0.5)  # half way between 0.25 and 1.0 in log(I)
    assert abs(g - (1.010 + 1.004) / 2) < 1e-9
    assert abs(p - (1.30 + 0.45) / 2) < 1e-9


def test_outside_the_calibrated_currents_the_nearest_point_holds():
    curve = CurrentCurve(POINTS)
    assert curve.at(0.0) == (1.010, 1.30)
    assert curve.at(0.01) == (1.010, 1.30)
    assert curve.at(80.0) == (0.999, -0.23)


def test_a_point_replaces_its_neighbour_within_five_percent_and_keeps_the_order():
    curve = CurrentCurve(POINTS).with_point(1.02, 1.006, 0.5)
    assert [p[0] for p in curve.points] == [0.25, 1.02, 5.0, 40.0]
    curve = curve.with_point(2.0, 1.002, 0.2)
    assert [p[0] for p in curve.points] == [0.25, 1.02, 2.0, 5.0, 40.0]


def test_malformed_curves_are_refused_with_a_reason():
    bad = (
        [],
        [[1.0, 1.0]],
        [[1.0, True, 0.0]],
        [[1.0, "1.0", 0.0]],
        [[1.0, 1.5, 0.0]],  # a gain of 1.5 is a wiring fault
        [[1.0, 1.0, 11.0]],
        [[0.0, 1.0, 0.0]],
        [[1.0, 1.0, 0.0], [1.02, 1.0, 0.0]],  # not 5 % apart
        [[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]],  # falling
        [[1.0 * 2 ** k, 1.0, 0.0] for k in range(MAX_POINTS + 1)],
        "points",
    )
    for points in bad:
        assert raises(CurveError, CurrentCurve, points).reason in ("bad-curve", "out-of-range")
    exc = raises(CalibrationError, _cal, [[1.0, 1.5, 0.0]])
    assert exc.reason == "out-of-range" and "i_curve" in exc.detail


def test_the_single_point_record_is_what_older_firmware_reads():
    cal = _cal()
    record = cal.encode()
    body = json.loads(record.split(b"\n")[0])
    assert "i_curve" not in body and sorted(body) == sorted(common.shared_calibration())
    alone = Calibration.decode(record)  # what firmware without the curve makes of it
    assert alone.curve is None and alone.i_gain == cal.i_gain
    again = alone.with_curve_record(cal.encode_curve(record), record)
    assert again.curve.points == cal.curve.points


def test_a_curve_is_applied_only_beside_the_record_it_was_made_with():
    cal = _cal()
    curve = cal.encode_curve(cal.encode())
    other = _cal(i_gain=1.01).encode()
    exc = raises(CalibrationError, Calibration.decode(other).with_curve_record, curve, other)
    assert exc.reason == "stale-curve"
    flipped = bytearray(curve)
    flipped[5] ^= 1
    record = cal.encode()
    exc = raises(CalibrationError, Calibration.decode(record).with_curve_record,
                 bytes(flipped), record)
    assert exc.reason in ("bad-checksum", "malformed")


def test_the_store_keeps_the_curve_and_reports_it():
    flash = FakeFlash()
    store = CalibrationStore(flash, common.shared_calibration())
    assert store.curve_source == "none" and store.cal.curve is None
    store.replace(_cal())
    again = CalibrationStore(flash, common.shared_calibration())
    assert again.source == "stored" and again.curve_source == "stored"
    assert again.cal.curve.points == CurrentCurve(POINTS).points
    again.replace(_cal(points=None, i_gain=1.01))  # a record without a curve drops it
    names = [n for n in flash.names() if n.startswith(calibration_store.CURVE_PREFIX)]
    assert names == []
    last = CalibrationStore(flash, common.shared_calibration())
    assert last.cal.curve is None and last.cal.i_gain == 1.01 and last.curve_source == "none"


def test_a_torn_curve_record_is_not_used_and_says_why():
    flash = FakeFlash()
    CalibrationStore(flash, common.shared_calibration()).replace(_cal())
    name = [n for n in flash.names() if n.startswith(calibration_store.CURVE_PREFIX)][0]
    flash.flip_bit(name, 40)
    store = CalibrationStore(flash, common.shared_calibration())
    assert store.source == "stored" and store.cal.curve is None
    assert store.curve_source.startswith("not used (")


def _state(flash):
    store = CalibrationStore(flash, common.shared_calibration())
    curve = store.cal.curve.points if store.cal.curve else None
    return store.source, store.curve_source, store.cal.i_gain, curve


def test_a_cut_at_any_write_leaves_the_old_pair_or_the_new_never_a_mix():
    old, new = _cal(i_gain=1.02), _cal(points=[[0.5, 1.003, 0.8], [20.0, 1.001, -0.1]])
    for target in (new, _cal(points=None, i_gain=1.03)):
        flash = FakeFlash()
        CalibrationStore(flash, common.shared_calibration()).replace(old)
        before = _state(flash)
        done = flash.copy()
        CalibrationStore(done, common.shared_calibration()).replace(target)
        after = _state(done)
        cuts = 0
        for at in range(1, 12):
            for tear in (0.0, 0.5, 1.0):
                trial = FakeFlash()
                CalibrationStore(trial, common.shared_calibration()).replace(old)
                trial.arm(at, tear)
                try:
                    CalibrationStore(trial, common.shared_calibration()).replace(target)
                except PowerLoss:
                    cuts += 1
                trial.reboot()
                state = _state(trial)
                assert state in (before, after), (at, tear, state)
                assert state[1] in ("none", "stored")  # never a curve that is not its own
        assert cuts > 3


def test_a_cut_never_leaves_a_proposal_beside_the_record_that_superseded_it():
    old, new = _cal(i_gain=1.02), _cal(points=[[0.5, 1.003, 0.8], [20.0, 1.001, -0.1]])
    seen = set()
    for at in range(1, 8):
        for tear in (0.0, 0.5, 1.0):
            trial = FakeFlash()
            store = CalibrationStore(trial, common.shared_calibration())
            store.replace(old)
            store.propose(_cal(i_gain=1.025))  # a bench step on the commissioned meter
            trial.arm(at, tear)
            try:
                CalibrationStore(trial, common.shared_calibration()).replace(new)
            except PowerLoss:
                pass
            trial.reboot()
            again = CalibrationStore(trial, common.shared_calibration())
            state = (again.cal.i_gain, again.proposed() is not None)
            # the old record with its proposal, or the new one without (a proposal file
            # left beside it by the cut is based on the old record: not used)
            assert state in ((1.02, True), (new.i_gain, False)), (at, tear, state)
            seen.add(state)
    assert len(seen) == 2, seen


def test_a_replace_the_flash_refuses_keeps_the_proposal():
    from host_tests.firmware.meter_kit import FillingFlash

    flash = FillingFlash()
    store = CalibrationStore(flash, common.shared_calibration())
    store.replace(_cal(i_gain=1.02))
    store.propose(_cal(i_gain=1.025))
    flash.full = True
    raises(OSError, store.replace, _cal(i_gain=1.03))
    flash.full = False
    again = CalibrationStore(flash, common.shared_calibration())
    assert again.cal.i_gain == 1.02 and again.proposed().i_gain == 1.025


def test_a_signed_command_carries_the_curve_as_decimal_text():
    signed = [["0.25", "1.0103", "1.2944"], ["5", "1", "0"]]
    assert numbers(signed) == [[0.25, 1.0103, 1.2944], [5, 1, 0]]
    raises(ValueError, numbers, [["1e3", "1", "0"]])
