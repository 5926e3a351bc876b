"""Accuracy grid on synthetic waveforms with analytically known truth.

Shared by test_accuracy (pass/fail against the limits) and tools/bench (worst-case
errors into BENCHMARKS.md). Runs under MicroPython and CPython.
"""
from boards import common, sim
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
