"""The meter's trust policy: which Ed25519 keys exist, their roles and the thresholds a
firmware manifest or the next policy must meet. Stored as a two-slot record, replaced only
by version N+1 signed by the current root threshold AND the new one (TUF spec §5.3).

Vendor signatures never suffice alone; keys absent from the current policy count for
nothing; with break-glass on, vendor signatures count for nothing at all.
"""
import hashlib
from binascii import hexlify

from crypto import ed25519
from storage.slots import SlotStore
from update import signed
from update.errors import UpdateRejected

ROOT = "operator-root"
RELEASE = "operator-release"
EMERGENCY = "operator-emergency"
VENDOR = "vendor"
# threshold name in the document -> role it counts
THRESHOLDS = {"root": ROOT, "release": RELEASE, "emergency": EMERGENCY, "vendor": VENDOR}
ROLES = (ROOT, RELEASE, EMERGENCY, VENDOR)
KIND = "open-meter-policy"
FORMAT = 1
MAX_BYTES = 8192
MAX_KEYS = 16
_BODY = ("format", "keys", "thresholds", "type", "vendor_required", "version")


class Policy:
    """A parsed policy. keys: {keyid: (role, public key bytes)}; thresholds: {role: k}."""

    def __init__(self, raw, body, signatures, message):
        self.raw = bytes(raw)
        self.signatures = signatures
        signed.check_fields(body, _BODY, "the policy")
        signed.check_kind(body, KIND, FORMAT)
        self.version = signed.check_int(body["version"], "version", 1, 1 << 31)
        if type(body["vendor_required"]) is not bool:
            raise UpdateRejected("malformed", "vendor_required must be true or false")
        self.vendor_required = body["vendor_required"]
        self.keys = _parse_keys(body["keys"])
        self.thresholds = _parse_thresholds(body["thresholds"], self.keys, self.vendor_required)
        self.message = message  # the exact bytes the signatures cover

    @classmethod
    def from_bytes(cls, raw):
        """Form checks only: say nothing about who signed it."""
        body, signatures, msg = signed.parse(raw, MAX_BYTES, signed.POLICY_DOMAIN)
        return cls(raw, body, signatures, msg)

    def fingerprint(self):
        """SHA-256 of the signed bytes, 16 hex digits: what a technician reads aloud at
        commissioning to compare with the operator's value."""
        return hexlify(hashlib.sha256(self.message).digest()[:8]).decode()

    def count(self, msg, signatures, roles):
        """Valid signatures on msg per role, for the given roles with their thresholds."""
        return signed.tally(self.keys, msg, signatures, {r: self.thresholds[r] for r in roles})

    def check_firmware(self, msg, signatures, break_glass=False):
        """Return None if the operator threshold (and the vendor one, when required) is met
        by valid signatures on msg; else raise UpdateRejected with the reason."""
        # break-glass (issue 6): vendor and release keys are closed routes; only the
        # operator's emergency or root threshold signs firmware
        roles = (EMERGENCY, ROOT) if break_glass else (RELEASE, VENDOR)
        counts = self.count(msg, signatures, roles)
        if break_glass:
            operator = (counts[EMERGENCY] >= self.thresholds[EMERGENCY]
                        or counts[ROOT] >= self.thresholds[ROOT])
            vendor = True
        else:
            operator = counts[RELEASE] >= self.thresholds[RELEASE]
            vendor = not self.vendor_required or counts[VENDOR] >= self.thresholds[VENDOR]
        if operator and vendor:
            return None
        operator_valid = counts[roles[0]] + (counts[ROOT] if break_glass else 0)
        if counts["bad"]:
            raise UpdateRejected("bad-signature", "%d signature(s) do not verify" % counts["bad"])
        if break_glass and not operator_valid and self._has_role(signatures, RELEASE):
            raise UpdateRejected("not-allowed-in-break-glass", "release keys are disabled; "
                                 "the emergency or root threshold must sign")
        if not operator_valid and self._has_role(signatures, VENDOR):
            raise UpdateRejected("vendor-only", "no valid operator signature" + (
                ", vendor keys ignored in break-glass" if break_glass else "") + (
                "; %d by keys this policy does not hold (unknown or revoked)" %
                counts["unknown"] if counts["unknown"] else ""))
        if not operator_valid and counts["unknown"]:
            raise UpdateRejected("unknown-key", "%d signature(s) by keys this policy does not "
                                 "hold" % counts["unknown"])
        raise UpdateRejected("too-few-signatures", _shortfall(counts, self.thresholds, roles))


    def _has_role(self, signatures, role):
        return any(self.keys.get(keyid, ("",))[0] == role for keyid, _ in signatures)


def _shortfall(counts, thresholds, roles):
    return ", ".join("%s %d of %d" % (r, counts[r], thresholds[r]) for r in roles) + (
        ", %d signature(s) by keys of other roles" % counts["ignored"] if counts["ignored"] else "")


def _parse_keys(keys):
    if type(keys) is not dict or not 0 < len(keys) <= MAX_KEYS:
        raise UpdateRejected("malformed", "keys must be an object of 1..%d keys" % MAX_KEYS)
    parsed = {}
    for keyid in keys:
        entry = signed.check_fields(keys[keyid], ("public", "role"), "key " + keyid)
        public_key = signed.check_hex(entry["public"], "public key", 64)
        if entry["role"] not in ROLES:
            raise UpdateRejected("malformed", "key %s has no known role" % keyid)
        try:
            ed25519.check_public_key(public_key)
        except ValueError as exc:  # Ed25519Error
            raise UpdateRejected("malformed", "key %s: %s" % (keyid, exc))
        if signed.key_id(public_key) != keyid:
            raise UpdateRejected("malformed", "key id %s does not match its key" % keyid)
        parsed[keyid] = (entry["role"], public_key)
    return parsed


def _parse_thresholds(thresholds, keys, vendor_required):
    signed.check_fields(thresholds, tuple(THRESHOLDS), "thresholds")
    parsed = {}
    for name in THRESHOLDS:
        role = THRESHOLDS[name]
        k = signed.check_int(thresholds[name], "threshold " + name, 1, MAX_KEYS + 1)
        have = sum(1 for keyid in keys if keys[keyid][0] == role)
        if k > have and (role in (ROOT, RELEASE) or (role == VENDOR and vendor_required)):
            raise UpdateRejected("malformed", "threshold %s is %d but only %d %s keys" % (
                name, k, have, role))
        parsed[role] = k
    return parsed


def _require_root(policy, msg, signatures, which):
    counts = policy.count(msg, signatures, (ROOT,))
    if counts[ROOT] >= policy.thresholds[ROOT]:
        return
    if counts["bad"]:
        raise UpdateRejected("bad-signature", "%s: %d signature(s) do not verify" % (
            which, counts["bad"]))
    if not counts[ROOT] and counts["unknown"]:
        raise UpdateRejected("unknown-key", which + ": signed by keys it does not hold")
    raise UpdateRejected("too-few-signatures", "%s: root %d of %d" % (
        which, counts[ROOT], policy.thresholds[ROOT]))


def verify_initial(raw):
    """The first policy, installed at commissioning: it must meet its own root threshold.
    Whether it is the operator's is for the technician to check (its fingerprint)."""
    policy = Policy.from_bytes(raw)
    _require_root(policy, policy.message, policy.signatures, "policy")
    return policy


def verify_successor(current, raw):
    """The next policy, if it is version N+1 signed by the root threshold of `current` and
    by its own; raises UpdateRejected otherwise."""
    envelope = signed.Envelope(raw, MAX_BYTES, signed.POLICY_DOMAIN)
    # the meter's own root threshold first: a policy its root keys did not sign is never
    # parsed (authenticate before parsing); the new keys can only be read from the body
    _require_root(current, envelope.msg, envelope.signatures, "current root keys")
    new = Policy(raw, envelope.body(), envelope.signatures, envelope.msg)
    if new.version <= current.version:
        raise UpdateRejected("rollback", "policy version %d, meter has %d" % (
            new.version, current.version))
    if new.version != current.version + 1:
        raise UpdateRejected("policy-gap", "policy version %d, meter has %d: apply %d first" % (
            new.version, current.version, current.version + 1))
    _require_root(new, new.message, new.signatures, "new root keys")
    return new


class PolicyStore:
    """The meter's policy as a power-cut-safe record `policy` on a flash store."""

    def __init__(self, store, name="policy"):
        self.record = SlotStore(store, name)

    def current(self):
        """The stored policy, or None before commissioning."""
        raw = self.record.load()
        return None if raw is None else Policy.from_bytes(raw)

    def commission(self, raw):
        """Install the first policy; refused once one is installed (rotate instead)."""
        if self.record.load() is not None:
            raise UpdateRejected("rollback", "a policy is installed: rotate it (version N+1)")
        policy = verify_initial(raw)
        self.record.save(policy.raw)
        return policy

    def rotate(self, raws):
        """Apply the policy versions in `raws` in order (a meter several versions behind
        walks the chain); each is saved before the next is checked. Returns the last."""
        current = self.current()
        if current is None:
            raise UpdateRejected("no-policy")
        for raw in raws:
            current = verify_successor(current, raw)
            self.record.save(current.raw)
        return current
