"""MicroPython benchmark: one Ed25519 verification (crypto.ed25519) against the RFC 8032 §6
reference (crypto.ed25519_ref) in the same run, SHA-512 of 1 KB, and the heap it needs.

Usage: micropython [-X heapsize=64K] tools/bench/benchmarks/ed25519_cost.py REPO_ROOT
Prints one JSON line; times are medians in ms, heap figures in bytes:
  verify_ms, verify_ref_ms, speedup      fast path, §6 reference, their ratio
  first_verify_ms                        first call, which builds the 32-point table of B
  sha512_1k_ms, sha512_1k_plain_ms       SHA-512 of 1 KB: viper kernel, plain-Python twin
  pidigits_65_ms                         MicroPython's tests/perf_bench/bm_pidigits workload
                                         (N=100, M=100: 65 digits), a big-int yardstick with
                                         a published board figure
  heap_total                             gc.mem_alloc() + gc.mem_free() at start
  base_table_bytes                       heap the cached table of B keeps
  verify_min_free_bytes                  least free heap (gc.mem_free) a verification still
                                         succeeded with: the rest filled with ballast, the
                                         free amount bisected; GC runs as it must
  verify_alloc_bytes                     bytes one verification allocates with the GC off
                                         (garbage churn; null when the heap is under 1 MB)
  est_esp32_ms, est_rp2040_ms            verify_ms x (PYBv1.0 pidigits / ours) / (board
                                         speed / PYBv1.0), see _BOARDS; null when the heap
                                         is under 1 MB, where the unix port's GC swamps the
                                         yardstick (run without -X heapsize for them)
Compare figures within one run: absolute times depend on this machine and its load.
"""
import sys

sys.path[:0] = [sys.argv[1] + "/firmware", sys.argv[1]]

import gc  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from binascii import unhexlify  # noqa: E402

import heap_probe  # noqa: E402 - tools/bench/benchmarks, the script's own folder
from timing import median, median_ms  # noqa: E402

from crypto import ed25519, ed25519_ref, sha512  # noqa: E402

# RFC 8032 §7.1 TEST 2
PK = unhexlify("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
MSG = b"\x72"
SIG = unhexlify("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")

# bm_pidigits (N=100, M=100) on a PYBv1.0 (STM32F405 at 168 MHz, 16-bit big-int digits like
# both boards): 104.1 ms, micropython/micropython PR #4858. Board speed relative to PYBv1.0:
# ESP32 at 240 MHz 1661 pystones/s (micropython issue #5673, v1.12) against the PYBv1.0's
# 1848 in the same PR: 0.90; RP2040 at 125 MHz 13.0 s / 19.8 s = 0.66 on one script run on
# both (scruss.com "Parallel MicroPython Benchmarking", pyboard v1.1 vs Pico W).
_PYB_PIDIGITS_MS = 104.1
_BOARDS = {"esp32": 0.90, "rp2040": 0.66}


def _pi_digits(n):
    """The benchmarks-game spigot as bm_pidigits runs it: 4-tuples composed by 2x2
    matrix products, a digit once floor((3q+r)/(3s+t)) == floor((4q+r)/(4s+t))."""
    q, r, s, t = 1, 0, 0, 1
    k = 1
    digits = []
    while len(digits) < n:
        y = (q * 3 + r) // (s * 3 + t)
        while y != (q * 4 + r) // (s * 4 + t):
            b0, b1, b3 = k, 4 * k + 2, 2 * k + 1
            q, r, s, t = q * b0, q * b1 + r * b3, s * b0 + t * 0, s * b1 + t * b3
            k += 1
            y = (q * 3 + r) // (s * 3 + t)
        q, r, s, t = 10 * q, 10 * r + (-10 * y) * t, 0 * q + 1 * s, 0 * r + 1 * t
        digits.append(y)
    return digits


def _verify_ok():
    if not ed25519.verify(PK, MSG, SIG):
        raise SystemExit("verification failed")


def main():
    gc.collect()
    heap_total = gc.mem_alloc() + gc.mem_free()
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    _verify_ok()
    first_ms = time.ticks_diff(time.ticks_us(), t0) / 1000
    gc.collect()
    table_bytes = gc.mem_alloc() - before  # the table is the only thing verify() keeps
    fast, ref, pidigits = [], [], []
    for _ in range(7):  # interleaved, so all three see the same machine load
        fast.append(median_ms(_verify_ok, 1))
        ref.append(median_ms(lambda: ed25519_ref.verify(PK, MSG, SIG), 1))
        pidigits.append(median_ms(lambda: _pi_digits(65), 1))
    verify_ms = median(fast)
    ref_ms = median(ref)
    pidigits_ms = median(pidigits)
    data = bytes(1024)
    sha_ms = median_ms(lambda: sha512.SHA512(data).digest(), 9)
    try:
        sha_plain_ms = median_ms(lambda: sha512.SHA512(data, use_viper=False).digest(), 3)
    except MemoryError:  # big-int words in a small, fragmented heap
        sha_plain_ms = None
    alloc = None
    gc.collect()
    if gc.mem_free() > 1024 * 1024:
        gc.disable()
        a0 = gc.mem_alloc()
        _verify_ok()
        alloc = gc.mem_alloc() - a0
        gc.enable()
    min_free = heap_probe.min_free(_verify_ok, cap=65536, resolution=128)
    out = {
        "verify_ms": round(verify_ms, 3),
        "verify_ref_ms": round(ref_ms, 3),
        "speedup": round(ref_ms / verify_ms, 2),
        "first_verify_ms": round(first_ms, 3),
        "sha512_1k_ms": round(sha_ms, 4),
        "sha512_1k_plain_ms": sha_plain_ms and round(sha_plain_ms, 3),
        "pidigits_65_ms": round(pidigits_ms, 3),
        "heap_total": heap_total,
        "base_table_bytes": table_bytes,
        "verify_min_free_bytes": min_free,
        "verify_alloc_bytes": alloc,
    }
    for board, speed in _BOARDS.items():
        est = None
        if heap_total >= 1024 * 1024:
            est = round(verify_ms * _PYB_PIDIGITS_MS / pidigits_ms / speed)
        out["est_%s_ms" % board] = est
    print(json.dumps(out))


main()
