"""Signed documents (firmware manifests, trust policies): parse-then-trust of the canonical
JSON envelope, and the count of valid signatures per key role.

Envelope: canonical JSON {"signatures": [{"keyid": K, "sig": S}, ..], "signed": BODY}.
Signed bytes: DOMAIN + canonical(BODY), DOMAIN naming the document kind so a signature on a
policy can never pass as one on a manifest. Never counts a key twice, a key the policy
does not hold, or a signature that does not verify.
"""
import hashlib
import json
from binascii import hexlify, unhexlify

from update.errors import UpdateRejected

MANIFEST_DOMAIN = b"open-meter/manifest/v1\x00"
POLICY_DOMAIN = b"open-meter/policy/v1\x00"
MAX_SIGNATURES = 8
KEYID_CHARS = 16  # hex of the first 8 bytes of SHA-256(public key)
_SIG_CHARS = 128
_MAX_DEPTH = 5
_MAX_TEXT = 128
_HEX = "0123456789abcdef"


def read_into(stream, mv):
    """Fill mv from stream as far as it goes; the number of bytes read (short at the end)."""
    got = 0
    want = len(mv)
    while got < want:
        n = stream.readinto(mv[got:])
        if not n:
            break
        got += n
    return got


def key_id(public_key):
    """The key id of a 32-byte Ed25519 public key: 16 lower-case hex digits."""
    return hexlify(hashlib.sha256(bytes(public_key)).digest()[:8]).decode()


def check_text(value, what, max_len=_MAX_TEXT, chars=None):
    """Raise "malformed" unless value is a str of 1..max_len printable ASCII characters
    (no quote or backslash: both interpreters encode such text identically), all in
    `chars` if given."""
    if type(value) is not str or not 0 < len(value) <= max_len:
        raise UpdateRejected("malformed", what + " must be a string of 1..%d characters" % max_len)
    for c in value:
        if c < " " or c > "~" or c == '"' or c == "\\" or (chars is not None and c not in chars):
            raise UpdateRejected("malformed", what + " holds a character not allowed")
    return value


def check_int(value, what, low, high):
    """Raise "malformed" unless value is an int (not a bool) with low <= value < high."""
    if type(value) is not int or not low <= value < high:
        raise UpdateRejected("malformed", "%s must be an integer in [%d, %d)" % (what, low, high))
    return value


def check_kind(body, kind, fmt):
    """Raise "malformed" unless the document says it is a `kind` of format `fmt`, the
    format as an int: `true` equals 1 in Python and must not pass for it."""
    if body["type"] != kind or type(body["format"]) is not int or body["format"] != fmt:
        raise UpdateRejected("malformed", "not a format %d %s" % (fmt, kind))


def check_hex(value, what, chars):
    """The bytes of a string of exactly `chars` lower-case hex digits; "malformed" otherwise."""
    if type(value) is not str or len(value) != chars:
        _fail("%s must be %d lower-case hex digits" % (what, chars))
    return unhexlify(check_text(value, what, chars, _HEX))


def check_fields(obj, names, what):
    """Raise "malformed" unless obj is a dict with exactly the keys `names`."""
    ok = type(obj) is dict and len(obj) == len(names)
    for name in names:  # no sorted() copies: this runs for every file entry
        ok = ok and name in obj
    if not ok:
        raise UpdateRejected("malformed", what + " must have exactly the fields " + ",".join(names))
    return obj


def _fail(detail):
    raise UpdateRejected("malformed", detail)


def _check_tree(obj, depth):
    """Only dicts, lists, str, int, bool and null, nested at most _MAX_DEPTH: no floats (their
    text differs between interpreters; a fraction travels as decimal text)."""
    if depth > _MAX_DEPTH:
        _fail("nested too deeply")
    kind = type(obj)
    if kind is dict:
        for key in obj:
            check_text(key, "a field name")
            _check_tree(obj[key], depth + 1)
    elif kind is list:
        for item in obj:
            _check_tree(item, depth + 1)
    elif kind is str:
        check_text(obj, "a text value", 1 << 16)
    elif kind is not int and kind is not bool and obj is not None:
        _fail("value of type %s not allowed" % kind.__name__)


_SIGNATURES_KEY = b'{"signatures":'
_BODY_KEY = b'],"signed":'


class Envelope:
    """An envelope held in memory (policies, tokens), scanned but not parsed: its
    signatures and the signed bytes (domain + the body's text sliced from raw, never a
    re-encoding; None if domain is None). body() parses the body only when asked, so a
    caller can check the signatures first (authenticate before parsing)."""

    def __init__(self, raw, max_bytes, domain=None):
        if len(raw) > max_bytes:
            raise UpdateRejected("too-large", "document of %d bytes (limit %d)" % (
                len(raw), max_bytes))
        import io

        self._stream = io.BytesIO(raw)
        self._buf = bytearray(256)
        self.signatures, self._at, self._len = read_signatures(self._stream, len(raw),
                                                               self._buf)
        self.msg = None
        if domain is not None:
            self.msg = bytearray(len(domain) + self._len)
            self.msg[:len(domain)] = domain
            self.msg[len(domain):] = memoryview(raw)[self._at:self._at + self._len]

    def body(self):
        """The body, checked for form: JSON, allowed types, canonical encoding."""
        return read_body(self._stream, self._at, self._len, self._buf)


def parse(raw, max_bytes, domain=None):
    """(body, [(keyid, signature bytes)], signed bytes) of an envelope held in memory,
    checked for form only (Envelope, parsed at once). Raises UpdateRejected."""
    envelope = Envelope(raw, max_bytes, domain)
    return envelope.body(), envelope.signatures, envelope.msg


# The longest canonical signature list (MAX_SIGNATURES entries of
# '{"keyid":"<16 hex>","sig":"<128 hex>"}' and commas) ends well inside this many bytes:
# the scan for the body reads no further.
SCAN_BYTES = 2048


def read_signatures(stream, length, buf):
    """([(keyid, signature)], body offset, body length) of the envelope of `length` bytes
    that starts at the stream's position (seekable). Reads the signature list through
    `buf` (any size) and nothing of the body: authenticate before parsing."""
    start = stream.tell()
    cursor = _Cursor(stream, min(length, SCAN_BYTES), buf)
    head = len(_SIGNATURES_KEY)
    for b in _SIGNATURES_KEY:
        if cursor._byte() != b:
            _fail("not an envelope (canonical JSON starting with the signatures)")
    # nothing in a canonical signature list (hex only) can spell '],"signed":'
    pos = head
    matched = 0
    while matched < len(_BODY_KEY):
        b = cursor._byte()
        if b < 0:
            _fail("no signed body within the first %d bytes" % SCAN_BYTES)
        pos += 1
        if b == _BODY_KEY[matched]:
            matched += 1
        else:
            matched = 1 if b == _BODY_KEY[0] else 0
    list_len = pos - len(_BODY_KEY) + 1 - head  # the list's text, '[' to ']'
    stream.seek(start + head)
    try:
        entries = json.load(_Bounded(stream, list_len, buf))
    except UpdateRejected:
        raise  # the bounded reader's own refusal (a Refusal is a ValueError)
    except ValueError:
        _fail("not JSON")
    if type(entries) is not list or len(entries) > MAX_SIGNATURES:
        _fail("signatures must be a list of at most %d" % MAX_SIGNATURES)
    _check_tree(entries, 1)
    signatures = []
    seen = []
    for entry in entries:
        check_fields(entry, ("keyid", "sig"), "a signature")
        keyid = entry["keyid"]
        check_hex(keyid, "keyid", KEYID_CHARS)
        if keyid in seen:
            _fail("key %s signs twice" % keyid)
        seen.append(keyid)
        signatures.append((keyid, check_hex(entry["sig"], "sig", _SIG_CHARS)))
    stream.seek(start + head)
    cursor = _Cursor(stream, list_len, buf)
    _match(entries, cursor)
    cursor.expect_end()
    if pos >= length:
        _fail("no signed body")
    return signatures, start + pos, length - pos - 1


def read_body(stream, body_at, body_len, buf):
    """The body (a dict) whose text lies at body_at..+body_len of a seekable stream,
    followed by the envelope's closing '}' and its end: parsed from the stream and
    checked to be the one canonical spelling, through `buf` only."""
    stream.seek(body_at)
    try:
        body = json.load(_Bounded(stream, body_len, buf))
    except UpdateRejected:
        raise  # the bounded reader's own refusal (a Refusal is a ValueError)
    except ValueError:  # UnicodeError is a ValueError on both interpreters
        _fail("not JSON")
    if type(body) is not dict:
        _fail("signed must be an object")
    _check_tree(body, 1)
    # MicroPython's json accepts trailing commas and both take the last of duplicate keys:
    # only the one canonical spelling is accepted, so every parser sees the same document
    stream.seek(body_at)
    cursor = _Cursor(stream, body_len + 1, buf)
    _match(body, cursor)
    cursor.expect(b"}")
    cursor.expect_end()
    return body


class StreamedMessage:
    """What the signatures cover, domain + the body's text, hashed straight from the
    stream when a signature is checked: never held whole in RAM."""

    def __init__(self, domain, stream, body_at, body_len, buf):
        self.domain = domain
        self._stream = stream
        self.body_at = body_at  # where the body's text lies in the stream (manifest.read)
        self.body_len = body_len
        self._mv = memoryview(buf)

    def hash_into(self, h):
        h.update(self.domain)
        stream = self._stream
        stream.seek(self.body_at)
        left = self.body_len
        mv = self._mv
        while left:
            n = stream.readinto(mv[:left if left < len(mv) else len(mv)])
            if not n:
                _fail("the document ends inside its body")
            h.update(mv[:n])
            left -= n


try:
    from io import IOBase as _StreamBase  # MicroPython: json.load calls its readinto
except ImportError:  # pragma: no cover
    _StreamBase = object


class _Bounded(_StreamBase):
    """At most `length` bytes of a stream, for json.load: the parser cannot read past
    the body into the file records, and reads through `buf` (no allocation per byte)."""

    def __init__(self, stream, length, buf):
        self._stream = stream
        self._left = length
        self._buf = buf
        self._mv = memoryview(buf)
        self._at = 0
        self._end = 0

    def _fill(self):
        left = self._left
        if left <= 0:
            return 0
        n = self._stream.readinto(self._mv[:left if left < len(self._mv) else len(self._mv)])
        self._left = left - n if n else 0
        self._at = 0
        self._end = n or 0
        return self._end

    def readinto(self, out):
        if self._at == self._end and not self._fill():
            return 0
        if len(out) == 1:  # MicroPython's json reads a byte at a time: no slice objects
            out[0] = self._buf[self._at]
            self._at += 1
            return 1
        n = min(len(out), self._end - self._at)
        out[:n] = self._mv[self._at:self._at + n]
        self._at += n
        return n

    def read(self, n=-1):  # CPython's json.load reads the whole value at once
        parts = []
        while n != 0:
            if self._at == self._end and not self._fill():
                break
            take = self._end - self._at if n < 0 else min(n, self._end - self._at)
            parts.append(bytes(self._mv[self._at:self._at + take]))
            self._at += take
            if n > 0:
                n -= take
        return b"".join(parts)


class _Cursor(_Bounded):
    """Reads a document in order through a small buffer: the canonical check compares the
    parsed objects with the text one byte at a time, holding neither the text nor a
    re-encoding of it (a re-encoding is ~25x the text in garbage on a board's heap)."""

    def _byte(self):
        if self._at == self._end and not self._fill():
            return -1
        b = self._buf[self._at]
        self._at += 1
        return b

    def expect(self, piece):
        for b in piece:
            if self._byte() != b:
                _fail("not canonical JSON")

    def expect_text(self, value):
        """'"value"' next; value is printable ASCII with no quote or backslash."""
        self.expect(b'"')
        for c in value:
            if self._byte() != ord(c):
                _fail("not canonical JSON")
        self.expect(b'"')

    def expect_end(self):
        if self._byte() != -1:
            _fail("not canonical JSON")


def _match(obj, cursor):
    """Consume obj's canonical encoding (canonical.dumps) from cursor, or fail. Only the
    types _check_tree lets through, whose strings are printable ASCII needing no JSON
    escapes."""
    kind = type(obj)
    if kind is dict:
        cursor.expect(b"{")
        first = True
        for key in sorted(obj):
            if not first:
                cursor.expect(b",")
            first = False
            cursor.expect_text(key)
            cursor.expect(b":")
            _match(obj[key], cursor)
        cursor.expect(b"}")
    elif kind is list:
        cursor.expect(b"[")
        for i in range(len(obj)):
            if i:
                cursor.expect(b",")
            _match(obj[i], cursor)
        cursor.expect(b"]")
    elif kind is str:
        cursor.expect_text(obj)
    elif kind is bool:
        cursor.expect(b"true" if obj else b"false")
    elif obj is None:
        cursor.expect(b"null")
    else:
        cursor.expect(str(obj).encode())


def message(domain, body):
    """The exact bytes a signature covers, encoded afresh (host tools and tests)."""
    import canonical

    return domain + canonical.dumps(body).encode()


def tally(keys, msg, signatures, needed):
    """Count valid signatures per role. keys: {keyid: (role, public key)}; needed: {role: k}
    for the roles that count here (others are ignored); a role stops being checked once it
    has k valid ones. Returns {role: valid, "bad": n, "unknown": n, "ignored": n}."""
    from crypto import ed25519  # lazily: the boot stage parses manifests but never verifies

    counts = {"bad": 0, "unknown": 0, "ignored": 0}
    for role in needed:
        counts[role] = 0
    for keyid, sig in signatures:
        entry = keys.get(keyid)
        if entry is None:
            counts["unknown"] += 1  # unknown, or revoked: absent from the current policy
            continue
        role, public_key = entry
        if role not in needed:
            counts["ignored"] += 1
            continue
        if counts[role] >= needed[role]:
            continue  # enough of this role: spare the board a second-long verification
        if ed25519.verify(public_key, msg, sig):
            counts[role] += 1
        else:
            counts["bad"] += 1
    return counts
