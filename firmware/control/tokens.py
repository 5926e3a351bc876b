"""Operator-signed commands: the only way to change the meter's behaviour (calibration,
keys, operator-link settings, tariffs, break-glass). Reading needs no token.

A token is the signed-document envelope of update/signed.py (canonical JSON, domain
separated, Ed25519 signatures naming their key ids) around
  {"type": "open-meter-command", "format": 1, "command": C, "params": {...},
   "meter": METER ID, "counter": N, "expires": UTC s}
Verification fails closed: every check must pass, in order, before the one exit that
accepts. Vendor keys can never command a meter.
"""
from civiltime import iso_utc
from refusal import TokenRefused  # noqa: F401 - its home; the reason codes are here
from update import signed
from update.errors import UpdateRejected
from update.policy import EMERGENCY, RELEASE, ROOT, VENDOR

DOMAIN = b"open-meter/command/v1\x00"
KIND = "open-meter-command"
MAX_BYTES = 2048
_BODY = ("command", "counter", "expires", "format", "meter", "params", "type")

# command -> (parameter names, roles whose threshold suffices, the same in break-glass)
COMMANDS = {
    "set-calibration": (("calibration",), (RELEASE, ROOT), (ROOT, EMERGENCY)),
    "install-keys": (("wrapped_ak", "wrapped_ek", "wrapped_kek"), (RELEASE, ROOT), (ROOT, EMERGENCY)),
    "set-operator-link": (("broker", "interval_s", "tls_ca"), (RELEASE, ROOT), (ROOT, EMERGENCY)),
    "set-tariffs": (("schedule",), (RELEASE, ROOT), (ROOT, EMERGENCY)),
    "break-glass-on": (("reason",), (EMERGENCY,), (EMERGENCY,)),
    "break-glass-off": (("reason",), (ROOT,), (ROOT,)),
}

REASONS = ("malformed", "too-large", "unknown-command", "wrong-meter", "expired", "replayed",
           "vendor-key", "unknown-key", "bad-signature", "too-few-signatures",
           "not-allowed-in-break-glass", "no-policy", "self-test-failed")


def _authenticate(policy, msg, signatures):
    """Valid signatures per role (policy.count, every role): refused unless at least one is
    by a key of the policy, so an unsigned or forged token is never parsed. Which roles may
    give this command is decided after parsing, from the same counts (each signature is
    verified once)."""
    counts = policy.count(msg, signatures, tuple(policy.thresholds))
    if any(counts[role] for role in policy.thresholds):
        return counts
    if counts["bad"]:
        raise TokenRefused("bad-signature", "%d signature(s) do not verify" % counts["bad"])
    if counts["unknown"]:
        raise TokenRefused("unknown-key", "signed by keys the policy does not hold")
    raise TokenRefused("too-few-signatures", "no signature by a key of the policy")


def verify(raw, policy, meter_id, now_s, last_counter, break_glass=False):
    """(command, params, counter) of a token this meter must obey; TokenRefused otherwise."""
    if policy is None:
        raise TokenRefused("no-policy", "the meter has no trust policy: commission it first")
    try:
        envelope = signed.Envelope(raw, MAX_BYTES, DOMAIN)
        signatures, msg = envelope.signatures, envelope.msg
        counts = _authenticate(policy, msg, signatures)  # before the body is parsed
        body = envelope.body()
        signed.check_fields(body, _BODY, "the command")
        signed.check_kind(body, KIND, 1)
        command = signed.check_text(body["command"], "command", 32)
        meter = signed.check_text(body["meter"], "meter", 64)
        counter = signed.check_int(body["counter"], "counter", 1, 1 << 62)
        expires = signed.check_int(body["expires"], "expires", 0, 1 << 40)
    except UpdateRejected as exc:
        raise TokenRefused("too-large" if exc.reason == "too-large" else "malformed", exc.detail)
    try:
        return _obey(policy, body, command, meter, counter, expires, counts, signatures,
                     meter_id, now_s, last_counter, break_glass)
    except TokenRefused as exc:
        exc.counter = counter  # parsed: the audit log names the token it refused
        raise


def _obey(policy, body, command, meter, counter, expires, counts, signatures, meter_id, now_s,
          last_counter, break_glass):
    params = body["params"]
    if command not in COMMANDS:
        raise TokenRefused("unknown-command", command)
    names, roles, glass_roles = COMMANDS[command]
    if type(params) is not dict or sorted(params) != sorted(names):
        raise TokenRefused("malformed", "%s takes exactly %s" % (command, ", ".join(names)))
    if "reason" in params and (type(params["reason"]) is not str or not params["reason"]):
        raise TokenRefused("malformed", "reason must be a text")  # the audit log keeps it
    if meter != meter_id:
        raise TokenRefused("wrong-meter", "for %s, this is %s" % (meter, meter_id))
    if expires <= now_s:
        raise TokenRefused("expired", "expired %s, meter clock %s" % (iso_utc(expires),
                                                                      iso_utc(now_s)))
    if counter <= last_counter:
        raise TokenRefused("replayed", "counter %d, last applied %d" % (counter, last_counter))
    allowed = glass_roles if break_glass else roles
    for role in allowed:
        if counts[role] >= policy.thresholds[role]:
            return command, params, counter  # the one exit that accepts
    by_role = [policy.keys.get(keyid, ("",))[0] for keyid, _sig in signatures]
    if counts["bad"]:
        raise TokenRefused("bad-signature", "%d signature(s) do not verify" % counts["bad"])
    if by_role and all(role == VENDOR for role in by_role):
        raise TokenRefused("vendor-key", "a vendor cannot command this meter")
    if break_glass and any(role in roles and role not in glass_roles for role in by_role):
        raise TokenRefused("not-allowed-in-break-glass",
                           "only %s keys are accepted now" % " or ".join(glass_roles))
    if counts["unknown"] and not any(counts[r] for r in allowed):
        raise TokenRefused("unknown-key", "signed by keys the policy does not hold")
    raise TokenRefused("too-few-signatures", ", ".join(
        "%s %d of %d" % (r, counts[r], policy.thresholds[r]) for r in allowed))
