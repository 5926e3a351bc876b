"""cryptolib for the 32-bit rig (tools/mp32/run.mjs): the webassembly build has no
cryptolib, so this gives the C module's AES API for ECB (mode 1, the mode on every port),
computed by node's crypto on the arrays' own memory. With an output buffer given (the
firmware's way) it allocates no GC heap per call, like the C module; one object either
encrypts or decrypts. Its own code (about 1.6 KB live) is counted in the 32-bit figures,
where a board's cryptolib is C. Not for a board.
"""
import js
import uctypes

MODE_ECB = 1
_ecb = js.__mp32_aes_ecb


class aes:
    def __init__(self, key, mode, iv=None):
        if mode != MODE_ECB:
            raise ValueError("mode")  # CTR is not on every port; the firmware uses ECB only
        if len(key) not in (16, 32):
            raise ValueError("key")
        self._key = bytes(key)
        self._direction = None

    def _run(self, decrypt, src, dst):
        if len(src) % 16:
            raise ValueError("blksize")
        if isinstance(dst, bytes):
            raise TypeError("object with buffer protocol required")
        if self._direction is None:
            self._direction = decrypt
        elif self._direction != decrypt:
            raise ValueError("can't encrypt & decrypt")
        if dst is None:
            dst = bytearray(len(src))
            _ecb(uctypes.addressof(self._key), len(self._key), uctypes.addressof(src),
                 uctypes.addressof(dst), len(src), decrypt)
            return bytes(dst)
        if len(dst) < len(src):
            raise ValueError("output too small")
        _ecb(uctypes.addressof(self._key), len(self._key), uctypes.addressof(src),
             uctypes.addressof(dst), len(src), decrypt)
        return dst

    def encrypt(self, src, dst=None):
        return self._run(False, src, dst)

    def decrypt(self, src, dst=None):
        return self._run(True, src, dst)
