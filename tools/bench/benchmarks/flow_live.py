"""MicroPython benchmark: the whole meter's live heap, step by step, on the 64-bit unix port
and on a 32-bit MicroPython (tools/mp32: the webassembly port), the same .mpy code on both.
The ratio of the two is what a 32-bit board keeps per byte the unix port keeps; it turns
the unix port's least-heap figures (flow_heap.py) into a board's.

The flow is flow_heap.py's: the App on the sim board, commissioned, metering with P1, a
signed update installed through its own gate, metering on; or the boards' way, the package
staged and then installed by the boot stage in a fresh interpreter. Live heap is taken after
a collection at the end of each step. The 32-bit port collects only between calls from
node (run.mjs: mp32_steps), so the steps are a generator it drives; the unix port runs the
same generator and collects itself.

Usage: micropython flow_live.py ROOT MPY_DIR WORK_DIR meter NAME [stage] [rom]
       micropython flow_live.py ROOT MPY_DIR WORK_DIR boot NAME [rom]
  WORK_DIR holds update.pkg and policy.bin (flow_heap.py setup); NAME must be new for meter;
  stage: the boards' way, the meter only stages the package, and `boot NAME` installs it.
  rom: the code runs from a ROMFS image at /rom, out of the heap as on a board: on the
  32-bit port run.mjs --romfs mounts it; on the unix port MPY_DIR names the image, which is
  read into the heap, mounted, and left out of the figures. Prints one JSON line: live
  bytes after each step.
"""
import gc
import json
import os
import sys

ROOT, MPY_DIR, WORK, STEP, NAME = sys.argv[1:6]
OPTIONS = sys.argv[6:]
STAGE = "stage" in OPTIONS
ROM = "rom" in OPTIONS
_rom_bytes = 0
if ROM and sys.platform != "webassembly":  # run.mjs --romfs mounts it outside the heap
    import vfs

    _rom = bytearray(os.stat(MPY_DIR)[6])  # MPY_DIR is the image here
    with open(MPY_DIR, "rb") as _f:
        _f.readinto(_rom)
    vfs.mount(vfs.VfsRom(_rom), "/rom")
    gc.collect()
    _rom_bytes = gc.mem_alloc()  # the image's block and what mounting it took
sys.path[:0] = ["/rom" if ROM else MPY_DIR]

WINDOWS_BEFORE = 3
WINDOWS_AFTER = 2


def _meter_steps(live):
    os.mkdir(WORK + "/" + NAME)  # fails if it exists: every run is a fresh meter
    os.chdir(WORK + "/" + NAME)
    if STAGE:
        from flow_files import copy_package

        copy_package(WORK + "/update.pkg", "update.pkg")
    yield "start"
    import main

    app = main.build_app("sim", install_at_boot=STAGE, paced=False, storage_root="data",
                         p1_path=None)
    yield "built"
    with open(WORK + "/policy.bin", "rb") as f:
        policy = f.read()
    app.commission(policy, bytes(range(16)), bytes(range(1, 17)), bytes(range(2, 18)))
    policy = None
    yield "commissioned"
    _meter(app, WINDOWS_BEFORE)
    yield "metering"
    if STAGE:
        result = app.install_update("update.pkg")
    else:
        result = app.update_gate().install_file(WORK + "/update.pkg", activate=False,
                                                remove=False)
    live["result"] = str(result.get("version", "staged" if STAGE else None))
    live["self_test"] = app.post.summary() if hasattr(app, "post") else None
    yield "installed"
    _meter(app, WINDOWS_AFTER)
    live["windows"] = app.meter.sampler.windows
    live["kernel"] = app.meter.sampler.kernel_name
    yield "metering_after"


def _boot_steps(live):
    os.chdir(WORK + "/" + NAME)
    yield "start"
    import boot_install

    verdict = boot_install.install_pending("", activate=False)
    live["result"] = verdict
    yield "installed"


def _meter(app, windows):
    target = app.meter.sampler.windows + windows
    while app.meter.sampler.windows < target:
        app.step()


def mp32_steps():
    """One step per call: live heap taken after each (the caller collects between)."""
    live = {"bits": 32 if sys.maxsize < 2 ** 32 else 64}
    steps = _boot_steps(live) if STEP == "boot" else _meter_steps(live)
    for name in steps:
        yield
        gc.collect()  # the unix port collects now; the 32-bit port has collected already
        live[name] = gc.mem_alloc() - _rom_bytes
    print(json.dumps(live))


if sys.platform != "webassembly":  # run.mjs drives mp32_steps itself
    for _ in mp32_steps():
        gc.collect()
