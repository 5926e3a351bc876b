"""AES key wrap (RFC 3394) under a 128-bit KEK: how new keys reach the meter.

Unwrap checks the integrity value in constant time and never returns, or leaves in its
buffers, key material from a wrap that failed the check.
"""
from compat import const

from crypto.aes import AES
from crypto.ct import AuthError, equal

DEFAULT_IV = b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6"  # RFC 3394 §2.2.3.1
MIN_KEY_BYTES = const(16)  # RFC 3394 §2: at least two 64-bit blocks
MAX_KEY_BYTES = const(64)


def _check_key_len(n, what):
    if n < MIN_KEY_BYTES or n > MAX_KEY_BYTES or n % 8:
        return "%s must be 16..64 bytes in 8-byte steps, got %d" % (what, n)
    return None


def _xor_t(block, t):
    # A ^ t, with t as a 64-bit big-endian integer (t < 2**16 here)
    block[7] ^= t & 0xFF
    block[6] ^= (t >> 8) & 0xFF


def wrap(kek, key_data, iv=DEFAULT_IV):
    """Wrap key_data (16..64 bytes, multiple of 8) under a 16-byte KEK; returns bytes of
    len(key_data) + 8 (RFC 3394 §2.2.1, index-based form)."""
    problem = _check_key_len(len(key_data), "key data")
    if problem:
        raise ValueError(problem)
    aes = AES(kek)
    n = len(key_data) // 8
    r = bytearray(8 + len(key_data))  # r[0:8] = A, r[8i:8i+8] = R[i]
    r[0:8] = iv
    r[8:] = key_data
    a_r = bytearray(16)  # A || R[i] going into AES; separate buffers, never in place
    b = bytearray(16)
    for j in range(6):
        for i in range(1, n + 1):
            a_r[0:8] = r[0:8]
            a_r[8:16] = r[8 * i:8 * i + 8]
            aes.encrypt_block(a_r, b)
            _xor_t(b, n * j + i)
            r[0:8] = b[0:8]
            r[8 * i:8 * i + 8] = b[8:16]
    _wipe(a_r)
    _wipe(b)
    return bytes(r)


def unwrap(kek, wrapped, iv=DEFAULT_IV):
    """Recover the key data from a wrapped key (RFC 3394 §2.2.2); raises
    AuthError("bad-wrap") if its length is wrong or the integrity check fails."""
    problem = _check_key_len(len(wrapped) - 8, "wrapped key data")
    if problem:
        raise AuthError("bad-wrap", problem)
    aes = AES(kek)
    n = len(wrapped) // 8 - 1
    r = bytearray(wrapped)
    a_r = bytearray(16)
    b = bytearray(16)
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            a_r[0:8] = r[0:8]
            _xor_t(a_r, n * j + i)
            a_r[8:16] = r[8 * i:8 * i + 8]
            aes.decrypt_block(a_r, b)
            r[0:8] = b[0:8]
            r[8 * i:8 * i + 8] = b[8:16]
    _wipe(a_r)
    _wipe(b)
    ok = equal(memoryview(r)[0:8], iv)  # RFC 3394 §2.2.3: A must equal the IV
    key_data = bytes(r[8:]) if ok else None
    _wipe(r)
    if not ok:
        raise AuthError("bad-wrap", "integrity check failed")
    return key_data


def _wipe(buf):
    for i in range(len(buf)):
        buf[i] = 0
