"""Windows from a metering IC: the second front-end behind the Sampler's seam.

A metering IC (ATM90E32, ADE7953) samples and multiplies on its own silicon and keeps
its own energy accumulators; the board hands in its driver (boards/atm90e32.py) as the
meter's `adc`, marked by `measures_windows`. This turns the driver's readings into the
same WindowResult the Sampler makes, so the same registers, P1, quarter-hour log and
uplink follow, and the same calibration record applies (on the host, not in the chip's
gain registers: one record, one procedure, for either front-end):

- voltage: chip volts x v_per_count x v_gain; current: chip amps x a_per_count x i_gain x
  the multi-point curve's gain at that current;
- phase: P and Q (and the chip's active and reactive energies) turned by phase_deg plus
  the curve's phase, the same rotation window.analyse applies;
- energy: the chip's own accumulation (read-to-clear registers, so nothing between two
  reads is lost), corrected by the same gains and rotation, registered as measured
  millijoules; the window's mean P is for display.

The driver's read(): (phases, freq_hz, energy) with phases [(vrms, irms, p_w, q_var)]
per phase and energy [(active J, reactive J)] per phase since its last read (net:
forward minus reverse). Phases are summed as a Dutch meter does: one net energy over all
phases. Voltage events are judged per window on phase L1's RMS (the chip averages; no
per-cycle judgement through this front-end), THD is not measured (None).
"""
from math import cos, pi, sin

from metering.window import WindowResult

MS_PER_S = 1000
STEP_MS = 50  # poll() returns at least this often: the test LED's tick, the supply check
# the chip's 16-bit energy registers wrap after about 80 s at Imax (818 counts/s): a
# reading after a longer gap in good reads may have lost whole wraps, so the gap counts
# as lost time (coverage, STATUS_ESTIMATED) rather than as measured
WRAP_SAFE_MS = 60000
# L1 reads refused in a row (150 ms) before the supply is taken as going: a chip losing
# its supply answers garbage before it stops, and the save must come within the hold-up
BLIND_READS = 3
BLIND_SAVE_SPACING_MS = 60000  # at most one save a minute on refused reads alone


class ICWindows:
    """What Meter uses of a Sampler, over a metering IC: poll, windows, blocks, rate_hz,
    kernel_name, coverage(), lost_pairs(), set_calibration, set_voltage_limits,
    want_cycle, cycle_taken. Its "pairs" are milliseconds (rate_hz 1000)."""

    rate_hz = MS_PER_S
    kernel_name = "ic"
    cycle_taken = None  # no waveform to analyse: THD is not measured through an IC

    def __init__(self, chip, cal, on_window, clock, window_ms=1000, on_no_voltage=None,
                 interruption_v=115.0):
        """on_no_voltage(): called as soon as L1 reads below interruption_v (checked every
        STEP_MS with one register read), the supply going: the meter saves while the
        hold-up capacitor lasts, not when the window closes up to a second later. Below
        interruption_v a window is an interruption, never a sag."""
        self._chip = chip
        self.cal = cal
        self._on_window = on_window
        self._clock = clock
        self._window_ms = window_ms
        self._on_no_voltage = on_no_voltage
        self._interruption_v = interruption_v
        self.windows = 0
        self.blocks = 0
        self.read_errors = 0  # readings the driver refused (failed check): time kept
        self.blind_checks = 0  # supply checks given up after BLIND_READS refused reads
        self._blind = 0  # L1 reads refused in a row
        # ms of polling since refused reads alone last called on_no_voltage (None: never,
        # or longer ago than the spacing): counted from the steps, so no ticks wrap
        self._since_blind_save_ms = None
        self.lost_ms = 0  # gaps in good reads long enough for the registers to wrap
        self._total_ms = 0
        self._started = False
        self._last_ms = 0
        self._window_start_ms = 0
        self._sag = self._swell = None  # thresholds in V, set_voltage_limits
        self._hysteresis = 0.0
        self._events = [None, None, None]  # per phase: [kind, ms, extreme V] while one lasts

    # --- what the Meter calls ---
    def set_calibration(self, cal):
        self.cal = cal

    def set_voltage_limits(self, sag_v, swell_v, hysteresis_v, min_cycles=1):
        self._sag, self._swell, self._hysteresis = sag_v, swell_v, hysteresis_v

    def want_cycle(self, _buf):
        pass

    def coverage(self):
        """1.0 while the chip is read often enough that its registers cannot wrap (it
        samples continuously and keeps what lies between reads)."""
        total = self._total_ms
        return 1.0 if total <= 0 else max(0.0, 1.0 - self.lost_ms / total)

    def lost_pairs(self):
        return self.lost_ms

    def health(self):
        """For status: reads refused, transfers repaired, chip resets, time lost, supply
        checks given up on refused reads."""
        return {"chip": type(self._chip).__name__, "read_errors": self.read_errors,
                "glitches": getattr(self._chip, "glitches", 0),
                "chip_resets": getattr(self._chip, "resets_seen", 0), "lost_ms": self.lost_ms,
                "blind_supply_checks": self.blind_checks}

    def poll(self):
        """Wait up to STEP_MS and check the supply; when a window is due, read the chip
        and close it. Returns the milliseconds of mains time this call covered."""
        clock = self._clock
        if not self._started:
            try:
                self._chip.read()  # clears what the chip accumulated before the meter ran
            except ValueError:
                self.read_errors += 1
                clock.sleep_ms(STEP_MS)
                return 0
            self._started = True
            self._last_ms = self._window_start_ms = clock.ticks_ms()
        due = clock.ticks_diff(clock.ticks_ms(), self._window_start_ms)
        if due < self._window_ms:
            clock.sleep_ms(min(STEP_MS, self._window_ms - due))
        now = clock.ticks_ms()
        step = clock.ticks_diff(now, self._last_ms)
        self._last_ms = now
        self._total_ms += step
        self.blocks += 1
        if self._since_blind_save_ms is not None:
            self._since_blind_save_ms += step
            if self._since_blind_save_ms >= BLIND_SAVE_SPACING_MS:
                self._since_blind_save_ms = None
        self._check_supply()
        elapsed = clock.ticks_diff(now, self._window_start_ms)
        if elapsed >= self._window_ms:
            try:
                reading = self._chip.read()
            except ValueError:  # a read the driver's check refused: the next one gets it
                self.read_errors += 1
                clock.sleep_ms(STEP_MS)  # a dead chip must not spin the metering loop
                return step
            self._window_start_ms = now
            self.windows += 1
            result = self._result(reading, elapsed)
            if elapsed > WRAP_SAFE_MS:
                # the chip's counts may have wrapped: estimated at the window's power, as
                # the ADC path estimates pairs it lost, and the time counted as lost
                self.lost_ms += elapsed
                result.n_pairs, result.lost_pairs = 0, elapsed
                e = result.p_w * elapsed
                result.energy_mj = int(e + (0.5 if e >= 0 else -0.5))
            self._on_window(result)
        return step

    def _check_supply(self):
        if self._on_no_voltage is None:
            return
        try:
            v = self._chip.voltage_l1() * self.cal.v_per_count * self.cal.v_gain
        except ValueError:
            self._blind += 1
            if self._blind == BLIND_READS:
                # blind: take the supply as going (saving costs a write; missing a cut
                # loses what the retained words cannot keep), but not every minute
                self.blind_checks += 1
                if self._since_blind_save_ms is None:
                    self._since_blind_save_ms = 0
                    self._on_no_voltage()
            return
        self._blind = 0
        if v < self._interruption_v:
            self._on_no_voltage()

    # --- one window ---
    def _result(self, reading, elapsed_ms):
        phases, freq_hz, energy = reading
        cal = self.cal
        v_scale = cal.v_per_count * cal.v_gain
        i_base = cal.a_per_count * cal.i_gain
        curve = cal.curve
        measured = []
        p_total = q_total = s_total = 0.0
        e_total = 0.0
        for k in range(len(phases)):
            vrms, irms, p, q = phases[k]
            i_scale = i_base
            delta = cal.phase_deg
            if curve is not None:
                gain, extra = curve.at(irms * i_base)
                i_scale *= gain
                delta += extra
            d = delta * pi / 180
            c, s = cos(d), sin(d)
            scale = v_scale * i_scale
            v, i = vrms * v_scale, irms * i_scale
            p_c = (p * c - q * s) * scale
            q_c = (q * c + p * s) * scale
            e_p, e_q = energy[k]
            e_total += (e_p * c - e_q * s) * scale
            measured.append((v, i, p_c, q_c))
            p_total += p_c
            q_total += q_c
            s_total += v * i
        v1, i1 = measured[0][0], measured[0][1]
        result = WindowResult(elapsed_ms, MS_PER_S, v1, i1, p_total, q_total, freq_hz,
                              True, 0, 0)
        result.s_va = s_total
        result.pf = p_total / s_total if s_total > 0 else 1.0
        result.phases = measured
        result.energy_mj = int(e_total * 1000 + (0.5 if e_total >= 0 else -0.5))
        if self._sag is not None:
            result.phase_sags = [0] * len(measured)
            result.phase_swells = [0] * len(measured)
            for k in range(len(measured)):
                self._judge_voltage(result, k, measured[k][0], elapsed_ms)
            result.sags, result.swells = result.phase_sags[0], result.phase_swells[0]
        return result

    def _judge_voltage(self, result, k, v, elapsed_ms):
        """Sags and swells of phase k from the window's RMS, with the same hysteresis;
        L1's ended events go to the voltage log (result.voltage_event). Below the
        interruption voltage the supply is gone: no sag, and one under way ends."""
        event = self._events[k]
        if v < self._interruption_v:
            if event is not None and k == 0:
                result.voltage_event = (event[0], event[1], event[2])
            self._events[k] = None
            return
        if event is None:
            if v < self._sag:
                self._events[k] = ["sag", elapsed_ms, v]
                result.phase_sags[k] = 1
            elif v > self._swell:
                self._events[k] = ["swell", elapsed_ms, v]
                result.phase_swells[k] = 1
            return
        if event[0] == "sag":
            ended = v >= self._sag + self._hysteresis
        else:
            ended = v <= self._swell - self._hysteresis
        if ended:  # its duration: the windows it lasted, to a window's resolution
            if k == 0:
                result.voltage_event = (event[0], event[1], event[2])
            self._events[k] = None
            return
        event[1] += elapsed_ms
        event[2] = min(event[2], v) if event[0] == "sag" else max(event[2], v)
