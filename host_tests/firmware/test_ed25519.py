"""Ed25519 verification (crypto.ed25519) on both interpreters: RFC 8032 vectors (a subset of
cryptography-vectors' sign.input, extracted by tools/vectors/ed25519.py), the strict
rejections the module promises, and on CPython agreement with `cryptography` (OpenSSL).

Forged and edge-case signatures are built with the RFC 8032 §6 reference (crypto.ed25519_ref),
which the tests first check against the same vectors."""
import json
from binascii import unhexlify

from crypto import ed25519
from crypto import ed25519_ref as ref
from crypto.ed25519 import Ed25519Error
from mptest import ON_MICROPYTHON, raises, skip

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FIXTURE = HERE + "/../fixtures/vectors/ed25519_rfc8032.json"
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")

_cases = None


def cases():
    global _cases
    if _cases is None:
        with open(FIXTURE) as f:
            _cases = [{k: (unhexlify(v) if isinstance(v, str) else v) for k, v in c.items()}
                      for c in json.load(f)["cases"]]
    return _cases


def case(line):
    return [c for c in cases() if c["line"] == line][0]


def reason(fn, *args):
    return raises(Ed25519Error, fn, *args).reason


def le32(n):
    return (n % 2**256).to_bytes(32, "little")


def sign_with_r(seed, msg, r, r_encoding=None, torsion=None):
    """A signature with a chosen nonce r, R spelled as r_encoding (default: canonical [r]B,
    plus the small-order point `torsion` if given): how an attacker or a buggy signer
    could build one. Returns (public key, signature)."""
    a, _ = ref.secret_expand(seed)
    pk = ref.point_compress(ref.point_mul(a, ref.G))
    if r_encoding is None:
        point = ref.point_mul(r, ref.G)
        if torsion is not None:
            point = ref.point_add(point, ref.point_decompress(torsion))
        r_encoding = ref.point_compress(point)
    k = ref.sha512_modq(r_encoding + pk + msg)
    return pk, r_encoding + le32((r + k * a) % L)


def equation_holds(pk, msg, sig, cofactor=1):
    """[c S]B == [c]R + [c k]A with the points decoded leniently (y taken mod p)."""
    a_point = ref.point_decompress(le32(int.from_bytes(pk, "little") % 2**255 % P
                                        | (pk[31] >> 7) << 255))
    y_r = int.from_bytes(sig[:32], "little")
    r_point = ref.point_decompress(le32((y_r % 2**255) % P | (y_r >> 255) << 255))
    if r_point is None:  # x = 0 spelled with the sign bit: x = -0 = 0 leniently
        r_point = ref.point_decompress(le32((y_r % 2**255) % P))
    k = ref.sha512_modq(sig[:32] + pk + msg)
    s = int.from_bytes(sig[32:], "little")
    lhs = ref.point_mul(cofactor * s, ref.G)
    rhs = ref.point_mul(cofactor, ref.point_add(r_point, ref.point_mul(k, a_point)))
    return ref.point_equal(lhs, rhs)


# ---- RFC 8032 vectors

def test_accepts_every_rfc8032_vector():
    for c in cases():
        assert ed25519.verify(c["pk"], c["msg"], c["sig"]), c["line"]


def test_reference_agrees_with_rfc8032_vectors():
    for c in cases()[:4] + [case(1023)]:
        assert ref.verify(c["pk"], c["msg"], c["sig"]), c["line"]
        assert ref.secret_to_public(c["seed"]) == c["pk"], c["line"]
    c = case(2)  # RFC 8032 TEST 3: the reference signer reproduces the signature
    assert ref.sign(c["seed"], c["msg"]) == c["sig"]


def test_accepts_message_as_bytearray_or_memoryview():
    c = case(129)
    assert ed25519.verify(c["pk"], bytearray(c["msg"]), memoryview(c["sig"]))
    assert ed25519.verify(memoryview(c["pk"]), memoryview(c["msg"]), bytearray(c["sig"]))


def test_check_public_key_accepts_vector_keys():
    for c in cases()[:8]:
        x, y = ed25519.check_public_key(c["pk"])
        assert y == int.from_bytes(c["pk"], "little") & (2**255 - 1)
        assert x & 1 == c["pk"][31] >> 7


# ---- S, lengths, tampering

def test_rejects_s_plus_l():
    c = case(1)
    s = int.from_bytes(c["sig"][32:], "little")
    malleated = c["sig"][:32] + le32(s + L)  # RFC 8032 §8.4: the same point, S not reduced
    assert equation_holds(c["pk"], c["msg"], malleated)
    assert not ed25519.verify(c["pk"], c["msg"], malleated)
    assert not ref.verify(c["pk"], c["msg"], malleated)


def test_rejects_s_equal_to_l_and_all_ones():
    c = case(1)
    for s in (L, 2**256 - 1):
        assert not ed25519.verify(c["pk"], c["msg"], c["sig"][:32] + le32(s))


def test_rejects_wrong_lengths_without_raising():
    c = case(1)
    pk, msg, sig = c["pk"], c["msg"], c["sig"]
    for bad_pk, bad_sig in ((pk[:31], sig), (pk + b"\0", sig), (b"", sig),
                            (pk, sig[:63]), (pk, sig + b"\0"), (pk, b"")):
        assert ed25519.verify(bad_pk, msg, bad_sig) is False
    assert reason(ed25519.check_public_key, pk[:31]) == "bad-length"
    assert reason(ed25519.check_public_key, pk + b"\0") == "bad-length"


def test_rejects_any_flipped_bit_in_signature_key_or_message():
    c = case(32)
    pk, msg, sig = c["pk"], c["msg"], c["sig"]
    for name, good in (("sig", sig), ("pk", pk), ("msg", msg)):
        for bit in range(8 * len(good)):
            bad = bytearray(good)
            bad[bit >> 3] ^= 1 << (bit & 7)
            args = {"sig": sig, "pk": pk, "msg": msg}
            args[name] = bytes(bad)
            assert ed25519.verify(args["pk"], args["msg"], args["sig"]) is False, (name, bit)


def test_rejects_random_keys_and_signatures_without_raising():
    c = case(3)
    x = 0x1234567
    for _ in range(24):
        blob = bytearray(96)
        for i in range(96):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            blob[i] = x >> 16 & 0xFF
        assert ed25519.verify(bytes(blob[:32]), c["msg"], c["sig"]) is False
        assert ed25519.verify(c["pk"], c["msg"], bytes(blob[32:])) is False


# ---- non-canonical encodings

def test_rejects_r_spelled_non_canonically_as_y_plus_p():
    seed = case(5)["seed"]
    msg = b"firmware manifest"
    pk, sig = sign_with_r(seed, msg, 0, r_encoding=le32(P + 1))  # R = identity, y = p + 1
    assert equation_holds(pk, msg, sig)  # only the spelling of R is wrong
    assert not ed25519.verify(pk, msg, sig)
    assert not ref.verify(pk, msg, sig)


def test_rejects_r_with_x_zero_and_sign_bit_set():
    seed = case(5)["seed"]
    msg = b"firmware manifest"
    pk, sig = sign_with_r(seed, msg, 0, r_encoding=le32(1 | 1 << 255))  # identity, x = -0
    assert equation_holds(pk, msg, sig)
    assert not ed25519.verify(pk, msg, sig)
    assert not ref.verify(pk, msg, sig)


def test_rejects_public_key_with_y_at_or_above_p():
    for y in range(P, 2**255):
        for sign in (0, 1):
            enc = le32(y | sign << 255)
            assert reason(ed25519.check_public_key, enc) == "non-canonical", (y, sign)
    # identity spelled y = p + 1: with it, R = identity and S = 0 verify any message leniently
    forged = IDENTITY + bytes(32)
    assert equation_holds(le32(P + 1), b"any", forged)
    assert not ed25519.verify(le32(P + 1), b"any", forged)
    assert not ref.verify(le32(P + 1), b"any", forged)


def test_rejects_public_key_with_x_zero_and_sign_bit_set():
    for y in (1, P - 1):  # the two points with x = 0
        enc = le32(y | 1 << 255)
        assert reason(ed25519.check_public_key, enc) == "non-canonical", y
    # the §6 reference tests x2 == 0 before reducing it, so it decodes y = p - 1 with the
    # sign bit as x = p (not a field element); ours refuses, as §5.1.3 step 4 says
    assert ref.point_decompress(le32(P - 1 | 1 << 255)) is not None


def test_rejects_public_key_off_the_curve():
    off = 0
    for y in range(2, 40):
        enc = le32(y)
        try:
            ed25519.check_public_key(enc)
        except Ed25519Error as exc:
            if exc.reason == "not-on-curve":
                off += 1
                assert ref.point_decompress(enc) is None, y
                assert not ed25519.verify(enc, b"m", case(1)["sig"])
    assert off > 10  # about half of all y have no x


# ---- small order

def test_small_order_list_holds_exactly_the_eight_points_of_order_dividing_8():
    seen = set()
    for enc in ed25519.SMALL_ORDER_KEYS:
        point = ref.point_decompress(enc)
        assert point is not None and ref.point_compress(point) == enc  # canonical
        assert ref.point_equal(ref.point_mul(8, point), (0, 1, 1, 0))
        seen.add(enc)
    assert len(seen) == 8  # a group of order 8L has exactly 8 points of order dividing 8


def test_rejects_small_order_public_keys_that_verify_forgeries():
    for pk in ed25519.SMALL_ORDER_KEYS:
        assert reason(ed25519.check_public_key, pk) == "small-order"
        forged = IDENTITY + bytes(32)  # R = identity, S = 0: [0]B = O + [k]A when 8 | k
        n = 0
        while ref.sha512_modq(IDENTITY + pk + b"%d" % n) % 8:
            n += 1
        msg = b"%d" % n
        assert ref.verify(pk, msg, forged)  # RFC 8032 has no small-order check
        assert not ed25519.verify(pk, msg, forged)


def test_rejects_signature_valid_only_under_the_cofactored_equation():
    # R = [r]B + T with T of order 8: [8][S]B = [8]R + [8][k]A holds, [S]B = R + [k]A does
    # not. We check cofactorless (as OpenSSL and the §6 reference): rejected.
    seed = case(7)["seed"]
    msg = b"update 1.2.3"
    pk, sig = sign_with_r(seed, msg, 987654321, torsion=ed25519.SMALL_ORDER_KEYS[4])
    assert equation_holds(pk, msg, sig, cofactor=8)
    assert not equation_holds(pk, msg, sig)
    assert not ref.verify(pk, msg, sig)
    assert not ed25519.verify(pk, msg, sig)
    honest_pk, honest = sign_with_r(seed, msg, 987654321)
    assert ed25519.verify(honest_pk, msg, honest)


# ---- internals

def test_width_naf_digits_rebuild_the_scalar():
    for width in (5, 7):
        for k in (0, 1, 2, 2**width - 1, L - 1, 2**253 - 1, 0x5A5A5A5A5A5A5A5A << 180, L // 3):
            naf = ed25519._wnaf(k, width)
            total = 0
            last = -width
            for i in range(len(naf)):
                d = naf[i]
                if d:
                    assert d & 1 and -(1 << (width - 1)) < d < 1 << (width - 1), (k, i)
                    assert i - last >= width, (k, i)  # at most one nonzero per window
                    last = i
                    total += d << i
            assert total == k, (width, k)


# ---- against `cryptography` (OpenSSL)

def test_agrees_with_cryptography_on_random_keys_and_messages():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: cryptography (OpenSSL) is the oracle")
    import os

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    def openssl_accepts(pk, msg, sig):
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    for n in range(40):
        key = Ed25519PrivateKey.generate()
        pk = key.public_key().public_bytes_raw()
        msg = os.urandom(n * 7)
        sig = key.sign(msg)
        assert ed25519.verify(pk, msg, sig)
        bad = bytearray(sig)
        bad[n % 64] ^= 1 << (n % 8)
        assert ed25519.verify(pk, msg, bytes(bad)) == openssl_accepts(pk, msg, bytes(bad))
    seed = case(7)["seed"]
    msg = b"update 1.2.3"
    for torsion in ed25519.SMALL_ORDER_KEYS[1:]:  # OpenSSL is cofactorless too
        pk, sig = sign_with_r(seed, msg, 987654321, torsion=torsion)
        assert not ed25519.verify(pk, msg, sig)
        assert not openssl_accepts(pk, msg, sig)
    pk, sig = sign_with_r(seed, msg, 0, r_encoding=le32(P + 1))
    assert not openssl_accepts(pk, msg, sig)  # nor does it accept a non-canonical R
