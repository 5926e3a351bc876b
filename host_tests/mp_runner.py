"""Runs firmware test files (host_tests/firmware) under the MicroPython unix port.

Usage: micropython host_tests/mp_runner.py REPO_ROOT FILE.py [FILE.py ...]
Prints one line per test: MPTEST <outcome> <file>::<test> <message>
"""
import sys


def tests():
    """Each test in turn (a generator: the 32-bit rig, tools/mp32, collects garbage only
    between its steps, so it is driven one test at a time)."""
    root = sys.argv[1]
    for path in (root + "/host_tests", root, root + "/firmware"):
        sys.path.insert(0, path)
    import mptest

    for path in sys.argv[2:]:
        # host_tests/firmware/test_x.py -> host_tests.firmware.test_x ("firmware" alone
        # would be the firmware folder, which is on the path too)
        module_name = ".".join(path.split("/")[-3:])[:-3]
        try:
            module = __import__(module_name, None, None, ("x",))
        except Exception as exc:
            print("MPTEST error %s::<import> %s: %s" % (path, type(exc).__name__, exc))
            sys.print_exception(exc)
            continue
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(module, attr)
            if not callable(fn):
                continue
            yield
            try:
                fn()
                print("MPTEST passed %s::%s" % (path, attr))
            except mptest.SkipTest as exc:
                print("MPTEST skipped %s::%s %s" % (path, attr, exc))
            except Exception as exc:
                print("MPTEST failed %s::%s %s: %s" % (path, attr, type(exc).__name__, exc))
                sys.print_exception(exc)


if sys.platform == "webassembly":
    mp32_steps = tests  # run.mjs drives it
else:
    for _ in tests():
        pass
