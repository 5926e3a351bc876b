"""The ESP32 board's sampling loop: read (v, i) pairs on a time.ticks_us grid. The plain
twin is here with the tick constants and the selection (VIPER_ACQUIRE, the build in
esp32_acquire_viper.py, or None); the tests compare the two on the host interpreter and
at the boards' 32-bit word size (host_tests/rigs/word32.py).
"""
from compat import const

TICKS_MASK = const(0x3FFFFFFF)  # ticks_us wraps at 2**30 on 32-bit ports
TICKS_HALF = const(0x20000000)


def acquire(buf, pairs: int, read_v, read_i, ticks_us, due_us, period_us: int) -> int:
    """Plain twin of the viper build (esp32_acquire_viper.acquire): read `pairs` (v, i) pairs into buf, the first at
    ticks_us() == due_us and then one every period_us; return the grid slots skipped.

    A slot found more than half a period late (an interrupt, a flash write) is skipped,
    never read late: reading the backlog back to back would put those samples off the
    grid the analysis assumes. period_us 0 reads back to back (the skew probe)."""
    due = due_us  # tick arithmetic by hand: modulo 2**30, as time.ticks_add
    half = period_us // 2
    skipped = 0
    k = 0
    end = 2 * pairs
    while k < end:
        late = (ticks_us() - due) & TICKS_MASK
        while late >= TICKS_HALF:  # not due yet
            late = (ticks_us() - due) & TICKS_MASK
        if period_us and late > half:
            missed = (late + half) // period_us
            due = (due + missed * period_us) & TICKS_MASK
            skipped += missed
            continue
        buf[k] = read_v()
        buf[k + 1] = read_i()
        due = (due + period_us) & TICKS_MASK
        k += 2
    return skipped


try:  # the viper build, on MicroPython
    from boards.esp32_acquire_viper import acquire as VIPER_ACQUIRE
except (ImportError, SyntaxError, ValueError):  # CPython, or a port without viper
    VIPER_ACQUIRE = None
