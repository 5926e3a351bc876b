"""The firmware manifest: parse-then-trust of its fields, paths and sizes.

Form only: who signed it, which board it targets, its expiry and its security counter are
checked by update.verify. A path is never used before check_path() has passed it.
"""
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
    '..' anywhere, no empty or '.' component, at most MAX_DEPTH deep, ending in .py or .mpy."""
    if type(path) is not str or not 0 < len(path) <= MAX_PATH:
        raise UpdateRejected("bad-path", "a path must be 1..%d characters" % MAX_PATH)
    shown = path if len(path) <= 40 else path[:40] + ".."
    for c in path:
        if c not in _PATH_CHARS:
            raise UpdateRejected("bad-path", "%r: character not allowed" % shown)
    if path[0] == "/":
        raise UpdateRejected("bad-path", "%r: absolute" % shown)
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        raise UpdateRejected("bad-path", "%r: more than %d levels" % (shown, MAX_DEPTH))
    if ".." in path:
        raise UpdateRejected("bad-path", "%r: contains '..'" % shown)
    for part in parts:
        if part in ("", "."):
            raise UpdateRejected("bad-path", "%r: empty or '.' component" % shown)
    stem = module_stem(path)
    if stem is None or stem.endswith("/") or not stem:
        raise UpdateRejected("bad-path", "%r: not a .py or .mpy module" % shown)
    return path


def module_stem(path):
    """path without its .py/.mpy ending, or None if it has neither."""
    if path.endswith(".py"):
        return path[:-3]
    if path.endswith(".mpy"):
        return path[:-4]
    return None


class Manifest:
    """A manifest whose form has been checked. files: [(path, size, sha256 bytes)] in the
    order of the package (paths strictly ascending)."""

    def __init__(self, body, signatures, raw, span):
        signed.check_fields(body, _BODY, "the manifest")
        if body["type"] != KIND or body["format"] != FORMAT:
            raise UpdateRejected("malformed", "not a format %d %s" % (FORMAT, KIND))
        self.board = signed.check_text(body["board"], "board", 32, _NAME_CHARS)
        self.hardware_id = signed.check_text(body["hardware_id"], "hardware_id", 32)
        self.version = signed.check_text(body["version"], "version", 32)
        self.security_counter = signed.check_int(
            body["security_counter"], "security_counter", 0, 1 << 31)
        self.expires = signed.check_int(body["expires"], "expires", 1, 1 << 32)
        self.files, self.total_bytes = _parse_files(body["files"], self.board)
        self.signatures = signatures
        self.raw = raw
        self.message = signed.signed_bytes(signed.MANIFEST_DOMAIN, raw, span)

    @classmethod
    def from_bytes(cls, raw):
        body, signatures, span = signed.parse(raw, MAX_BYTES)
        return cls(body, signatures, raw, span)

    def summary(self):
        return "%s %s counter %d for %s (%d files, %d bytes)" % (
            self.board, self.version, self.security_counter, self.hardware_id,
            len(self.files), self.total_bytes)


def _parse_files(entries, board):
    if type(entries) is not list:
        raise UpdateRejected("malformed", "files must be a list")
    if len(entries) > MAX_FILES:
        raise UpdateRejected("too-large", "%d files (limit %d)" % (len(entries), MAX_FILES))
    files = []
    stems = set()
    total = 0
    previous = ""
    for entry in entries:
        signed.check_fields(entry, ("path", "sha256", "size"), "a file entry")
        path = check_path(entry["path"])
        if path <= previous:
            raise UpdateRejected("malformed", "paths must be unique and in ascending order")
        previous = path
        stem = module_stem(path)
        if stem in stems:  # x.py and x.mpy: which one imports would depend on the port
            raise UpdateRejected("malformed", "%s listed as .py and .mpy" % stem)
        stems.add(stem)
        size = entry["size"]
        if type(size) is not int or size < 0:
            raise UpdateRejected("malformed", "size of %s must be a non-negative integer" % path)
        if size > MAX_FILE_BYTES:
            raise UpdateRejected("too-large", "%s: %d bytes (limit %d)" % (
                path, size, MAX_FILE_BYTES))
        total += size
        if total > MAX_TOTAL_BYTES:
            raise UpdateRejected("too-large", "more than %d bytes in all" % MAX_TOTAL_BYTES)
        files.append((path, size, signed.check_hex(entry["sha256"], "sha256 of " + path, 64)))
    for stem in ("main", "boards/" + board):
        if stem not in stems:
            raise UpdateRejected("missing-file", "the package has no %s.py or .mpy" % stem)
    return files, total
