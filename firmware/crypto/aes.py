"""AES-128 block facade: the one place that touches an AES implementation.

The backend is chosen once at import (MicroPython `cryptolib`, else CPython
`cryptography`); with neither, importing this module fails: never a pure-Python fallback.
"""
try:
    from cryptolib import aes as _cryptolib_aes
except ImportError:
    try:
        from ucryptolib import aes as _cryptolib_aes  # MicroPython before 1.20
    except ImportError:
        _cryptolib_aes = None

if _cryptolib_aes is not None:
    BACKEND = "cryptolib"
else:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise ImportError(
            "crypto.aes: no AES backend (MicroPython cryptolib or the Python 'cryptography'"
            " package); refusing to run without one"
        ) from None
    BACKEND = "cryptography"

KEY_BYTES = 16
BLOCK_BYTES = 16
_ECB = 1  # cryptolib mode 1 (ECB), present on every port that has cryptolib


class AES:
    """AES-128 in ECB over whole blocks, writing into caller-provided buffers.

    `encrypt_blocks(src, dst)` encrypts len(src) bytes (a multiple of 16) into the start
    of dst (which may be longer); no allocation per call on MicroPython. dst must be a
    word-aligned buffer (a bytearray, not a slice at an odd offset: the axTLS build of
    cryptolib writes 32-bit words) and must not overlap src.
    """

    def __init__(self, key):
        if len(key) != KEY_BYTES:
            raise ValueError("AES-128 key must be 16 bytes, got %d" % len(key))
        self._key = bytes(key)
        self._dec = None
        if BACKEND == "cryptolib":
            self._enc = _cryptolib_aes(self._key, _ECB)
        else:
            self._enc = Cipher(algorithms.AES(self._key), modes.ECB()).encryptor()

    def encrypt_blocks(self, src, dst):
        _check(src, dst)
        if BACKEND == "cryptolib":
            self._enc.encrypt(src, dst)
        else:
            dst[:len(src)] = self._enc.update(src)

    def decrypt_blocks(self, src, dst):
        _check(src, dst)
        if self._dec is None:
            # cryptolib: one object either encrypts or decrypts ("can't encrypt & decrypt")
            if BACKEND == "cryptolib":
                self._dec = _cryptolib_aes(self._key, _ECB)
            else:
                self._dec = Cipher(algorithms.AES(self._key), modes.ECB()).decryptor()
        if BACKEND == "cryptolib":
            self._dec.decrypt(src, dst)
        else:
            dst[:len(src)] = self._dec.update(src)

    # Single blocks are the common case; same code path.
    encrypt_block = encrypt_blocks
    decrypt_block = decrypt_blocks


def _check(src, dst):
    n = len(src)
    if n % BLOCK_BYTES:
        raise ValueError("AES input must be whole 16-byte blocks, got %d bytes" % n)
    if len(dst) < n:
        raise ValueError("AES output buffer too small: %d < %d" % (len(dst), n))
