"""SHA-512 (FIPS 180-4) for Ed25519 verification; MicroPython's hashlib has none.

Streaming like hashlib. On MicroPython the compression runs in viper on 32-bit word halves
(machine words, no big ints: crypto/sha512_viper.py); the plain-Python twin here (64-bit
ints) serves CPython and is the reference the tests compare the viper build with. Not constant time: public data only.
"""
from array import array

from compat import const

DIGEST_BYTES = const(64)
BLOCK_BYTES = const(128)
_WORK_WORDS = const(176)  # [0:16] H0..H7 as (high, low) uint32 pairs, [16:176] W0..W79

# FIPS 180-4 §4.2.3: first 64 bits of the fractional parts of the cube roots of the
# first 80 primes
_K64 = (
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
)
# FIPS 180-4 §5.3.5: initial hash value
_H0 = (
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
)


def _halves(words):
    out = array("I")
    for v in words:
        out.append(v >> 32)
        out.append(v & 0xFFFFFFFF)
    return out


K = _halves(_K64)  # 160 uint32: K[t] high word at 2t, low word at 2t + 1
_IV = _halves(_H0)
del _K64, _H0

_M64 = (1 << 64) - 1


def compress(work, k, data, off):
    """Plain twin of the viper kernel: one FIPS 180-4 §6.4.2 block data[off:off+128]
    into H (work[0:16]); W goes to a local list. 64-bit ints: big ints on MicroPython."""
    w = [0] * 80
    for t in range(16):
        w[t] = int.from_bytes(data[off + 8 * t:off + 8 * t + 8], "big")
    for t in range(16, 80):
        x, y = w[t - 15], w[t - 2]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        s1 = ((y >> 19) | (y << 45)) ^ ((y >> 61) | (y << 3)) ^ (y >> 6)
        w[t] = (w[t - 16] + (s0 & _M64) + w[t - 7] + (s1 & _M64)) & _M64
    h = [(work[2 * i] << 32) | work[2 * i + 1] for i in range(8)]
    a, b, c, d, e, f, g, hh = h
    for t in range(80):
        s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        t1 = hh + (s1 & _M64) + ((e & f) ^ (~e & g)) + ((k[2 * t] << 32) | k[2 * t + 1]) + w[t]
        s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        t2 = (s0 & _M64) + ((a & b) ^ (a & c) ^ (b & c))
        hh, g, f, e = g, f, e, (d + t1) & _M64
        d, c, b, a = c, b, a, (t1 + t2) & _M64
    for i, v in enumerate((a, b, c, d, e, f, g, hh)):
        v = (h[i] + v) & _M64
        work[2 * i] = v >> 32
        work[2 * i + 1] = v & 0xFFFFFFFF


try:  # the viper build (crypto/sha512_viper.py), on MicroPython
    from crypto.sha512_viper import compress as VIPER_COMPRESS
except (ImportError, SyntaxError, ValueError):  # CPython, or a port without viper
    VIPER_COMPRESS = None

_DEFAULT_COMPRESS = VIPER_COMPRESS or compress


class SHA512:
    """hashlib-style SHA-512: SHA512(data=b""), update(data), digest(), hexdigest().
    Holds 704 bytes of words and a 128-byte block buffer; digest() leaves it usable."""

    digest_size = DIGEST_BYTES
    block_size = BLOCK_BYTES

    def __init__(self, data=b"", use_viper=True):
        self._compress = _DEFAULT_COMPRESS if use_viper else compress
        self._work = array("I", bytes(4 * _WORK_WORDS))
        self._work[0:16] = _IV
        self._buf = bytearray(BLOCK_BYTES)
        self._used = 0
        self._total = 0
        if data:
            self.update(data)

    def update(self, data):
        n = len(data)
        self._total += n
        used = self._used
        i = 0
        if used:
            take = min(BLOCK_BYTES - used, n)
            self._buf[used:used + take] = data[0:take]
            used += take
            i = take
            if used < BLOCK_BYTES:
                self._used = used
                return
            self._compress(self._work, K, self._buf, 0)
        compress = self._compress
        work = self._work
        while n - i >= BLOCK_BYTES:  # whole blocks straight from the caller's buffer
            compress(work, K, data, i)
            i += BLOCK_BYTES
        self._buf[0:n - i] = data[i:n]
        self._used = n - i

    def digest(self):
        work = array("I", self._work)
        buf = bytearray(2 * BLOCK_BYTES)
        used = self._used
        buf[0:used] = self._buf[0:used]
        buf[used] = 0x80  # FIPS 180-4 §5.1.2: 1 bit, zeros, 128-bit big-endian length
        end = BLOCK_BYTES if used < BLOCK_BYTES - 16 else 2 * BLOCK_BYTES
        buf[end - 16:end] = (8 * self._total).to_bytes(16, "big")
        for off in range(0, end, BLOCK_BYTES):
            self._compress(work, K, buf, off)
        out = bytearray(DIGEST_BYTES)
        for i in range(16):
            out[4 * i:4 * i + 4] = work[i].to_bytes(4, "big")
        return bytes(out)

    def hexdigest(self):
        from binascii import hexlify

        return hexlify(self.digest()).decode()


def sha512(data=b""):
    """The 64-byte SHA-512 digest of data."""
    return SHA512(data).digest()
