"""Portability shims so the same firmware modules run on MicroPython and CPython.

Supplies only what CPython lacks (const, ticks arithmetic); never changes behaviour.
"""
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

# The unix port has no machine.reset(): main.restart() exits with this status instead, and
# the virtual board (tools/vboard.py, which imports it from here) starts the firmware again
HARD_RESET_EXIT = 75

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_TICKS_PERIOD = 1 << 30
_TICKS_HALF = _TICKS_PERIOD // 2


def ticks_diff(end, start):
    """Signed difference of two ticks values, as MicroPython's time.ticks_diff."""
    return ((end - start + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF


def ticks_add(ticks, delta):
    return (ticks + delta) & (_TICKS_PERIOD - 1)
