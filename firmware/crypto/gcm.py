"""AES-128-GCM (NIST SP 800-38D) on the AES block facade, for the DLMS operator uplink.

96-bit IVs only, tags of 12 to 16 bytes. Never returns plaintext whose tag did not verify,
and compares tags only through ct.equal.

GHASH uses Shoup's 4-bit method with one 16-entry table per key (M[n] = n * H, 256 B as
uint32 words) and one shared 16-entry reduction table (32 B): per byte two nibble steps,
each a shift by 4 bits, one reduction lookup and one table XOR. The 8-bit method's table
(4 KB a key) took about a fifth less time and cost the heap 3.8 KB more, for an uplink that sends a few
kilobytes a day. Measured on the x86 unix port (tools/bench/benchmarks/gcm_cost.py): a GCM
object takes 1.7 KB (5.6 KB with the 8-bit table); a whole 2,600-byte GCM encryption with
viper GHASH ~90 us (~70 us with the 8-bit table).
The lookups are indexed by secret data: RP2040 SRAM and ESP32 internal SRAM have no data
cache for them to leak through (an ESP32 heap in PSRAM is cached: an accepted risk for a
meter whose timing is visible only over the network).
"""
from array import array

from compat import const

from crypto.aes import AES
from crypto.ct import AuthError, equal

IV_BYTES = const(12)
TAG_BYTES = const(16)
MIN_TAG_BYTES = const(12)  # SP 800-38D §5.2.1.2: 96..128 bits; 32/64-bit tags refused
_CHUNK_BLOCKS = const(16)  # counter blocks per AES call (256 bytes of keystream)
_TABLE_WORDS = const(64)  # M[n] = n * H for the 16 nibbles, four words each
# SP 800-38D §5.2.1.1: len(P) <= 2**39 - 256 bits, so inc32 never wraps for a 96-bit IV
_MAX_TEXT_BYTES = (1 << 36) - 32


# ---- plain-Python twins of crypto.gcm_viper (CPython, and the reference on MicroPython).
# 128-bit values are four big-endian uint32 words (word 0 holds bytes 0..3).

def ghash_blocks(state, table, red, data, start, end):
    """state = (state ^ block) * H for each 16-byte block of data[start:end]."""
    for k in range(start, end, 16):
        for j in range(4):
            p = k + 4 * j
            state[j] ^= (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]
        z0 = z1 = z2 = z3 = 0
        for j in (3, 2, 1, 0):  # Horner over the nibbles, last first (a byte's low nibble
            w = state[j]  # holds its higher powers of x)
            for _ in range(8):
                n = w & 0xF
                w >>= 4
                rb = z3 & 0xF  # z * x**4: 4 bits fall off the end, reduced via red
                z3 = (z3 >> 4) | ((z2 & 0xF) << 28)
                z2 = (z2 >> 4) | ((z1 & 0xF) << 28)
                z1 = (z1 >> 4) | ((z0 & 0xF) << 28)
                z0 = (z0 >> 4) ^ (red[rb] << 16)
                t = n << 2
                z0 ^= table[t]
                z1 ^= table[t + 1]
                z2 ^= table[t + 2]
                z3 ^= table[t + 3]
        state[0] = z0
        state[1] = z1
        state[2] = z2
        state[3] = z3


def build_table(table):
    """Fill M[n] = n * H (words 4n..4n+3) from H placed at M[8] (the element 1)."""
    i = 4
    while i:  # M[i] = M[2i] * x: a right shift, reduced by x**128 = x**7 + x**2 + x + 1
        w0, w1, w2, w3 = table[8 * i:8 * i + 4]
        table[4 * i + 3] = (w3 >> 1) | ((w2 & 1) << 31)
        table[4 * i + 2] = (w2 >> 1) | ((w1 & 1) << 31)
        table[4 * i + 1] = (w1 >> 1) | ((w0 & 1) << 31)
        table[4 * i] = (w0 >> 1) ^ (0xE1000000 * (w3 & 1))
        i >>= 1
    i = 2
    while i < 16:  # M[i + j] = M[i] ^ M[j]: multiplication by H is linear
        for j in range(1, i):
            for q in range(4):
                table[4 * (i + j) + q] = table[4 * i + q] ^ table[4 * j + q]
        i <<= 1
    for q in range(4):
        table[q] = 0


def ctr_fill(buf, nblocks, counter):
    """Copy the counter block into buf nblocks times, applying inc32 after each."""
    k = 0
    for _ in range(nblocks):
        for i in range(16):
            buf[k + i] = counter[i]
        for j in (15, 14, 13, 12):  # SP 800-38D §6.2 inc32: last 32 bits, mod 2**32
            v = (counter[j] + 1) & 0xFF
            counter[j] = v
            if v:
                break
        k += 16


def xor_into(dst, dst_off, src, src_off, ks, n):
    for i in range(n):
        dst[dst_off + i] = src[src_off + i] ^ ks[i]


PLAIN_KERNELS = (ghash_blocks, build_table, ctr_fill, xor_into)
try:
    from crypto import gcm_viper as _viper

    VIPER_KERNELS = (_viper.ghash_blocks, _viper.build_table, _viper.ctr_fill, _viper.xor_into)
    KERNELS = "viper"
except (ImportError, SyntaxError, ValueError):  # CPython, or a port without viper
    VIPER_KERNELS = None
    KERNELS = "python"
_DEFAULT_KERNELS = VIPER_KERNELS or PLAIN_KERNELS


def _reduction_table():
    # Nibble f shifted out by z * x**4: bit k of f is x**(127-k), times x**4 is
    # x**128 * x**(3-k) = (x**7 + x**2 + x + 1) * x**(3-k), i.e. 0xE1 << (k + 5) in the
    # top 16 bits (OpenSSL's rem_4bit)
    red = array("H", bytes(32))
    for f in range(16):
        v = 0
        for k in range(4):
            if (f >> k) & 1:
                v ^= 0xE1 << (k + 5)
        red[f] = v
    return red


_RED = _reduction_table()


class GCM:
    """AES-128-GCM under one key; keeps the hash key table and buffers across messages
    (about 1.7 KB; see module docstring). Not re-entrant: one message at a time."""

    def __init__(self, key, kernels=None):
        self._aes = AES(key)
        k = kernels or _DEFAULT_KERNELS
        self._ghash_blocks, build, self._ctr_fill, self._xor = k
        self._table = array("I", bytes(4 * _TABLE_WORDS))
        self._state = array("I", bytes(16))
        self._counter = bytearray(16)
        self._pad = bytearray(16)
        self._ctr_buf = bytearray(16 * _CHUNK_BLOCKS)
        self._ctr_mv = memoryview(self._ctr_buf)
        self._ks = bytearray(16 * _CHUNK_BLOCKS)
        self._build = build
        self._set_hash_key()

    def rekey(self, key):
        """Use another key with the same table and buffers: a key rotation allocates
        nothing but the AES object."""
        self._aes = AES(key)
        table = self._table
        for i in range(len(table)):
            table[i] = 0
        self._set_hash_key()

    def _set_hash_key(self):
        h = bytearray(16)
        self._aes.encrypt_block(bytes(16), h)  # H = E(K, 0**128)
        for j in range(4):
            self._table[32 + j] = int.from_bytes(h[4 * j:4 * j + 4], "big")  # M[8] = H
        self._build(self._table)

    def encrypt(self, iv, plaintext, aad=b""):
        """Return (ciphertext as a bytearray, 16-byte tag); truncate the tag as needed."""
        self._check_iv(iv)
        _check_len(plaintext, "plaintext")
        out = bytearray(len(plaintext))
        self._ctr(iv, plaintext, out)
        return out, self._tag(iv, aad, out)

    def decrypt(self, iv, ciphertext, aad, tag, tag_len=MIN_TAG_BYTES):
        """Return the plaintext (a bytearray) or raise AuthError("bad-tag")."""
        self._check_iv(iv)
        if not MIN_TAG_BYTES <= tag_len <= TAG_BYTES:
            raise ValueError("GCM tag length must be 12..16 bytes, got %d" % tag_len)
        _check_len(ciphertext, "ciphertext")
        if len(tag) != tag_len:
            raise AuthError("bad-tag", "tag is %d bytes, expected %d" % (len(tag), tag_len))
        expected = self._tag(iv, aad, ciphertext)
        if not equal(memoryview(expected)[:tag_len], tag):
            raise AuthError("bad-tag", "authentication tag mismatch")
        out = bytearray(len(ciphertext))
        self._ctr(iv, ciphertext, out)
        return out

    def _check_iv(self, iv):
        if len(iv) != IV_BYTES:
            raise ValueError("GCM IV must be 12 bytes, got %d" % len(iv))

    def _set_counter(self, iv, last):
        c = self._counter
        for i in range(IV_BYTES):
            c[i] = iv[i]
        c[12] = c[13] = c[14] = 0
        c[15] = last  # SP 800-38D §7.1: J0 = IV || 0**31 || 1

    def _ctr(self, iv, src, dst):
        """GCTR from inc32(J0): dst = src ^ keystream, one AES call per chunk."""
        self._set_counter(iv, 2)
        n = len(src)
        pos = 0
        while pos < n:
            take = min(n - pos, 16 * _CHUNK_BLOCKS)
            blocks = (take + 15) >> 4
            self._ctr_fill(self._ctr_buf, blocks, self._counter)
            if blocks == _CHUNK_BLOCKS:
                self._aes.encrypt_blocks(self._ctr_buf, self._ks)
            else:
                self._aes.encrypt_blocks(self._ctr_mv[:16 * blocks], self._ks)
            self._xor(dst, pos, src, pos, self._ks, take)
            pos += take

    def _ghash(self, data):
        n = len(data)
        full = n & ~15
        if full:
            self._ghash_blocks(self._state, self._table, _RED, data, 0, full)
        if n > full:
            pad = self._pad
            for i in range(16):
                pad[i] = data[full + i] if full + i < n else 0
            self._ghash_blocks(self._state, self._table, _RED, pad, 0, 16)

    def _tag(self, iv, aad, ciphertext):
        """T = E(K, J0) ^ GHASH(A || pad || C || pad || [len(A)]64 || [len(C)]64)."""
        s = self._state
        s[0] = s[1] = s[2] = s[3] = 0
        self._ghash(aad)
        self._ghash(ciphertext)
        pad = self._pad
        pad[0:8] = (8 * len(aad)).to_bytes(8, "big")
        pad[8:16] = (8 * len(ciphertext)).to_bytes(8, "big")
        self._ghash_blocks(s, self._table, _RED, pad, 0, 16)
        self._set_counter(iv, 1)
        self._aes.encrypt_block(self._counter, pad)
        tag = bytearray(16)
        for i in range(16):
            tag[i] = pad[i] ^ ((s[i >> 2] >> (24 - 8 * (i & 3))) & 0xFF)
        return bytes(tag)


def _check_len(text, what):
    if len(text) > _MAX_TEXT_BYTES:
        raise ValueError("GCM %s too long" % what)


def encrypt(key, iv, plaintext, aad=b""):
    """One-shot encrypt; (ciphertext, 16-byte tag). Reuse a GCM(key) for many messages."""
    return GCM(key).encrypt(iv, plaintext, aad)


def decrypt(key, iv, ciphertext, aad, tag, tag_len=MIN_TAG_BYTES):
    """One-shot decrypt; raises AuthError("bad-tag") unless the tag verifies."""
    return GCM(key).decrypt(iv, ciphertext, aad, tag, tag_len)
