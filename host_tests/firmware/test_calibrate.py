"""The calibration routine finds gains, phase, noise floor and crosstalk of a front-end
that is off from its nominal values, from a reference source (here the sim front-end)."""
import math

from boards import common, sim
from metering import bench_calibration
from metering.calibration import Calibration
from metering.sampling import Sampler
from mptest import raises

# a unit whose divider reads 3 % high, CT + burden 2 % low, CT leading by 1.5 degrees,
# with 0.1 % crosstalk and one count of noise
UNIT = {"ct_lead_deg": 1.5, "crosstalk": 0.001, "noise_counts": 1.0}
V_GAIN_ERROR = 1.03
I_GAIN_ERROR = 0.98


def _measure(cal, windows=5, **scenario):
    s = dict(UNIT)
    s.update(scenario)
    fe = sim.SimFrontEnd(**s)
    got = []
    sampler = Sampler(sim.SimADC(fe), cal, got.append)
    while len(got) < windows + 1:
        sampler.poll()
    return bench_calibration.average(got[1:]), fe.truth()


def _nominal_off_unit():
    cal = Calibration(**common.shared_calibration())
    return cal.replaced(v_per_count=cal.v_per_count * V_GAIN_ERROR,
                        a_per_count=cal.a_per_count * I_GAIN_ERROR)


def _full_calibration():
    cal = _nominal_off_unit()
    m, _ = _measure(cal, load_a=0.0)
    cal = bench_calibration.no_load(cal, m)
    m, t = _measure(cal, load_a=5.0, phase_deg=0.0)
    cal = bench_calibration.unity_power_factor(cal, m, t["vrms"], t["irms"])
    m, t = _measure(cal, load_a=5.0, phase_deg=60.0)
    cal = bench_calibration.half_power_factor(cal, m, t["p_w"], t["vrms"], t["irms"])
    return cal


def test_uncalibrated_unit_is_far_off_at_pf_half():
    m, t = _measure(_nominal_off_unit(), load_a=5.0, phase_deg=60.0)
    assert abs(bench_calibration.error_pct(m, t["p_w"])) > 3.0


def test_calibration_brings_pf_half_and_unity_within_0_2_percent():
    cal = _full_calibration()
    assert abs(cal.phase_deg - 1.5) < 0.05
    for load, phase in ((5.0, 0.0), (5.0, 60.0), (0.5, 60.0), (20.0, -36.87)):
        m, t = _measure(cal, load_a=load, phase_deg=phase, seed=7)
        assert abs(bench_calibration.error_pct(m, t["p_w"])) < 0.2, (load, phase, m, t)
        assert abs(m["vrms"] / t["vrms"] - 1) < 0.002


def test_calibrated_record_survives_encode_decode():
    cal = _full_calibration()
    again = Calibration.decode(cal.encode())
    assert again.to_dict() == cal.to_dict()


def test_no_load_step_without_voltage_is_refused():
    cal = Calibration(**common.shared_calibration())
    fe = sim.SimFrontEnd(load_a=0.0, mains_v=0.0)
    got = []
    sampler = Sampler(sim.SimADC(fe), cal, got.append)
    while len(got) < 4:
        sampler.poll()
    # without voltage there are no zero crossings, so no whole-cycle windows to average
    exc = raises(bench_calibration.CalibrationStepError, bench_calibration.average, got)
    assert exc.reason == "too-few-windows"
    m = {"vrms": 0.05, "irms": 0.0, "p_w": 0.0, "q_var": 0.0}
    assert raises(bench_calibration.CalibrationStepError, bench_calibration.no_load, cal, m).reason == "no-voltage"


def test_reference_outside_pf_half_range_is_refused():
    cal = Calibration(**common.shared_calibration())
    m = {"vrms": 230.0, "irms": 5.0, "p_w": 575.0, "q_var": 996.0}
    exc = raises(bench_calibration.CalibrationStepError, bench_calibration.half_power_factor, cal, m, 2000.0, 230.0, 5.0)
    assert exc.reason == "bad-reference"


def test_steps_measured_under_the_signed_record_are_carried_onto_the_proposal_once():
    """A commissioned meter meters on with its signed record while steps are proposed:
    pf1 run twice proposes its correction once, and a point after pf1 keeps the
    effective current gain it measured (i_gain x point gain)."""
    signed = _nominal_off_unit()
    m, t = _measure(signed, load_a=5.0, phase_deg=0.0)
    first = bench_calibration.unity_power_factor(signed, m, t["vrms"], t["irms"])
    again = bench_calibration.unity_power_factor(signed, m, t["vrms"], t["irms"])
    chained = bench_calibration.onto(first, signed, again)
    assert chained.i_gain == first.i_gain and chained.v_gain == first.v_gain  # not squared
    m, t = _measure(signed, load_a=1.0, phase_deg=60.0)
    point = bench_calibration.current_point(signed, m, t["p_w"], t["vrms"], t["irms"])
    carried = bench_calibration.onto(chained, signed, point)
    g_point = point.curve.points[0][1]
    g_carried = carried.curve.points[0][1]
    assert abs(carried.i_gain * g_carried - signed.i_gain * g_point) < 1e-12
    assert carried.v_gain == first.v_gain


class _Window:
    def __init__(self, p_w):
        self.p_w = p_w


class _RunningMeter:  # what bench_calibration.collect reads of a running meter
    def __init__(self, last=None):
        self.sampler = self
        self.windows = 0
        self.last = last


class _MeterClock:
    """A clock whose sleep_ms lets the metering thread go on: tick(ms) says what it does."""

    def __init__(self, meter, tick):
        self.meter = meter
        self.tick = tick
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms
        self.tick(self.meter, self.ms)


def test_a_step_leaves_out_the_window_under_way_when_it_is_called():
    """The technician switches the reference and calls the step at once: the window then
    closing began before the switch, with the load still on (a vboard run read it as
    1 % crosstalk, out of range)."""

    def tick(meter, ms):  # a window closes every 100 ms
        if ms % 100 == 0:
            # the first window to close still carries the load switched off at 0 ms
            meter.last = _Window(1000.0 if meter.windows == 0 else 0.0)
            meter.windows += 1

    meter = _RunningMeter()
    got = bench_calibration.collect(meter, 2, _MeterClock(meter, tick))
    assert [w.p_w for w in got] == [0.0, 0.0]


def test_a_window_counted_but_not_yet_handed_on_is_not_taken_twice():
    """The metering thread counts a window, then hands its result on: a step that looks in
    between must not take the last result again (it would be the window it left out)."""

    def tick(meter, ms):  # every 50 ms one half of a window's close: count, then result
        if ms % 100 == 50:
            meter.windows += 1
        else:
            meter.last = _Window(1000.0 if meter.windows == 1 else 0.0)

    meter = _RunningMeter(_Window(1000.0))  # the window under way has the load still on
    got = bench_calibration.collect(meter, 2, _MeterClock(meter, tick))
    assert [w.p_w for w in got] == [0.0, 0.0]
