"""The firmware-tree seam: files in folders under one root (the flash root on a board, a
host folder in tests), addressed by '/'-separated relative paths.

Byte-oriented and dumb, like storage.flash: it never interprets contents and promises no
atomicity beyond `rename`. host_tests/fakes/tree.py is its power-cut-capable twin.
"""
import os

from storage.flash import LOCK, open_locked

_ENOENT = 2
_EEXIST = 17
_DIR_FLAG = 0x4000  # S_IFDIR in os.stat()[0]


def _errno(exc):
    return exc.args[0] if exc.args else None


class FileTree:
    """Files under `root` ("" for the current folder, the flash root on a board)."""

    def __init__(self, root=""):
        self.root = root if root in ("", "/") else root.rstrip("/")

    def _path(self, path):
        if not path:
            return self.root or "."
        if not self.root:
            return path
        return self.root + path if self.root == "/" else self.root + "/" + path

    def open_read(self, path):
        """A file object with readinto() and close(); OSError if missing."""
        return open_locked(self._path(path), "rb")

    def create(self, path):
        """A new empty file (parents must exist), open for write(); close() it."""
        return open_locked(self._path(path), "wb")

    def write(self, path, data):
        with self.create(path) as f:
            f.write(data)

    def append(self, path, data):
        full = self._path(path)
        with LOCK:
            with open(full, "ab") as f:
                f.write(data)

    def size(self, path):
        """Size in bytes of a file, None if missing or a folder."""
        full = self._path(path)
        try:
            with LOCK:
                st = os.stat(full)
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return None
            raise
        return None if st[0] & _DIR_FLAG else st[6]

    def isdir(self, path):
        full = self._path(path)
        try:
            with LOCK:
                return bool(os.stat(full)[0] & _DIR_FLAG)
        except OSError:
            return False

    def listdir(self, path):
        """Sorted names in a folder; [] if it is missing."""
        full = self._path(path)
        try:
            with LOCK:
                names = os.listdir(full)
            return sorted(names)
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return []
            raise

    def makedirs(self, path):
        """Create path and its parents; existing ones are fine."""
        done = ""
        for part in path.split("/"):
            done = done + "/" + part if done else part
            if not self.isdir(done):
                full = self._path(done)
                try:
                    with LOCK:
                        os.mkdir(full)
                except OSError as exc:
                    if _errno(exc) != _EEXIST:
                        raise

    def rename(self, old, new):
        old_path, new_path = self._path(old), self._path(new)
        with LOCK:
            os.rename(old_path, new_path)

    def remove(self, path):
        """Remove a file; a missing one is fine."""
        full = self._path(path)
        try:
            with LOCK:
                os.remove(full)
        except OSError as exc:
            if _errno(exc) != _ENOENT:
                raise

    def rmdir(self, path):
        """Remove an empty folder; a missing one is fine."""
        full = self._path(path)
        try:
            with LOCK:
                os.rmdir(full)
        except OSError as exc:
            if _errno(exc) != _ENOENT:
                raise

    def free_bytes(self):
        """Free space on the file system, None where the port cannot say."""
        try:
            with LOCK:
                st = os.statvfs(self._path(""))
        except (AttributeError, OSError):
            return None
        return st[0] * st[4]  # f_bsize * f_bavail


def walk_files(tree, top):
    """Yield the path of every file under folder top (relative to the tree), depth first,
    in sorted order."""
    for name in tree.listdir(top):
        path = top + "/" + name if top else name
        if tree.isdir(path):
            for sub in walk_files(tree, path):
                yield sub
        else:
            yield path
