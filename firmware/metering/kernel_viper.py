"""Viper build of kernel.accumulate for MicroPython: same sums, same stopping rule.

Selected at import by metering.sampling; the plain twin in kernel.py is the reference
that the tests compare it with.
"""
import micropython


@micropython.viper
def accumulate(buf, start: int, end: int, acc, st) -> int:
    p = ptr16(buf)  # noqa: F821 (viper built-in)
    a = ptr32(acc)  # noqa: F821
    s = ptr32(st)  # noqa: F821
    v_mid = s[0]
    i_mid = s[1]
    prev_i = s[2] - i_mid
    prev_v = s[3] - v_mid
    armed = s[4]
    hyst = s[5]
    wn = s[6]
    stop_from = s[7]
    sv = 0
    si = 0
    svv = 0
    sii = 0
    svi0 = 0
    svi1 = 0
    stopped = 0
    k = start
    while k < end:
        v = int(p[2 * k]) - v_mid
        i = int(p[2 * k + 1]) - i_mid
        if v < 0 - hyst:
            armed = 1
        elif armed and prev_v < 0 and v >= 0:
            armed = 0
            s[8] = s[8] + 1
            s[9] = wn
            s[10] = prev_v
            s[11] = v
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
    s[6] = wn
    s[12] = stopped
    return k
