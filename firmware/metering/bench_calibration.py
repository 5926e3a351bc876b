"""Calibration from a reference source: no load, then a known load at PF 1, then PF 0.5,
then, for a front-end whose errors change with current, PF 0.5 at more currents (points).

Each step averages whole-cycle windows measured with the current calibration and
returns a corrected Calibration; corrections multiply or add to what is there, so a
step can be repeated to converge. Pure arithmetic on averages: the same code serves the
REPL (from a running meter) and the host tool (from captures).
"""
import math

from metering.calibration import Calibration
from refusal import Refusal


class CalibrationStepError(Refusal):
    pass


class _L1:
    """A three-phase window as the steps read it: L1's V, I, P and Q. One record serves
    all three phases (their CTs matched), calibrated on L1 (docs/METERING.md)."""

    def __init__(self, w):
        self.vrms, self.irms, self.p_w, self.q_var = w.phases[0]
        self.freq_hz = w.freq_hz
        self.duration_s = w.duration_s
        self.whole_cycles = w.whole_cycles


def average(windows):
    """Duration-weighted mean of vrms, irms, p_w, q_var over whole-cycle windows."""
    whole = [w if getattr(w, "phases", None) is None else _L1(w)
             for w in windows if w.whole_cycles]
    if len(whole) < 2:
        raise CalibrationStepError("too-few-windows", "need at least 2 whole-cycle windows")
    total = sum(w.duration_s for w in whole)
    mean = {}
    for key in ("vrms", "irms", "p_w", "q_var", "freq_hz"):
        mean[key] = sum(getattr(w, key) * w.duration_s for w in whole) / total
    # RMS values average in the square, as the energy they stand for
    mean["vrms"] = math.sqrt(sum(w.vrms * w.vrms * w.duration_s for w in whole) / total)
    mean["irms"] = math.sqrt(sum(w.irms * w.irms * w.duration_s for w in whole) / total)
    mean["windows"] = len(whole)
    return mean


def no_load(cal, measured):
    """Voltage applied, no current: noise floor and in-phase crosstalk of the current
    channel (the no-load offsets an ADE7953 keeps in IRMSOS and AWATTOS)."""
    v_scale = cal.v_per_count * cal.v_gain
    i_scale = cal.a_per_count * cal.i_gain
    if measured["vrms"] < 10 * v_scale:
        raise CalibrationStepError("no-voltage", "the no-load step needs mains voltage applied")
    noise = measured["irms"] / i_scale
    floor = math.sqrt(noise * noise + cal.i_noise_counts * cal.i_noise_counts)
    vrms_counts = measured["vrms"] / v_scale
    crosstalk = cal.i_crosstalk + measured["p_w"] / (v_scale * i_scale) / (vrms_counts * vrms_counts)
    return cal.replaced(i_noise_counts=floor, i_crosstalk=crosstalk)


def unity_power_factor(cal, measured, v_ref, i_ref):
    """Known RMS voltage and current at PF 1: channel gains."""
    if v_ref <= 0 or i_ref <= 0:
        raise CalibrationStepError("bad-reference", "reference V and I must be positive")
    if measured["vrms"] <= 0 or measured["irms"] <= 0:
        raise CalibrationStepError("no-signal", "measured no voltage or no current")
    return cal.replaced(
        v_gain=cal.v_gain * v_ref / measured["vrms"],
        i_gain=cal.i_gain * i_ref / measured["irms"],
    )


def half_power_factor(cal, measured, p_ref, v_ref, i_ref):
    """Known P at PF about 0.5 lagging: phase error of the current front-end."""
    s_ref = v_ref * i_ref
    if not 0 < p_ref < s_ref:
        raise CalibrationStepError("bad-reference", "need 0 < P < V*I at PF 0.5")
    phi_ref = math.acos(p_ref / s_ref)
    phi_meas = math.atan2(measured["q_var"], measured["p_w"])
    # the front-end lead makes the current look less lagging: add what is missing
    return cal.replaced(phase_deg=cal.phase_deg + math.degrees(phi_ref - phi_meas))


def current_point(cal, measured, p_ref, v_ref, i_ref):
    """Known V, I and P at PF about 0.5 lagging, at one current: the current front-end's
    gain and phase there, as a point of the multi-point curve (metering.current_curve).

    The gain makes the fundamental's V*I (sqrt(P*P + Q*Q)) right rather than Irms, so the
    harmonics an ADC's non-linearity adds to the current do not pull it. The point is
    keyed by the current the meter measures before the curve applies, what it looks up."""
    from metering.current_curve import CurrentCurve, CurveError

    s_ref = v_ref * i_ref
    if not 0 < p_ref < s_ref:
        raise CalibrationStepError("bad-reference", "need 0 < P < V*I at PF 0.5")
    k_meas = math.sqrt(measured["p_w"] ** 2 + measured["q_var"] ** 2)
    if k_meas <= 0 or measured["irms"] <= 0:
        raise CalibrationStepError("no-signal", "measured no power")
    gain, phase = cal.curve.at(measured["irms"]) if cal.curve else (1.0, 0.0)
    phi_ref = math.acos(p_ref / s_ref)
    phi_meas = math.atan2(measured["q_var"], measured["p_w"])
    point = (measured["irms"] / gain, gain * s_ref / k_meas,
             phase + math.degrees(phi_ref - phi_meas))
    values = cal.to_dict()
    try:
        curve = cal.curve.with_point(*point) if cal.curve else CurrentCurve([point])
    except CurveError as exc:
        raise CalibrationStepError(exc.reason, exc.detail)
    values["i_curve"] = curve.points
    return Calibration(**values)


def error_pct(measured, p_ref):
    """Active power error of a verification point, in percent."""
    return 100.0 * (measured["p_w"] / p_ref - 1.0)


def onto(proposal, active, stepped):
    """A step measured under the `active` record (a commissioned meter meters on the
    signed one) carried onto `proposal`: the fields the step changed take the step's
    values, so a step repeated is not applied twice; a new curve point keeps the
    effective gain and phase it found (i_gain x point gain, phase_deg + point phase)
    against the proposal's own i_gain and phase_deg."""
    values = proposal.to_dict()
    was = active.to_dict()
    now = stepped.to_dict()
    for name in now:
        if name != "i_curve" and now[name] != was.get(name):
            values[name] = now[name]
    result = Calibration(**values)
    old_points = active.curve.points if active.curve else []
    for point in (stepped.curve.points if stepped.curve else []):
        if point in old_points:
            continue
        current, gain, phase = point
        gain = gain * active.i_gain / result.i_gain
        phase = phase + active.phase_deg - result.phase_deg
        values = result.to_dict()
        from metering.current_curve import CurrentCurve

        curve = result.curve.with_point(current, gain, phase) if result.curve \
            else CurrentCurve([[current, gain, phase]])
        values["i_curve"] = curve.points
        result = Calibration(**values)
    return result


def collect(meter, count, clock, timeout_s=60):
    """Wait for `count` new windows of a running meter (REPL use) and return them. The
    window under way when the step is called is left out: it began before the call, when
    the reference may still have been set otherwise (a load switched off just before
    read as crosstalk, out of range)."""
    windows = []
    seen = meter.sampler.windows
    last = meter.last
    straddling = True
    start = clock.ticks_ms()
    while len(windows) < count:
        if clock.ticks_diff(clock.ticks_ms(), start) > timeout_s * 1000:
            raise CalibrationStepError("timeout", "no new windows: is the meter running?")
        now = meter.sampler.windows
        # the metering thread counts a window before it hands the result on: a new count
        # with the same result object is a window not yet delivered
        if now != seen and meter.last is not last:
            seen = now
            last = meter.last
            if straddling:
                straddling = False
            else:
                windows.append(last)
        else:
            clock.sleep_ms(50)
    return windows


STEPS = ("no-load", "pf1", "pf05", "point")


def step(cal, name, windows, v_ref=None, i_ref=None, p_ref=None):
    """Apply one named step to `cal` from measured windows; returns the new record."""
    needs = {"pf1": (v_ref, i_ref), "pf05": (v_ref, i_ref, p_ref), "point": (v_ref, i_ref, p_ref)}
    for value in needs.get(name, ()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CalibrationStepError("bad-reference", "step %s needs v_ref, i_ref%s" % (
                name, "" if name == "pf1" else " and p_ref"))
    measured = average(windows)
    if name == "no-load":
        return no_load(cal, measured)
    if name == "pf1":
        return unity_power_factor(cal, measured, v_ref, i_ref)
    if name == "pf05":
        return half_power_factor(cal, measured, p_ref, v_ref, i_ref)
    if name == "point":
        return current_point(cal, measured, p_ref, v_ref, i_ref)
    raise CalibrationStepError("unknown-step", "%s (steps: %s)" % (name, ", ".join(STEPS)))
