"""Board modules: one per board, data first, hardware built only in `hardware()`."""
import sys

_PORT_BOARDS = {"esp32": "esp32", "rp2": "rp2040"}


def module(name=None, root=""):
    """The board module for this port, or the one named in board.txt at the flash root,
    or `name`. The composition root (main) and the boot stage ask here, so both agree."""
    if name is None:
        try:
            with open((root.rstrip("/") + "/" if root else "") + "board.txt") as f:
                name = f.read().strip()
        except OSError:
            name = None
    name = name or _PORT_BOARDS.get(sys.platform, "sim")
    return __import__("boards." + name, None, None, ("NAME",))
