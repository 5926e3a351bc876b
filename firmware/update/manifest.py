"""The firmware manifest: parse-then-trust of its fields, paths and sizes.

Form only: who signed it, which board it targets, its expiry and its security counter are
checked by update.verify. A path is never used before check_path() has passed it.
"""
from array import array

from compat import const
from update import signed
from update.errors import UpdateRejected

KIND = "open-meter-firmware"
FORMAT = 1
MAX_BYTES = 16384  # the envelope: 128 files of ~100 bytes each
MAX_FILES = const(128)
MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 1024 * 1024
MAX_PATH = const(96)
MAX_DEPTH = const(4)
_PATH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-"
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
_BODY = ("board", "expires", "files", "format", "hardware_id", "security_counter", "type",
         "version")


def check_path(path):
    """Raise "bad-path" unless path is a relative module path: [A-Za-z0-9_./-] only, no
    '..' anywhere, no empty or '.' component, at most MAX_DEPTH deep, ending in .py or .mpy.
    Checks in place (no split, no slices): it runs for every file of a package."""
    if type(path) is not str or not 0 < len(path) <= MAX_PATH:
        raise UpdateRejected("bad-path", "a path must be 1..%d characters" % MAX_PATH)
    for c in path:
        if c not in _PATH_CHARS:
            raise UpdateRejected("bad-path", "%r: character not allowed" % _shown(path))
    if path[0] == "/":
        raise UpdateRejected("bad-path", "%r: absolute" % _shown(path))
    if ".." in path:
        raise UpdateRejected("bad-path", "%r: contains '..'" % _shown(path))
    if ("//" in path or "/./" in path or path.startswith("./") or path.endswith("/")
            or path.endswith("/.")):
        raise UpdateRejected("bad-path", "%r: empty or '.' component" % _shown(path))
    if path.count("/") >= MAX_DEPTH:
        raise UpdateRejected("bad-path", "%r: more than %d levels" % (_shown(path), MAX_DEPTH))
    ext = 3 if path.endswith(".py") else 4 if path.endswith(".mpy") else 0
    if not ext or len(path) == ext or path[len(path) - ext - 1] == "/":
        raise UpdateRejected("bad-path", "%r: not a .py or .mpy module" % _shown(path))
    return path


def _shown(path):
    return path if len(path) <= 40 else path[:40] + ".."


def module_stem(path):
    """path without its .py/.mpy ending, or None if it has neither."""
    if path.endswith(".py"):
        return path[:-3]
    if path.endswith(".mpy"):
        return path[:-4]
    return None


def find(files, path):
    """Index of path in files (sorted by path), or -1: a binary search, no copies."""
    lo, hi = 0, len(files)
    while lo < hi:
        mid = (lo + hi) // 2
        if files[mid][0] < path:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(files) and files[lo][0] == path else -1


def read_signatures(stream, start, length, buf):
    """([(keyid, signature)], StreamedMessage) of the manifest envelope of `length` bytes
    at `start` of a seekable stream: what to authenticate before the body is parsed."""
    if length > MAX_BYTES:
        raise UpdateRejected("too-large", "manifest of %d bytes (limit %d)" % (length, MAX_BYTES))
    stream.seek(start)
    signatures, body_at, body_len = signed.read_signatures(stream, length, buf)
    return signatures, signed.StreamedMessage(signed.MANIFEST_DOMAIN, stream, body_at,
                                              body_len, buf)


class FileTable:
    """The file list: files[i] is (path, size, sha256), paths strictly ascending. Sizes in
    one array, paths and digests as small objects: no allocation grows with the list
    beyond a pointer per file."""

    def __init__(self, count):
        self.count = count
        self.paths = [None] * count
        self.sizes = array("I", bytes(4 * count))
        self.digests = [None] * count

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self.paths[i], self.sizes[i], self.digests[i]


class Manifest:
    """A manifest whose form has been checked. files: a FileTable of (path, size, sha256)
    in the order of the package (paths strictly ascending). message: what the signatures
    cover (signed.StreamedMessage, or None when only the form was read)."""

    def __init__(self, body, signatures, message, source=None):
        signed.check_fields(body, _BODY, "the manifest")
        signed.check_kind(body, KIND, FORMAT)
        self.board = signed.check_text(body["board"], "board", 32, _NAME_CHARS)
        self.hardware_id = signed.check_text(body["hardware_id"], "hardware_id", 32)
        self.version = signed.check_text(body["version"], "version", 32)
        self.security_counter = signed.check_int(
            body["security_counter"], "security_counter", 0, 1 << 31)
        self.expires = signed.check_int(body["expires"], "expires", 1, 1 << 32)
        self.files, self.total_bytes = _parse_files(body["files"], self.board)
        self.signatures = signatures
        self.message = message
        self._source = source  # (stream, start, length): the envelope as it arrived

    @classmethod
    def read(cls, stream, start, length, signatures, message, buf):
        """The body of the envelope at `start` parsed from the stream (after read_signatures
        and, for a package, after its signatures were checked)."""
        if message is None:
            stream.seek(start)
            _sigs, body_at, body_len = signed.read_signatures(stream, length, buf)
        else:
            body_at, body_len = message.body_at, message.body_len
        body = signed.read_body(stream, body_at, body_len, buf)
        return cls(body, signatures, message, (stream, start, length, buf))

    @classmethod
    def from_bytes(cls, raw, for_signatures=True):
        """The manifest of an envelope held in memory (host tools, tests); form only."""
        import io

        stream = io.BytesIO(raw)
        buf = bytearray(256)
        signatures, message = read_signatures(stream, 0, len(raw), buf)
        return cls.read(stream, 0, len(raw), signatures,
                        message if for_signatures else None, buf)

    def write_envelope(self, out):
        """Write the envelope as it arrived, copied from its stream in chunks."""
        stream, start, length, buf = self._source
        mv = memoryview(buf)
        stream.seek(start)
        while length:
            n = stream.readinto(mv[:length if length < len(mv) else len(mv)])
            if not n:
                raise UpdateRejected("malformed", "manifest cut short")
            out.write(mv[:n])
            length -= n

    def summary(self):
        return "%s %s counter %d for %s (%d files, %d bytes)" % (
            self.board, self.version, self.security_counter, self.hardware_id,
            len(self.files), self.total_bytes)


def _parse_files(entries, board):
    """(FileTable, total size) of the checked file entries. Each parsed entry is dropped
    once copied: its room serves the next."""
    if type(entries) is not list:
        raise UpdateRejected("malformed", "files must be a list")
    if len(entries) > MAX_FILES:
        raise UpdateRejected("too-large", "%d files (limit %d)" % (len(entries), MAX_FILES))
    files = FileTable(len(entries))
    total = 0
    previous = ""
    for i in range(len(entries)):
        entry = signed.check_fields(entries[i], ("path", "sha256", "size"), "a file entry")
        path = check_path(entry["path"])
        if path <= previous:
            raise UpdateRejected("malformed", "paths must be unique and in ascending order")
        previous = path
        size = entry["size"]
        if type(size) is not int or size < 0:
            raise UpdateRejected("malformed", "size of %s must be a non-negative integer" % path)
        if size > MAX_FILE_BYTES:
            raise UpdateRejected("too-large", "%s: %d bytes (limit %d)" % (
                path, size, MAX_FILE_BYTES))
        total += size
        if total > MAX_TOTAL_BYTES:
            raise UpdateRejected("too-large", "more than %d bytes in all" % MAX_TOTAL_BYTES)
        files.digests[i] = signed.check_hex(entry["sha256"], "sha256 of " + path, 64)
        files.sizes[i] = size
        files.paths[i] = path
        entries[i] = None
    for i in range(len(files)):
        path = files[i][0]
        # x.py and x.mpy: which one imports would depend on the port
        if path.endswith(".mpy") and find(files, path[:-4] + ".py") >= 0:
            raise UpdateRejected("malformed", "%s listed as .py and .mpy" % path[:-4])
        # no file may also be another file's folder (main.py and main.py/x.py): staging
        # would fail half way with an OSError instead of a reason
        cut = path.find("/")
        while cut > 0:
            if find(files, path[:cut]) >= 0:
                raise UpdateRejected("malformed", "%s is both a file and a folder" % path[:cut])
            cut = path.find("/", cut + 1)
    for stem in ("main", "boards/" + board):
        if find(files, stem + ".py") < 0 and find(files, stem + ".mpy") < 0:
            raise UpdateRejected("missing-file", "the package has no %s.py or .mpy" % stem)
    return files, total
