"""The metrological test output: an LED that blinks once per fixed quantum of active energy.

Test benches (IEC 62053-21, EN 50470-3: accuracy, starting current, no-load creep) read
nothing else. The pulses come from the registers' own integration: the meter hands in
each window's registered energy as the integer millijoules Registers.add took, so
emitted x energy per pulse + pending x energy per pulse + the remainder equals the energy
registered since boot, exactly, always. Import and export both count (the LED shows
|P|, as a single active-energy LED does); below the starting power the registers take
nothing, so neither does the LED (no creep).

Timing: a window's energy is known when it closes, so its pulses are shown during the
next window, each one window after the instant its quantum was reached (the window's
energy grew at its measured power: the instants inside it follow by proportion). The
spacing is therefore the true one and the latency a constant one window. The LED is
switched once per ADC block, so each instant is late by less than one block (32 ms on
the RP2040, 64 ms on the ESP32) and stays on for one block; a bench timing N pulses
sees at most one block of error over the whole span. At most one pulse per two blocks:
7.8 pulses/s (ESP32) is 28 kW at 1000 imp/kWh, above Imax; faster pulses queue and
none is lost.
"""
from compat import const

MJ_PER_KWH = const(3600000000)


class PulseError(ValueError):
    pass


class PulseOutput:
    """Drives led (value(0|1)) from registered energy; ticked once per ADC block."""

    def __init__(self, led, imp_per_kwh):
        if isinstance(imp_per_kwh, bool) or not isinstance(imp_per_kwh, int) \
                or imp_per_kwh <= 0 or MJ_PER_KWH % imp_per_kwh:
            # a whole number of millijoules per pulse: no rounding between LED and register
            raise PulseError("imp/kWh must divide 3,600,000,000 (e.g. 1000, 10000): %r"
                             % (imp_per_kwh,))
        self.led = led
        self.imp_per_kwh = imp_per_kwh
        self.mj_per_pulse = MJ_PER_KWH // imp_per_kwh
        self.emitted = 0  # pulses shown since boot
        self.remainder_mj = 0  # registered energy short of one more pulse
        self._ready = 0  # pulses whose instant has come, not yet shown
        self._scheduled = 0  # pulses of the last window whose instant is still ahead
        self._next_at = 0.0  # pairs into the current window when the next one is due
        self._step = 0.0  # pairs between them
        self._elapsed = 0  # pairs since the last window closed
        self._on = False
        led.value(0)

    def pending(self):
        """Pulses earned and not yet shown."""
        return self._ready + self._scheduled

    def add(self, mj, window_pairs):
        """One window's registered energy (mJ, from Registers.add) over its window_pairs
        of mains time (sampled and lost pairs)."""
        self._ready += self._scheduled  # a longer window than this one left some: show them
        self._scheduled = 0
        self._elapsed = 0
        if mj <= 0:
            return
        q = self.mj_per_pulse
        before = self.remainder_mj
        due = (before + mj) // q
        self.remainder_mj = before + mj - due * q
        if due:
            # quantum k (1..due) was reached (k q - before) / mj of the way into the window
            self._step = q * window_pairs / mj
            self._next_at = (q - before) * window_pairs / mj
            self._scheduled = due

    def tick(self, pairs):
        """Called after each ADC block, `pairs` of mains time later (lost pairs included)."""
        self._elapsed += pairs
        while self._scheduled and self._next_at <= self._elapsed:
            self._scheduled -= 1
            self._ready += 1
            self._next_at += self._step
        if self._on:
            self.led.value(0)  # one block on, at least one block off
            self._on = False
        elif self._ready:
            self.led.value(1)
            self._on = True
            self._ready -= 1
            self.emitted += 1

    def status(self):
        return {"imp_per_kwh": self.imp_per_kwh, "emitted": self.emitted,
                "pending": self.pending()}
