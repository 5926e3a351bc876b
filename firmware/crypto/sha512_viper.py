"""Viper build of crypto.sha512's block compression, for MicroPython: same results as the
plain twin there (sha512.compress), which the tests compare it with. Selected at import by
crypto.sha512; a port without viper fails to compile this module and gets the twin.

Each 64-bit word is a (high, low) pair of 32-bit halves, and every step
is exact modulo 2**32 whatever the machine word (32 bits on the boards, 64 on the unix
port): right shifts are masked, so sign or stray high bits never move down, and the
carry out of a low half x + y = z is bit 31 of (x & y) | ((x | y) & ~z), so no unsigned
compare is needed. Constants stay below 2**30 (31-bit small ints on the boards).
"""
# ruff: noqa: F821 (ptr8, ptr32 are viper built-ins)
import micropython


@micropython.viper
def compress(work, k, data, off: int):
    s = ptr32(work)  # noqa: F821 (viper built-in)
    kp = ptr32(k)  # noqa: F821
    d = ptr8(data)  # noqa: F821
    m31 = 0x3FFFFFFF
    m31 = (m31 << 1) | 1  # 0x7FFFFFFF, built at run time: too big for a constant
    i = 0
    while i < 32:  # FIPS 180-4 §6.4.2 step 1: W0..W15 as big-endian halves
        j = off + 4 * i
        s[16 + i] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3]
        i += 1
    b = 48
    while b < 176:  # W[t] at b = 16 + 2t: s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]
        xh = int(s[b - 4])
        xl = int(s[b - 3])
        uh = (((xh >> 19) & 0x1FFF) | (xl << 13)) ^ (((xl >> 29) & 7) | (xh << 3)) \
            ^ ((xh >> 6) & 0x3FFFFFF)
        ul = (((xl >> 19) & 0x1FFF) | (xh << 13)) ^ (((xh >> 29) & 7) | (xl << 3)) \
            ^ (((xl >> 6) & 0x3FFFFFF) | (xh << 26))
        yl = int(s[b - 13])
        zl = ul + yl
        uh = uh + int(s[b - 14]) + ((((ul & yl) | ((ul | yl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        xh = int(s[b - 30])
        xl = int(s[b - 29])
        vh = (((xh >> 1) & m31) | (xl << 31)) ^ (((xh >> 8) & 0xFFFFFF) | (xl << 24)) \
            ^ ((xh >> 7) & 0x1FFFFFF)
        vl = (((xl >> 1) & m31) | (xh << 31)) ^ (((xl >> 8) & 0xFFFFFF) | (xh << 24)) \
            ^ (((xl >> 7) & 0x1FFFFFF) | (xh << 25))
        zl = ul + vl
        uh = uh + vh + ((((ul & vl) | ((ul | vl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        yl = int(s[b - 31])
        zl = ul + yl
        s[b] = uh + int(s[b - 32]) + ((((ul & yl) | ((ul | yl) & (zl ^ -1))) >> 31) & 1)
        s[b + 1] = zl
        b += 2
    ah = int(s[0])
    al = int(s[1])
    bh = int(s[2])
    bl = int(s[3])
    ch = int(s[4])
    cl = int(s[5])
    dh = int(s[6])
    dl = int(s[7])
    eh = int(s[8])
    el = int(s[9])
    fh = int(s[10])
    fl = int(s[11])
    gh = int(s[12])
    gl = int(s[13])
    hh = int(s[14])
    hl = int(s[15])
    t = 0
    while t < 160:  # FIPS 180-4 §6.4.2 step 3, round t // 2
        # T1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t]; S1 = ROTR14 ^ ROTR18 ^ ROTR41
        uh = (((eh >> 14) & 0x3FFFF) | (el << 18)) ^ (((eh >> 18) & 0x3FFF) | (el << 14)) \
            ^ (((el >> 9) & 0x7FFFFF) | (eh << 23))
        ul = (((el >> 14) & 0x3FFFF) | (eh << 18)) ^ (((el >> 18) & 0x3FFF) | (eh << 14)) \
            ^ (((eh >> 9) & 0x7FFFFF) | (el << 23))
        zl = ul + hl
        uh = uh + hh + ((((ul & hl) | ((ul | hl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        yh = ((fh ^ gh) & eh) ^ gh
        yl = ((fl ^ gl) & el) ^ gl
        zl = ul + yl
        uh = uh + yh + ((((ul & yl) | ((ul | yl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        yl = int(kp[t + 1])
        zl = ul + yl
        uh = uh + int(kp[t]) + ((((ul & yl) | ((ul | yl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        yl = int(s[t + 17])
        zl = ul + yl
        uh = uh + int(s[t + 16]) + ((((ul & yl) | ((ul | yl) & (zl ^ -1))) >> 31) & 1)
        ul = zl
        # T2 = S0(a) + Maj(a, b, c); S0 = ROTR28 ^ ROTR34 ^ ROTR39
        vh = (((ah >> 28) & 0xF) | (al << 4)) ^ (((al >> 2) & 0x3FFFFFFF) | (ah << 30)) \
            ^ (((al >> 7) & 0x1FFFFFF) | (ah << 25))
        vl = (((al >> 28) & 0xF) | (ah << 4)) ^ (((ah >> 2) & 0x3FFFFFFF) | (al << 30)) \
            ^ (((ah >> 7) & 0x1FFFFFF) | (al << 25))
        yh = (ah & bh) | (ch & (ah | bh))
        yl = (al & bl) | (cl & (al | bl))
        zl = vl + yl
        vh = vh + yh + ((((vl & yl) | ((vl | yl) & (zl ^ -1))) >> 31) & 1)
        vl = zl
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        zl = dl + ul
        eh = dh + uh + ((((dl & ul) | ((dl | ul) & (zl ^ -1))) >> 31) & 1)
        el = zl
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        zl = ul + vl
        ah = uh + vh + ((((ul & vl) | ((ul | vl) & (zl ^ -1))) >> 31) & 1)
        al = zl
        t += 2
    s[16] = ah  # W[0..7] are spent: park a..h there for step 4
    s[17] = al
    s[18] = bh
    s[19] = bl
    s[20] = ch
    s[21] = cl
    s[22] = dh
    s[23] = dl
    s[24] = eh
    s[25] = el
    s[26] = fh
    s[27] = fl
    s[28] = gh
    s[29] = gl
    s[30] = hh
    s[31] = hl
    i = 0
    while i < 16:  # FIPS 180-4 §6.4.2 step 4: H += (a..h)
        xl = int(s[i + 1])
        yl = int(s[i + 17])
        zl = xl + yl
        s[i] = int(s[i]) + int(s[i + 16]) + ((((xl & yl) | ((xl | yl) & (zl ^ -1))) >> 31) & 1)
        s[i + 1] = zl
        i += 2
