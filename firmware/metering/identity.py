"""The metering module's identity: SHA-256 over its code, the way WELMEC 7.2 identifies
legally relevant software. Shown by `status` and `controlplane()`, named in every boot
entry of the audit log (so the head-end's fleet report has it), and checked at boot
against the code actually on the flash where the sources are there.

SOFTWARE_ID is written by `python -m tools.deploy.identity` from firmware/metering/ and a
test recomputes it, so it cannot go stale. What it covers is MODULES: every module of the
metering package but this one, each as name, NUL, length, NUL and its bytes.
"""
import hashlib

MODULES = ("__init__", "bench_calibration", "calibration", "calibration_store", "clock_trust",
           "current_curve", "harmonics", "ic_windows", "intervals", "kernel", "kernel_viper",
           "meter", "pulses", "quadrants", "registers", "replay", "retained", "sampling",
           "tariff", "voltage_quality", "window")
SOFTWARE_ID = "9dff2c224e0e48d4"  # tools.deploy.identity writes it
_CHUNK = 512


def compute(open_module):
    """The id (16 hex digits) of the modules open_module(name) returns as binary files, or
    None if one is missing (OSError)."""
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    for name in MODULES:
        try:
            f = open_module(name)
        except OSError:
            return None
        with f:
            size = f.seek(0, 2)  # the length goes first; the bytes then stream through buf
            f.seek(0)
            h.update(name.encode() + b"\0" + str(size).encode() + b"\0")
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(mv[:n])
    return "".join("%02x" % b for b in h.digest()[:8])


def check(folder):
    """(software id, how it stands): "verified" when the sources in `folder` hash to
    SOFTWARE_ID, "MISMATCH <id>" when they do not, "as built (compiled or frozen: not
    re-checked)" when they are not there as sources."""
    got = compute(lambda name: open(folder + "/" + name + ".py", "rb"))
    if got is None:
        return SOFTWARE_ID, "as built (compiled or frozen: not re-checked)"
    if got != SOFTWARE_ID:
        return SOFTWARE_ID, "MISMATCH: the code on flash hashes to %s" % got
    return SOFTWARE_ID, "verified"


def folder():
    """The folder this package was imported from ("" if unknown: frozen)."""
    path = __file__ if "__file__" in globals() else ""
    return path.rsplit("/", 1)[0] if "/" in path else ""
