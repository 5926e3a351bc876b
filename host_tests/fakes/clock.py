"""A clock the tests drive: same methods as boards.common.SystemClock, time set by hand."""


class FakeClock:
    def __init__(self, utc_s=1795449600, ticks_ms=0, trusted=True):
        self.utc_s = utc_s
        self.trusted = trusted  # False: a board's clock not set since boot
        self._ticks = ticks_ms
        self.sleeps_ms = 0

    def time(self):
        return self.utc_s

    def ticks_ms(self):
        return self._ticks & 0x3FFFFFFF

    def ticks_diff(self, end, start):
        return ((end - start + 0x20000000) & 0x3FFFFFFF) - 0x20000000

    def sleep_ms(self, ms):
        self.advance_ms(ms)
        self.sleeps_ms += ms

    def advance_ms(self, ms):
        self._ticks += ms

    def adjust(self, delta_s):
        """A clock correction (the meter's RTC set from authenticated time)."""
        self.utc_s += delta_s

    def advance_s(self, seconds):
        self.utc_s += seconds
        self._ticks += 1000 * seconds


class ClockedADC:
    """Wraps an unpaced ADC so every pair read moves the clock on by `speedup` pair periods
    (tests make quarter-hours pass in a few windows)."""

    def __init__(self, adc, clock, speedup=1):
        self._adc = adc
        self._clock = clock
        self.rate_hz = adc.rate_hz
        self.block_pairs = adc.block_pairs
        self._speedup = speedup
        self._pairs = 0

    @property
    def lost_pairs(self):
        return self._adc.lost_pairs

    def readinto(self, buf):
        self._adc.readinto(buf)
        before = self._pairs * self._speedup // self.rate_hz
        self._pairs += len(buf) // 2
        after = self._pairs * self._speedup // self.rate_hz
        if after != before:
            self._clock.advance_s(after - before)
