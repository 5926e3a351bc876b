"""The flash seam: a flat directory of small files (littlefs on the boards, a host dir).

Byte-oriented and dumb on purpose; it must never interpret contents or promise atomicity
beyond `rename`. Record formats that survive power cuts live in slots.py and applog.py.

Every file-system call of the firmware, from every thread, holds LOCK: the metering
loop's saves, the uplink's, the update's staging (update.tree), the shell's reads.
littlefs is not thread-safe, and the rp2 port runs its two threads without a GIL, one on
each core. LOCK guards single calls only (never held across two), so it nests inside any
logical lock the callers hold and never the other way round.
"""
import os


class NoLock:
    """A lock for code with no other thread to exclude (a port without _thread)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def acquire(self, waitflag=1, timeout=-1):
        return True

    def release(self):
        pass


def new_lock():
    """A _thread lock, or a NoLock where the port has no threads."""
    try:
        import _thread

        return _thread.allocate_lock()
    except ImportError:  # a port without threads: nothing to exclude
        return NoLock()


LOCK = new_lock()


class LockedFile:
    """An open file whose every call holds LOCK (a package streamed in or staged out
    while the metering thread saves)."""

    def __init__(self, f):
        self._f = f

    def read(self, size=-1):
        with LOCK:
            return self._f.read(size)

    def readinto(self, buf):
        with LOCK:
            return self._f.readinto(buf)

    def write(self, data):
        with LOCK:
            return self._f.write(data)

    def seek(self, offset, whence=0):
        with LOCK:
            return self._f.seek(offset, whence)

    def tell(self):
        with LOCK:
            return self._f.tell()

    def close(self):
        with LOCK:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_locked(path, mode="rb"):
    """open() under LOCK, the handle a LockedFile."""
    with LOCK:
        return LockedFile(open(path, mode))


def remove_path(path):
    """Remove the file at path (a plaintext key file once its keys are installed)."""
    with LOCK:
        os.remove(path)


class Oversized:
    """Stands in for a file too large for its format: len() is the file's size and it holds
    no bytes, so the format's own length check refuses it (with its reason code and audit
    entry) without the file ever being read into the heap."""

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size


def read_path(path, max_bytes=None):
    """The bytes of the file at path (a token, policy or key file the technician copied).
    max_bytes: a file larger than that comes back as an Oversized, unread. The read asks
    for the file's size exactly: MicroPython's read(n) takes n bytes of heap first however
    short the file, and an 8 KiB block is more than a fragmented board heap may hold."""
    with LOCK:
        size = os.stat(path)[6]
    if max_bytes is not None and size > max_bytes:
        return Oversized(size)
    with open_locked(path) as f:
        return f.read(size)

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
                with LOCK:
                    os.mkdir(path)
            except OSError as exc:
                if _errno(exc) != _EEXIST:
                    raise

    def _path(self, name):
        return self.root + "/" + check_name(name)

    def read(self, name, offset=0, length=None):
        """Bytes of the file from offset (all, or at most length); None if it is missing."""
        path = self._path(name)
        with LOCK:
            try:
                f = open(path, "rb")
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
        path = self._path(name)
        with LOCK:
            with open(path, "wb") as f:
                f.write(data)
                f.flush()

    def replace(self, name, data):
        """Replace the whole content atomically: written beside as `<name>.new`, then
        renamed over. A cut leaves the old record or the new, never a part. The one home
        of a record's atomic replace (settings, calibration, Wi-Fi)."""
        self.write(name + ".new", data)
        self.rename(name + ".new", name)

    def append(self, name, data):
        path = self._path(name)
        with LOCK:
            with open(path, "ab") as f:
                f.write(data)
                f.flush()

    def size(self, name):
        path = self._path(name)
        try:
            with LOCK:
                return os.stat(path)[6]
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return None
            raise

    def rename(self, old, new):
        """Atomically replace new with old (POSIX rename; littlefs rename replaces too)."""
        old_path, new_path = self._path(old), self._path(new)
        with LOCK:
            os.rename(old_path, new_path)

    def remove(self, name):
        path = self._path(name)
        try:
            with LOCK:
                os.remove(path)
        except OSError as exc:
            if _errno(exc) != _ENOENT:
                raise

    def names(self):
        with LOCK:
            names = os.listdir(self.root)
        return sorted(names)
