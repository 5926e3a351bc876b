"""Run on the MicroPython unix port by test_hostile_inputs.py, with the firmware's code in a
ROMFS image (as frozen code on a board: bytecode stays out of the heap) and the heap the
board issue budgets. Builds the update gate and the control plane on a flash folder,
commissions the test policy, then feeds it every case file: each must be refused with a
reason code and an audit entry. Prints one JSON line per case, then a summary.

Usage: micropython -X heapsize=N hostile_gate.py ROM_IMAGE|MPY_DIR WORK_DIR
"""
import sys

ROM, WORK = sys.argv[1:3]

import gc  # noqa: E402
import os  # noqa: E402
import vfs  # noqa: E402

if os.stat(ROM)[0] & 0x4000:  # a folder of .mpy files: loaded into RAM (make deploy)
    sys.path[:0] = [ROM]
else:  # a ROMFS image: the code stays in the image, as frozen code stays in flash
    _rom = bytearray(os.stat(ROM)[6])
    with open(ROM, "rb") as _f:
        _f.readinto(_rom)
    vfs.mount(vfs.VfsRom(_rom), "/rom")
    sys.path[:0] = ["/rom"]

import json  # noqa: E402
import time  # noqa: E402

from control import tokens  # noqa: E402
from control.audit import AuditLog  # noqa: E402
from control.plane import ControlPlane  # noqa: E402
from storage.flash import FileStore, read_path  # noqa: E402
from update import policy  # noqa: E402
from update.apply import Updater  # noqa: E402
from update.errors import UpdateRejected  # noqa: E402
from update.policy import PolicyStore  # noqa: E402
from update.tree import FileTree  # noqa: E402

NOW_S = 1795449600


class Clock:
    trusted = True

    def time(self):
        return NOW_S

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)


def main():
    clock = Clock()
    store = FileStore(WORK + "/data")
    audit = AuditLog(store)
    policies = PolicyStore(store)
    with open(WORK + "/policy.bin", "rb") as f:
        policies.commission(f.read())
    plane = ControlPlane(store, policies, audit, clock, "sim-0001", {
        "set-tariffs": lambda params: "applied"})
    FileStore(WORK + "/flash")  # the flash root: makes the folder
    gate = Updater(FileStore(WORK + "/fw"), FileTree(WORK + "/flash"), "sim", "sim-v1", clock,
                   audit, policies=policies)
    gc.collect()
    base_free = gc.mem_free()
    least_free = base_free
    with open(WORK + "/cases.json") as f:
        cases = json.load(f)
    for name, kind in cases:
        path = WORK + "/" + name
        entries_before = audit.log.last_seq or 0
        reason = None
        try:
            if kind == "package":  # copied onto the flash as a technician does
                with open(path, "rb") as src, open(WORK + "/flash/update.pkg", "wb") as dst:
                    while True:  # in small pieces, as mpremote writes it
                        chunk = src.read(256)
                        if not chunk:
                            break
                        dst.write(chunk)
                gate.install_file("update.pkg")
            elif kind == "policy":  # read as the shell reads it (service.policy)
                gate.install_policy([read_path(path, policy.MAX_BYTES)])
            else:  # as the shell reads a token (service.apply)
                plane.apply(read_path(path, tokens.MAX_BYTES), "operator-link")
            reason = "ACCEPTED"
        except (UpdateRejected, tokens.TokenRefused) as exc:
            reason = exc.reason
        least_free = min(least_free, gc.mem_free())
        gc.collect()
        print(json.dumps({"case": name, "reason": reason, "free": gc.mem_free(),
                          "audited": (audit.log.last_seq or 0) > entries_before}))
    print(json.dumps({"done": True, "free_after_boot": base_free, "least_free": least_free}))


main()
