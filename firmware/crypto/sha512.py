"""SHA-512 (FIPS 180-4) for Ed25519 verification; MicroPython's hashlib has none.

Streaming like hashlib. On MicroPython the compression runs in viper on 32-bit word halves
(machine words, no big ints: crypto/sha512_viper.py); the plain-Python twin here (64-bit
ints) serves CPython and is the reference the tests compare the viper build with. Not constant time: public data only.
"""
from array import array
from binascii import unhexlify

from compat import const

DIGEST_BYTES = const(64)
BLOCK_BYTES = const(128)
_WORK_WORDS = const(176)  # [0:16] H0..H7 as (high, low) uint32 pairs, [16:176] W0..W79

# FIPS 180-4 §4.2.3: first 64 bits of the fractional parts of the cube roots of the
# first 80 primes. Hex text, not int literals: 64-bit ints are big ints on a 32-bit board,
# and a module's big-int constants stay on the heap with .mpy or ROMFS code; text stays in
# flash (ROMFS, frozen). A line a string: loaded from .mpy each is a small object (one
# text of 1,280 characters would be an allocation above BOARDS.md's 1 KB bound)
_K64 = (
    "428A2F98D728AE227137449123EF65CDB5C0FBCFEC4D3B2FE9B5DBA58189DBBC",
    "3956C25BF348B53859F111F1B605D019923F82A4AF194F9BAB1C5ED5DA6D8118",
    "D807AA98A303024212835B0145706FBE243185BE4EE4B28C550C7DC3D5FFB4E2",
    "72BE5D74F27B896F80DEB1FE3B1696B19BDC06A725C71235C19BF174CF692694",
    "E49B69C19EF14AD2EFBE4786384F25E30FC19DC68B8CD5B5240CA1CC77AC9C65",
    "2DE92C6F592B02754A7484AA6EA6E4835CB0A9DCBD41FBD476F988DA831153B5",
    "983E5152EE66DFABA831C66D2DB43210B00327C898FB213FBF597FC7BEEF0EE4",
    "C6E00BF33DA88FC2D5A79147930AA72506CA6351E003826F142929670A0E6E70",
    "27B70A8546D22FFC2E1B21385C26C9264D2C6DFC5AC42AED53380D139D95B3DF",
    "650A73548BAF63DE766A0ABB3C77B2A881C2C92E47EDAEE692722C851482353B",
    "A2BFE8A14CF10364A81A664BBC423001C24B8B70D0F89791C76C51A30654BE30",
    "D192E819D6EF5218D69906245565A910F40E35855771202A106AA07032BBD1B8",
    "19A4C116B8D2D0C81E376C085141AB532748774CDF8EEB9934B0BCB5E19B48A8",
    "391C0CB3C5C95A634ED8AA4AE3418ACB5B9CCA4F7763E373682E6FF3D6B2B8A3",
    "748F82EE5DEFB2FC78A5636F43172F6084C87814A1F0AB728CC702081A6439EC",
    "90BEFFFA23631E28A4506CEBDE82BDE9BEF9A3F7B2C67915C67178F2E372532B",
    "CA273ECEEA26619CD186B8C721C0C207EADA7DD6CDE0EB1EF57D4F7FEE6ED178",
    "06F067AA72176FBA0A637DC5A2C898A6113F9804BEF90DAE1B710B35131C471B",
    "28DB77F523047D8432CAAB7B40C724933C9EBE0A15C9BEBC431D67C49C100D4C",
    "4CC5D4BECB3E42B6597F299CFC657E2A5FCB6FAB3AD6FAEC6C44198C4A475817",
)
# FIPS 180-4 §5.3.5: initial hash value
_H0 = (
    "6A09E667F3BCC908BB67AE8584CAA73B3C6EF372FE94F82BA54FF53A5F1D36F1",
    "510E527FADE682D19B05688C2B3E6C1F1F83D9ABFB41BD6B5BE0CD19137E2179",
)


def _halves(lines):
    """The 64-bit words in the hex text lines as uint32 (high, low) pairs."""
    out = array("I")
    for line in lines:
        raw = unhexlify(line)
        for i in range(0, len(raw), 4):
            out.append(int.from_bytes(raw[i:i + 4], "big"))
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
