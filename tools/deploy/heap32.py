"""The meter's live heap on a 32-bit MicroPython, beside the unix port's, for the same code.

The heap budget (heap_budget.py) is checked on the 64-bit unix port, where the least heap
a flow fits in can be found, and scaled to a board by BOARD_TO_HOST. This measures that
ratio: the whole-meter flow (tools/bench/benchmarks/flow_live.py) runs on the unix port and
on the webassembly port (tools/mp32: 4-byte pointers and object headers, 31-bit small
ints, 16-byte GC blocks, like the ESP32 and the RP2040), from one bytecode-only build (no
viper on the webassembly port, so neither run has it), and gives the live heap after each
step on both.
"""
import ast
import json
import os
import subprocess

from tools import mp32
from tools.deploy.heap_budget import FLOW_SCRIPT, BudgetError, Flow, romfs_image
from tools.deploy.mpy import BYTECODE_ONLY, build
from tools.deploy.stage import StageError
from tools.shared.paths import ROOT, venv_tool

LIVE_SCRIPT = os.path.join(os.path.dirname(FLOW_SCRIPT), "flow_live.py")
MODES = ("ram", "rom")  # the code from .mpy in RAM (make deploy), or in a ROMFS image
WAYS = ("meter", "boards")  # the update installed in the meter, or staged for the boot stage


class LiveHeap:
    """The flow prepared once in `work`: a bytecode-only build, its ROMFS image, and a
    signed package and policy."""

    def __init__(self, work):
        reason = mp32.missing()
        if reason:
            raise BudgetError("no 32-bit MicroPython: " + reason)
        self.work = work
        self.tree = os.path.join(work, "mpy")
        try:
            build("sim", self.tree, arch=BYTECODE_ONLY, keep_source=())
        except StageError as exc:
            raise BudgetError(str(exc)) from None
        self.image = romfs_image(self.tree, os.path.join(work, "firmware.romfs"))
        self.flow_dir = os.path.join(work, "flow")
        Flow(self.tree, self.flow_dir)  # writes update.pkg and policy.bin
        self._runs = 0

    def run(self, bits, mode, way):
        """Live bytes after each step of the flow on a `bits`-bit port: {"built": ...,
        "installed": ..., "boot": {...} for the boards' way}."""
        self._runs += 1
        name = "r%d" % self._runs
        options = (["stage"] if way == "boards" else []) + (["rom"] if mode == "rom" else [])
        result = self._step(bits, mode, "meter", name, options)
        if way == "boards":
            result["boot"] = self._step(bits, mode, "boot", name, options[1:])
        return result

    def _step(self, bits, mode, step, name, options):
        if bits == 32:
            code = "/rom" if mode == "rom" else self.tree
            argv = mp32.command(LIVE_SCRIPT, ROOT, code, self.flow_dir, step, name, *options,
                                dirs=[self.tree, self.flow_dir],
                                romfs=self.image if mode == "rom" else None)
        else:
            code = self.image if mode == "rom" else self.tree
            argv = [venv_tool("micropython"), "-X", "heapsize=8M", LIVE_SCRIPT, ROOT, code,
                    self.flow_dir, step, name] + options
        return _json_line(argv, "flow_live.py %s on the %d-bit port" % (step, bits))[0]


def _json_line(argv, what):
    """Run a benchmark script from its folder: (its last JSON line, all its output lines),
    or BudgetError saying what failed."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                              cwd=os.path.dirname(LIVE_SCRIPT))
    except subprocess.TimeoutExpired:
        raise BudgetError("%s did not finish in 600 s" % what) from None
    lines = proc.stdout.splitlines()
    found = [line for line in lines if line.startswith("{")]
    if proc.returncode != 0 or not found:
        raise BudgetError("%s failed: %s" % (what, (proc.stderr or proc.stdout)[-800:]))
    return json.loads(found[-1]), lines


def measure(work):
    """Every mode and way on both ports: {(mode, way): {32: result, 64: result}}."""
    live = LiveHeap(work)
    return {(mode, way): {bits: live.run(bits, mode, way) for bits in (32, 64)}
            for mode in MODES for way in WAYS}


def firmware_bytes(result, step="built"):
    """Live bytes the firmware holds after `step`: the live heap less what the interpreter
    held before the firmware's first import (the 32-bit rig's own start-up is larger)."""
    return result[step] - result["start"]


def ratio(results, mode="ram", way="boards", step="built"):
    """The firmware's 32-bit live bytes per 64-bit live byte after `step`."""
    pair = results[(mode, way)]
    return firmware_bytes(pair[32], step) / firmware_bytes(pair[64], step)


IMPORT_SCRIPT = os.path.join(os.path.dirname(FLOW_SCRIPT), "import_live.py")


def on_demand():
    """main.ON_DEMAND: the modules the meter loads for a use and releases after it."""
    return _main_names("ON_DEMAND")


def boot_only():
    """main.BOOT_ONLY: the modules only the boot needs, released once the meter is built."""
    return _main_names("BOOT_ONLY")


def _main_names(name):
    with open(os.path.join(ROOT, "firmware", "main.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise BudgetError("main.py has no " + name)


def wire_imports():
    """The firmware modules main.wire imports, in its order (read from main.py), less the
    ones it loads only for a use or only for the boot (on_demand, boot_only)."""
    firmware = os.path.join(ROOT, "firmware")
    rare = on_demand() + boot_only()

    def is_module(name):
        return os.path.exists(os.path.join(firmware, *name.split(".")) + ".py")

    names = []
    in_wire = False
    with open(os.path.join(firmware, "main.py")) as f:
        for line in f:
            if line.startswith("def "):
                in_wire = line.startswith("def wire(")
            words = line.replace(",", " ").split()
            if not in_wire or len(words) < 2 or words[0] not in ("import", "from"):
                continue
            found = [words[1]]
            if words[0] == "from":  # from package import module, module
                inner = [words[1] + "." + w for w in words[3:] if is_module(words[1] + "." + w)]
                found = inner or found
            names += [name for name in found if name not in names and name not in rare]
    return names


def import_profile(live):
    """Live bytes per module of main.wire on the 32-bit port, the code in the ROMFS image:
    {"rows": [(module, bytes)], "live": ..., "start": ..., "qstr": qstr_info's line,
    "uses": [(use, bytes its code adds while it runs, bytes left of it after)]}."""
    work = os.path.join(live.work, "imports")
    os.makedirs(work, exist_ok=True)
    argv = mp32.command(IMPORT_SCRIPT, "/rom", work, *wire_imports(), dirs=[work],
                        romfs=live.image)
    result, lines = _json_line(argv, "import_live.py")
    result["qstr"] = next((line for line in lines if line.startswith("qstr pool")), "")
    return result


BOARD_SCRIPT = os.path.join(os.path.dirname(FLOW_SCRIPT), "board_live.py")
BOARD_MODULES = {"esp32": "boards.esp32", "esp32_atm90e32": "boards.esp32_atm90e32",
                 "rp2040": "boards.rp2040", "sim": "boards.sim"}


def board_modules(work):
    """Live bytes of each board's own module on the 32-bit port, its code in a ROMFS image
    of that board's bytecode-only build, and of the rig's Python cryptolib (C on a
    board): {"esp32": .., "esp32_atm90e32": .., "rp2040": .., "sim": .., "cryptolib": ..}."""
    sizes = {}
    for board, module in BOARD_MODULES.items():
        tree = os.path.join(work, "board-" + board)
        try:
            build(board, tree, arch=BYTECODE_ONLY, keep_source=())
        except StageError as exc:
            raise BudgetError(str(exc)) from None
        image = romfs_image(tree, tree + ".romfs")
        names = [module] + (["cryptolib"] if board == "sim" else [])
        added = _json_line(mp32.command(BOARD_SCRIPT, "/rom", *names, romfs=image),
                           "board_live.py " + board)[0]
        sizes[board] = added[module]
        if "cryptolib" in added:
            sizes["cryptolib"] = added["cryptolib"]
    return sizes


def frozen_estimate(after_boot, qstr_pools, boards, board, token):
    """What a frozen build would hold on `board`, from the ROMFS figures of the 32-bit
    port: (after boot, while a command token is checked). The interned names' pools and
    the rig's cryptolib go (flash and C on a board), the board's own module replaces the
    sim's. An estimate: no frozen 32-bit build runs here."""
    held = after_boot - qstr_pools - boards["sim"] + boards[board] - boards["cryptolib"]
    return held, held + token
