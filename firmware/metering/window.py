"""Per-window results from integer sums: RMS, P, Q, S, PF and frequency.

Runs once per window (about a second), not per sample: floats are allowed here. Offsets
are removed from the exact integer sums (N*Sxy - Sx*Sy), so a drifting bias leaves no
settling transient; skew and front-end phase are removed with two lagged power sums.
"""
from math import cos, pi, sin, sqrt

from metering.kernel import (ACC_N, ACC_SI, ACC_SII, ACC_SV, ACC_SVI0, ACC_SVI1, ACC_SVV,
                             total)

_TWO_PI = 2 * pi
_RAD_PER_DEG = pi / 180


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
        self.n = acc[ACC_N]
        self.sv = total(acc, ACC_SV)
        self.si = total(acc, ACC_SI)
        self.svv = total(acc, ACC_SVV)
        self.sii = total(acc, ACC_SII)
        self.svi0 = total(acc, ACC_SVI0)
        self.svi1 = total(acc, ACC_SVI1)


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
        # set by the sampler from the kernel's whole-cycle judgement (voltage_quality):
        # sags and swells that began in this window, and the longest one that ended in
        # it as (kind, duration ms, lowest or highest cycle RMS in V), or None
        self.sags = 0
        self.swells = 0
        self.voltage_event = None
        # a front-end that accumulates energy itself (metering.ic_windows): the window's
        # net energy in mJ (import positive), registered instead of p_w x duration; and
        # its phases [(V, A, W, var)] where it measures more than one
        self.energy_mj = None
        self.phases = None
        self.phase_sags = None  # per phase, where it measures more than one: [L1, L2, L3]
        self.phase_swells = None

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
    Every float operation allocates on the boards (boxed floats): each trig value is
    computed once and the offsets are removed in exact integers before one division.
    """
    n = sums.n
    sv = sums.sv
    si = sums.si
    si_lag = si + sums.i_before_first - i_last  # sum of i[n-1] over the window
    nn = float(n) * n
    cvv = (n * sums.svv - sv * sv) / nn
    cii = (n * sums.sii - si * si) / nn
    p0 = (n * sums.svi0 - sv * si) / nn
    p1 = (n * sums.svi1 - sv * si_lag) / nn

    f = freq_hz if freq_hz > 0 else cal.f_nominal_hz
    w_sample = _TWO_PI * f / rate_hz  # phase advance of one pair period
    cos_ws = cos(w_sample)
    # the current sample is late by i_delay_us and its front-end leads by phase_deg:
    # both make the current look advanced by w_shift against the voltage.
    if i_delay_us is None:
        i_delay_us = cal.i_delay_us
    w_shift = _TWO_PI * f * i_delay_us * 1e-6 + cal.phase_deg * _RAD_PER_DEG

    # noise adds its variance to the mean squares: remove the calibrated floor
    noise = cal.v_noise_counts
    cvv -= noise * noise
    noise = cal.i_noise_counts
    cii -= noise * noise
    k = cal.i_crosstalk  # remove the in-phase share of the voltage seen on the current
    if k:
        cii = cii - 2 * k * p0 + k * k * cvv
        p0 = p0 - k * cvv
        p1 = p1 - k * cvv * cos_ws

    v_scale = cal.v_per_count * cal.v_gain
    i_scale = cal.a_per_count * cal.i_gain
    curve = cal.curve
    if curve is not None:  # the current front-end's gain and phase at this current
        gain, phase_deg = curve.at(sqrt(cii) * i_scale if cii > 0 else 0.0)
        i_scale *= gain
        w_shift += phase_deg * _RAD_PER_DEG

    # p0 = K cos(a), p1 = K cos(a + wT) with a = phi - w_shift: solve for K sin(a),
    # then rotate by w_shift to get K cos(phi) = P and K sin(phi) = Q (exact at f).
    k_sin = (p0 * cos_ws - p1) / sin(w_sample)
    cos_sh = cos(w_shift)
    sin_sh = sin(w_shift)
    p = p0 * cos_sh - k_sin * sin_sh
    q = k_sin * cos_sh + p0 * sin_sh

    vi_scale = v_scale * i_scale
    return WindowResult(
        n, rate_hz,
        sqrt(cvv) * v_scale if cvv > 0 else 0.0,
        sqrt(cii) * i_scale if cii > 0 else 0.0,
        p * vi_scale,
        q * vi_scale,
        freq_hz, whole_cycles,
        v_mid + sv / n, i_mid + si / n, lost_pairs,
    )
