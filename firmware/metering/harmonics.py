"""Total harmonic distortion of voltage and current, harmonics 2 to 15, once per window.

One whole mains cycle when asked (the meter asks every THD_INTERVAL_S): the sampler
copies the cycle that ends (or, if the block does not hold it, the one that starts) at
the crossing that closes the next window from the ADC block still in its buffer, and the
meter computes THD outside the metering path (meter.power_quality_tick, from the App's
once-a-second tick): nothing is copied or computed per sample or per window. Each harmonic is
one correlation with a cosine and a sine table (a DFT bin, not an FFT): 15 orders x 2
channels x one cycle of integer multiply-adds, with tables scaled to 2**10 so every sum
stays a small int on a 32-bit board (80 pairs x 2560 counts x 1024 < 2**28).

The cycle is the nominal number of pairs (80 at 4000 pairs/s and 50 Hz), so at 49.9 Hz
the fundamental sits 0.2 % off its bin; the leakage into the harmonics is far below the
1 % that THD figures are read to. THD is sqrt(sum of harmonic powers 2..15) over the
fundamental, as EN 50160 (up to the 40th there; 15 here) and IEC 61000-4-7 define it.
A current below THD_MIN_COUNTS of fundamental has no THD worth showing (None).
"""
from array import array
from math import cos, pi, sin, sqrt

from compat import const

MAX_ORDER = const(15)
THD_INTERVAL_S = const(10)  # a cycle analysed every 10 s (IEC 61000-4-30 aggregates 10 s)
_SCALE = const(1024)
THD_MIN_COUNTS = 20.0  # fundamental amplitude (counts) below which THD is not shown


class Harmonics:
    def __init__(self, cycle_pairs):
        self.n = cycle_pairs
        self._cos = array("h", [int(round(_SCALE * cos(2 * pi * k / cycle_pairs)))
                                for k in range(cycle_pairs)])
        self._sin = array("h", [int(round(_SCALE * sin(2 * pi * k / cycle_pairs)))
                                for k in range(cycle_pairs)])

    def thd(self, buf, first, channel, mid):
        """THD (a fraction) of channel 0 (voltage) or 1 (current) over the cycle starting
        at pair `first` of buf, centred on `mid`; None if its fundamental is too small."""
        n = self.n
        cos_t = self._cos
        sin_t = self._sin
        base = 2 * first + channel
        fundamental = 0.0
        harmonics = 0.0
        for order in range(1, MAX_ORDER + 1):
            re = 0
            im = 0
            phase = 0
            for k in range(n):
                x = buf[base + 2 * k] - mid
                re += x * cos_t[phase]
                im += x * sin_t[phase]
                phase += order
                if phase >= n:
                    phase -= n
            power = float(re) * re + float(im) * im
            if order == 1:
                fundamental = power
            else:
                harmonics += power
        # amplitude of the fundamental in counts: 2 |X1| / (n * scale)
        if sqrt(fundamental) * 2 / (n * _SCALE) < THD_MIN_COUNTS:
            return None
        return sqrt(harmonics / fundamental)


AGGREGATE_S = const(600)  # EN 50160 judges THD over 10-minute values (IEC 61000-4-30)
THD_V_LIMIT = 0.08  # EN 50160: the voltage's THD (to the 40th) stays within 8 %


class TenMinuteTHD:
    """10-minute THD values aligned to the clock (:00, :10, ...), each the RMS of the
    values taken in it (IEC 61000-4-30 aggregates in the square). `last` is the newest
    finished block as (end s, THD V, THD I or None), and `over_limit` the newest block
    whose voltage THD passed THD_V_LIMIT, until take_over_limit() hands it on."""

    def __init__(self):
        self._block = None
        self._v_sq = self._i_sq = 0.0
        self._v_n = self._i_n = 0
        self.last = None
        self.over_limit = None

    def add(self, now, thd_v, thd_i):
        block = now // AGGREGATE_S
        if block != self._block:
            if self._block is not None and self._v_n:
                end_s = (self._block + 1) * AGGREGATE_S
                v = sqrt(self._v_sq / self._v_n)
                i = sqrt(self._i_sq / self._i_n) if self._i_n else None
                self.last = (end_s, v, i)
                if v > THD_V_LIMIT:
                    self.over_limit = self.last
            self._block = block
            self._v_sq = self._i_sq = 0.0
            self._v_n = self._i_n = 0
        if thd_v is not None:
            self._v_sq += thd_v * thd_v
            self._v_n += 1
        if thd_i is not None:
            self._i_sq += thd_i * thd_i
            self._i_n += 1

    def take_over_limit(self):
        block, self.over_limit = self.over_limit, None
        return block
