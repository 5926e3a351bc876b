"""Per-window results from integer sums: RMS, P, Q, S, PF and frequency.

Runs once per window (about a second), not per sample: floats are allowed here. Offsets
are removed from the exact integer sums (N*Sxy - Sx*Sy), so a drifting bias leaves no
settling transient; skew and front-end phase are removed with two lagged power sums.
"""
import math

from metering import kernel


class WindowSums:
    """Exact Python-int sums over one window (loaded from the kernel's carried words)."""

    def __init__(self):
        self.reset(0)

    def reset(self, i_before_first):
        self.n = 0
        self.sv = 0
        self.si = 0
        self.svv = 0
        self.sii = 0
        self.svi0 = 0
        self.svi1 = 0
        # current sample just before this window: the lag-1 sum starts from it
        self.i_before_first = i_before_first

    def load(self, acc):
        """Take the window's sums from the kernel's carried words (once per window)."""
        self.n = acc[kernel.ACC_N]
        self.sv = kernel.total(acc, kernel.ACC_SV)
        self.si = kernel.total(acc, kernel.ACC_SI)
        self.svv = kernel.total(acc, kernel.ACC_SVV)
        self.sii = kernel.total(acc, kernel.ACC_SII)
        self.svi0 = kernel.total(acc, kernel.ACC_SVI0)
        self.svi1 = kernel.total(acc, kernel.ACC_SVI1)


class WindowResult:
    """One measurement window. Values are floats for display; energy is integrated
    elsewhere in integers from p_w and duration.

    duration_s is elapsed time: the sampled pairs plus the pairs the driver lost inside
    the window, whose energy is estimated at the window's measured power (dropping them
    would under-register by the share lost)."""

    def __init__(self, n_pairs, rate_hz, vrms, irms, p_w, q_var, freq_hz, whole_cycles,
                 v_mean_code, i_mean_code, lost_pairs=0):
        self.n_pairs = n_pairs
        self.lost_pairs = lost_pairs
        self.duration_s = (n_pairs + lost_pairs) / rate_hz
        self.vrms = vrms
        self.irms = irms
        self.p_w = p_w
        self.q_var = q_var
        self.s_va = vrms * irms
        self.pf = p_w / self.s_va if self.s_va > 0 else 1.0
        self.freq_hz = freq_hz
        self.whole_cycles = whole_cycles
        self.v_mean_code = v_mean_code
        self.i_mean_code = i_mean_code

    def to_dict(self):
        return {
            "n_pairs": self.n_pairs, "lost_pairs": self.lost_pairs, "duration_s": self.duration_s, "vrms": self.vrms,
            "irms": self.irms, "p_w": self.p_w, "q_var": self.q_var, "s_va": self.s_va,
            "pf": self.pf, "freq_hz": self.freq_hz, "whole_cycles": self.whole_cycles,
        }


def analyse(sums, i_last, v_mid, i_mid, cal, rate_hz, freq_hz, whole_cycles, lost_pairs=0,
            i_delay_us=None):
    """Turn one window's sums into a WindowResult.

    v_mid/i_mid: the codes the kernel subtracted; i_last: centred current of the
    window's last pair (for the exact lag-1 offset term); lost_pairs: pairs inside the
    window's span the driver never delivered; i_delay_us: the driver's skew, if it knows
    it better than the calibration record.
    """
    n = sums.n
    si_lag = sums.si + sums.i_before_first - i_last  # sum of i[n-1] over the window
    nn = float(n) * n
    cvv = (n * sums.svv - sums.sv * sums.sv) / nn
    cii = (n * sums.sii - sums.si * sums.si) / nn
    p0 = (n * sums.svi0 - sums.sv * sums.si) / nn
    p1 = (n * sums.svi1 - sums.sv * si_lag) / nn

    f = freq_hz if freq_hz > 0 else cal.f_nominal_hz
    w_sample = 2 * math.pi * f / rate_hz  # phase advance of one pair period
    # the current sample is late by i_delay_us and its front-end leads by phase_deg:
    # both make the current look advanced by w_shift against the voltage.
    if i_delay_us is None:
        i_delay_us = cal.i_delay_us
    w_shift = 2 * math.pi * f * i_delay_us * 1e-6 + math.radians(cal.phase_deg)

    # noise adds its variance to the mean squares: remove the calibrated floor
    cvv -= cal.v_noise_counts * cal.v_noise_counts
    cii -= cal.i_noise_counts * cal.i_noise_counts
    k = cal.i_crosstalk  # remove the in-phase share of the voltage seen on the current
    if k:
        cii = cii - 2 * k * p0 + k * k * cvv
        p0 = p0 - k * cvv
        p1 = p1 - k * cvv * math.cos(w_sample)

    # p0 = K cos(a), p1 = K cos(a + wT) with a = phi - w_shift: solve for K sin(a),
    # then rotate by w_shift to get K cos(phi) = P and K sin(phi) = Q (exact at f).
    k_sin = (p0 * math.cos(w_sample) - p1) / math.sin(w_sample)
    p = p0 * math.cos(w_shift) - k_sin * math.sin(w_shift)
    q = k_sin * math.cos(w_shift) + p0 * math.sin(w_shift)

    v_scale = cal.v_per_count * cal.v_gain
    i_scale = cal.a_per_count * cal.i_gain
    return WindowResult(
        n, rate_hz,
        math.sqrt(cvv) * v_scale if cvv > 0 else 0.0,
        math.sqrt(cii) * i_scale if cii > 0 else 0.0,
        p * v_scale * i_scale,
        q * v_scale * i_scale,
        freq_hz, whole_cycles,
        v_mid + sums.sv / n, i_mid + sums.si / n, lost_pairs,
    )
