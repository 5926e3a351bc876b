"""Accuracy grid on synthetic waveforms with analytically known truth.

Shared by test_accuracy (pass/fail against the limits) and tools/bench (worst-case
errors into BENCHMARKS.md). Runs under MicroPython and CPython.
"""
from boards import common, front_end_errors, sim
from metering import bench_calibration
from metering.calibration import Calibration
from metering.sampling import Sampler

IB = common.SHARED.i_base_a
IMAX = common.SHARED.i_max_a
HARMONICS = ((3, 0.10, 0.0), (5, 0.05, 0.0))
PF_POINTS = (("PF 1", 0.0), ("PF 0.5 ind", 60.0), ("PF 0.8 cap", -36.8699))

# limits in percent, from the issue: 0.2 % from 0.1 Ib to Imax, 0.5 % from 0.05 Ib
P_LIMIT_PCT = 0.2
P_LIMIT_LOW_PCT = 0.5
RMS_LIMIT_PCT = 0.2
FREQ_LIMIT_HZ = 0.01


def calibrated(noise_counts=1.0, **scenario):
    """Board default calibration plus the no-load noise floor, as a factory run finds it."""
    cal = Calibration(**common.shared_calibration())
    floor = no_load_noise_counts(noise_counts, **scenario)
    return cal.replaced(i_noise_counts=floor)


def no_load_noise_counts(noise_counts, **scenario):
    scenario = dict(scenario)
    scenario["load_a"] = 0.0
    scenario["noise_counts"] = noise_counts
    scenario["seed"] = 99
    windows = run_windows(Calibration(**common.shared_calibration()), 3, **scenario)
    a_per_count = common.shared_calibration()["a_per_count"]
    irms = sum(w.irms for w in windows) / len(windows)
    return irms / a_per_count


def run_windows(cal, count, **scenario):
    """Feed the sim front-end through the Sampler; return `count` whole-cycle windows."""
    fe = sim.SimFrontEnd(**scenario)
    adc = sim.SimADC(fe)
    windows = []
    sampler = Sampler(adc, cal, windows.append)
    while len(windows) < count + 1:
        sampler.poll()
    return windows[1:]  # the first window only synchronises on a zero crossing


def measure(cal, count=4, **scenario):
    """Errors of one test point: energy-weighted P, mean Vrms/Irms, frequency."""
    fe = sim.SimFrontEnd(**scenario)
    truth = fe.truth()
    windows = run_windows(cal, count, **scenario)
    duration = sum(w.duration_s for w in windows)
    p = sum(w.p_w * w.duration_s for w in windows) / duration
    vrms = sum(w.vrms for w in windows) / len(windows)
    irms = sum(w.irms for w in windows) / len(windows)
    freq_err = max(abs(w.freq_hz - truth["freq_hz"]) for w in windows)
    return {
        "p_pct": 100.0 * (p / truth["p_w"] - 1.0),
        "v_pct": 100.0 * (vrms / truth["vrms"] - 1.0),
        "i_pct": 100.0 * (irms / truth["irms"] - 1.0),
        "f_hz": freq_err,
        "p_w": p,
        "truth_p_w": truth["p_w"],
    }


def grid():
    """(name, P limit %, scenario) for every test point."""
    points = []
    for frac in (0.05, 0.1, 0.5, 1.0, 4.0, IMAX / IB):
        limit = P_LIMIT_LOW_PCT if frac < 0.1 else P_LIMIT_PCT
        for pf_name, phase in PF_POINTS:
            points.append(("%.2f Ib %s" % (frac, pf_name), limit,
                           {"load_a": frac * IB, "phase_deg": phase}))
    for f in (45.0, 49.0, 51.0, 65.0):
        for pf_name, phase in PF_POINTS:
            points.append(("Ib %s %.0f Hz" % (pf_name, f), P_LIMIT_PCT,
                           {"load_a": IB, "phase_deg": phase, "freq_hz": f}))
    for frac in (0.1, 1.0):
        for pf_name, phase in PF_POINTS:
            points.append(("%.1f Ib %s harmonics" % (frac, pf_name), P_LIMIT_PCT,
                           {"load_a": frac * IB, "phase_deg": phase,
                            "v_harmonics": HARMONICS, "i_harmonics": HARMONICS}))
    for pf_name, phase in PF_POINTS:
        points.append(("Ib %s drifting bias" % pf_name, P_LIMIT_PCT,
                       {"load_a": IB, "phase_deg": phase, "bias_drift_codes_per_s": 20.0,
                        "v_bias_code": 1990, "i_bias_code": 2100}))
    return points


# --- front-ends as parts are (boards.front_end_errors) ---

# IEC 62053-21 class 1, percent: (lowest current as a fraction of Ib, PF 1 limit,
# PF 0.5 ind / 0.8 cap limit); PF 0.5 and 0.8 are not specified below 0.1 Ib
CLASS1 = ((0.05, 1.5, None), (0.1, 1.0, 1.5), (0.2, 1.0, 1.0))
CLASS1_V_INFLUENCE_PCT = 0.7  # shift of error for mains 0.9..1.1 Un, PF 1 (0.05 Ib..Imax)
CLASS1_TEMP_COEFF_PCT_PER_K = 0.05  # mean temperature coefficient, PF 1
# the multi-point curve's currents: the bench's own points, from 0.05 Ib to Imax
CURVE_POINTS_A = (0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 40.0)
CAL_WINDOWS = 5


def class1_limit(frac, pf_name):
    limit = None
    for lowest, pf1, reactive in CLASS1:
        if frac >= lowest:
            limit = pf1 if pf_name == "PF 1" else reactive
    return limit


def factory_calibration(profile, curve=True, passes=2):
    """What a factory bench does on the profile's front-end, through the firmware's own
    steps (metering.bench_calibration): no load, PF 1 at Ib, PF 0.5 at Ib, then (curve)
    PF 0.5 at each of CURVE_POINTS_A, twice over so each point sees its neighbours'."""
    errors = front_end_errors.PROFILES[profile]
    cal = Calibration(**common.shared_calibration())
    v_ref = common.SHARED.mains_v_nominal

    def windows(load_a, phase_deg):
        return run_windows(cal, CAL_WINDOWS, load_a=load_a, phase_deg=phase_deg, seed=7,
                           **errors)

    cal = bench_calibration.step(cal, "no-load", windows(0.0, 0.0))
    cal = bench_calibration.step(cal, "pf1", windows(IB, 0.0), v_ref=v_ref, i_ref=IB)
    cal = bench_calibration.step(cal, "pf05", windows(IB, 60.0), v_ref=v_ref, i_ref=IB,
                                 p_ref=v_ref * IB * 0.5)
    if curve:
        for _ in range(passes):
            for current in CURVE_POINTS_A:
                cal = bench_calibration.step(cal, "point", windows(current, 60.0),
                                             v_ref=v_ref, i_ref=current,
                                             p_ref=v_ref * current * 0.5)
    return cal


def class1_grid(profile):
    """(name, P limit %, scenario) of the class 1 points on the profile's front-end,
    between and on the curve's currents."""
    errors = front_end_errors.PROFILES[profile]
    points = []
    for frac in (0.05, 0.07, 0.1, 0.15, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, IMAX / IB):
        for pf_name, phase in PF_POINTS:
            limit = class1_limit(frac, pf_name)
            if limit is not None:
                scenario = dict(errors, load_a=frac * IB, phase_deg=phase)
                points.append(("%s %.2f Ib %s" % (profile, frac, pf_name), limit, scenario))
    return points


# --- the second front-end: a metering IC (boards/atm90e32.py on its emulator) ---

IC_DESIGN = common.ICFrontEnd()


class _ChipSelect:
    def __init__(self):
        self.level = 1

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


def ic_front_end(clock, phases=1, chip_errors=None, **scenario):
    """(driver, chip) of an ATM90E32 on its emulator, its time axis the clock's ticks;
    `phases` phases carry the scenario (L2 and L3 shifted 120 and 240 degrees)."""
    from boards.atm90e32 import ATM90E32
    from rigs.atm90e32_chip import ATM90E32Chip, ChipSPI

    cs = _ChipSelect()
    wired = [dict(scenario) for _ in range(phases)]
    options = {} if chip_errors is None else {"chip_errors": chip_errors}
    chip = ATM90E32Chip(lambda: clock.ticks_ms() / 1000.0, wired, cs=cs, **options)
    driver = ATM90E32(ChipSPI(chip, polarity=1, phase=1), cs, clock.sleep_ms, phases=phases,
                      start_w=common.SHARED.starting_power_w)
    return driver, chip


def run_ic_windows(cal, count, phases=1, **scenario):
    """`count` windows of the IC front-end (metering.ic_windows) on a fake clock."""
    from fakes.clock import FakeClock
    from metering.ic_windows import ICWindows

    clock = FakeClock()
    driver, _chip = ic_front_end(clock, phases, **scenario)
    windows = []
    source = ICWindows(driver, cal, windows.append, clock)
    while len(windows) < count + 1:
        source.poll()
    return windows[1:]  # the first starts with the chip's first means


def ic_truth(phases=1, **scenario):
    """P and Q of `phases` identical phases of the scenario (harmonics as boards.sim)."""
    truth = sim.SimFrontEnd(**dict(scenario, noise_counts=0.0)).truth()
    return {"p_w": phases * truth["p_w"], "q_var": phases * truth["q_var"],
            "vrms": truth["vrms"], "irms": truth["irms"]}


def ic_measure(cal, count=4, phases=1, **scenario):
    windows = run_ic_windows(cal, count, phases, **scenario)
    truth = ic_truth(phases, **scenario)
    duration = sum(w.duration_s for w in windows)
    p = sum(w.p_w * w.duration_s for w in windows) / duration
    vrms = sum(w.vrms for w in windows) / len(windows)
    irms = sum(w.irms for w in windows) / len(windows)
    return {"p_pct": 100.0 * (p / truth["p_w"] - 1.0),
            "v_pct": 100.0 * (vrms / truth["vrms"] - 1.0),
            "i_pct": 100.0 * (irms / truth["irms"] - 1.0),
            "f_hz": max(abs(w.freq_hz - scenario.get("freq_hz", 50.0)) for w in windows),
            "p_w": p, "truth_p_w": truth["p_w"]}


def ic_factory_calibration(curve=False, **errors):
    """The bench steps (metering.bench_calibration) through the IC: PF 1 and PF 0.5 at Ib
    take out the chip's own gain and phase errors; with curve, PF 0.5 at each of
    CURVE_POINTS_A the CT's (errors: boards.front_end_errors scenario settings)."""
    cal = Calibration(**IC_DESIGN.calibration())
    v_ref = common.SHARED.mains_v_nominal

    def windows(load_a, phase_deg):
        return run_ic_windows(cal, CAL_WINDOWS, load_a=load_a, phase_deg=phase_deg, **errors)

    cal = bench_calibration.step(cal, "pf1", windows(IB, 0.0), v_ref=v_ref, i_ref=IB)
    cal = bench_calibration.step(cal, "pf05", windows(IB, 60.0), v_ref=v_ref, i_ref=IB,
                                 p_ref=v_ref * IB * 0.5)
    if curve:
        for _ in range(2):
            for current in CURVE_POINTS_A:
                cal = bench_calibration.step(cal, "point", windows(current, 60.0),
                                             v_ref=v_ref, i_ref=current,
                                             p_ref=v_ref * current * 0.5)
    return cal


CT_ERRORS = {"ct_ratio_pct": front_end_errors.CT_RATIO_PCT,
             "ct_phase_deg": front_end_errors.CT_PHASE_DEG}


def ic_class1_grid():
    """class1_grid's points through the IC with the shared CT's errors in front of it."""
    points = []
    for frac in (0.05, 0.07, 0.1, 0.15, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                 IMAX / IB):
        for pf_name, phase in PF_POINTS:
            limit = class1_limit(frac, pf_name)
            if limit is not None:
                points.append(("ic+ct %.2f Ib %s" % (frac, pf_name), limit,
                               dict(CT_ERRORS, load_a=frac * IB, phase_deg=phase)))
    return points


def ic_grid():
    """The ADC grid's points that a metering IC sees the same way (current range, power
    factors, 45..65 Hz, harmonics; its bias and drift are the chip's business)."""
    return [(name, limit, scenario) for name, limit, scenario in grid()
            if "bias" not in name]
