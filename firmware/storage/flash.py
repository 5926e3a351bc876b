"""The flash seam: a flat directory of small files (littlefs on the boards, a host dir).

Byte-oriented and dumb on purpose; it must never interpret contents or promise atomicity
beyond `rename`. Record formats that survive power cuts live in slots.py and applog.py.
"""
import os

_ENOENT = 2
_EEXIST = 17
MAX_NAME_LEN = 32


class StorageError(Exception):
    """Stored data cannot be used; args are (reason code, detail)."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def check_name(name):
    """Raise ValueError unless name is a flat file name this seam accepts."""
    if (not isinstance(name, str) or not name or len(name) > MAX_NAME_LEN
            or "/" in name or "\\" in name or ".." in name or "\x00" in name):
        raise ValueError("bad-name", name)
    return name


def _errno(exc):
    return exc.args[0] if exc.args else None


class FileStore:
    """Files under one directory; `root` is created (with parents) if missing."""

    def __init__(self, root):
        root = root.rstrip("/") or "/"
        self.root = root
        path = ""
        for i, part in enumerate(root.split("/")):
            path = part if i == 0 else path + "/" + part
            if not path or part in ("", "."):
                continue
            try:
                os.mkdir(path)
            except OSError as exc:
                if _errno(exc) != _EEXIST:
                    raise

    def _path(self, name):
        return self.root + "/" + check_name(name)

    def read(self, name, offset=0, length=None):
        """Bytes of the file from offset (all, or at most length); None if it is missing."""
        try:
            f = open(self._path(name), "rb")
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return None
            raise
        with f:
            if offset:
                f.seek(offset)
            return f.read() if length is None else f.read(length)

    def write(self, name, data):
        """Replace the whole content. Not atomic: a cut can leave any prefix of data."""
        with open(self._path(name), "wb") as f:
            f.write(data)
            f.flush()

    def append(self, name, data):
        with open(self._path(name), "ab") as f:
            f.write(data)
            f.flush()

    def size(self, name):
        try:
            return os.stat(self._path(name))[6]
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return None
            raise

    def rename(self, old, new):
        """Atomically replace new with old (POSIX rename; littlefs rename replaces too)."""
        os.rename(self._path(old), self._path(new))

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError as exc:
            if _errno(exc) != _ENOENT:
                raise

    def names(self):
        return sorted(os.listdir(self.root))
