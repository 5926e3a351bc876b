"""Tests that need a Debian package: skip on a laptop without it (naming the package);
under CI (METER_CI=1, set by .ci/run, which installs them) a missing one fails instead."""
import os
import shutil

import pytest


def require(program, package):
    """Path of `program`, or skip/fail naming the Debian `package` that provides it."""
    for folder in ("", "/usr/sbin/", "/usr/bin/"):
        path = shutil.which(program) if not folder else folder + program
        if path and os.path.exists(path):
            return path
    message = "needs Debian package %s (%s not found): apt-get install %s" % (
        package, program, package)
    if os.environ.get("METER_CI"):
        pytest.fail("CI must run every test: " + message)
    pytest.skip(message)


def require_mp32():
    """The 32-bit MicroPython (tools/mp32: node and its npm package), or skip/fail as for a
    Debian package."""
    from tools import mp32

    require("node", "nodejs")
    reason = mp32.missing()
    if reason:
        if os.environ.get("METER_CI"):
            pytest.fail("CI must run every test: " + reason)
        pytest.skip(reason)
