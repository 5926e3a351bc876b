"""MicroPython benchmark helper: the least free heap an operation still succeeds in.

The heap is filled with ballast in small pieces: allocation is first-fit, so the pieces
fill the heap's holes in address order and what stays free is one run at the end of the
heap plus holes smaller than a piece. A bisection over the free amount finds the least.
"""
import gc


def works_with_free(fn, free_bytes):
    """Run fn with about free_bytes of heap left free; the free amount it ran with, or
    None if it ran out of memory."""
    gc.collect()
    ballast = None  # a chain of (previous, piece) pairs: no list that must grow
    try:
        while True:
            gap = gc.mem_free() - free_bytes
            if gap <= 64:
                break
            piece = 256 if gap > 1024 else 16
            for _ in range(gap // 2048 + 1):
                ballast = (ballast, bytearray(piece))
    except MemoryError:
        pass
    left = gc.mem_free()
    try:
        fn()
        ok = True
    except MemoryError:
        ok = False
    ballast = None
    gc.collect()
    return left if ok else None


def min_free(fn, cap=None, resolution=256):
    """The least free heap (gc.mem_free) with which fn succeeded, to `resolution` bytes,
    searching below `cap` (default: all that is free now); None if it never did."""
    gc.collect()  # garbage left by the caller would make the first try look full
    lo, hi = 0, gc.mem_free() - 1024
    if cap is not None:
        hi = min(hi, cap)
    best = works_with_free(fn, hi)
    if best is None:
        return None
    while hi - lo > resolution:
        mid = (lo + hi) // 2
        left = works_with_free(fn, mid)
        if left is None:
            lo = mid
        else:
            hi = mid
            best = min(best, left)
    return best
