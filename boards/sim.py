"""The `sim` board: a simulated AC front-end so the whole firmware runs without hardware.

Mains voltage, load current, phase, frequency, harmonics, DC bias drift, noise and
voltage-to-current crosstalk are configurable; samples are quantised like a 12-bit ADC
and, with pacing on, delivered at the real-time rate (late readers lose pairs, as a DMA
ring would overflow). Runs on MicroPython's unix port and on CPython.
"""
import math
import random

from boards.common import *  # noqa: F401,F403 - a board restates only what differs
from boards import common

NAME = "sim"
HARDWARE_ID = "sim-v1"
P1_PATH = "p1.out"  # the sim's P1 "UART" appends telegrams to this file
STORAGE_ROOT = "data"
# a firmware on trial confirms itself after this many windows (boards: a minute); short
# here so an update can be tried end to end on the virtual board in seconds
TRIAL_CONFIRM_WINDOWS = 5

DEFAULT_SCENARIO = {
    "mains_v": common.MAINS_V_NOMINAL,  # RMS of the fundamental
    "load_a": 5.0,  # RMS of the fundamental current
    "phase_deg": 30.0,  # current lags voltage (+ inductive, - capacitive, 180 export)
    "freq_hz": common.MAINS_F_NOMINAL_HZ,
    "v_harmonics": (),  # ((order, fraction of fundamental, phase_deg), ...)
    "i_harmonics": (),
    "v_bias_code": common.ADC_MID_CODE,
    "i_bias_code": common.ADC_MID_CODE,
    "bias_drift_codes_per_s": 0.0,  # both channels drift together
    "noise_counts": 1.0,  # RMS, Gaussian-like
    "crosstalk": 0.0,  # fraction of the voltage-channel signal added to the current
    "ct_lead_deg": 0.0,  # front-end phase lead of the current channel
    "i_delay_us": common.I_DELAY_US,
    "seed": 1,
}


class SimFrontEnd:
    """Synthesises ADC code pairs for a steady or changing load."""

    def __init__(self, rate_hz=common.SAMPLE_PAIRS_PER_S, calibration=None, **scenario):
        """calibration: the front-end design the codes follow (a board's
        default_calibration(); the shared one if None)."""
        self.rate_hz = rate_hz
        self._design = calibration or common.default_calibration()
        self.scenario = dict(DEFAULT_SCENARIO)
        self.set(**scenario)
        self.n = 0  # index of the next pair
        random.seed(self.scenario["seed"])

    def set(self, **changes):
        for name in changes:
            if name not in DEFAULT_SCENARIO:
                raise ValueError("unknown scenario setting: " + name)
        self.scenario.update(changes)
        s = self.scenario
        cal = self._design
        self._v_counts_peak = s["mains_v"] * math.sqrt(2) / cal["v_per_count"]
        self._i_counts_peak = s["load_a"] * math.sqrt(2) / cal["a_per_count"]
        self._noise_scale = s["noise_counts"] * math.sqrt(3.0)  # sum of 4 uniforms: var 1/3

    def truth(self):
        """Exact RMS values and powers of the analogue signals (no noise, no bias)."""
        s = self.scenario
        v1, i1 = s["mains_v"], s["load_a"]
        vh = {h: frac for h, frac, _ in s["v_harmonics"]}
        ih = {h: frac for h, frac, _ in s["i_harmonics"]}
        vph = {h: ph for h, _, ph in s["v_harmonics"]}
        iph = {h: ph for h, _, ph in s["i_harmonics"]}
        vrms = v1 * math.sqrt(1 + sum(f * f for f in vh.values()))
        irms = i1 * math.sqrt(1 + sum(f * f for f in ih.values()))
        p = v1 * i1 * math.cos(math.radians(s["phase_deg"]))
        q = v1 * i1 * math.sin(math.radians(s["phase_deg"]))
        for h in vh:
            if h in ih:
                p += v1 * vh[h] * i1 * ih[h] * math.cos(math.radians(vph[h] - iph[h] + h * s["phase_deg"]))
        return {"vrms": vrms, "irms": irms, "p_w": p, "q_var": q, "freq_hz": s["freq_hz"]}

    def fill(self, buf, pairs):
        """Write `pairs` interleaved (v, i) codes into buf, continuing the waveform."""
        s = self.scenario
        w = 2 * math.pi * s["freq_hz"]
        dt = 1.0 / self.rate_hz
        d = s["i_delay_us"] * 1e-6
        i_phase = math.radians(s["ct_lead_deg"] - s["phase_deg"])
        vpk, ipk = self._v_counts_peak, self._i_counts_peak
        vh = [(h, f * vpk, math.radians(ph)) for h, f, ph in s["v_harmonics"]]
        ih = [(h, f * ipk, math.radians(ph)) for h, f, ph in s["i_harmonics"]]
        xt = s["crosstalk"]
        noise = self._noise_scale
        drift = s["bias_drift_codes_per_s"]
        top = (1 << common.ADC_BITS) - 1
        rnd = random.random
        sin = math.sin
        for k in range(pairs):
            t = (self.n + k) * dt
            a = w * t
            v = vpk * sin(a)
            for h, amp, ph in vh:
                v += amp * sin(h * a + ph)
            ti = w * (t + d)  # the current is converted i_delay after the voltage
            i = ipk * sin(ti + i_phase)
            for h, amp, ph in ih:
                i += amp * sin(h * (ti + i_phase) + ph)
            if xt:
                i += xt * vpk * sin(ti)
            bias = drift * t
            vc = int(s["v_bias_code"] + bias + v + noise * (rnd() + rnd() + rnd() + rnd() - 2) + 0.5)
            ic = int(s["i_bias_code"] + bias + i + noise * (rnd() + rnd() + rnd() + rnd() - 2) + 0.5)
            buf[2 * k] = 0 if vc < 0 else (top if vc > top else vc)
            buf[2 * k + 1] = 0 if ic < 0 else (top if ic > top else ic)
        self.n += pairs


    def code_at(self, t_s, current):
        """One channel's code at time t_s, sampled when the caller says (a port rig whose
        ADC is read by the firmware at wall-clock instants)."""
        s = self.scenario
        a0 = a = 2 * math.pi * s["freq_hz"] * t_s
        if current:
            a = a0 + math.radians(s["ct_lead_deg"] - s["phase_deg"])
            x = self._i_counts_peak * math.sin(a)
            for h, f, ph in s["i_harmonics"]:
                x += f * self._i_counts_peak * math.sin(h * a + math.radians(ph))
            if s["crosstalk"]:
                x += s["crosstalk"] * self._v_counts_peak * math.sin(a0)
            bias = s["i_bias_code"]
        else:
            x = self._v_counts_peak * math.sin(a)
            for h, f, ph in s["v_harmonics"]:
                x += f * self._v_counts_peak * math.sin(h * a + math.radians(ph))
            bias = s["v_bias_code"]
        rnd = random.random
        noise = self._noise_scale * (rnd() + rnd() + rnd() + rnd() - 2)
        code = int(bias + s["bias_drift_codes_per_s"] * t_s + x + noise + 0.5)
        top = (1 << common.ADC_BITS) - 1
        return 0 if code < 0 else (top if code > top else code)


class SimADC:
    """ADC-pair object as the boards provide it: readinto(buf), rate_hz, lost_pairs.

    With a clock, blocks are paced to wall time; a reader more than `ring_s` behind
    loses the oldest pairs (counted in lost_pairs), as a real DMA ring would.
    """

    def __init__(self, front_end, clock=None, ring_s=0.5, block_pairs=256):
        self.front_end = front_end
        self.rate_hz = front_end.rate_hz
        self.block_pairs = block_pairs
        self.lost_pairs = 0
        self._clock = clock
        self._ring_pairs = int(ring_s * self.rate_hz)
        self._delivered = 0
        self._start_ms = clock.ticks_ms() if clock else 0

    def readinto(self, buf):
        pairs = len(buf) // 2
        if pairs != self.block_pairs:
            raise ValueError("buffer must hold block_pairs pairs")
        if self._clock is not None:
            clock = self._clock
            due = self._delivered + pairs  # pairs acquired once this block is complete
            while True:
                elapsed_ms = clock.ticks_diff(clock.ticks_ms(), self._start_ms)
                available = elapsed_ms * self.rate_hz // 1000
                if available >= due:
                    break
                clock.sleep_ms(max(1, (due - available) * 1000 // self.rate_hz))
            behind = available - due
            if behind > self._ring_pairs:  # overrun: skip what the ring could not hold
                skipped = behind - self._ring_pairs
                self.front_end.n += skipped
                self._delivered += skipped
                self.lost_pairs += skipped
        self.front_end.fill(buf, pairs)
        self._delivered += pairs


class SimHardware:
    """What the composition root gets from a board: adc, p1, clock, storage_root."""

    def __init__(self, scenario=None, paced=True, storage_root=STORAGE_ROOT, p1_path=P1_PATH):
        self.clock = common.SystemClock()
        self.front_end = SimFrontEnd(**(scenario or {}))
        self.adc = SimADC(self.front_end, self.clock if paced else None)
        self.p1 = SimUART(p1_path)
        self.storage_root = storage_root
        self.meter_id = "sim-0001"
        self.reset = None  # the unix port: the technician (or vboard) restarts it


class SimUART:
    """The P1 port of the sim: appends what the firmware writes to a file (or nowhere)."""

    def __init__(self, path):
        self.path = path
        self.written = 0

    def write(self, data):
        if self.path:
            with open(self.path, "ab") as f:
                f.write(data)
        self.written += len(data)
        return len(data)


def hardware(scenario=None, paced=True, **options):
    return SimHardware(scenario, paced, **options)
