"""In-memory stand-in for update.tree.FileTree whose writes share a FakeFlash's power:
one `power_loss_after` counts every write of a flow, to the pointer record and the slot
folders alike, and a cut tears the operation in flight the way FakeFlash does.

Same methods as FileTree plus test controls (copy, flip_bit, files).
"""
from fakes.flash import PowerLoss

_ENOENT = 2


class _Writer:
    def __init__(self, tree, path):
        self.tree = tree
        self.path = path

    def write(self, data):
        self.tree._append(self.path, bytes(data))
        return len(data)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def seek(self, pos):
        self.pos = pos
        return pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        end = len(self.data) if n is None or n < 0 else min(len(self.data), self.pos + n)
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeTree:
    """files: path -> bytes; dirs: set of folder paths. flash: the FakeFlash whose op
    counter and power state every mutating call here goes through."""

    def __init__(self, flash):
        self.flash = flash
        self.files = {}
        self.dirs = set()

    def copy(self, flash):
        other = FakeTree(flash)
        other.files = dict(self.files)
        other.dirs = set(self.dirs)
        return other

    def flip_bit(self, path, bit_index):
        data = bytearray(self.files[path])
        data[bit_index // 8] ^= 1 << (bit_index % 8)
        self.files[path] = bytes(data)

    # --- FileTree API ----------------------------------------------------------------
    def open_read(self, path):
        if path not in self.files:
            raise OSError(_ENOENT, path)
        return _Reader(self.files[path])

    def create(self, path):
        self._need_parent(path)
        cut = self.flash._begin()
        if cut is None or cut >= 2:
            self.files[path] = b""
        if cut is not None:
            raise PowerLoss("create " + path)
        return _Writer(self, path)

    def write(self, path, data):
        with self.create(path) as f:
            f.write(data)

    def append(self, path, data):
        self._need_parent(path)
        self._append(path, bytes(data))

    def size(self, path):
        data = self.files.get(path)
        return None if data is None else len(data)

    def isdir(self, path):
        return path in self.dirs

    def listdir(self, path):
        prefix = path + "/" if path else ""
        names = set()
        for name in list(self.files) + list(self.dirs):
            if name.startswith(prefix) and name != path:
                names.add(name[len(prefix):].split("/")[0])
        return sorted(names)

    def makedirs(self, path):
        done = ""
        for part in path.split("/"):
            done = done + "/" + part if done else part
            if done not in self.dirs:
                cut = self.flash._begin()
                if cut is None or cut >= 2:
                    self.dirs.add(done)
                if cut is not None:
                    raise PowerLoss("mkdir " + done)

    def rename(self, old, new):
        cut = self.flash._begin()
        if old not in self.files:
            raise OSError(_ENOENT, old)
        if cut is None or cut >= 2:
            self.files[new] = self.files.pop(old)
        if cut is not None:
            raise PowerLoss("rename " + old)

    def remove(self, path):
        if path not in self.files:
            return  # as FileTree: nothing to do, no flash write
        cut = self.flash._begin()
        if cut is None or cut >= 2:
            del self.files[path]
        if cut is not None:
            raise PowerLoss("remove " + path)

    def rmdir(self, path):
        if path not in self.dirs:
            return
        if self.listdir(path):
            raise OSError(39, path)  # ENOTEMPTY
        cut = self.flash._begin()
        if cut is None or cut >= 2:
            self.dirs.discard(path)
        if cut is not None:
            raise PowerLoss("rmdir " + path)

    def free_bytes(self):
        return None

    # --- internals -------------------------------------------------------------------
    def _need_parent(self, path):
        if "/" in path and path.rsplit("/", 1)[0] not in self.dirs:
            raise OSError(_ENOENT, path)

    def _append(self, path, data):
        cut = self.flash._begin()
        old = self.files.get(path, b"")
        if cut is None:
            self.files[path] = old + data
            return
        self.files[path] = old + data[:self.flash._cut_len(cut, len(data))]
        raise PowerLoss("write " + path)
