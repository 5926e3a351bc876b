"""AES key wrap (RFC 3394) and the constant-time compare it relies on, on both
interpreters: RFC 3394 §4.1 and NIST SP 800-38F KW vectors (KW_AE_128 / KW_AD_128 from
PyPI cryptography-vectors), and on CPython against `cryptography`'s aes_key_wrap."""
from binascii import unhexlify

from crypto import ct, keywrap
from crypto.ct import AuthError
from mptest import ON_MICROPYTHON, raises, skip

# RFC 3394 §4.1: wrap 128 bits of key data with a 128-bit KEK
RFC_KEK = unhexlify("000102030405060708090A0B0C0D0E0F")
RFC_KEY = unhexlify("00112233445566778899AABBCCDDEEFF")
RFC_WRAPPED = unhexlify("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")

# NIST KW_AE_128.txt [PLAINTEXT LENGTH = 256] COUNT = 0: a 256-bit key under a 128-bit KEK
AE256_K = unhexlify("e5d058e7f1c22c016c4e1cc9b26b9f8f")
AE256_P = unhexlify("7f604e9b8d39d3c91e193fe6f196c1e3da6211a7c9a33b8873b64b138d1803e4")
AE256_C = unhexlify("60b9f8ac797c56e01e9b5f84d65816a980777869f67991a0"
                    "e6dc19b8cd75c9b54db4a38456bbd6f3")
# NIST KW_AD_128.txt [PLAINTEXT LENGTH = 256] COUNT = 0 (passes) and COUNT = 1 (FAIL)
AD256_K = unhexlify("83da6e02404d5abfd47d15da591840e2")
AD256_C = unhexlify("3f4cbf3a98029243da87a756b3c52553f91366f4ff4b103b"
                    "2c73e68aa8ca81f01ebda35d718741ac")
AD256_P = unhexlify("67dfd627346ebd217849a5ba5bca6e9ce07a7747bed1ba119ec01503202a075a")
AD256_FAIL_K = unhexlify("84bc6ce7ee4fd9db512536669d0686da")
AD256_FAIL_C = unhexlify("c383db930ffd02c0073ac2cc79ec289e6866bdcc6a135a3b"
                         "776aa42f14ee04f9cca06ed6c0b22901")
# NIST KW_AD_128.txt [PLAINTEXT LENGTH = 128] COUNT = 1 (FAIL)
AD128_FAIL_K = unhexlify("5d4899ee66beff1bda1fc717a1ad4c50")
AD128_FAIL_C = unhexlify("bb7fd0bce778bd775e4e88d904d26a7134364c53a6c493a0")


def test_wrap_matches_rfc3394_section_4_1():
    assert keywrap.wrap(RFC_KEK, RFC_KEY) == RFC_WRAPPED


def test_unwrap_recovers_the_rfc3394_section_4_1_key():
    assert keywrap.unwrap(RFC_KEK, RFC_WRAPPED) == RFC_KEY


def test_wraps_and_unwraps_a_256_bit_key_as_nist_kw_vectors():
    assert keywrap.wrap(AE256_K, AE256_P) == AE256_C
    assert keywrap.unwrap(AE256_K, AE256_C) == AE256_P
    assert keywrap.unwrap(AD256_K, AD256_C) == AD256_P


def test_unwrap_refuses_the_nist_fail_cases():
    for kek, wrapped in ((AD256_FAIL_K, AD256_FAIL_C), (AD128_FAIL_K, AD128_FAIL_C)):
        assert raises(AuthError, keywrap.unwrap, kek, wrapped).reason == "bad-wrap"


def test_unwrap_refuses_any_flipped_bit_and_the_wrong_kek():
    for i in (0, 7, 8, len(RFC_WRAPPED) - 1):
        bad = bytearray(RFC_WRAPPED)
        bad[i] ^= 0x01
        assert raises(AuthError, keywrap.unwrap, RFC_KEK, bad).reason == "bad-wrap"
    wrong_kek = bytes(16)
    assert raises(AuthError, keywrap.unwrap, wrong_kek, RFC_WRAPPED).reason == "bad-wrap"


def test_unwrap_refuses_wrapped_data_of_impossible_length():
    for n in (0, 16, 23, 25, 31):
        assert raises(AuthError, keywrap.unwrap, RFC_KEK, bytes(n)).reason == "bad-wrap"


def test_wrap_refuses_key_data_that_is_not_whole_64_bit_blocks():
    for n in (0, 8, 15, 17):
        raises(ValueError, keywrap.wrap, RFC_KEK, bytes(n))
    raises(ValueError, keywrap.wrap, bytes(32), RFC_KEY)  # only 128-bit KEKs


def test_ct_equal_is_true_only_for_identical_bytes():
    assert ct.equal(b"abc", b"abc")
    assert ct.equal(b"", b"")
    assert ct.equal(bytearray(b"abc"), memoryview(b"xabc")[1:])
    assert not ct.equal(b"abc", b"abd")
    assert not ct.equal(b"\x00bc", b"\x80bc")


def test_ct_equal_is_false_for_a_length_mismatch_even_on_a_common_prefix():
    assert not ct.equal(b"abc", b"ab")
    assert not ct.equal(b"ab", b"abc")
    assert not ct.equal(b"", b"a")
    assert not ct.equal(b"a", b"")


def test_matches_cryptography_keywrap():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: cryptography's keywrap is a CPython package")
    import os

    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

    assert aes_key_wrap(RFC_KEK, RFC_KEY) == keywrap.wrap(RFC_KEK, RFC_KEY)
    for n in (16, 24, 32, 16, 32, 64):
        kek, key = os.urandom(16), os.urandom(n)
        wrapped = keywrap.wrap(kek, key)
        assert wrapped == aes_key_wrap(kek, key)
        assert keywrap.unwrap(kek, wrapped) == aes_key_unwrap(kek, wrapped) == key
