"""The per-sample hot loop: integer sums over interleaved (voltage, current) ADC codes.

Plain-Python twin of kernel_viper, which is selected here (VIPER_ACCUMULATE); both must
give identical results. No allocation,
no floats, no exceptions: everything per sample is an integer add or multiply.
"""
from array import array

from compat import const
from metering.voltage_quality import (ST_ARM_N, ST_ARM_SQ, ST_CYC_MAX, ST_CYC_N, ST_CYC_SQ,
                                     ST_PQ_STATE, ST_SAG_IN, ST_SWELL_IN, end_event,
                                     judge_cycle)

# acc: the window's integer sums, carried across calls in 32-bit words so Python reads
# them once per window and never meets a big int per block (small ints end at 2**30 on
# the boards). Each sum is lo (0 <= lo < 2**24) + (hi - HI_BIAS) * 2**24; hi is biased to
# stay positive (viper on a 64-bit host loads 32-bit words without sign extension). One
# call adds at most 256 pairs, whose sums fit a signed 32-bit word with lo added.
ACC_N = const(0)
ACC_SV = const(1)  # then the hi word at ACC_SV + 1, and so on for each sum
ACC_SI = const(3)
ACC_SVV = const(5)
ACC_SII = const(7)
ACC_SVI0 = const(9)  # sum v[n] * i[n]
ACC_SVI1 = const(11)  # sum v[n] * i[n-1]: the second lag for phase/skew correction
ACC_LEN = const(13)
ACC_SUMS = (ACC_SV, ACC_SI, ACC_SVV, ACC_SII, ACC_SVI0, ACC_SVI1)
HI_BIAS = const(1 << 20)
_LO_BITS = const(24)
_LO_MASK = const(0xFFFFFF)


def _cleared():
    acc = array("i", bytes(4 * ACC_LEN))
    for k in ACC_SUMS:
        acc[k + 1] = HI_BIAS
    return acc


_CLEARED = _cleared()


def clear(acc):
    """Zero every sum of acc (a new window): one copy of a cleared template."""
    acc[:] = _CLEARED


def total(acc, k):
    """The exact value of sum k (a Python int: once per window, never per block)."""
    return (acc[k + 1] - HI_BIAS) * (1 << _LO_BITS) + acc[k]


def _carry(acc, k, x):
    x += acc[k]  # |x| < 2**31 - 2**24: one call's sum plus lo
    acc[k + 1] += x >> _LO_BITS  # floor, as an arithmetic shift
    acc[k] = x & _LO_MASK


# st: loop state carried across blocks and windows. Samples are stored as raw codes, never
# negative: viper on a 64-bit host loads 32-bit words without sign extension.
ST_V_MID = const(0)  # code subtracted from voltage samples (window offset estimate)
ST_I_MID = const(1)
ST_PREV_I = const(2)  # previous raw current code (for the lag-1 product)
ST_PREV_V = const(3)  # previous raw voltage code (for zero-crossing detection)
ST_ARMED = const(4)  # voltage went below -hysteresis since the last rising crossing
ST_HYST = const(5)
ST_WN = const(6)  # pairs in the current window so far
ST_STOP_FROM = const(7)  # a rising crossing at window index >= this closes the window
ST_CROSS_N = const(8)  # rising crossings seen in this window
ST_CROSS_K = const(9)  # window index of the first sample after the last crossing
ST_CROSS_PREV = const(10)  # centred voltage just before / after that crossing
ST_CROSS_CUR = const(11)
ST_STOPPED = const(12)  # 1 if the last call stopped at a window-closing crossing
ST_START = const(13)  # the last call's bounds (kernel_viper's loop reads them from here)
ST_END = const(14)
ST_LEN = const(33)  # 15.. are voltage_quality's (ST_CYC_N, ..): whole-cycle voltage

MAX_BLOCK_PAIRS = const(256)


def accumulate(buf, start, end, acc, st):
    """Process pairs start..end-1 of buf; return the index of the first unprocessed pair.

    Stops early, before the pair that follows a window-closing rising zero crossing.
    """
    v_mid = st[ST_V_MID]
    i_mid = st[ST_I_MID]
    prev_i = st[ST_PREV_I] - i_mid
    prev_v = st[ST_PREV_V] - v_mid
    armed = st[ST_ARMED]
    hyst = st[ST_HYST]
    wn = st[ST_WN]
    stop_from = st[ST_STOP_FROM]
    sv = si = svv = sii = svi0 = svi1 = 0
    stopped = 0
    # the mains cycle under way: pairs and squares before this call, and where in this
    # call it began (its squares are svv - mark_svv): nothing extra per sample
    cyc_n = st[ST_CYC_N]
    cyc_sq = st[ST_CYC_SQ]
    cyc_max = st[ST_CYC_MAX]
    mark_k = start
    mark_svv = 0
    # the cycle from the last arming (the other half: voltage_quality's refresh)
    arm_n = st[ST_ARM_N]
    arm_sq = st[ST_ARM_SQ]
    arm_k = start
    arm_svv = 0
    st[ST_START] = start
    st[ST_END] = end
    k = start
    while k < end:
        v = buf[2 * k] - v_mid
        i = buf[2 * k + 1] - i_mid
        if armed:
            # armed means every sample since the arming one was negative: the first
            # non-negative one is a rising crossing, and the one before it was below 0
            if v >= 0:
                armed = 0
                if k > start:
                    prev_v = buf[2 * k - 2] - v_mid
                st[ST_CROSS_N] += 1
                st[ST_CROSS_K] = wn
                st[ST_CROSS_PREV] = prev_v
                st[ST_CROSS_CUR] = v
                n = cyc_n + k - mark_k  # the cycle this crossing ends
                if 0 < n <= cyc_max:
                    msq = (svv - mark_svv + cyc_sq) // n
                    # a normal cycle in normal times (nearly all) needs no judgement call
                    if st[ST_PQ_STATE] or msq < st[ST_SAG_IN] or msq > st[ST_SWELL_IN]:
                        judge_cycle(st, msq)
                elif st[ST_PQ_STATE]:
                    end_event(st)  # no cycle: the supply was gone (or sampling began)
                cyc_n = cyc_sq = 0
                mark_k = k
                mark_svv = svv
                if wn >= stop_from:
                    stopped = 1
                    break
        elif v < -hyst:
            armed = 1
            n = arm_n + k - arm_k  # the cycle since the last arming: half a cycle on
            if 0 < n <= cyc_max:
                msq = (svv - arm_svv + arm_sq) // n
                if st[ST_PQ_STATE] or msq < st[ST_SAG_IN] or msq > st[ST_SWELL_IN]:
                    judge_cycle(st, msq)
            elif st[ST_PQ_STATE]:
                end_event(st)
            arm_n = arm_sq = 0
            arm_k = k
            arm_svv = svv
        sv += v
        si += i
        svv += v * v
        sii += i * i
        svi0 += v * i
        svi1 += v * prev_i
        prev_i = i
        wn += 1
        k += 1
    if k > start:
        prev_v = buf[2 * k - 2] - v_mid
    acc[ACC_N] += k - start
    _carry(acc, ACC_SV, sv)
    _carry(acc, ACC_SI, si)
    _carry(acc, ACC_SVV, svv)
    _carry(acc, ACC_SII, sii)
    _carry(acc, ACC_SVI0, svi0)
    _carry(acc, ACC_SVI1, svi1)
    st[ST_PREV_I] = prev_i + i_mid
    st[ST_PREV_V] = prev_v + v_mid
    st[ST_ARMED] = armed
    st[ST_WN] = wn
    st[ST_STOPPED] = stopped
    n = cyc_n + k - mark_k
    if n <= cyc_max:  # its squares fit a 32-bit word only while it is a cycle
        st[ST_CYC_N] = n
        st[ST_CYC_SQ] = svv - mark_svv + cyc_sq
    else:
        st[ST_CYC_N] = cyc_max + 1
        st[ST_CYC_SQ] = 0
    n = arm_n + k - arm_k
    if n <= cyc_max:
        st[ST_ARM_N] = n
        st[ST_ARM_SQ] = svv - arm_svv + arm_sq
    else:
        st[ST_ARM_N] = cyc_max + 1
        st[ST_ARM_SQ] = 0
    return k



try:  # the viper build (metering/kernel_viper.py), on MicroPython; the POST checks it
    from metering.kernel_viper import accumulate as VIPER_ACCUMULATE
except (ImportError, SyntaxError, ValueError):  # CPython, or a port without viper
    VIPER_ACCUMULATE = None
