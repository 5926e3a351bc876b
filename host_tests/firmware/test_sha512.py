"""SHA-512 (crypto.sha512) on both interpreters: FIPS 180 examples as external truth, the
viper build against its plain twin on MicroPython, and on CPython the twin against hashlib
and the NIST CAVP byte-oriented SHA512ShortMsg/LongMsg vectors (cryptography-vectors)."""
from array import array
from binascii import hexlify, unhexlify

from crypto import sha512
from mptest import ON_MICROPYTHON, skip

# FIPS 180-2 Appendix C.1 / C.2 / C.3 and NIST's "SHA512.pdf" example for the empty string
ABC = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
EMPTY = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
MSG_896 = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop" \
          b"jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
DIGEST_896 = "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018" \
             "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
MILLION_A = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb" \
            "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"

BACKENDS = (True, False)  # use_viper; without viper on the host both are the plain twin


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


def hexdigest(data, use_viper=True):
    return hexlify(sha512.SHA512(data, use_viper=use_viper).digest()).decode()


def test_abc_matches_fips_180_example():
    for use_viper in BACKENDS:
        assert hexdigest(b"abc", use_viper) == ABC


def test_empty_message_matches_nist_example():
    for use_viper in BACKENDS:
        assert hexdigest(b"", use_viper) == EMPTY
        assert sha512.SHA512().hexdigest() == EMPTY


def test_two_block_896_bit_message_matches_fips_180_example():
    for use_viper in BACKENDS:
        assert hexdigest(MSG_896, use_viper) == DIGEST_896


def test_one_million_a_streamed_in_uneven_chunks_matches_fips_180_example():
    h = sha512.SHA512()  # viper on MicroPython (about 0.1 s), the twin on CPython
    chunk = b"a" * 997
    left = 1000000
    while left:
        n = min(left, len(chunk))
        h.update(chunk[:n])
        left -= n
    assert h.hexdigest() == MILLION_A


def test_streaming_in_any_split_gives_the_one_shot_digest():
    data = pseudo_random_bytes(400, 7)
    whole = sha512.sha512(data)
    for split in (1, 17, 111, 112, 127, 128, 129, 255, 256, 399):
        h = sha512.SHA512(data[:split])
        h.update(memoryview(data)[split:])
        assert h.digest() == whole


def test_digest_leaves_the_hash_usable():
    h = sha512.SHA512(b"ab")
    first = h.digest()
    assert h.digest() == first
    h.update(b"c")
    assert h.hexdigest() == ABC


def test_viper_build_matches_plain_twin_at_every_padding_boundary():
    if sha512.VIPER_COMPRESS is None:
        skip("no viper on this interpreter")
    data = pseudo_random_bytes(300, 11)
    for n in range(0, 300, 7):
        assert hexdigest(data[:n], True) == hexdigest(data[:n], False), n
    for n in (111, 112, 113, 127, 128, 129, 239, 240, 241, 256):
        assert hexdigest(data[:n], True) == hexdigest(data[:n], False), n


def test_viper_kernel_matches_twin_from_any_state_and_offset():
    if sha512.VIPER_COMPRESS is None:
        skip("no viper on this interpreter")
    data = pseudo_random_bytes(128 * 4 + 5, 3)
    for seed in range(1, 9):
        state = pseudo_random_bytes(64, 100 + seed)
        fast = array("I", bytes(4 * 176))
        fast[0:16] = array("I", state)
        plain = array("I", fast)
        off = 5 + 128 * (seed % 4)
        sha512.VIPER_COMPRESS(fast, sha512.K, data, off)
        sha512.compress(plain, sha512.K, data, off)
        assert fast[0:16] == plain[0:16], seed


def test_twin_matches_hashlib_for_every_length_up_to_three_blocks():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: hashlib.sha512 is the oracle")
    import hashlib

    data = pseudo_random_bytes(3 * 128 + 1, 5)
    for n in range(len(data) + 1):
        assert hexdigest(data[:n], False) == hashlib.sha512(data[:n]).hexdigest(), n


def _cavp_cases(name):
    from cryptography_vectors import open_vector_file

    with open_vector_file("hashes/SHA2/" + name, "r") as f:
        case = {}
        for line in f:
            if " = " in line:
                key, value = line.strip().split(" = ")
                case[key] = value
                if key == "MD":
                    yield case
                    case = {}


def test_twin_matches_nist_cavp_short_and_long_messages():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: reads cryptography-vectors from site-packages")
    count = 0
    for name in ("SHA512ShortMsg.rsp", "SHA512LongMsg.rsp"):
        for case in _cavp_cases(name):
            bits = int(case["Len"])
            msg = unhexlify(case["Msg"])[:bits // 8]
            assert hexdigest(msg, False) == case["MD"], (name, bits)
            count += 1
    assert count == 257  # every byte-oriented case: 129 short, 128 long


def test_viper_kernel_is_exact_with_32_bit_machine_words():
    if ON_MICROPYTHON:  # mptest.cpython_only cannot rename a closure on MicroPython
        skip("CPython only: runs the viper source through ast with emulated 32-bit words")
    # The unix port's viper words are 64 bits; ESP32 and RP2040 have 32. Run the kernel's
    # own source with every value a wrapping signed 32-bit word and compare with the twin.
    from rigs import word32

    kernel = word32.load(sha512.__file__.replace("sha512.py", "sha512_viper.py"), "compress")
    data = pseudo_random_bytes(256 + 3, 9)
    for seed in range(1, 6):
        board = array("I", bytes(4 * 176))
        board[0:16] = array("I", pseudo_random_bytes(64, seed))
        plain = array("I", board)
        kernel(board, sha512.K, data, 3 + 64 * (seed % 3))
        sha512.compress(plain, sha512.K, data, 3 + 64 * (seed % 3))
        assert board[0:16] == plain[0:16], seed
    h = sha512.SHA512(use_viper=False)
    h._compress = kernel
    h.update(b"abc")
    assert hexlify(h.digest()).decode() == ABC
