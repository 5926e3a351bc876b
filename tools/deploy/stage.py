"""Lays out the files a board's flash holds, as its freezing manifest lists them (firmware
modules at the root, the board's modules under boards/), the board's micropython-lib
packages under lib/ and board.txt naming the board. `make deploy` copies the same layout.

Never deletes anything in the destination: a re-stage is a firmware re-deploy, and the
meter's data (data/, p1.out, anything a technician copied) stays where it is.
"""
import argparse
import os
import sys

from tools.deploy import manifest
from tools.shared.errors import ToolError
from tools.shared.paths import ROOT

BOARDS_DIR = os.path.join(ROOT, "boards")
MANIFESTS_DIR = os.path.join(BOARDS_DIR, "freeze")
BOARD_LIBS_DIR = os.path.join(ROOT, ".venv", "mplib")
BOARD_FILE = "board.txt"


class StageError(ToolError):
    """The layout cannot be built (unknown board, missing source)."""


def board_names():
    """Boards that can be staged: every board with a manifest, boards/freeze/<name>/."""
    return sorted(
        name for name in os.listdir(MANIFESTS_DIR)
        if os.path.isfile(os.path.join(MANIFESTS_DIR, name, "manifest.py"))
    )


def layout(board):
    """[(host_path, device_path)] of every module the board needs, device paths relative
    to the flash root with '/' separators, sorted: what the board's freezing manifest
    freezes (reference code the manifest leaves out, such as crypto/ed25519_ref.py, stays
    on the host), and the micropython-lib packages under lib/."""
    if board not in board_names():
        raise StageError("unknown board %r (known: %s)" % (board, ", ".join(board_names())))
    try:
        files = [(source, target) for target, source in
                 manifest.frozen(os.path.join(MANIFESTS_DIR, board, "manifest.py")).files.items()]
    except manifest.ManifestError as exc:
        raise StageError(str(exc)) from None
    # micropython-lib packages fetched by `make venv` (tools.deploy.board_libs) go to lib/
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
        prog="python -m tools.deploy.stage",
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
