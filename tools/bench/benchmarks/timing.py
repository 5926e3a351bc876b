"""MicroPython benchmark helper: the median time of a few runs of an operation, in ms."""
import time


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def median_ms(fn, runs=5):
    """The median wall time of `runs` calls of fn, in milliseconds."""
    times = []
    for _ in range(runs):
        t0 = time.ticks_us()
        fn()
        times.append(time.ticks_diff(time.ticks_us(), t0) / 1000)
    return median(times)
