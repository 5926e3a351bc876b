"""Lays out the files a board's flash holds: firmware modules at the root, the board's modules
under boards/, and board.txt naming the board. `make deploy` copies the same layout.

Never deletes anything in the destination: a re-stage is a firmware re-deploy, and the
meter's data (data/, p1.out, anything a technician copied) stays where it is.
"""
import argparse
import os
import sys

from tools.shared.errors import ToolError
from tools.shared.paths import FIRMWARE_DIR, ROOT
BOARDS_DIR = os.path.join(ROOT, "boards")
BOARD_LIBS_DIR = os.path.join(ROOT, ".venv", "mplib")
BOARD_FILE = "board.txt"
# every board module imports these two; the board's own module is added by name
BOARD_SHARED = ("__init__.py", "common.py")


class StageError(ToolError):
    """The layout cannot be built (unknown board, missing source)."""


def board_names():
    """Boards that can be staged: every boards/<name>.py except the shared modules."""
    return sorted(
        name[:-3] for name in os.listdir(BOARDS_DIR)
        if name.endswith(".py") and name not in BOARD_SHARED
    )


def layout(board):
    """[(host_path, device_path)] of every module the board needs, device paths relative
    to the flash root with '/' separators, sorted."""
    if board not in board_names():
        raise StageError("unknown board %r (known: %s)" % (board, ", ".join(board_names())))
    files = []
    for folder, dirs, names in os.walk(FIRMWARE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel_dir = os.path.relpath(folder, FIRMWARE_DIR)
        for name in sorted(names):
            if name.endswith(".py"):
                rel = name if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/" + name
                files.append((os.path.join(folder, name), rel))
    for name in BOARD_SHARED + (board + ".py",):
        files.append((os.path.join(BOARDS_DIR, name), "boards/" + name))
    # micropython-lib packages fetched by `make venv` (tools.board_libs) go to lib/
    for folder, dirs, names in os.walk(BOARD_LIBS_DIR):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".py"):
                host = os.path.join(folder, name)
                files.append((host, os.path.relpath(host, BOARD_LIBS_DIR).replace(os.sep, "/")))
    return sorted(files, key=lambda pair: pair[1])


def _write_atomic(path, data):
    # a half-written module on "flash" would fail the next boot: write, then rename
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def stage(board, dest_dir):
    """Copies the board's layout into dest_dir (created if needed); returns the device paths
    written. Files already in dest_dir that are not part of the layout are left alone."""
    os.makedirs(dest_dir, exist_ok=True)
    written = []
    for host_path, device_path in layout(board):
        target = os.path.join(dest_dir, *device_path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(host_path, "rb") as f:
            _write_atomic(target, f.read())
        written.append(device_path)
    _write_atomic(os.path.join(dest_dir, BOARD_FILE), board.encode() + b"\n")
    written.append(BOARD_FILE)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.stage",
        description="Copy the firmware for BOARD into DEST exactly as it sits on the board's "
        "flash. Data already in DEST (data/, logs) is kept.",
    )
    parser.add_argument("board", metavar="BOARD", help="board name, e.g. sim, esp32, rp2040")
    parser.add_argument("dest", metavar="DEST", help="folder that plays the flash root")
    parser.add_argument("--json", action="store_true", help="print the staged files as JSON")
    args = parser.parse_args(argv)
    try:
        written = stage(args.board, args.dest)
    except (StageError, OSError) as exc:
        print("stage: %s" % exc, file=sys.stderr)
        return 1
    if args.json:
        import json

        print(json.dumps({"board": args.board, "dest": args.dest, "files": written}))
    else:
        print("staged %d files for board %s into %s" % (len(written), args.board, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
