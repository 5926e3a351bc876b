"""mpremote as a field technician runs it, for the system tests that drive the virtual
board: one call with a timeout, so a hung board fails the test instead of blocking the run."""
import os
import subprocess
import sys

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
CALL_TIMEOUT_S = 30


def mpremote(device, *args):
    """Runs `mpremote connect DEVICE ARGS...`; returns stdout, fails with stderr."""
    proc = subprocess.run(
        [MPREMOTE, "connect", device] + list(args),
        capture_output=True, text=True, timeout=CALL_TIMEOUT_S,
    )
    assert proc.returncode == 0, "mpremote %s failed:\n%s%s" % (args, proc.stdout, proc.stderr)
    return proc.stdout
