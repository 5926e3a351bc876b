"""The per-sample hot loop: integer sums over interleaved (voltage, current) ADC codes.

Plain-Python twin of kernel_viper; both must give identical results. No allocation,
no floats, no exceptions: everything per sample is an integer add or multiply.
"""
from compat import const

# acc: the integer sums of one call, written (not added: nothing to clear between calls)
# and folded into Python ints by the caller after every call (a block is at most 256
# pairs so every sum fits a signed 32-bit word).
ACC_N = const(0)
ACC_SV = const(1)
ACC_SI = const(2)
ACC_SVV = const(3)
ACC_SII = const(4)
ACC_SVI0 = const(5)  # sum v[n] * i[n]
ACC_SVI1 = const(6)  # sum v[n] * i[n-1]: the second lag for phase/skew correction
ACC_LEN = const(7)

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
ST_LEN = const(13)

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
    k = start
    while k < end:
        v = buf[2 * k] - v_mid
        i = buf[2 * k + 1] - i_mid
        if v < -hyst:
            armed = 1
        elif armed and prev_v < 0 and v >= 0:
            armed = 0
            st[ST_CROSS_N] += 1
            st[ST_CROSS_K] = wn
            st[ST_CROSS_PREV] = prev_v
            st[ST_CROSS_CUR] = v
            if wn >= stop_from:
                stopped = 1
                break
        sv += v
        si += i
        svv += v * v
        sii += i * i
        svi0 += v * i
        svi1 += v * prev_i
        prev_i = i
        prev_v = v
        wn += 1
        k += 1
    acc[ACC_N] = k - start
    acc[ACC_SV] = sv
    acc[ACC_SI] = si
    acc[ACC_SVV] = svv
    acc[ACC_SII] = sii
    acc[ACC_SVI0] = svi0
    acc[ACC_SVI1] = svi1
    st[ST_PREV_I] = prev_i + i_mid
    st[ST_PREV_V] = prev_v + v_mid
    st[ST_ARMED] = armed
    st[ST_WN] = wn
    st[ST_STOPPED] = stopped
    return k
