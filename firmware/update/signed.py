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
    if type(obj) is not dict or sorted(obj) != sorted(names):
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


def parse(raw, max_bytes):
    """(body, [(keyid, signature bytes)], (start, end)) of an envelope's bytes, checked for
    form only: size, JSON, allowed types, canonical encoding, signature list. (start, end)
    is where the body's canonical text sits in raw: the signed bytes are a slice of what
    arrived, never a re-encoding. Raises UpdateRejected."""
    if len(raw) > max_bytes:
        raise UpdateRejected("too-large", "document of %d bytes (limit %d)" % (len(raw), max_bytes))
    try:
        text = raw.decode()
        env = json.loads(text)
    except ValueError:  # UnicodeError is a ValueError on both interpreters
        _fail("not JSON")
    _check_tree(env, 0)
    check_fields(env, ("signatures", "signed"), "the envelope")
    if type(env["signed"]) is not dict:
        _fail("signed must be an object")
    # MicroPython's json accepts trailing commas and both take the last of duplicate keys:
    # only the one canonical spelling is accepted, so every parser sees the same document.
    pos = _match(env["signatures"], text, _expect(text, 0, '{"signatures":'))
    start = _expect(text, pos, ',"signed":')
    end = _match(env["signed"], text, start)
    if _expect(text, end, "}") != len(text):
        _fail("not canonical JSON")
    text = None
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
    return env["signed"], signatures, (start, end)


def _expect(text, pos, piece):
    if pos < 0 or not text.startswith(piece, pos):
        _fail("not canonical JSON")
    return pos + len(piece)


def _match(obj, text, pos):
    """Position after obj's canonical encoding (canonical.dumps) if text holds it at pos.
    Compares small pieces in place: no copy of the document is built, as re-encoding
    it would (~25x its size in garbage, fragmenting a board's heap). Only the types
    _check_tree lets through, whose strings need no JSON escapes."""
    kind = type(obj)
    if kind is dict:
        pos = _expect(text, pos, "{")
        sep = ""
        for key in sorted(obj):
            pos = _match_text(key, text, _expect(text, pos, sep))
            pos = _match(obj[key], text, _expect(text, pos, ":"))
            sep = ","
        return _expect(text, pos, "}")
    if kind is list:
        pos = _expect(text, pos, "[")
        for i in range(len(obj)):
            pos = _match(obj[i], text, _expect(text, pos, "," if i else ""))
        return _expect(text, pos, "]")
    if kind is str:
        return _match_text(obj, text, pos)
    if kind is bool:
        return _expect(text, pos, "true" if obj else "false")
    return _expect(text, pos, str(obj))


def _match_text(value, text, pos):
    return _expect(text, _expect(text, _expect(text, pos, '"'), value), '"')


def message(domain, body):
    """The exact bytes a signature covers, encoded afresh (host tools and tests)."""
    import canonical

    return domain + canonical.dumps(body).encode()


def signed_bytes(domain, raw, span):
    """The exact bytes a signature covers, sliced from the envelope as it arrived."""
    return domain + bytes(raw[span[0]:span[1]])


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
