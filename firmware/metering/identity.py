"""The metering module's identity: SHA-256 over its code, the way WELMEC 7.2 identifies
legally relevant software. Shown by `status` and `controlplane()`, named in every boot
entry of the audit log (so the head-end's fleet report has it), and checked at boot
against the code actually on the flash where the sources are there.

SOFTWARE_ID is written by `python -m tools.deploy.identity` from firmware/metering/ and a
test recomputes it, so it cannot go stale. What it covers is MODULES: every module of the
metering package but this one, each as name, NUL, length, NUL and its bytes.

The energy also depends on the board's code that turns its front-end into what the
metering module takes (the ADC's pacing and skew, the DMA ring, the metering IC's
register scaling). DRIVER_IDS identify it per board, the same way, over the modules
BOARD_DRIVERS names in the boards package: a second id beside SOFTWARE_ID, shown and
checked with it. A board module holds its wiring too, so a change there changes its id.
"""
import hashlib

MODULES = ("__init__", "bench_calibration", "calibration", "calibration_store", "clock_trust",
           "current_curve", "harmonics", "ic_windows", "intervals", "kernel", "kernel_viper",
           "meter", "pulses", "quadrants", "registers", "replay", "retained", "sampling",
           "tariff", "voltage_quality", "window")
SOFTWARE_ID = "c0ff5e1058772dc2"  # tools.deploy.identity writes it
BOARD_DRIVERS = {
    "esp32": ("common", "esp32", "esp32_acquire", "esp32_acquire_viper"),
    "esp32_atm90e32": ("atm90e32", "common", "esp32", "esp32_acquire", "esp32_acquire_viper",
                       "esp32_atm90e32"),
    "rp2040": ("common", "rp2040"),
    "sim": ("common", "front_end_errors", "sim"),
}
DRIVER_IDS = {  # tools.deploy.identity writes it
    "esp32": "feff477a9359010f",
    "esp32_atm90e32": "cc5e1bae222a5b08",
    "rp2040": "86e02b14d9a351eb",
    "sim": "df8d7ea9356dca32",
}
_CHUNK = 512


def compute(open_module, names=MODULES):
    """The id (16 hex digits) of the modules `names` that open_module(name) returns as
    binary files, or None if one is missing (OSError)."""
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    for name in names:
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
    return _standing(SOFTWARE_ID, folder, MODULES)


def check_board(folder, board):
    """(driver id, how it stands) of `board` (its NAME) against the boards package's
    sources in `folder`, as check() does; ("none", ...) for a board without an entry."""
    expected = DRIVER_IDS.get(board)
    if expected is None or board not in BOARD_DRIVERS:
        return "none", "no driver identity for board %s" % board
    return _standing(expected, folder, BOARD_DRIVERS[board])


def _standing(expected, folder, names):
    got = compute(lambda name: open(folder + "/" + name + ".py", "rb"), names)
    if got is None:
        return expected, "as built (compiled or frozen: not re-checked)"
    if got != expected:
        return expected, "MISMATCH: the code on flash hashes to %s" % got
    return expected, "verified"


def folder(path=None):
    """The folder of the module file `path` (default: this package's), "" if unknown
    (frozen)."""
    if path is None:
        path = __file__ if "__file__" in globals() else ""
    return path.rsplit("/", 1)[0] if "/" in path else ""
