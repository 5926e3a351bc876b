"""The `sim` board: a simulated AC front-end so the whole firmware runs without hardware.

Mains voltage, load current, phase, frequency, harmonics, DC bias drift, noise,
voltage-to-current crosstalk and the errors of real parts (boards.front_end_errors: ADC
non-linearity, reference drift, CT error vs current) are configurable; samples are quantised like a 12-bit ADC
and, with pacing on, delivered at the real-time rate (late readers lose pairs, as a DMA
ring would overflow). Runs on MicroPython's unix port and on CPython.
"""
import math
import random
from array import array

from boards import common, front_end_errors
from boards.common import TRIAL_LIMIT_S, WATCHDOG_MS, mqtt_connector  # noqa: F401 - shared

NAME = "sim"
TEST_LED_IMP_PER_KWH = 1000  # the meter constant on the nameplate (metering.pulses)
HARDWARE_ID = "sim-v1"
# The host has the heap to verify in the running meter; main.build(install_at_boot=True)
# runs the boards' way (boot_install)
INSTALL_AT_BOOT = False
P1_PATH = "p1.out"  # the sim's P1 "UART" appends telegrams to this file
STORAGE_ROOT = "data"
FRONT_END = common.SHARED
# a firmware on trial confirms itself after this many windows (boards: a minute); short
# here so an update can be tried end to end on the virtual board in seconds
TRIAL_CONFIRM_WINDOWS = 5

_CYCLE = 1 << 32  # phase units per cycle
_PHASE_MASK = _CYCLE - 1
_FRAC = 20  # fractional bits of amplitudes and codes in fill()
_SIN_BITS = 20  # the table's scale: sin(x) * 2**20
_TABLE_BITS = 10
_NOISE_SHIFT = 24
_LCG_MASK = 0x7FFFFFFF
_SIN_TABLE = array("i", [int(math.sin(2 * math.pi * k / (1 << _TABLE_BITS)) * (1 << _SIN_BITS))
                         for k in range((1 << _TABLE_BITS) + 1)])


def _sin_fx(phase):
    """sin(2 pi phase / 2**32) * 2**20, by linear interpolation in _SIN_TABLE."""
    k = phase >> (32 - _TABLE_BITS)
    frac = phase & ((1 << (32 - _TABLE_BITS)) - 1)
    s0 = _SIN_TABLE[k]
    return s0 + (((_SIN_TABLE[k + 1] - s0) * frac) >> (32 - _TABLE_BITS))


DEFAULT_SCENARIO = {
    "mains_v": common.SHARED.mains_v_nominal,  # RMS of the fundamental
    "load_a": 5.0,  # RMS of the fundamental current
    "phase_deg": 30.0,  # current lags voltage (+ inductive, - capacitive, 180 export)
    "freq_hz": common.SHARED.mains_f_nominal_hz,
    "v_harmonics": (),  # ((order, fraction of fundamental, phase_deg), ...)
    "i_harmonics": (),
    "v_bias_code": common.SHARED.adc_mid_code,
    "i_bias_code": common.SHARED.adc_mid_code,
    "bias_drift_codes_per_s": 0.0,  # both channels drift together
    "noise_counts": 1.0,  # RMS, Gaussian-like
    "crosstalk": 0.0,  # fraction of the voltage-channel signal added to the current
    "ct_lead_deg": 0.0,  # front-end phase lead of the current channel
    "i_delay_us": common.SHARED.i_delay_us,
    "seed": 1,
    # a front-end as parts are (boards.front_end_errors; PROFILES has each chip's)
    "adc_inl_lsb": 0.0,  # peak of the ADC's S-shaped integral non-linearity
    "adc_wide_codes": (),  # ((code, extra width LSB), ...): DNL spikes
    "vref_error_pct": 0.0,  # the ADC reference above nominal
    "vref_tempco_ppm_per_k": 0.0,
    "temp_c": front_end_errors.REFERENCE_TEMP_C,
    "vref_supply_share": 0.0,  # 1: the reference is the supply rail
    "supply_pct": 0.0,  # the board's supply off nominal
    "ct_ratio_pct": (0.0, 0.0),  # CT ratio error c0 + c1 / sqrt(I / 1 A), percent
    "ct_phase_deg": (0.0, 0.0),  # CT phase lead c0 + c1 / sqrt(I / 1 A), degrees
}


class SimFrontEnd:
    """Synthesises ADC code pairs for a steady or changing load."""

    def __init__(self, rate_hz=common.SHARED.sample_pairs_per_s, calibration=None, **scenario):
        """calibration: the front-end design the codes follow (a board's
        common.calibration_for(board); the shared one if None)."""
        self.rate_hz = rate_hz
        self._design = calibration or common.shared_calibration()
        self.scenario = dict(DEFAULT_SCENARIO)
        self.set(**scenario)
        self.n = 0  # index of the next pair
        self._noise_state = (self.scenario["seed"] * 2654435761 + 1) & _LCG_MASK
        random.seed(self.scenario["seed"])  # code_at()'s noise

    def set(self, **changes):
        for name in changes:
            if name not in DEFAULT_SCENARIO:
                raise ValueError("unknown scenario setting: " + name)
        self.scenario.update(changes)
        s = self.scenario
        cal = self._design
        gain = front_end_errors.reference_gain(s)
        ct_ratio, ct_lead = front_end_errors.ct_error(s, s["load_a"])
        self._v_counts_peak = gain * s["mains_v"] * math.sqrt(2) / cal["v_per_count"]
        self._i_counts_peak = gain * ct_ratio * s["load_a"] * math.sqrt(2) / cal["a_per_count"]
        self._ct_lead_deg = s["ct_lead_deg"] + ct_lead
        if "adc_inl_lsb" in changes or "adc_wide_codes" in changes or not hasattr(self, "_adc_error"):
            self._adc_error = front_end_errors.transfer_table(s, common.SHARED.adc_bits, _FRAC)
        self._noise_scale = s["noise_counts"] * math.sqrt(3.0)  # sum of 4 uniforms: var 1/3
        self._set_fixed_point()

    def _set_fixed_point(self):
        """fill()'s integer form of the scenario: phases in 1/2**32 of a cycle, amplitudes
        and codes in 1/2**_FRAC counts. Integer arithmetic allocates nothing per sample on
        MicroPython (every float result is a heap object on the unix port), so the sim
        board's acquisition is as quiet on the heap as a real driver."""
        s = self.scenario
        one = 1 << _FRAC
        self._step = int(s["freq_hz"] / self.rate_hz * _CYCLE + 0.5)
        i_turn = s["freq_hz"] * s["i_delay_us"] * 1e-6 + (self._ct_lead_deg - s["phase_deg"]) / 360.0
        self._i_offset = int(i_turn * _CYCLE) & _PHASE_MASK
        self._v_amp = int(self._v_counts_peak * one + 0.5)
        self._i_amp = int(self._i_counts_peak * one + 0.5)
        self._v_harm = [(h, int(f * self._v_counts_peak * one + 0.5), int(ph / 360.0 * _CYCLE))
                        for h, f, ph in s["v_harmonics"]]
        self._i_harm = [(h, int(f * self._i_counts_peak * one + 0.5), int(ph / 360.0 * _CYCLE))
                        for h, f, ph in s["i_harmonics"]]
        self._xt_amp = int(s["crosstalk"] * self._v_counts_peak * one + 0.5)
        self._d_shift = int(s["freq_hz"] * s["i_delay_us"] * 1e-6 * _CYCLE) & _PHASE_MASK
        self._v_bias = int(s["v_bias_code"] * one + one // 2)  # + 1/2: rounding to a code
        self._i_bias = int(s["i_bias_code"] * one + one // 2)
        self._drift = int(s["bias_drift_codes_per_s"] / self.rate_hz * one)
        # four uniforms of 31 bits sum to 2**33 at most: centred and scaled to counts
        self._noise_mult = int(self._noise_scale * one / (1 << 31) * (1 << _NOISE_SHIFT) + 0.5)

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
        """Write `pairs` interleaved (v, i) codes into buf, continuing the waveform.

        Integer synthesis (see _set_fixed_point): sine by a 1024-entry table with linear
        interpolation (error below 5e-6 of full scale), noise from a 31-bit LCG."""
        sin_at = _sin_fx
        step = self._step
        i_offset = self._i_offset
        v_amp, i_amp, xt_amp = self._v_amp, self._i_amp, self._xt_amp
        v_harm, i_harm = self._v_harm, self._i_harm
        d_shift = self._d_shift
        v_bias, i_bias, drift = self._v_bias, self._i_bias, self._drift
        noise_mult = self._noise_mult
        adc_error = self._adc_error
        error_at = front_end_errors.error_at
        top = (1 << common.SHARED.adc_bits) - 1
        x = self._noise_state
        n = self.n
        for k in range(pairs):
            m = n + k
            pv = (m * step) & _PHASE_MASK
            pi = (pv + i_offset) & _PHASE_MASK
            v = v_amp * sin_at(pv)
            for h, amp, ph in v_harm:
                v += amp * sin_at((h * pv + ph) & _PHASE_MASK)
            i = i_amp * sin_at(pi)
            for h, amp, ph in i_harm:
                i += amp * sin_at((h * pi + ph) & _PHASE_MASK)
            if xt_amp:
                i += xt_amp * sin_at((pv + d_shift) & _PHASE_MASK)
            bias = drift * m
            v_noise = i_noise = -(1 << 32)  # each: four centred uniforms, v's drawn first
            for j in range(8):
                x = (x * 1103515245 + 12345) & _LCG_MASK
                if j < 4:
                    v_noise += x
                else:
                    i_noise += x
            vc = (v_bias + bias + (v >> _SIN_BITS)
                  + (v_noise * noise_mult >> _NOISE_SHIFT))
            ic = (i_bias + bias + (i >> _SIN_BITS)
                  + (i_noise * noise_mult >> _NOISE_SHIFT))
            if adc_error is not None:  # the ADC's transfer error where it converts
                vc += error_at(adc_error, vc, _FRAC, top)
                ic += error_at(adc_error, ic, _FRAC, top)
            vc >>= _FRAC
            ic >>= _FRAC
            buf[2 * k] = 0 if vc < 0 else (top if vc > top else vc)
            buf[2 * k + 1] = 0 if ic < 0 else (top if ic > top else ic)
        self._noise_state = x
        self.n += pairs

    def code_at(self, t_s, current):
        """One channel's code at time t_s, sampled when the caller says (a port rig whose
        ADC is read by the firmware at wall-clock instants)."""
        s = self.scenario
        a0 = a = 2 * math.pi * s["freq_hz"] * t_s
        if current:
            a = a0 + math.radians(self._ct_lead_deg - s["phase_deg"])
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
        x += bias + s["bias_drift_codes_per_s"] * t_s + noise + 0.5
        top = (1 << common.SHARED.adc_bits) - 1
        if self._adc_error is not None:
            fx = int(x * (1 << _FRAC))
            x += front_end_errors.error_at(self._adc_error, fx, _FRAC, top) / (1 << _FRAC)
        code = int(x)
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


class SimHardware(common.Hardware):
    """common.Hardware on the simulated front-end, which stays reachable (front_end) for
    the tests and the shell. The test LED records its pulses; no reset (the technician or
    the virtual board restarts the unix port); no watchdog (the port rigs model the
    boards' own)."""

    def __init__(self, scenario=None, paced=True, storage_root=STORAGE_ROOT, p1_path=P1_PATH):
        clock = common.SystemClock()
        self.front_end = SimFrontEnd(**(scenario or {}))
        super().__init__(SimADC(self.front_end, clock if paced else None), SimUART(p1_path),
                         clock, storage_root, SimLED(self.front_end), "sim-0001")


class SimLED:
    """The test LED of the sim: value() as machine.Pin has it; each pulse's start is kept
    in mains time (the front-end's sample count: what a bench's photo head would time),
    the newest KEPT of them."""

    KEPT = 64

    def __init__(self, front_end):
        self._front_end = front_end
        self._value = 0
        self.pulses = 0
        self.instants_s = []

    def value(self, v=None):
        if v is None:
            return self._value
        v = 1 if v else 0
        if v and not self._value:
            self.pulses += 1
            self.instants_s.append(self._front_end.n / self._front_end.rate_hz)
            if len(self.instants_s) > self.KEPT:
                self.instants_s.pop(0)
        self._value = v


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
