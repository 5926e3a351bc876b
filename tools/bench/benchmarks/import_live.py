"""MicroPython benchmark: where the running meter's live heap goes, module by module, on the
32-bit port (tools/mp32, a step per import: it collects between steps).

Imports main.wire's modules one at a time in the order wire imports them, each a step, then
builds the App on the sim board: each row is the live bytes a module added with whatever it
imported that was not loaded yet, and the last row the objects the App holds. Then the
code each kind of use loads (main.ON_DEMAND) is loaded and released, as the use does:
what it adds, and what is left of it after. Ends with
micropython.qstr_info(): the interned names, which frozen code keeps in flash.

Usage: node tools/mp32/run.mjs --romfs IMAGE --dir WORK import_live.py CODE WORK MODULE...
  CODE: /rom (run.mjs --romfs) or a folder of .mpy. Prints one JSON line, then qstr_info.
"""
import gc
import json
import micropython
import os
import sys

CODE, WORK = sys.argv[1:3]
MODULES = sys.argv[3:]
# the last row: main.build_app on the sim board, with the board's module it imports, and
# the pools of the names the on-demand code interns when each module loads once at boot
BUILT = "(build_app: the board's module, the App's objects, the on-demand code's names)"
# a use and the modules it imports first (the rest come with them); () stands for all
USES = (("a command token", ("control.plane", "control.tokens", "control.handlers")),
        ("the control-plane statement (the shell's controlplane(), with the control plane"
         " for its break-glass state)", ("control.plane", "control.tokens", "control.handlers",
                                         "control.statement")),
        ("the update gate, the boards' way (staging, the trial, the boot report)",
         ("update.apply",)),
        ("a package verified in the meter (the sim board's way)", ("update.apply", "update.verify")),
        ("every on-demand module at once", ()))
sys.path[:0] = [CODE]


def mp32_steps():
    rows = []
    os.chdir(WORK)
    yield
    start = last = gc.mem_alloc()
    for name in MODULES:
        if name in sys.modules:
            continue
        __import__(name)
        yield
        rows.append((name, gc.mem_alloc() - last))
        last = gc.mem_alloc()
    import main

    app = main.build_app("sim", install_at_boot=True, paced=False, storage_root="data",
                         p1_path=None)
    yield
    rows.append((BUILT, gc.mem_alloc() - last))
    live = gc.mem_alloc()
    # the code loaded only for a use (ondemand.py), use by use: what each adds while it
    # runs (before its own buffers), and what is left of it once it is over
    uses = []
    for use, names in USES:
        with app.rare:
            for name in names or main.ON_DEMAND:
                if not name.endswith("_viper"):  # its plain twin imports it where it can
                    __import__(name)
            yield
            during = gc.mem_alloc()
        yield
        uses.append((use, during - live, gc.mem_alloc() - live))
    print(json.dumps({"start": start, "live": live, "rows": rows, "uses": uses,
                      "windows": app.meter.sampler.windows}))
    micropython.qstr_info()
