"""The boards' heap budget, checked on the 64-bit unix port.

The check runs the whole meter (tools/bench/benchmarks/flow_heap.py: the App on the sim board
with its code from the mpy-cross build, commissioned, metering with P1, then a signed
update installed through its own gate, then metering on) in one process with a given GC
heap, and says whether it got through. `make deploy` runs it before it copies anything;
`make bench` scans heap sizes with it.

Budgets (issue 9), as GC heap on the 32-bit board:
- esp32: 96 KB (a stock ESP32 without PSRAM gives the GC about 112 KB);
- rp2040: 160 KB (a stock Pico gives about 246 KB).
A board budget of B KB is checked as B / BOARD_TO_HOST KB here. On a 32-bit MicroPython
(the webassembly port, tools/deploy/heap32.py) the firmware's live bytes are 0.72 of this
port's with .mpy in RAM and 0.60 with ROMFS: pointers and object headers halve, bytes and
bytecode do not. The least heap a flow needs also holds buffers and fragmentation, which do
not shrink, so the check scales by 0.8, above the measured live ratio
(host_tests/tools/test_mp32.py holds it there): it errs towards refusing.
"""
import json
import os
import subprocess

from tools.deploy.mpy import build
from tools.deploy.stage import StageError
from tools.shared.errors import ToolError
from tools.shared.paths import ROOT, venv_tool

FLOW_SCRIPT = os.path.join(ROOT, "tools", "bench", "benchmarks", "flow_heap.py")

BUDGET_KB = {"esp32": 96, "rp2040": 160}
STOCK_HEAP_KB = {"esp32": 112, "rp2040": 246}
BOARD_TO_HOST = 0.8  # conservative: the live-bytes ratio measured on 32 bits is 0.72 (.mpy)


def installs_at_boot(board):
    """Does `board` take updates the boards' way (INSTALL_AT_BOOT: staged by the meter,
    installed by the boot stage in a heap of its own)? Read from the board module."""
    from tools.shared.paths import use_firmware

    use_firmware()
    try:
        module = __import__("boards." + board, None, None, ("NAME",))
    except ImportError:
        return False
    return bool(getattr(module, "INSTALL_AT_BOOT", False))


class BudgetError(ToolError):
    """The check itself could not run (not: the build does not fit)."""


def host_heap_bytes(board_kb):
    """The unix port's -X heapsize that stands for board_kb of 32-bit GC heap."""
    return int(board_kb * 1024 / BOARD_TO_HOST)


def compile_tree(dest):
    """The sim board's layout compiled to .mpy for the host (x64) by `make deploy`'s own
    build, main.py and boot.py included: code loads without the compiler's heap."""
    try:
        build("sim", dest, arch="x64", keep_source=())
    except StageError as exc:
        raise BudgetError(str(exc)) from None
    return dest


def romfs_image(mpy_dir, out):
    """A ROMFS image of an .mpy tree (`mpremote romfs build`), for the code-in-flash runs."""
    proc = subprocess.run([venv_tool("mpremote"), "romfs", "--no-mpy", "-o", out, "build", mpy_dir],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not os.path.exists(out):
        raise BudgetError("mpremote romfs build failed: %s" % (proc.stderr or proc.stdout)[-500:])
    return out


class Flow:
    """The whole-meter run, prepared once (a signed package and policy in `work`)."""

    def __init__(self, mpy_dir, work):
        self.mpy_dir = mpy_dir
        self.work = work
        os.makedirs(work, exist_ok=True)
        try:
            proc = subprocess.run([venv_tool("micropython"), "-X", "heapsize=4M", FLOW_SCRIPT,
                                   ROOT, mpy_dir, work, "setup"], capture_output=True, text=True,
                                  cwd=os.path.dirname(FLOW_SCRIPT), timeout=600)
        except subprocess.TimeoutExpired:
            raise BudgetError("flow set-up did not finish in 600 s") from None
        if proc.returncode != 0:
            raise BudgetError("flow set-up failed: %s" % proc.stderr[-500:])
        self._runs = 0

    def run(self, heap_bytes, rom_image=None, hole_bytes=None, at_boot=False):
        """(result dict, None) if the flow got through in heap_bytes, else (None, the last
        line of its error). rom_image: the code runs from it; hole_bytes: after boot no
        free block is larger than that (flow_heap.py); at_boot: the boards' way, the
        package staged by the meter and installed by the boot stage, each in a fresh heap
        of heap_bytes (the result has the boot stage's figures under "boot")."""
        self._runs += 1  # each run starts from empty storage (a fresh meter)
        name = "run%d" % self._runs
        options = []
        if rom_image:
            options.append("rom=" + rom_image)
        if hole_bytes:
            options.append("holes=%d" % hole_bytes)
        if at_boot:
            options.append("at_boot=1")
        result, error = self._step(heap_bytes, "run", name, options)
        if result is None or not at_boot:
            return result, error
        boot, error = self._step(heap_bytes, "boot", name, options[:1] if rom_image else [])
        if boot is None:
            return None, "boot stage: " + error
        result["boot"] = boot
        return result, None

    def _step(self, heap_bytes, step, name, options):
        cmd = [venv_tool("micropython"), "-X", "heapsize=%d" % heap_bytes, FLOW_SCRIPT, ROOT,
               self.mpy_dir, self.work, step, name] + options
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  cwd=os.path.dirname(FLOW_SCRIPT), timeout=600)
        except subprocess.TimeoutExpired:
            raise BudgetError("the whole-meter run did not finish in 600 s") from None
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode == 0 and lines:
            return json.loads(lines[-1]), None
        errors = (proc.stderr or proc.stdout).strip().splitlines()
        return None, errors[-1] if errors else "exit status %d" % proc.returncode
