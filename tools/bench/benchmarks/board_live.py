"""MicroPython benchmark: the live heap each board's own module takes on the 32-bit port
(tools/mp32, a step per import), its code in a ROMFS image: what the sim board's module
in the whole-meter figures stands for on a real board. `cryptolib` names the rig's
stand-in (Python here, C on a board).

Usage: node tools/mp32/run.mjs --romfs IMAGE board_live.py CODE MODULE...
  Imports compat, boards and boards.common first (every board shares them), then each
  MODULE alone. Prints one JSON line: {module: live bytes it added}.
"""
import gc
import json
import sys

CODE = sys.argv[1]
MODULES = sys.argv[2:]
sys.path[:0] = [CODE]


def mp32_steps():
    yield
    import compat  # noqa: F401
    import boards.common  # noqa: F401

    yield
    added = {}
    for name in MODULES:
        before = gc.mem_alloc()
        __import__(name)
        yield
        added[name] = gc.mem_alloc() - before
    print(json.dumps(added))
