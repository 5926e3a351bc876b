"""AES-128-GCM on both interpreters against NIST CAVP vectors (a subset extracted by
tools/vectors/gcm.py), the AES facade against FIPS-197, and on CPython against
`cryptography`'s AESGCM for random messages."""
import json
from binascii import hexlify, unhexlify

from crypto import gcm
from crypto.aes import AES
from crypto.ct import AuthError
from mptest import ON_MICROPYTHON, raises, skip

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FIXTURE = HERE + "/../fixtures/vectors/gcm_nist.json"

# McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4
K4 = unhexlify("feffe9928665731c6d6a8f9467308308")
IV4 = unhexlify("cafebabefacedbaddecaf888")
P4 = unhexlify("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
               "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
A4 = unhexlify("feedfacedeadbeeffeedfacedeadbeefabaddad2")
T4 = unhexlify("5bc94fbc3221a5db94fae95ae7121a47")

_vectors = None


def vectors():
    global _vectors
    if _vectors is None:
        with open(FIXTURE) as f:
            _vectors = json.load(f)
    return _vectors


def unhex(text):
    return unhexlify(text) if text else b""


def pseudo_random_bytes(n, seed):
    """Deterministic bytes (xorshift32), the same on both interpreters."""
    out = bytearray(n)
    x = seed or 1
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


def test_aes_facade_matches_fips197_appendix_c1():
    out = bytearray(16)
    AES(unhexlify("000102030405060708090a0b0c0d0e0f")).encrypt_block(
        unhexlify("00112233445566778899aabbccddeeff"), out)
    assert out == unhexlify("69c4e0d86a7b0430d8cdb78070b4c55a")


def test_aes_facade_refuses_other_key_sizes_and_partial_blocks():
    raises(ValueError, AES, bytes(32))
    raises(ValueError, AES(bytes(16)).encrypt_blocks, bytes(15), bytearray(16))


def test_fixture_covers_dlms_tag_length_empty_inputs_and_fail_cases():
    v = vectors()
    tag_bytes = set(len(c["tag"]) // 2 for c in v["encrypt"])
    assert tag_bytes == set((12, 13, 14, 15, 16))
    assert any(c["pt"] == "" and c["aad"] == "" for c in v["encrypt"])
    assert any(c["pt"] == "" and c["aad"] != "" for c in v["encrypt"])
    assert any(c["pt"] != "" and c["aad"] == "" for c in v["encrypt"])
    assert sum(1 for c in v["decrypt"] if c["pt"] is None) >= 100


def test_encrypt_matches_every_nist_vector():
    for c in vectors()["encrypt"]:
        ct, tag = gcm.encrypt(unhex(c["key"]), unhex(c["iv"]), unhex(c["pt"]), unhex(c["aad"]))
        expected_tag = unhex(c["tag"])
        assert ct == unhex(c["ct"]), c["source"]
        assert tag[:len(expected_tag)] == expected_tag, c["source"]


def test_decrypt_returns_plaintext_of_every_nist_pass_case():
    for c in vectors()["decrypt"]:
        if c["pt"] is None:
            continue
        tag = unhex(c["tag"])
        pt = gcm.decrypt(unhex(c["key"]), unhex(c["iv"]), unhex(c["ct"]), unhex(c["aad"]),
                         tag, len(tag))
        assert pt == unhex(c["pt"]), c["source"]


def test_decrypt_refuses_every_nist_fail_case():
    for c in vectors()["decrypt"]:
        if c["pt"] is not None:
            continue
        tag = unhex(c["tag"])
        exc = raises(AuthError, gcm.decrypt, unhex(c["key"]), unhex(c["iv"]), unhex(c["ct"]),
                     unhex(c["aad"]), tag, len(tag))
        assert exc.reason == "bad-tag", c["source"]


def test_accepts_the_dlms_12_byte_truncated_tag():
    assert gcm.decrypt(K4, IV4, gcm.encrypt(K4, IV4, P4, A4)[0], A4, T4[:12]) == P4


def test_refuses_a_flipped_bit_in_ciphertext_tag_or_aad():
    ct, tag = gcm.encrypt(K4, IV4, P4, A4)
    assert tag == T4
    for i in (0, len(ct) // 2, len(ct) - 1):
        bad = bytearray(ct)
        bad[i] ^= 0x01
        assert raises(AuthError, gcm.decrypt, K4, IV4, bad, A4, tag[:12]).reason == "bad-tag"
    for i in (0, 11):
        bad = bytearray(tag[:12])
        bad[i] ^= 0x80
        assert raises(AuthError, gcm.decrypt, K4, IV4, ct, A4, bad).reason == "bad-tag"
    bad_aad = bytearray(A4)
    bad_aad[-1] ^= 0x01
    assert raises(AuthError, gcm.decrypt, K4, IV4, ct, bad_aad, tag[:12]).reason == "bad-tag"


def test_refuses_a_tag_of_another_length_than_expected():
    ct, tag = gcm.encrypt(K4, IV4, P4, A4)
    assert raises(AuthError, gcm.decrypt, K4, IV4, ct, A4, tag).reason == "bad-tag"
    assert raises(AuthError, gcm.decrypt, K4, IV4, ct, A4, tag[:11]).reason == "bad-tag"
    assert raises(AuthError, gcm.decrypt, K4, IV4, ct, A4, tag[:12], 16).reason == "bad-tag"


def test_refuses_tag_lengths_outside_96_to_128_bits():
    ct, tag = gcm.encrypt(K4, IV4, P4, A4)
    raises(ValueError, gcm.decrypt, K4, IV4, ct, A4, tag[:8], 8)
    raises(ValueError, gcm.decrypt, K4, IV4, ct, A4, tag + b"\x00", 17)


def test_refuses_ivs_other_than_12_bytes():
    g = gcm.GCM(K4)
    for iv in (b"", bytes(8), bytes(11), bytes(13), bytes(16)):
        raises(ValueError, g.encrypt, iv, P4, A4)
        raises(ValueError, g.decrypt, iv, P4, A4, T4[:12])


def test_one_gcm_object_serves_many_messages_after_a_refusal():
    g = gcm.GCM(K4)
    ct, tag = g.encrypt(IV4, P4, A4)
    raises(AuthError, g.decrypt, IV4, ct, b"", tag[:12])
    assert g.decrypt(IV4, ct, A4, tag[:12]) == P4
    assert g.encrypt(IV4, P4, A4) == (ct, T4)


def test_round_trips_across_block_and_chunk_boundaries():
    g = gcm.GCM(K4)
    for n in (0, 1, 15, 16, 17, 255, 256, 257, 2600, 4099):
        pt = pseudo_random_bytes(n, n + 7)
        aad = pseudo_random_bytes(n % 37, n + 9)
        ct, tag = g.encrypt(IV4, pt, aad)
        assert len(ct) == n
        assert n == 0 or ct != pt
        assert g.decrypt(IV4, ct, aad, tag, 16) == pt


def test_viper_and_plain_kernels_give_identical_results():
    if not ON_MICROPYTHON:
        skip("MicroPython only: CPython has no viper")
    if gcm.VIPER_KERNELS is None:
        skip("this MicroPython build has no viper")
    key = pseudo_random_bytes(16, 3)
    fast = gcm.GCM(key, gcm.VIPER_KERNELS)
    plain = gcm.GCM(key, gcm.PLAIN_KERNELS)
    assert list(fast._table) == list(plain._table)
    for n in (0, 5, 16, 100, 256, 300, 2600):
        pt = pseudo_random_bytes(n, n + 1)
        aad = pseudo_random_bytes(n % 29, n + 2)
        iv = pseudo_random_bytes(12, n + 3)
        assert fast.encrypt(iv, pt, aad) == plain.encrypt(iv, pt, aad)


def test_counter_wraps_only_its_last_32_bits():
    # SP 800-38D §6.2 inc32: the carry out of the last four bytes must not reach the IV
    for fill in [k[2] for k in (gcm.PLAIN_KERNELS, gcm.VIPER_KERNELS) if k]:
        counter = bytearray(b"\x01" * 11 + b"\xff\xff\xff\xff\xff")
        buf = bytearray(32)
        fill(buf, 2, counter)
        assert buf[16:] == b"\x01" * 11 + b"\xff" + bytes(4)
        assert counter == b"\x01" * 11 + b"\xff" + b"\x00\x00\x00\x01"


def test_matches_cryptography_aesgcm_on_random_messages():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: cryptography's AESGCM is a CPython package")
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    for n in list(range(0, 70)) + [255, 256, 257, 1000, 2600, 4096]:
        key, iv = os.urandom(16), os.urandom(12)
        pt, aad = os.urandom(n), os.urandom(n % 41)
        expected = AESGCM(key).encrypt(iv, pt, aad)
        ct, tag = gcm.encrypt(key, iv, pt, aad)
        assert bytes(ct) + tag == expected, hexlify(key)
        assert gcm.decrypt(key, iv, expected[:-16], aad, expected[-16:-4]) == pt
