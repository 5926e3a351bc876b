"""The host folders of the 32-bit rig (tools/mp32/run.mjs), mounted with a board's error
numbers. The webassembly port's file system hands on emscripten's (WASI) errno values
(ENOENT is 44 there, 2 on every board's littlefs), and the firmware tells a missing file
from a failing one by errno. This VFS passes every call to VfsPosix and renumbers the
OSError it raises; files it opens are VfsPosix's own. Not for a board.
"""
import vfs

# WASI errno -> MicroPython's (py/mperrno.h, the numbers littlefs raises on a board)
_BOARD_ERRNO = {1: 7, 2: 13, 8: 9, 10: 16, 20: 17, 22: 27, 28: 22, 29: 5, 31: 21, 37: 36,
                44: 2, 48: 12, 51: 28, 54: 20, 55: 39, 58: 95, 63: 1, 69: 30}


def _renumbered(exc):
    code = exc.args[0] if exc.args else None
    return OSError(_BOARD_ERRNO.get(code, code))


class BoardErrnoVfs:
    def __init__(self, root):
        self._posix = vfs.VfsPosix(root)

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass


def _passed_on(name):
    def call(self, *args):
        try:
            return getattr(self._posix, name)(*args)
        except OSError as exc:
            raise _renumbered(exc) from None
    return call


for _name in ("open", "ilistdir", "chdir", "getcwd", "mkdir", "remove", "rename", "rmdir",
              "stat", "statvfs"):
    setattr(BoardErrnoVfs, _name, _passed_on(_name))


def mount(path):
    vfs.mount(BoardErrnoVfs(path), path)
