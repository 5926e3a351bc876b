"""MicroPython benchmark: AES-128-GCM cost of one day's uplink message vs bare AES-ECB.

Run under the unix port: `micropython tools/bench/benchmarks/gcm_cost.py ROOT`. Prints one
JSON line. The message is 96 quarter-hour records x 25 bytes + a 200-byte header; the
GCM paths (viper and plain-Python kernels) and cryptolib ECB over the same number of
bytes run in the same process, so the ratios are free of machine speed.
"""
import sys

sys.path[:0] = [sys.argv[1] + "/firmware", sys.argv[1]]

import gc
import json
import time

from crypto import gcm
from cryptolib import aes

MESSAGE_BYTES = 96 * 25 + 200
FRAME_BYTES = 900
AAD = b"\x30" + bytes(range(16))  # DLMS: security control || authentication key
KEY = bytes(range(16, 32))
IV = b"SYSTITLE" + b"\x00\x00\x00\x01"
RUNS = 5


def best_ns(fn, reps):
    """Fastest of RUNS timings of reps calls, in nanoseconds per call."""
    best = None
    for _ in range(RUNS):
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(reps):
            fn()
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if best is None or dt < best else best
    return best * 1000 // reps


def heap_of(make):
    gc.collect()
    before = gc.mem_alloc()
    obj = make()
    gc.collect()
    used = gc.mem_alloc() - before
    return obj, used


def main():
    msg = bytes(i & 0xFF for i in range(MESSAGE_BYTES))
    frame = msg[:FRAME_BYTES]
    fast, fast_heap = heap_of(lambda: gcm.GCM(KEY))
    plain, plain_heap = heap_of(lambda: gcm.GCM(KEY, gcm.PLAIN_KERNELS))

    blocks = (MESSAGE_BYTES + 15) // 16
    ecb_in = bytearray(16 * blocks)
    ecb_out = bytearray(16 * blocks)
    ecb = aes(KEY, 1)
    one_in = [memoryview(ecb_in)[16 * i:16 * i + 16] for i in range(blocks)]
    one_out = bytearray(16)

    def ecb_blocks():
        for blk in one_in:
            ecb.encrypt(blk, one_out)

    gc.collect()
    before = gc.mem_alloc()
    fast.encrypt(IV, msg, AAD)
    encrypt_alloc = gc.mem_alloc() - before

    viper_ns = best_ns(lambda: fast.encrypt(IV, msg, AAD), 50)
    plain_ns = best_ns(lambda: plain.encrypt(IV, msg, AAD), 3)
    ecb_bulk_ns = best_ns(lambda: ecb.encrypt(ecb_in, ecb_out), 200)
    ecb_blocks_ns = best_ns(ecb_blocks, 50)
    frame_ns = best_ns(lambda: fast.encrypt(IV, frame, AAD), 100)
    ct, tag = fast.encrypt(IV, msg, AAD)
    decrypt_ns = best_ns(lambda: fast.decrypt(IV, ct, AAD, tag[:12]), 50)
    setup_viper_ns = best_ns(lambda: gcm.GCM(KEY), 20)
    setup_plain_ns = best_ns(lambda: gcm.GCM(KEY, gcm.PLAIN_KERNELS), 3)

    print(json.dumps({
        "bench": "gcm_cost",
        "kernels": gcm.KERNELS,
        "message_bytes": MESSAGE_BYTES,
        "gcm_viper_ns": viper_ns,
        "gcm_plain_ns": plain_ns,
        "gcm_viper_decrypt_ns": decrypt_ns,
        "ecb_bulk_ns": ecb_bulk_ns,
        "ecb_blocks_ns": ecb_blocks_ns,
        "viper_vs_ecb_bulk": round(viper_ns / ecb_bulk_ns, 2),
        "viper_vs_ecb_blocks": round(viper_ns / ecb_blocks_ns, 2),
        "plain_vs_viper": round(plain_ns / viper_ns, 1),
        "frame900_viper_ns": frame_ns,
        "setup_viper_ns": setup_viper_ns,
        "setup_plain_ns": setup_plain_ns,
        "gcm_object_heap_bytes": fast_heap,
        "gcm_plain_object_heap_bytes": plain_heap,
        "encrypt_alloc_bytes": encrypt_alloc,
    }))


main()
