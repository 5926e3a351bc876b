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
    """Only dicts, lists, str, int and bool, nested at most _MAX_DEPTH: no floats, no null."""
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
    elif kind is not int and kind is not bool:
        _fail("value of type %s not allowed" % kind.__name__)


def parse(raw, max_bytes, domain=None):
    """(body, [(keyid, signature bytes)], signed bytes) of an envelope's bytes, checked for
    form only: size, JSON, allowed types, canonical encoding, signature list. The signed
    bytes are domain + the body's text sliced from raw (never a re-encoding), in a buffer
    taken before parsing scatters small objects over the heap; None if domain is None.
    Raises UpdateRejected."""
    if len(raw) > max_bytes:
        raise UpdateRejected("too-large", "document of %d bytes (limit %d)" % (len(raw), max_bytes))
    msg = None
    # Where a canonical envelope's body starts: nothing in the signature list (hex only)
    # can spell '],"signed":'. Checked against the real position after parsing.
    body_at = raw.find(b'],"signed":{') + 11
    if domain is not None and body_at > 10:  # None: only the form is wanted (boot stage)
        msg = bytearray(len(domain) + len(raw) - 1 - body_at)
        msg[:len(domain)] = domain
    try:
        env = json.loads(raw)  # bytes in: no decoded copy of the document
    except ValueError:  # UnicodeError is a ValueError on both interpreters
        _fail("not JSON")
    _check_tree(env, 0)
    check_fields(env, ("signatures", "signed"), "the envelope")
    if type(env["signed"]) is not dict:
        _fail("signed must be an object")
    # MicroPython's json accepts trailing commas and both take the last of duplicate keys:
    # only the one canonical spelling is accepted, so every parser sees the same document.
    pos = _match(env["signatures"], raw, _expect(raw, 0, b'{"signatures":'))
    start = _expect(raw, pos, b',"signed":')
    end = _match(env["signed"], raw, start)
    if _expect(raw, end, b"}") != len(raw) or start != body_at:
        _fail("not canonical JSON")
    if msg is not None:
        msg[len(domain):] = memoryview(raw)[start:end]
    entries = env["signatures"]
    if type(entries) is not list or len(entries) > MAX_SIGNATURES:
        _fail("signatures must be a list of at most %d" % MAX_SIGNATURES)
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
    return env["signed"], signatures, msg


def _expect(raw, pos, piece):
    if pos < 0 or not raw.startswith(piece, pos):
        _fail("not canonical JSON")
    return pos + len(piece)


def _match(obj, raw, pos):
    """Position after obj's canonical encoding (canonical.dumps) if raw holds it at pos.
    Compares in place: no copy of the document is built, as re-encoding it would (~25x
    its size in garbage, fragmenting a board's heap). Only the types _check_tree lets
    through, whose strings are printable ASCII needing no JSON escapes."""
    kind = type(obj)
    if kind is dict:
        pos = _expect(raw, pos, b"{")
        sep = b""
        for key in sorted(obj):
            pos = _match_text(key, raw, _expect(raw, pos, sep))
            pos = _match(obj[key], raw, _expect(raw, pos, b":"))
            sep = b","
        return _expect(raw, pos, b"}")
    if kind is list:
        pos = _expect(raw, pos, b"[")
        for i in range(len(obj)):
            pos = _match(obj[i], raw, _expect(raw, pos, b"," if i else b""))
        return _expect(raw, pos, b"]")
    if kind is str:
        return _match_text(obj, raw, pos)
    if kind is bool:
        return _expect(raw, pos, b"true" if obj else b"false")
    return _expect(raw, pos, str(obj).encode())


def _match_text(value, raw, pos):
    """Position after '"value"' if raw holds it at pos; "malformed" otherwise."""
    pos = _expect(raw, pos, b'"')
    if pos + len(value) >= len(raw):
        _fail("not canonical JSON")
    for c in value:
        if raw[pos] != ord(c):
            _fail("not canonical JSON")
        pos += 1
    return _expect(raw, pos, b'"')


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
