"""Viper build of kernel.accumulate for MicroPython: same sums, same stopping rule.

Selected at import by metering.kernel; the plain twin in kernel.py is the reference
that the tests compare it with.

The native emitters keep only a function's first two or three locals in registers (by
local number, parameters first) and every other local in a stack slot. So the loop is a
function without parameters whose first locals are the per-pair values (v, i, j), and
accumulate() hands it the arrays through module globals and the bounds through st:
40 % less time per pair on the unix port than the same loop with five parameters.
One caller at a time (the metering thread; the self-test before it starts).
"""
import micropython

from compat import const
from metering.voltage_quality import end_event, judge_cycle

ST_START = const(13)  # kernel.ST_START and ST_END (a test checks they agree)
ST_END = const(14)
CYC_N = const(15)  # voltage_quality.ST_CYC_N, ST_CYC_SQ, ST_CYC_MAX (checked too)
CYC_SQ = const(16)
CYC_MAX = const(17)
ARM_N = const(31)  # voltage_quality.ST_ARM_N, ST_ARM_SQ (checked too)
ARM_SQ = const(32)
SAG_IN = const(18)  # voltage_quality.ST_SAG_IN, ST_SWELL_IN, ST_PQ_STATE (checked too)
SWELL_IN = const(20)
PQ_STATE = const(23)

_buf = None
_acc = None
_st = None


def accumulate(buf, start, end, acc, st):
    """kernel.accumulate's contract, on the same st layout."""
    global _buf, _acc, _st
    _buf = buf
    _acc = acc
    _st = st
    st[ST_START] = start
    st[ST_END] = end
    return _run()


@micropython.viper
def _run() -> int:
    v = 0  # the first three locals: the emitters' register-held ones
    i = 0
    j = 0
    p = ptr16(_buf)  # noqa: F821 (viper built-in)
    a = ptr32(_acc)  # noqa: F821
    s = ptr32(_st)  # noqa: F821
    start = s[ST_START]
    v_mid = s[0]
    i_mid = s[1]
    prev_i = s[2] - i_mid
    prev_v = s[3] - v_mid
    armed = s[4]
    below = 0 - s[5]
    w_base = s[6] - start  # window index of pair k is w_base + k: no counter per pair
    stop_from = s[7]
    sv = 0
    si = 0
    svv = 0
    sii = 0
    svi0 = 0
    svi1 = 0
    stopped = 0
    j = 2 * start  # halfword index of a pair's voltage code
    j_end = 2 * s[ST_END]
    j_first = j
    # the mains cycle under way (kernel.accumulate): touched at crossings only
    cyc_n = s[CYC_N]
    cyc_sq = s[CYC_SQ]
    cyc_max = s[CYC_MAX]
    mark_j = j
    mark_svv = 0
    arm_n = s[ARM_N]
    arm_sq = s[ARM_SQ]
    arm_j = j
    arm_svv = 0
    while j < j_end:
        v = int(p[j]) - v_mid
        i = int(p[j + 1]) - i_mid
        if armed:
            # armed means every sample since the arming one was negative: the first
            # non-negative one is a rising crossing, and the one before it was below 0
            if v >= 0:
                armed = 0
                if j > j_first:
                    prev_v = int(p[j - 2]) - v_mid
                wn = w_base + (j >> 1)
                s[8] = s[8] + 1
                s[9] = wn
                s[10] = prev_v
                s[11] = v
                n = cyc_n + ((j - mark_j) >> 1)  # the cycle this crossing ends
                if n > 0 and n <= cyc_max:
                    msq = (svv - mark_svv + cyc_sq) // n
                    # a normal cycle in normal times (nearly all) needs no judgement call
                    if s[PQ_STATE] != 0 or msq < s[SAG_IN] or msq > s[SWELL_IN]:
                        judge_cycle(_st, msq)
                elif s[PQ_STATE] != 0:
                    end_event(_st)
                cyc_n = 0
                cyc_sq = 0
                mark_j = j
                mark_svv = svv
                if wn >= stop_from:
                    stopped = 1
                    break
        elif v < below:
            armed = 1
            n = arm_n + ((j - arm_j) >> 1)  # the cycle since the last arming
            if n > 0 and n <= cyc_max:
                msq = (svv - arm_svv + arm_sq) // n
                if s[PQ_STATE] != 0 or msq < s[SAG_IN] or msq > s[SWELL_IN]:
                    judge_cycle(_st, msq)
            elif s[PQ_STATE] != 0:
                end_event(_st)
            arm_n = 0
            arm_sq = 0
            arm_j = j
            arm_svv = svv
        sv += v
        si += i
        svv += v * v
        sii += i * i
        svi0 += v * i
        svi1 += v * prev_i
        prev_i = i
        j += 2
    k = j >> 1
    if k > start:
        prev_v = int(p[j - 2]) - v_mid
    # kernel.ACC_*: lo at 2j+1, biased hi at 2j+2; x >> 24 is arithmetic (floor)
    a[0] = a[0] + (k - start)
    x = a[1] + sv
    a[2] = a[2] + (x >> 24)
    a[1] = x & 0xFFFFFF
    x = a[3] + si
    a[4] = a[4] + (x >> 24)
    a[3] = x & 0xFFFFFF
    x = a[5] + svv
    a[6] = a[6] + (x >> 24)
    a[5] = x & 0xFFFFFF
    x = a[7] + sii
    a[8] = a[8] + (x >> 24)
    a[7] = x & 0xFFFFFF
    x = a[9] + svi0
    a[10] = a[10] + (x >> 24)
    a[9] = x & 0xFFFFFF
    x = a[11] + svi1
    a[12] = a[12] + (x >> 24)
    a[11] = x & 0xFFFFFF
    s[2] = prev_i + i_mid
    s[3] = prev_v + v_mid
    s[4] = armed
    s[6] = w_base + k
    s[12] = stopped
    n = cyc_n + ((j - mark_j) >> 1)
    if n <= cyc_max:  # its squares fit a 32-bit word only while it is a cycle
        s[CYC_N] = n
        s[CYC_SQ] = svv - mark_svv + cyc_sq
    else:
        s[CYC_N] = cyc_max + 1
        s[CYC_SQ] = 0
    n = arm_n + ((j - arm_j) >> 1)
    if n <= cyc_max:
        s[ARM_N] = n
        s[ARM_SQ] = svv - arm_svv + arm_sq
    else:
        s[ARM_N] = cyc_max + 1
        s[ARM_SQ] = 0
    return k
