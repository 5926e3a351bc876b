"""Viper build of boards.esp32_acquire.acquire for MicroPython: the same grid, the same
skipping of late slots. Selected at import by boards.esp32_acquire; its tick constants
are esp32_acquire's (a test checks they agree).
"""
import micropython

from compat import const

_TICKS_MASK = const(0x3FFFFFFF)  # esp32_acquire.TICKS_MASK and TICKS_HALF
_TICKS_HALF = const(0x20000000)


@micropython.viper
def acquire(buf, pairs: int, read_v, read_i, ticks_us, due_us,
            period_us: int) -> int:
    p = ptr16(buf)  # noqa: F821 (viper built-in)
    due = int(due_us)
    half = period_us // 2
    skipped = 0
    k = 0
    end = 2 * pairs
    while k < end:
        late = (int(ticks_us()) - due) & _TICKS_MASK
        while late >= _TICKS_HALF:
            late = (int(ticks_us()) - due) & _TICKS_MASK
        if period_us and late > half:
            missed = (late + half) // period_us
            due = (due + missed * period_us) & _TICKS_MASK
            skipped += missed
            continue
        p[k] = int(read_v())
        p[k + 1] = int(read_i())
        due = (due + period_us) & _TICKS_MASK
        k += 2
    return skipped
