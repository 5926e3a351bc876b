"""Constant-time comparison of secrets and MACs, and the error a failed check raises.

Written once here (MicroPython has no hmac.compare_digest); never compare a tag with ==.
"""


class AuthError(Exception):
    """An authentication check failed; `reason` is a short code ("bad-tag", "bad-wrap")."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        return self.reason + (": " + self.detail if self.detail else "")


def equal(a, b):
    """True if the bytes-like a and b are identical. Time depends only on len(a):
    every byte is visited whether or not the lengths or any contents differ."""
    n = len(a)
    diff = 0 if len(b) == n else 1
    other = b if len(b) == n else a  # on a length mismatch, still walk all of a
    for i in range(n):
        diff |= a[i] ^ other[i]
    return diff == 0
