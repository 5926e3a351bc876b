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


_PATH_KEY = b'{"path":"'


class FileTable:
    """The file list, compact: sizes, digests and where each path sits in the manifest's
    own text, in arrays taken before the JSON parser scatters its small objects over the
    heap. files[i] is (path, size, sha256) built on demand; paths strictly ascending."""

    def __init__(self, count):
        self.count = count
        self.starts = array("H", bytes(2 * count))
        self.sizes = array("I", bytes(4 * count))
        self.digests = bytearray(32 * count)
        self.text = None  # the bytes the path offsets point into

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        if not 0 <= i < self.count:
            raise IndexError(i)
        start = self.starts[i]
        text = self.text
        end = text.find(b'"', start)
        return (bytes(memoryview(text)[start:end]).decode(), self.sizes[i],
                memoryview(self.digests)[32 * i:32 * i + 32])


class Manifest:
    """A manifest whose form has been checked. files: a FileTable of (path, size, sha256)
    in the order of the package (paths strictly ascending)."""

    def __init__(self, body, signatures, message, files):
        signed.check_fields(body, _BODY, "the manifest")
        if body["type"] != KIND or body["format"] != FORMAT:
            raise UpdateRejected("malformed", "not a format %d %s" % (FORMAT, KIND))
        self.board = signed.check_text(body["board"], "board", 32, _NAME_CHARS)
        self.hardware_id = signed.check_text(body["hardware_id"], "hardware_id", 32)
        self.version = signed.check_text(body["version"], "version", 32)
        self.security_counter = signed.check_int(
            body["security_counter"], "security_counter", 0, 1 << 31)
        self.expires = signed.check_int(body["expires"], "expires", 1, 1 << 32)
        self.total_bytes = _parse_files(body["files"], self.board, files)
        self.files = files
        self.signatures = signatures
        self.message = message  # the exact bytes the signatures cover

    @classmethod
    def from_bytes(cls, raw, for_signatures=True):
        """for_signatures=False: form only, no copy of the signed bytes (the boot stage)."""
        domain = signed.MANIFEST_DOMAIN if for_signatures else None
        count = raw.count(_PATH_KEY)  # exact for a canonical manifest; checked below
        if count > MAX_FILES:
            raise UpdateRejected("too-large", "%d files (limit %d)" % (count, MAX_FILES))
        files = FileTable(count)
        body, signatures, msg = signed.parse(raw, MAX_BYTES, domain)
        files.text = raw if msg is None else msg
        return cls(body, signatures, msg, files)

    def write_envelope(self, out, domain_len=len(signed.MANIFEST_DOMAIN)):
        """Write the envelope as it arrived, rebuilt from the signatures and the signed
        bytes (the arrived copy is not kept: a second 5 KB buffer on a board's heap).
        Byte-identical because the envelope was checked to be canonical."""
        from binascii import hexlify

        out.write(b'{"signatures":[')
        for i in range(len(self.signatures)):
            keyid, sig = self.signatures[i]
            out.write(b'%s{"keyid":"%s","sig":"%s"}' % (
                b"," if i else b"", keyid.encode(), hexlify(sig)))
        out.write(b'],"signed":')
        out.write(memoryview(self.message)[domain_len:])
        out.write(b"}")

    def summary(self):
        return "%s %s counter %d for %s (%d files, %d bytes)" % (
            self.board, self.version, self.security_counter, self.hardware_id,
            len(self.files), self.total_bytes)


def _parse_files(entries, board, files):
    """Check every file entry into `files` (a FileTable of the right length); returns the
    total size. Each parsed entry is dropped once copied: its room serves the next."""
    if type(entries) is not list:
        raise UpdateRejected("malformed", "files must be a list")
    if len(entries) > MAX_FILES:
        raise UpdateRejected("too-large", "%d files (limit %d)" % (len(entries), MAX_FILES))
    if len(entries) != len(files):
        raise UpdateRejected("malformed", "file entries where no file list is")
    total = 0
    previous = ""
    at = 0
    text = files.text
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
        files.digests[32 * i:32 * i + 32] = signed.check_hex(
            entry["sha256"], "sha256 of " + path, 64)
        files.sizes[i] = size
        # canonical text: the i-th '{"path":"' opens entry i (no string holds a quote)
        at = text.find(_PATH_KEY, at) + len(_PATH_KEY)
        signed._match_text(path, text, at - 1)  # the text there is this very path
        files.starts[i] = at
        entries[i] = None
    for i in range(len(files)):
        path = files[i][0]
        # x.py and x.mpy: which one imports would depend on the port
        if path.endswith(".mpy") and find(files, path[:-4] + ".py") >= 0:
            raise UpdateRejected("malformed", "%s listed as .py and .mpy" % path[:-4])
    for stem in ("main", "boards/" + board):
        if find(files, stem + ".py") < 0 and find(files, stem + ".mpy") < 0:
            raise UpdateRejected("missing-file", "the package has no %s.py or .mpy" % stem)
    return total
