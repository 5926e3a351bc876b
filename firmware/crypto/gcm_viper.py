"""Viper builds of the GCM kernels in crypto.gcm (GHASH table walk, table build, counter
fill, XOR). Same results as the plain twins there, which the tests compare them with.

Selected at import by crypto.gcm; values stay below 2**32 so 64-bit hosts agree.
"""
# ruff: noqa: F821 (ptr8, ptr16, ptr32, uint are viper built-ins)
import micropython


@micropython.viper
def ghash_blocks(state, table, red, data, start: int, end: int):
    s = ptr32(state)
    m = ptr32(table)
    r = ptr16(red)
    d = ptr8(data)
    k = start
    while k < end:
        s[0] = uint(s[0]) ^ ((uint(d[k]) << 24) | (uint(d[k + 1]) << 16)
                             | (uint(d[k + 2]) << 8) | uint(d[k + 3]))
        s[1] = uint(s[1]) ^ ((uint(d[k + 4]) << 24) | (uint(d[k + 5]) << 16)
                             | (uint(d[k + 6]) << 8) | uint(d[k + 7]))
        s[2] = uint(s[2]) ^ ((uint(d[k + 8]) << 24) | (uint(d[k + 9]) << 16)
                             | (uint(d[k + 10]) << 8) | uint(d[k + 11]))
        s[3] = uint(s[3]) ^ ((uint(d[k + 12]) << 24) | (uint(d[k + 13]) << 16)
                             | (uint(d[k + 14]) << 8) | uint(d[k + 15]))
        z0 = uint(0)
        z1 = uint(0)
        z2 = uint(0)
        z3 = uint(0)
        j = 3
        while j >= 0:
            w = uint(s[j])
            for _ in range(8):
                n = int(w & 0xF)
                w = w >> 4
                rb = int(z3 & 0xF)
                z3 = (z3 >> 4) | ((z2 & 0xF) << 28)
                z2 = (z2 >> 4) | ((z1 & 0xF) << 28)
                z1 = (z1 >> 4) | ((z0 & 0xF) << 28)
                z0 = (z0 >> 4) ^ (uint(r[rb]) << 16)
                t = n << 2
                z0 = z0 ^ uint(m[t])
                z1 = z1 ^ uint(m[t + 1])
                z2 = z2 ^ uint(m[t + 2])
                z3 = z3 ^ uint(m[t + 3])
            j -= 1
        s[0] = z0
        s[1] = z1
        s[2] = z2
        s[3] = z3
        k += 16


@micropython.viper
def build_table(table):
    m = ptr32(table)
    i = 4
    while i > 0:
        src = i << 3
        w0 = uint(m[src])
        w1 = uint(m[src + 1])
        w2 = uint(m[src + 2])
        w3 = uint(m[src + 3])
        lsb = w3 & 1
        dst = i << 2
        m[dst + 3] = (w3 >> 1) | ((w2 & 1) << 31)
        m[dst + 2] = (w2 >> 1) | ((w1 & 1) << 31)
        m[dst + 1] = (w1 >> 1) | ((w0 & 1) << 31)
        m[dst] = (w0 >> 1) ^ ((uint(0xE1) << 24) * lsb)
        i >>= 1
    i = 2
    while i < 16:
        j = 1
        while j < i:
            for q in range(4):
                m[((i + j) << 2) + q] = uint(m[(i << 2) + q]) ^ uint(m[(j << 2) + q])
            j += 1
        i <<= 1
    for q in range(4):
        m[q] = 0


@micropython.viper
def ctr_fill(buf, nblocks: int, counter):
    o = ptr8(buf)
    c = ptr8(counter)
    k = 0
    for _ in range(nblocks):
        for i in range(16):
            o[k + i] = c[i]
        j = 15
        while j >= 12:
            v = (int(c[j]) + 1) & 0xFF
            c[j] = v
            if v != 0:
                break
            j -= 1
        k += 16


@micropython.viper
def xor_into(dst, dst_off: int, src, src_off: int, ks, n: int):
    o = ptr8(dst)
    s = ptr8(src)
    x = ptr8(ks)
    for i in range(n):
        o[dst_off + i] = s[src_off + i] ^ x[i]
