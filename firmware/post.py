"""Power-on self-test: known answers for the crypto the meter trusts (SHA-256, SHA-512,
AES-128, AES-GCM, an Ed25519 verify that must pass and one that must fail) and the viper
metering kernel against its plain twin on two fixed blocks.

Catches a miscompiled or misaligned native function (frozen viper on ARMv6-M lands at
2 mod 4 and computes wrong results silently: CONTEXT.md) before it can accept a forged
update or miscount energy. Never raises: a check that throws has failed.
"""
import hashlib
from array import array
from binascii import unhexlify

from post_result import PostResult

# FIPS 180-2 appendix B/C: "abc" and the two-block message
_ABC = b"abc"
_TWO_BLOCKS = (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
               b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
_SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
_SHA512_ABC = ("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
_SHA512_TWO_BLOCKS = ("8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                      "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909")
# FIPS 197 appendix C.1
_AES_KEY = "000102030405060708090a0b0c0d0e0f"
_AES_PLAIN = "00112233445566778899aabbccddeeff"
_AES_CIPHER = "69c4e0d86a7b0430d8cdb78070b4c55a"
# McGrew & Viega, GCM spec test case 2 (NIST): zero key, zero IV, one zero block
_GCM_CIPHER = "0388dace60b6a392f328c2b971b2fe78"
_GCM_TAG = "ab6e47d42cec13bdf53a67b21257bddf"
# RFC 8032 §7.1 test 1: the empty message
_ED_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
_ED_SIGNATURE = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
                 "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

KERNEL_BLOCK_PAIRS = 256
EVENT_BLOCK_PAIRS = 640


def _sha256():
    return hashlib.sha256(_ABC).digest() == unhexlify(_SHA256_ABC)


def _sha512():
    from crypto.sha512 import sha512

    return (sha512(_ABC) == unhexlify(_SHA512_ABC)
            and sha512(_TWO_BLOCKS) == unhexlify(_SHA512_TWO_BLOCKS))


def _aes():
    from crypto.aes import AES

    out = bytearray(16)
    AES(unhexlify(_AES_KEY)).encrypt_block(unhexlify(_AES_PLAIN), out)
    return bytes(out) == unhexlify(_AES_CIPHER)


def _gcm():
    from crypto import gcm

    cipher, tag = gcm.encrypt(bytes(16), bytes(12), bytes(16))
    return bytes(cipher) == unhexlify(_GCM_CIPHER) and bytes(tag) == unhexlify(_GCM_TAG)


def _ed25519_accepts():
    from crypto import ed25519

    return ed25519.verify(unhexlify(_ED_PUBLIC), b"", unhexlify(_ED_SIGNATURE)) is True


def _ed25519_rejects():
    from crypto import ed25519

    # the same signature over another message: the whole computation runs, and must fail
    return ed25519.verify(unhexlify(_ED_PUBLIC), b"r", unhexlify(_ED_SIGNATURE)) is False


CRYPTO_CHECKS = (
    ("sha256", _sha256), ("sha512", _sha512), ("aes128", _aes), ("gcm", _gcm),
    ("ed25519-accept", _ed25519_accepts), ("ed25519-reject", _ed25519_rejects),
)


def kernel_block():
    """A fixed block of interleaved codes with zero crossings both ways: a triangle of
    1500 counts around mid-rail (80 pairs a cycle) and a current lagging by 10 pairs."""
    buf = array("H", bytes(4 * KERNEL_BLOCK_PAIRS))
    for k in range(KERNEL_BLOCK_PAIRS):
        buf[2 * k] = 2048 + _triangle(k)
        buf[2 * k + 1] = 2048 + _triangle(k - 10) // 3
    return buf


def _triangle(k):
    phase = k % 80
    return 75 * phase if phase < 20 else (1500 - 75 * (phase - 20) if phase < 60 else 75 * (phase - 80))


def _sums_and_state(swell_in, swell_out):
    """Cleared sums and a kernel state for the fixed blocks: mid-rail 2048, hysteresis 8,
    cycles of at most 120 pairs, sags below mean square 800,000 (out above 900,000),
    swells above swell_in (out below swell_out), events of two half cycles or more."""
    from metering import kernel
    from metering import voltage_quality as vq

    acc = array("i", bytes(4 * kernel.ACC_LEN))
    kernel.clear(acc)
    st = array("i", bytes(4 * kernel.ST_LEN))
    st[kernel.ST_V_MID] = st[kernel.ST_PREV_V] = 2048
    st[kernel.ST_I_MID] = st[kernel.ST_PREV_I] = 2048
    st[kernel.ST_HYST] = 8
    st[vq.ST_CYC_MAX] = 120
    st[vq.ST_SAG_IN] = 800000
    st[vq.ST_SAG_OUT] = 900000
    st[vq.ST_SWELL_IN] = swell_in
    st[vq.ST_SWELL_OUT] = swell_out
    st[vq.ST_PQ_MIN] = 2
    return acc, st


def kernel_agrees(fast, plain):
    """True if `fast` gives the plain twin's sums, state and stop index on the fixed
    block (a window that closes at a crossing, then the rest of the block)."""
    from metering import kernel

    buf = kernel_block()
    results = []
    for accumulate in (fast, plain):
        # the triangle's cycles (mean square 750,000) are sags that count from the
        # second: both kernels hand the same cycles to the voltage-quality judgement
        acc, st = _sums_and_state(1 << 29, 1 << 29)
        st[kernel.ST_STOP_FROM] = 100
        stops = []
        start = 0
        while start < KERNEL_BLOCK_PAIRS:
            start = accumulate(buf, start, KERNEL_BLOCK_PAIRS, acc, st)
            stops.append(start)
            st[kernel.ST_STOP_FROM] = 1 << 20
            st[kernel.ST_STOPPED] = 0
        results.append((list(acc), list(st), stops))
    return results[0] == results[1]


def _event_block():
    """Sags (a triangle of 1500 counts: mean square 750,000), 160 pairs at mid-rail (more
    than a cycle: the supply gone, so the sag ends at the next arming), then swells (2000
    counts: 1,333,333), the current a third of the voltage lagging 10 pairs."""
    buf = array("H", bytes(4 * EVENT_BLOCK_PAIRS))
    for k in range(EVENT_BLOCK_PAIRS):
        v = 0 if 240 <= k < 400 else _triangle(k) * (4 if k >= 400 else 3) // 3
        buf[2 * k] = 2048 + v
        buf[2 * k + 1] = 2048 + v // 3
    return buf


def events_agree(fast, plain):
    """True if `fast` and the plain twin, called on the same 37-pair pieces of the event
    block in lockstep, return the same indices and leave the same sums and state after
    every call: the arming refresh, the end of an event when the supply goes, the cycle
    counts that overflow and the start with no cycle under way (the sentinel)."""
    from metering import kernel
    from metering import voltage_quality as vq

    buf = _event_block()
    runs = []
    for _ in range(2):
        acc, st = _sums_and_state(1200000, 1100000)
        st[kernel.ST_STOP_FROM] = 1 << 20
        st[vq.ST_CYC_N] = st[vq.ST_ARM_N] = 121  # no cycle under way, as at a start
        runs.append((acc, st))
    start = 0
    while start < EVENT_BLOCK_PAIRS:
        end = min(start + 37, EVENT_BLOCK_PAIRS)
        stops = [accumulate(buf, start, end, acc, st)
                 for accumulate, (acc, st) in zip((fast, plain), runs)]
        if stops[0] != stops[1] or runs[0][0] != runs[1][0] or runs[0][1] != runs[1][1]:
            return False
        start = stops[0]
    return True


def _load_crypto():
    """Import every module the checks use before any check runs: long-lived module objects
    allocated between the checks' temporary big ints would leave the heap in pieces."""
    for name in ("crypto.sha512", "crypto.aes", "crypto.gcm", "crypto.ed25519"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - the check that needs it fails on its own import
            pass


def crypto_failures():
    """The names of the crypto checks that did not give the known answer (the boot stage
    runs these alone before it verifies a package)."""
    _load_crypto()
    failed = []
    for name, check in CRYPTO_CHECKS:
        try:
            ok = check() is True
        except Exception:  # noqa: BLE001 - any error in a known-answer test is a failure
            ok = False
        if not ok:
            failed.append(name)
    return failed


def run():
    crypto_failed = crypto_failures()
    kernel_failed = []
    from metering import kernel

    fast = kernel.VIPER_ACCUMULATE
    if fast is not None:
        try:
            ok = (kernel_agrees(fast, kernel.accumulate)
                  and events_agree(fast, kernel.accumulate))
        except Exception:  # noqa: BLE001
            ok = False
        if not ok:
            kernel_failed.append("metering-kernel")
    # the crypto modules stay loaded: imported now, at boot, they are not asked for again
    # late in the meter's life, when the heap is fragmented
    return PostResult(crypto_failed, kernel_failed)

