"""Ed25519 signature verification (RFC 8032 §5.1.7), strict, for operator-signed firmware
updates and commands. Verifies only: no secret key ever reaches the device.

verify() starts from "rejected" and has one accepting exit. Checks, in order:
  1. lengths: public key 32 bytes, signature 64 bytes;
  2. S < L (§5.1.7 step 1, §8.4: no malleable S + L);
  3. A decodes canonically: y < p (§5.1.3 step 1), x^2 has a root, i.e. A is on the curve
     (step 3), and not x = 0 with the sign bit set (step 4);
  4. A is not one of the 8 small-order points (not in RFC 8032; libsodium rejects them too):
     with such a key [S]B = R + [k]A holds for forged pairs, e.g. A = R = identity, S = 0;
  5. the cofactorless equation [S]B = R + [k]A (§5.1.7 step 3 and §8.8 allow it in place
     of the cofactored [8][S]B = [8]R + [8][k]A): we compute R' = [S]B - [k]A and compare its
     canonical encoding with the 32 bytes of R, so a non-canonical R (y >= p, or x = 0 with
     the sign bit) or an R off the curve can never match. Like OpenSSL (`cryptography`) and
     the §6 reference, this rejects R + T for a small-order T that only the cofactored
     equation would accept. Mixed-order keys (honest A plus torsion) are not rejected.
Big-int field arithmetic; [S]B - [k]A in one Straus pass over width-NAF digits: S with a
constant table of 32 odd multiples of B (crypto.ed25519_table, 3 KB that stay in flash
when frozen), k with 8 odd multiples of -A (per call). Not constant time: every input is public.
"""
from array import array

from compat import const

from crypto.ed25519_table import BASE_MULTIPLES
from crypto.sha512 import SHA512
from refusal import Refusal

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of B (RFC 8032 §5.1)
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_D2 = 2 * D % P
_Y_MASK = (1 << 255) - 1
_B_WIDTH = const(7)  # width-NAF for S: odd multiples 1B..63B (32 points)
_A_WIDTH = const(5)  # width-NAF for k: odd multiples 1A..15A (8 points)
KEY_BYTES = const(32)
SIGNATURE_BYTES = const(64)
_B_ENCODING = bytes([0x58]) + bytes([0x66]) * 31  # RFC 8032 §5.1: y = 4/5, x even

# The 8 points of order 1, 2, 4 and 8, canonically encoded (y little-endian, sign of x in
# bit 255). Non-canonical spellings of them fail decoding before this list is consulted.
SMALL_ORDER_KEYS = tuple(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # (0, 1), order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1), order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # (+-sqrt(-1), 0),
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
))


class Ed25519Error(Refusal):
    """A public key that cannot be trusted: reason code ("bad-length", "non-canonical",
    "not-on-curve", "small-order") and detail."""


def _sqn(x, n):
    for _ in range(n):
        x = x * x % P
    return x


def _chain_250(z):
    """(z^(2^250 - 1), z^11): the shared head of the two exponent chains below. 254
    squarings in Python beat pow(z, e, P), which multiplies for each of e's ~250 set bits."""
    z2 = z * z % P
    z9 = _sqn(z2, 2) * z % P
    z11 = z9 * z2 % P
    z5 = z11 * z11 % P * z9 % P
    z10 = _sqn(z5, 5) * z5 % P
    z20 = _sqn(z10, 10) * z10 % P
    z50 = _sqn(_sqn(z20, 20) * z20 % P, 10) * z10 % P
    z100 = _sqn(z50, 50) * z50 % P
    z250 = _sqn(_sqn(z100, 100) * z100 % P, 50) * z50 % P
    return z250, z11


def _invert(z):
    z250, z11 = _chain_250(z)
    return _sqn(z250, 5) * z11 % P  # z^(p - 2)


def _decode_point(enc):
    """(x, y) of a 32-byte encoding, per RFC 8032 §5.1.3; raises Ed25519Error."""
    y = int.from_bytes(enc, "little")
    sign = y >> 255
    y &= _Y_MASK
    if y >= P:  # §5.1.3 step 1
        raise Ed25519Error("non-canonical", "y >= p")
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    w = u * v3 % P * v3 % P * v % P
    z250, _ = _chain_250(w)
    x = u * v3 % P * (_sqn(z250, 2) * w % P) % P  # step 2: x = u v^3 (u v^7)^((p-5)/8)
    vxx = v * x % P * x % P
    if vxx != u:  # §5.1.3 step 3
        if vxx != P - u:
            raise Ed25519Error("not-on-curve", "x^2 has no square root")
        x = x * SQRT_M1 % P
    if x == 0 and sign:  # §5.1.3 step 4
        raise Ed25519Error("non-canonical", "x = 0 with sign bit 1")
    if x & 1 != sign:
        x = P - x
    return x, y


def check_public_key(public_key):
    """Raise Ed25519Error unless public_key is 32 bytes encoding a point verify() accepts
    as a key; for loading a trust policy. Returns the point (x, y)."""
    if len(public_key) != KEY_BYTES:
        raise Ed25519Error("bad-length", "%d bytes, not 32" % len(public_key))
    point = _decode_point(public_key)
    if bytes(public_key) in SMALL_ORDER_KEYS:
        raise Ed25519Error("small-order", "key of order dividing 8")
    return point


def _odd_multiples(x, y, count):
    """Yield extended coordinates (X, Y, Z, T) of [1, 3, .., 2 count - 1] times (x, y)."""
    point = (x, y, 1, x * y % P)
    step = _cached(_add_cached(point, _cached(point)))  # the unified formula also doubles
    yield point
    for _ in range(count - 1):
        point = _add_cached(point, step)
        yield point


def _cached(pt):
    x, y, z, t = pt
    return ((y + x) % P, (y - x) % P, z, t * _D2 % P)


def _add_cached(pt, c):
    """add-2008-hwcd-3 (Hisil et al., a = -1): extended point + cached point."""
    x, y, z, t = pt
    yp, ym, z2, t2 = c
    a = (y - x) * ym % P
    b = (y + x) * yp % P
    cc = t * t2 % P
    dd = z * z2 % P
    dd += dd
    e, f, g, h = b - a, dd - cc, dd + cc, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _wnaf(scalar, width):
    """Width-NAF digits of scalar (< 2^253): odd, |digit| < 2^(width-1), at most one
    nonzero in any `width` consecutive positions; scalar = sum(naf[i] * 2^i)."""
    naf = array("b", bytes(256))
    bits = scalar.to_bytes(33, "little")
    full = 1 << width
    mask = full - 1
    pos = 0
    carry = 0
    while pos < 256:
        i = pos >> 3
        window = (((bits[i] | (bits[i + 1] << 8)) >> (pos & 7)) & mask) + carry
        if not window & 1:
            pos += 1  # an even window keeps its carry: the low bit equals it
            continue
        if window < full >> 1:
            carry = 0
            naf[pos] = window
        else:
            carry = 1
            naf[pos] = window - full
        pos += width
    return naf


def _straus(s, k, ax, ay):
    """The encoding of [s]B - [k]A: one pass of doublings over the width-NAF digits of
    both scalars (Straus/Shamir), adding table points where a digit is nonzero."""
    sn = _wnaf(s, _B_WIDTH)
    kn = _wnaf(k, _A_WIDTH)
    ta = [_cached(pt) for pt in _odd_multiples(P - ax, ay, 1 << (_A_WIDTH - 2))]  # -A
    tb = BASE_MULTIPLES
    i = 255
    while i >= 0 and not (sn[i] or kn[i]):
        i -= 1
    p = P  # a local: cheaper than the global in the ~2,500 reductions below
    x, y, z, t = 0, 1, 1, 0
    while i >= 0:
        da = kn[i]
        db = sn[i]
        # dbl-2008-hwcd with a = -1, all outputs negated (same projective point); T is
        # computed only when an addition follows.
        a = x * x % p
        b = y * y % p
        c = z * z % p
        c += c
        h = a + b
        e = x + y
        e = (e * e - h) % p
        g = b - a
        f = c - g
        x = e * f % p
        y = g * h % p
        z = f * g % p
        if da or db:
            t = e * h % p
            if da:  # add-2008-hwcd-3: + cached (Y + X, Y - X, Z, 2dT); -Q swaps, negates
                if da > 0:
                    yp, ym, z2, t2 = ta[da >> 1]
                else:
                    ym, yp, z2, t2 = ta[-da >> 1]
                    t2 = -t2
                a = (y - x) * ym % p
                b = (y + x) * yp % p
                c = t * t2 % p
                dd = z * z2 % p
                dd += dd
                e = b - a
                f = dd - c
                g = dd + c
                h = b + a
                x = e * f % p
                y = g * h % p
                z = f * g % p
                if db:
                    t = e * h % p
            if db:  # madd-2008-hwcd-3: + affine (y + x, y - x, 2dxy), Z2 = 1
                at = 96 * ((db if db > 0 else -db) >> 1)
                yp = int.from_bytes(tb[at:at + 32], "little")
                ym = int.from_bytes(tb[at + 32:at + 64], "little")
                t2 = int.from_bytes(tb[at + 64:at + 96], "little")
                if db < 0:
                    yp, ym, t2 = ym, yp, -t2
                a = (y - x) * ym % p
                b = (y + x) * yp % p
                c = t * t2 % p
                dd = z + z
                e = b - a
                f = dd - c
                g = dd + c
                h = b + a
                x = e * f % p
                y = g * h % p
                z = f * g % p
        i -= 1
    zinv = _invert(z)
    x = x * zinv % p
    return ((y * zinv % p) | ((x & 1) << 255)).to_bytes(32, "little")


def verify(public_key, message, signature):
    """True only if signature (64 bytes: R, S) is a valid Ed25519 signature of message
    under public_key (32 bytes) by every check in the module docstring. Returns False,
    never raises, for a bad signature, key or length."""
    accepted = False
    if len(public_key) == KEY_BYTES and len(signature) == SIGNATURE_BYTES:
        try:
            accepted = _verify(public_key, message, signature)
        except Ed25519Error:
            accepted = False
    return accepted is True


def _verify(public_key, message, signature):
    r_enc = bytes(signature[0:32])
    s = int.from_bytes(signature[32:64], "little")
    if s >= L:  # RFC 8032 §5.1.7 step 1: S must be reduced
        return False
    ax, ay = check_public_key(public_key)
    h = SHA512(r_enc)
    h.update(public_key)
    if hasattr(message, "hash_into"):  # a long message streamed from flash, never held
        message.hash_into(h)
    else:
        h.update(message)
    k = int.from_bytes(h.digest(), "little") % L  # §5.1.7 step 2
    return _straus(s, k, ax, ay) == r_enc  # public values: no constant-time compare needed
