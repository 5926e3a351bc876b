"""`make deploy`: compile the firmware for a board with mpy-cross and copy it with mpremote.

main.py stays source (the board runs it at boot); every other module goes as .mpy, and a
stale .py of the same name on the board is removed so it cannot shadow the new code.
The board's data/ folder (registers, logs, keys) is never touched.

Before anything is copied, the build must fit the board's heap budget
(tools.deploy.heap_budget: 96 KB of GC heap on an ESP32, 160 KB on a Pico): the whole
meter, a signed update included, is run on the unix port in the heap that stands for the
budget, and a build that does not get through is refused. `--heap-kb` states a different
heap for the board at hand (e.g. an ESP32 with PSRAM); the check then runs against that.

Usage: python -m tools.deploy --board esp32 --port /dev/ttyUSB0 [--heap-kb N] [--dry-run]
"""
import argparse
import os
import subprocess
import sys
import tempfile

from tools.deploy import heap_budget
from tools.deploy.mpy import build
from tools.deploy.stage import StageError
from tools.shared.paths import ROOT, venv_tool


def check_budget(board, heap_kb=None):
    """(fits, message): does the whole meter run in the board's budget (or heap_kb)?
    Boards without a budget (sim) always fit."""
    stated = heap_kb is not None
    if heap_kb is None:
        heap_kb = heap_budget.BUDGET_KB.get(board)
        if heap_kb is None:
            return True, "no heap budget for board %r: not checked" % board
    host_bytes = heap_budget.host_heap_bytes(heap_kb)
    at_boot = heap_budget.installs_at_boot(board)
    with tempfile.TemporaryDirectory() as tmp:
        mpy = heap_budget.compile_tree(os.path.join(tmp, "mpy"))
        result, error = heap_budget.Flow(mpy, os.path.join(tmp, "flow")).run(host_bytes,
                                                                             at_boot=at_boot)
    what = ("%d KB of GC heap (stated with --heap-kb)" % heap_kb if stated else
            "the %s budget of %d KB of GC heap" % (board, heap_kb))
    if result is not None:
        return True, ("budget: the whole meter (metering, P1, uplink, a signed update%s) runs"
                      " in %s, checked as %d bytes on the 64-bit unix port" % (
                          " installed by the boot stage" if at_boot else "", what, host_bytes))
    advice = ["state the heap your board really gives with --heap-kb (e.g. with PSRAM)",
              "or build a frozen image (docs/BOARDS.md, Frozen images)"]
    if not stated and board in heap_budget.STOCK_HEAP_KB:
        advice[0] = ("state the heap your board really gives with --heap-kb (a stock %s"
                     " gives about %d KB)" % (board, heap_budget.STOCK_HEAP_KB[board]))
    return False, ("refusing: this firmware does not fit %s. The whole meter (metering, P1,"
                   " uplink, a signed update; its modules with the sim board's, compiled for"
                   " the host) failed in %d bytes on the 64-bit unix port (the 32-bit heap /"
                   " %.1f): %s. To go on, %s." % (
                       what, host_bytes, heap_budget.BOARD_TO_HOST, error, "; ".join(advice)))


def mpremote_commands(port, files, resume=False):
    """One mpremote invocation (commands chained with '+') that installs `files`."""
    cmd = [venv_tool("mpremote"), "connect", port]
    if resume:
        cmd.append("resume")
    folders = sorted({d.rsplit("/", 1)[0] for _, d in files if "/" in d})
    stale = [d[:-4] + ".py" for _, d in files if d.endswith(".mpy")]
    script = (
        "import os\n"
        "for d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n"
        "for f in %r:\n try:\n  os.remove(f)\n except OSError:\n  pass\n" % (folders, stale)
    )
    cmd += ["exec", script]
    for local, device_path in files:
        cmd += ["+", "fs", "cp", local, ":" + device_path]
    return cmd


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("--board", required=True, help="esp32, rp2040 (or sim for a virtual board)")
    parser.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    parser.add_argument("--resume", action="store_true",
                        help="do not soft-reset first (needed for the virtual board)")
    parser.add_argument("--heap-kb", type=int, default=None,
                        help="GC heap the board gives, in KB (default: the board's budget)")
    parser.add_argument("--dry-run", action="store_true", help="build and print the mpremote command")
    args = parser.parse_args(argv)
    if args.heap_kb is not None and args.heap_kb <= 0:
        print("deploy: --heap-kb must be a positive number of KB", file=sys.stderr)
        return 2
    out_dir = os.path.join(ROOT, "build", "deploy", args.board)
    try:
        files = build(args.board, out_dir)
        fits, message = check_budget(args.board, args.heap_kb)
    except (StageError, heap_budget.BudgetError) as exc:
        print("deploy: %s" % exc, file=sys.stderr)
        return 1
    print("deploy: %s" % message, file=sys.stderr)
    if not fits:
        return 1
    cmd = mpremote_commands(args.port, files, resume=args.resume)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    print("deploy: %d files for %s to %s" % (len(files), args.board, args.port), file=sys.stderr)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        print("deploy: mpremote failed (exit %d)" % proc.returncode, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
