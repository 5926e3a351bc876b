"""Continuous acquisition: ADC blocks -> kernel sums -> whole-cycle windows.

The ADC pair object is handed in by the board: readinto(buf) fills the buffer with
interleaved voltage/current codes at the board's paced rate; rate_hz; block_pairs (the
block the driver delivers, so the sampler's buffer matches it by construction);
lost_pairs (paced pairs never delivered); optionally i_delay_us (the driver's own
voltage-to-current skew, used instead of the calibration record's).
Buffers are allocated once here; per sample there is no allocation.
"""
from array import array

from math import sqrt

from metering import kernel
from metering import voltage_quality as vq
from metering.kernel import ST_CROSS_N, ST_STOPPED, ST_WN  # poll's per-block reads, as globals
from metering.window import WindowSums, analyse

from compat import const


_HYSTERESIS_COUNTS = const(8)  # a rising crossing needs the voltage below -8 counts first
# |code - mid| <= 2048 + 512, so 256 pairs of squares stay below 2^31 (1.68e9)
_MID_RANGE = const(512)
_SMALL_INT_MASK = const(0x3FFFFFFF)  # a per-block count stays a small int on the boards
_NEVER_SWELL = const(0x3FFFFFFF)  # a mean square no 12-bit ADC reaches
_CYCLE_PAIRS_MAX = const(327)


class Sampler:
    """Feeds every pair into exactly one window; calls on_window(result) per window."""

    def __init__(self, adc, cal, on_window, window_s=1.0, use_viper=True, on_no_crossing=None):
        """on_no_crossing(): called after a block in which the voltage never crossed
        zero (a block is 1.6 mains cycles or more: the supply is gone), at once, not
        when the window closes up to two seconds later. The step to zero itself can look
        like a crossing, so it comes one or two blocks after the supply went."""
        block_pairs = adc.block_pairs
        if not 16 <= block_pairs <= kernel.MAX_BLOCK_PAIRS:
            raise ValueError("block_pairs must be 16..%d" % kernel.MAX_BLOCK_PAIRS)
        self._adc = adc
        self.cal = cal
        self._on_window = on_window
        self._on_no_crossing = on_no_crossing
        self.rate_hz = adc.rate_hz
        # a driver that knows its skew (measured, or fixed by its conversion schedule)
        # overrides the calibration record's value
        self.i_delay_us = getattr(adc, "i_delay_us", None)
        self._buf = array("H", bytes(4 * block_pairs))
        self._acc = array("i", bytes(4 * kernel.ACC_LEN))
        kernel.clear(self._acc)  # the window's sums: carried by the kernel, read at close
        self._st = array("i", bytes(4 * kernel.ST_LEN))
        fast = kernel.VIPER_ACCUMULATE
        self._accumulate = fast if (use_viper and fast) else kernel.accumulate
        self.kernel_name = "viper" if self._accumulate is fast else "python"
        self._sums = WindowSums()
        target = int(self.rate_hz * window_s)
        # close at the first rising crossing once the window is within half a cycle of
        # its target length; without crossings (no voltage) close at twice the target
        self._close_from = target - int(self.rate_hz / (2 * cal.f_nominal_hz))
        self._max_pairs = 2 * target
        self._start_crossing = None  # raw codes around the crossing that opened the window
        self.pairs_processed = 0  # counted per window: past 2**30 (74 h) a big int on a board
        self.blocks = 0  # per block, wrapping below 2**30: the progress the watchdog sees
        self.windows = 0
        self._lost_at_open = adc.lost_pairs  # loss before this window is not its own
        self._max_gap = 0  # the longest single gap (pairs) inside the open window
        # a gap shorter than half a cycle cannot hide a zero crossing: the window still
        # spans whole cycles and its frequency holds once the gaps are counted as time
        self._gap_limit = int(self.rate_hz / (2 * cal.f_nominal_hz))
        self._freq_hz = 0.0  # the last frequency measured on a window with no long gap
        st = self._st
        st[kernel.ST_V_MID] = cal.v_offset
        st[kernel.ST_I_MID] = cal.i_offset
        st[kernel.ST_PREV_I] = cal.i_offset
        st[kernel.ST_PREV_V] = cal.v_offset
        st[kernel.ST_HYST] = _HYSTERESIS_COUNTS
        st[kernel.ST_STOP_FROM] = 0  # first window: synchronise on the first crossing
        # a mains cycle is judged whole: one over 1.5 nominal cycles is none (no supply),
        # and the part cycle before the first crossing is not judged either
        # (at most 327 pairs, so a cycle's squares fit 31 bits: 327 x 2560^2 < 2^31; a
        # capture replayed at over 10.9 kHz has no cycle judged)
        cyc_max = min(int(1.5 * self.rate_hz / cal.f_nominal_hz), _CYCLE_PAIRS_MAX)
        st[vq.ST_CYC_MAX] = cyc_max
        st[vq.ST_CYC_N] = st[vq.ST_ARM_N] = cyc_max + 1
        st[vq.ST_SWELL_IN] = st[vq.ST_SWELL_OUT] = _NEVER_SWELL  # until set_voltage_limits
        self._limits = None
        self._cycle_wanted = False  # want_cycle(): a whole cycle for the harmonics
        self._cycle = None
        self.cycle_taken = None

    def want_cycle(self, cycle):
        """Copy one whole mains cycle into `cycle` (an array("H") of 2n codes, n its
        pairs) at the next window-closing crossing whose block holds one; cycle_taken
        then says with which centre codes (v_mid, i_mid). Per window only when asked."""
        self._cycle = cycle
        self._cycle_wanted = True
        self.cycle_taken = None

    def _take_cycle(self, crossing, end):
        cycle = self._cycle
        n = len(cycle) // 2
        first = crossing - n if crossing >= n else (crossing if crossing + n <= end else -1)
        if first < 0:
            return  # this block holds neither neighbour: the next window's may
        memoryview(cycle)[:] = memoryview(self._buf)[2 * first:2 * (first + n)]
        self._cycle_wanted = False
        self.cycle_taken = (self._st[kernel.ST_V_MID], self._st[kernel.ST_I_MID])

    def set_voltage_limits(self, sag_v, swell_v, hysteresis_v, min_cycles):
        """Sags below sag_v and swells above swell_v, each over once the voltage is back
        past the limit by hysteresis_v, counted once they last min_cycles whole cycles
        (metering.voltage_quality). Held as mean squares in ADC counts: set again when
        the calibration changes."""
        self._limits = (sag_v, swell_v, hysteresis_v, min_cycles)
        st = self._st
        st[vq.ST_SAG_IN] = self._mean_square(sag_v)
        st[vq.ST_SAG_OUT] = self._mean_square(sag_v + hysteresis_v)
        st[vq.ST_SWELL_IN] = self._mean_square(swell_v)
        st[vq.ST_SWELL_OUT] = self._mean_square(swell_v - hysteresis_v)
        st[vq.ST_PQ_MIN] = 2 * max(1, min_cycles)  # judged every half cycle

    def _mean_square(self, volts):
        """A cycle's mean squared centred code at an RMS of `volts` (noise adds its
        variance, as in window.analyse)."""
        cal = self.cal
        counts = volts / (cal.v_per_count * cal.v_gain)
        noise = cal.v_noise_counts
        return min(int(counts * counts + noise * noise + 0.5), _NEVER_SWELL)

    def _volts(self, mean_square):
        cal = self.cal
        noise = cal.v_noise_counts
        ms = mean_square - noise * noise
        return sqrt(ms) * cal.v_per_count * cal.v_gain if ms > 0 else 0.0

    def set_calibration(self, cal):
        self.cal = cal
        if self._limits is not None:
            self.set_voltage_limits(*self._limits)

    def lost_pairs(self):
        """Paced pairs the driver never delivered; registered as estimated energy."""
        return self._adc.lost_pairs

    def coverage(self):
        """Share of the ADC's paced pairs that reached a window (1.0 = no gaps)."""
        lost = self._adc.lost_pairs
        total = self.pairs_processed + lost
        return self.pairs_processed / total if total else 1.0

    def poll(self):
        """Acquire one block (blocks at the paced rate) and process it; returns the pairs
        of mains time it covered (the block and any pairs the driver lost before it)."""
        buf = self._buf
        adc = self._adc
        lost_before = adc.lost_pairs
        adc.readinto(buf)
        gap = adc.lost_pairs - lost_before
        if gap > self._max_gap:
            self._max_gap = gap
        end = len(buf) // 2  # the buffer's own length: the kernel reads no further
        start = 0
        st = self._st
        accumulate = self._accumulate
        acc = self._acc
        crossings = -st[ST_CROSS_N]  # the block's own: a close zeroes the count
        while start < end:
            start = accumulate(buf, start, end, acc, st)
            if st[ST_STOPPED]:
                crossings += st[ST_CROSS_N]
                if self._cycle_wanted:
                    self._take_cycle(start, end)
                self._close(True)
            elif st[ST_WN] >= self._max_pairs:
                crossings += st[ST_CROSS_N]
                self._close(False)
        self.blocks = (self.blocks + 1) & _SMALL_INT_MASK
        if crossings + st[ST_CROSS_N] == 0:
            if end >= 3 * self._gap_limit:
                # 1.5 cycles and no crossing: the supply went, and crossings counted over
                # a span with an interruption in it are no frequency (held, as for a gap)
                self._max_gap = self._gap_limit
            if self._on_no_crossing is not None:
                self._on_no_crossing()
        return end + gap

    def _close(self, at_crossing):
        st = self._st
        sums = self._sums
        sums.load(self._acc)
        n = sums.n
        if n == 0:
            return
        self.pairs_processed += n
        v_mid = st[kernel.ST_V_MID]
        i_mid = st[kernel.ST_I_MID]
        lost_now = self._adc.lost_pairs
        lost = lost_now - self._lost_at_open  # pairs of this window's span never delivered
        self._lost_at_open = lost_now
        short_gaps = self._max_gap < self._gap_limit
        self._max_gap = 0
        freq_hz = 0.0
        end_crossing = None
        if at_crossing:
            end_crossing = (st[kernel.ST_CROSS_PREV] + v_mid, st[kernel.ST_CROSS_CUR] + v_mid)
            if self._start_crossing is not None:
                if short_gaps:
                    # both crossing times against this window's own mean level, so a bias
                    # step between windows does not shift one end only; lost pairs are time
                    mean = v_mid + sums.sv / n
                    span = (n + lost + _fraction(end_crossing, mean)
                            - _fraction(self._start_crossing, mean))
                    freq_hz = self._freq_hz = st[kernel.ST_CROSS_N] * self.rate_hz / span
                else:
                    # a gap of half a cycle or more may hide crossings: hold the last value
                    freq_hz = self._freq_hz
        # whole cycles, crossing to crossing, no long gap: the basis for bias tracking
        # and for calibration
        whole = at_crossing and self._start_crossing is not None and short_gaps
        i_last = st[kernel.ST_PREV_I] - i_mid
        result = analyse(sums, i_last, v_mid, i_mid, self.cal, self.rate_hz, freq_hz, whole,
                         lost, self.i_delay_us)
        # the window's voltage events (metering.voltage_quality), read once per window
        result.sags = st[vq.ST_SAG_STARTS]
        result.swells = st[vq.ST_SWELL_STARTS]
        result.voltage_event = None
        halves = st[vq.ST_END_CYCLES]
        if halves:
            # timed in nominal half cycles: the grid holds 50 Hz within 1 %, and the
            # window after an interruption measures no frequency worth the name
            result.voltage_event = (vq.KIND_NAMES[st[vq.ST_END_KIND]],
                                    int(halves * 500 / self.cal.f_nominal_hz + 0.5),
                                    self._volts(st[vq.ST_END_EXTREME]))
        st[vq.ST_SAG_STARTS] = st[vq.ST_SWELL_STARTS] = st[vq.ST_END_CYCLES] = 0
        # track the bias: centre the next window on this window's means, within
        # MID_RANGE of mid-rail so that a 256-pair block's sums always fit 32 bits.
        # A part-cycle window (the first, synchronising one) has a mean that is not the
        # bias: learning from it would misplace the next crossings.
        dv = di = 0
        if whole or not at_crossing:
            dv = _clamp(v_mid + (2 * sums.sv + n) // (2 * n), self.cal.v_offset) - v_mid
            di = _clamp(i_mid + (2 * sums.si + n) // (2 * n), self.cal.i_offset) - i_mid
        st[kernel.ST_V_MID] = v_mid + dv
        st[kernel.ST_I_MID] = i_mid + di
        if st[kernel.ST_ARMED] and st[kernel.ST_PREV_V] >= v_mid + dv:
            # the kernel's "armed" means every sample since arming was below the centre;
            # moved down past the last sample, the centre would make that sample a crossing
            st[kernel.ST_ARMED] = 0
        sums.reset(st[kernel.ST_PREV_I] - (i_mid + di))
        kernel.clear(self._acc)
        st[kernel.ST_WN] = 0
        st[kernel.ST_CROSS_N] = 0
        st[kernel.ST_STOPPED] = 0
        self._start_crossing = end_crossing
        st[kernel.ST_STOP_FROM] = self._close_from if at_crossing else 0
        self.windows += 1
        self._on_window(result)


def _fraction(crossing, level):
    """Where, between the two samples around a crossing, the voltage passed `level`."""
    before, after = crossing
    return (level - before) / (after - before)


def _clamp(mid, nominal):
    if mid < nominal - _MID_RANGE:
        return nominal - _MID_RANGE
    if mid > nominal + _MID_RANGE:
        return nominal + _MID_RANGE
    return mid
