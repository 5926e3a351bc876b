"""What shared firmware tests need from a test runner, on CPython (pytest) and MicroPython.

Shared tests are plain `def test_*` functions with assert; they use these helpers
instead of pytest features so one file serves both interpreters.
"""
import sys

ON_MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    """Raised to skip a test; the message is the reason shown in the summary."""


def skip(reason):
    if not ON_MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def cpython_only(reason):
    """Decorator for a shared test that cannot run under MicroPython; says why."""

    def wrap(fn):
        if not ON_MICROPYTHON:
            return fn

        def skipped():
            raise SkipTest("CPython only: " + reason)

        return skipped  # the runner finds tests by module attribute name

    return wrap


def micropython_only(reason):
    """Decorator for a shared test that needs the MicroPython interpreter; says why."""

    def wrap(fn):
        if ON_MICROPYTHON:
            return fn

        def skipped():
            skip("MicroPython only: " + reason)

        skipped.__name__ = fn.__name__
        return skipped

    return wrap


def temp_root(tag):
    """A fresh folder path under /tmp for one test's meter flash (not created: the
    firmware makes it), distinct per interpreter so both runs can share a machine."""
    import os

    base = "/tmp/meter-%s-%d" % (tag, 2 if ON_MICROPYTHON else 1)
    try:
        os.mkdir(base)
    except OSError:
        pass
    if hasattr(os, "urandom"):
        tag = "".join("%02x" % b for b in os.urandom(6))
    else:  # the 32-bit rig (tools/mp32): its /tmp is in memory, one per process
        global _rig_roots
        _rig_roots += 1
        tag = "%d" % _rig_roots
    return base + "/r-" + tag


_rig_roots = 0


def made_root(tag):
    """temp_root(tag), created with its parents: a fresh flash folder to run a meter in."""
    import os

    path = temp_root(tag)
    parts = path.split("/")
    for k in range(2, len(parts) + 1):
        try:
            os.mkdir("/".join(parts[:k]))
        except OSError:
            pass
    return path


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or another."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised by %s" % (exc_type.__name__, getattr(fn, "__name__", fn)))


def approx(value, expected, rel=1e-9, abs_tol=0.0):
    return abs(value - expected) <= max(rel * abs(expected), abs_tol)
