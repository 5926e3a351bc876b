"""MicroPython benchmark: the whole meter in one heap. The App on the sim board, its code
from the mpy-cross build (the `make deploy` path), meters with P1, installs a signed
200 KB update through its own gate (commissioned with an operator policy), then meters on.
tools/bench/report.py runs it at decreasing `-X heapsize` to find the least heap it
succeeds in.

The boards' way (at_boot=1; boards with INSTALL_AT_BOOT, boot_install) is two
runs, each a fresh heap as after a reset: `run` builds the App, meters, and only stages
the package; then `boot` in the same folder is the boot stage installing it before any
of the meter is built.

Usage: micropython -X heapsize=N flow_heap.py ROOT MPY_DIR WORK_DIR setup
       micropython -X heapsize=N flow_heap.py ROOT MPY_DIR WORK_DIR run NAME [rom=IMAGE]
                                                               [holes=BYTES] [at_boot=1]
       micropython -X heapsize=N flow_heap.py ROOT MPY_DIR WORK_DIR boot NAME [rom=IMAGE]
  setup  writes WORK_DIR/update.pkg, policy.bin and token.bin (run with a large heap)
  run    the flow, its storage in WORK_DIR/NAME (a fresh meter: NAME must be new); prints
         one JSON line; exit status 0 only if every step succeeded.
         rom=IMAGE: the code runs from IMAGE (a ROMFS image of MPY_DIR, `mpremote romfs
         build`) mounted at /rom, as on a board with a ROMFS partition: bytecode and
         constants stay in the image, not on the heap. The image is read into one block
         allocated first; "heap_for_firmware" is the heap without it.
         holes=BYTES: after boot (App built and commissioned) the free heap is cut into
         holes of at most BYTES, so the rest of the flow fails at the first allocation
         larger than that: the probe for "nothing after boot allocates more than BYTES".
"""
import sys

ROOT, MPY_DIR, WORK, STEP = sys.argv[1:5]
RUN_NAME = sys.argv[5] if len(sys.argv) > 5 else None
OPTIONS = dict(arg.split("=", 1) for arg in sys.argv[6:])
ROM_IMAGE = OPTIONS.get("rom")
HOLE_BYTES = int(OPTIONS["holes"]) if "holes" in OPTIONS else None
AT_BOOT = OPTIONS.get("at_boot") == "1"
sys.argv[2:] = [MPY_DIR]  # update_cost's own import path: the same code

import gc  # noqa: E402

_rom_block = 0
if ROM_IMAGE:
    import os
    import vfs

    _rom = bytearray(os.stat(ROM_IMAGE)[6])
    with open(ROM_IMAGE, "rb") as _f:
        _f.readinto(_rom)
    vfs.mount(vfs.VfsRom(_rom), "/rom")
    _rom_block = (len(_rom) + 31) // 32 * 32  # the GC's 32-byte blocks on this 64-bit port
    sys.path[:0] = ["/rom"]
else:
    sys.path[:0] = [MPY_DIR]

import json  # noqa: E402
import os  # noqa: E402

EXPIRES = 4102444800  # 2100-01-01: the App runs on the wall clock
WINDOWS_BEFORE = 3
WINDOWS_AFTER = 2


def setup():
    import update_cost

    update_cost.write_package(WORK + "/update.pkg", EXPIRES)
    policy = update_cost.sign_envelope(_policy_body(update_cost), update_cost.signed.POLICY_DOMAIN,
                                        ("root",))
    with open(WORK + "/policy.bin", "wb") as f:
        f.write(policy)
    # a command token for the sim board's meter (boards/sim.py: "sim-0001"), signed by the
    # release key: the control plane's use in the flow
    token = update_cost.sign_envelope(
        {"type": "open-meter-command", "format": 1, "command": "set-tariffs",
         "params": {"schedule": {"low_from_hour": 22, "low_until_hour": 6,
                                 "low_weekdays": [5, 6]}},
         "meter": "sim-0001", "counter": 1, "expires": EXPIRES},
        b"open-meter/command/v1\x00", ("release",))
    with open(WORK + "/token.bin", "wb") as f:
        f.write(token)


def _policy_body(update_cost):
    from binascii import hexlify

    ed25519_ref = update_cost.signer()

    keys = {}
    for name, role in (("root", "operator-root"), ("release", "operator-release"),
                       ("vendor", "vendor")):
        public = ed25519_ref.secret_to_public(update_cost.seed(name))
        keys[update_cost.signed.key_id(public)] = {"public": hexlify(public).decode(),
                                                   "role": role}
    return {"format": 1, "keys": keys, "thresholds": {"emergency": 1, "release": 1, "root": 1,
                                                      "vendor": 1},
            "type": "open-meter-policy", "vendor_required": True, "version": 1}


def _copy_package():
    from flow_files import copy_package

    copy_package(WORK + "/update.pkg", "update.pkg")
    gc.collect()


def run():
    heap = gc.mem_alloc() + gc.mem_free()
    os.mkdir(WORK + "/" + RUN_NAME)  # fails if it exists: every run is a fresh meter
    os.chdir(WORK + "/" + RUN_NAME)
    if AT_BOOT:
        _copy_package()
    import main

    app = main.build_app("sim", install_at_boot=AT_BOOT, paced=False, storage_root="data",
                         p1_path=None)
    live = {"built": _live()}
    with open(WORK + "/policy.bin", "rb") as f:
        policy = f.read()
    app.commission(policy, bytes(range(16)), bytes(range(1, 17)), bytes(range(2, 18)))
    policy = None
    holes_free = _leave_only_holes(HOLE_BYTES) if HOLE_BYTES else None
    low = [gc.mem_free()]

    def meter(windows):
        target = app.meter.sampler.windows + windows
        while app.meter.sampler.windows < target:
            app.step()
            free = gc.mem_free()
            if free < low[0]:
                low[0] = free

    meter(WINDOWS_BEFORE)
    with open(WORK + "/token.bin", "rb") as f:
        applied = app.apply_token(f.read())  # the control plane's code, loaded for it
    if AT_BOOT:
        result = app.install_update("update.pkg")  # staged: the boot stage installs it
        result["version"] = "staged"
    else:
        result = app.update_gate().install_file(WORK + "/update.pkg", activate=False,
                                                remove=False)
    live["installed"] = _live()  # the update gate's code and state still loaded
    largest_free = _largest_free_block()
    meter(WINDOWS_AFTER)
    gc.collect()
    print(json.dumps({"ok": True, "heap_total": heap, "heap_for_firmware": heap - _rom_block,
                      "installed": result["version"], "token": applied,
                      "live_built": live["built"],
                      "live_installed": live["installed"], "holes_free": holes_free,
                      "largest_free_after_install": largest_free,
                      "windows": app.meter.sampler.windows, "lowest_free": low[0],
                      "kernel": app.meter.sampler.kernel_name,
                      "self_test": app.post.summary() if hasattr(app, "post") else None}))


def boot():
    """The boot stage after the restart: installs what `run` staged, in a fresh heap,
    before any of the meter is built (update.loader does the same on a board)."""
    heap = gc.mem_alloc() + gc.mem_free()
    os.chdir(WORK + "/" + RUN_NAME)
    import boot_install

    verdict = boot_install.install_pending("", activate=False)
    largest_free = _largest_free_block()
    ok = verdict is not None and verdict.startswith("accepted")
    print(json.dumps({"ok": ok, "verdict": verdict, "heap_total": heap,
                      "heap_for_firmware": heap - _rom_block, "live_after_install": _live(),
                      "largest_free_after_install": largest_free}))
    if not ok:
        raise SystemExit("boot stage: %s" % verdict)


def _leave_only_holes(hole_bytes):
    """From now on every free block is at most hole_bytes: the free heap is filled with
    one-block objects, which are then freed in runs of at most hole_bytes with one kept
    between runs. An allocation larger than hole_bytes fails however much is free.
    Returns the bytes left free in holes."""
    gc.collect()
    cells = [None] * (gc.mem_free() // _BLOCK)  # one block, allocated before the filling
    count = 0
    try:
        while count < len(cells):
            cells[count] = count + 0.5  # a float: one GC block on this port
            count += 1
    except MemoryError:
        pass
    # allocation after a collection goes up from the lowest free block, so the cells lie in
    # rising address order; a gap between two cells is a live object of the firmware
    run_blocks = hole_bytes // _BLOCK
    previous = 0
    run = 0
    walls = 0
    for k in range(count):
        address = id(cells[k])
        run = run + 1 if address == previous + _BLOCK else 1
        previous = address
        if run > run_blocks:
            run = 0  # this cell stays: the wall between two holes
            walls += 1
        else:
            cells[k] = None
    global _walls
    _walls = cells
    gc.collect()
    if walls == 0 or count < 2:
        raise SystemExit("hole probe: no walls built (%d cells)" % count)
    return gc.mem_free()


_walls = None
_BLOCK = 32 if sys.maxsize > 2 ** 32 else 16  # MicroPython's GC block: four words


def _largest_free_block():
    """The largest bytearray that can be allocated now (bisection, after a collection): the
    largest free block, less the array's header."""
    gc.collect()
    low, high = 0, gc.mem_free()
    while low < high:
        size = (low + high + 1) // 2
        try:
            bytearray(size)
            low = size
        except MemoryError:
            high = size - 1
        gc.collect()
    return low


def _live():
    """Bytes reachable now, without the ROM image's block (a collection first)."""
    gc.collect()
    return gc.mem_alloc() - _rom_block


if STEP == "setup":
    setup()
elif STEP == "boot":
    boot()
else:
    run()
