"""Operator-signed command tokens: applied only when signed by the right operator keys
for this meter, fresh and unexpired; refused tokens change nothing and are logged."""
from control import tokens
from control.audit import AuditLog
from control.plane import ControlPlane
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from fixtures.update import kit
from mptest import raises
from update.policy import PolicyStore

METER = "sim-0001"


def _token(command="set-tariffs", params=None, signers=("release1",), meter=METER, counter=1,
           expires=kit.NOW_S + 3600, **extra):
    if params is None:
        params = {"schedule": {"low_from_hour": 22, "low_until_hour": 6, "low_weekdays": [5, 6]}}
    body = {"type": "open-meter-command", "format": 1, "command": command, "params": params,
            "meter": meter, "counter": counter, "expires": expires}
    body.update(extra)
    return kit.envelope(body, signers, tokens.DOMAIN)


def _plane(**policy_fields):
    flash = FakeFlash()
    policies = PolicyStore(flash)
    policies.commission(kit.policy(**policy_fields))
    applied = []
    handlers = {name: (lambda params, name=name: applied.append((name, params)) or "ok")
                for name in tokens.COMMANDS}
    audit = AuditLog(flash)
    plane = ControlPlane(flash, policies, audit, FakeClock(kit.NOW_S), METER, handlers)
    return plane, applied, audit, flash


def _refused(plane, raw):
    return raises(tokens.TokenRefused, plane.apply, raw).reason


def test_release_signed_token_is_applied_and_logged():
    plane, applied, audit, _ = _plane()
    assert plane.apply(_token()) == "ok"
    assert applied[0][0] == "set-tariffs"
    assert [e["event"] for _s, e in audit.entries()][-1] == "command-applied"


def test_refused_tokens_change_nothing_and_are_logged_with_a_reason():
    plane, applied, audit, _ = _plane(release=2, names=("root1", "release1", "release2",
                                                         "emergency", "vendor"))
    cases = {
        "expired": _token(signers=("release1", "release2"), expires=kit.NOW_S - 1),
        "wrong-meter": _token(signers=("release1", "release2"), meter="sim-0002"),
        "vendor-key": _token(signers=("vendor",)),
        "unknown-key": _token(signers=("stranger",)),
        "too-few-signatures": _token(signers=("release1",)),
        "unknown-command": _token(command="open-relay", params={}, signers=("release1", "release2")),
        "malformed": b'{"signatures": [], "signed": 5}',
    }
    for reason, raw in cases.items():
        assert _refused(plane, raw) == reason, reason
    assert applied == []
    logged = [e["text"].split(" ")[0] for _s, e in audit.entries() if e["event"] == "token-refused"]
    assert sorted(logged) == sorted(cases)


def test_a_token_applies_once_and_older_counters_are_replays():
    plane, applied, _, flash = _plane()
    plane.apply(_token(counter=5))
    assert _refused(plane, _token(counter=5)) == "replayed"
    assert _refused(plane, _token(counter=4)) == "replayed"
    # the counter survives a reboot
    again = ControlPlane(flash, plane.policies, plane.audit, plane.clock, METER, plane.handlers)
    assert _refused(again, _token(counter=5)) == "replayed"
    assert len(applied) == 1


def test_a_flipped_bit_in_the_signature_is_refused():
    raw = bytearray(_token())
    at = raw.index(b'"sig":"') + 10
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    plane, applied, _, _ = _plane()
    assert _refused(plane, bytes(raw)) == "bad-signature"
    assert applied == []


def test_break_glass_closes_everything_but_emergency_and_root_keys():
    plane, applied, audit, _ = _plane()
    assert _refused(plane, _token("break-glass-on", {"reason": "x"}, signers=("release1",),
                                  counter=1)) == "too-few-signatures"
    assert plane.apply(_token("break-glass-on", {"reason": "sanctions"}, signers=("emergency",),
                              counter=2)) == "break-glass on"
    assert plane.break_glass
    assert _refused(plane, _token(counter=3)) == "not-allowed-in-break-glass"
    # key rotation can be forced at once with the emergency key
    keys = {"wrapped_ek": "00", "wrapped_ak": "00", "wrapped_kek": "00"}
    plane.apply(_token("install-keys", keys, signers=("emergency",), counter=4))
    assert applied[-1][0] == "install-keys"
    # leaving takes the root threshold
    assert _refused(plane, _token("break-glass-off", {"reason": "over"}, signers=("emergency",),
                                  counter=5)) == "too-few-signatures"
    plane.apply(_token("break-glass-off", {"reason": "over"}, signers=("root1",), counter=6))
    assert not plane.break_glass
    events = [e["event"] for _s, e in audit.entries()]
    assert "break-glass-on" in events and "break-glass-off" in events


def test_without_a_policy_no_token_is_accepted():
    flash = FakeFlash()
    plane = ControlPlane(flash, PolicyStore(flash), AuditLog(flash), FakeClock(kit.NOW_S),
                         METER, {})
    assert _refused(plane, _token()) == "no-policy"


def test_a_signed_token_whose_format_is_true_is_malformed_and_changes_nothing():
    plane, applied, _, _ = _plane()
    assert _refused(plane, _token(format=True)) == "malformed"
    assert applied == []
    assert plane.apply(_token(format=1)) == "ok"  # the same token with the integer applies


def test_an_unexpected_failure_while_handling_a_token_is_an_audited_refusal():
    plane, applied, audit, _ = _plane()

    def failing(params):
        raise OSError(28, "no space left on device")

    plane.handlers["set-tariffs"] = failing
    exc = raises(tokens.TokenRefused, plane.apply, _token())
    assert exc.reason == "internal-error" and "OSError" in exc.detail
    last = [e for _s, e in audit.entries()][-1]
    assert last["event"] == "token-refused" and "internal-error" in last["text"]
    # and while verifying (here: the policy store fails), the same
    plane.handlers["set-tariffs"] = lambda params: "ok"

    def broken_policy():
        raise MemoryError("memory allocation failed")

    plane.policies.current = broken_policy
    exc = raises(tokens.TokenRefused, plane.apply, _token(counter=2))
    assert exc.reason == "internal-error" and "MemoryError" in exc.detail
    assert [e for _s, e in audit.entries()][-1]["event"] == "token-refused"


def test_a_token_is_authenticated_before_its_body_is_parsed():
    # a body nested far beyond the parser's limit: parsed, it would be "malformed" (or,
    # deep enough, exhaust the heap); unsigned by the policy it is never parsed at all
    deep = "[" * 200 + "]" * 200
    body_text = '{"command":%s,"counter":1,"expires":1,"format":1,"meter":"m","params":{},' \
                '"type":"open-meter-command"}' % deep
    forged = _resign_text(body_text.encode(), "stranger")
    plane, applied, _, _ = _plane()
    assert _refused(plane, forged) == "unknown-key"
    # the same body signed by a release key is parsed, and refused for its form
    signed_raw = _resign_text(body_text.encode(), "release1")
    assert _refused(plane, signed_raw) == "malformed"
    assert applied == []


def _resign_text(body_text, signer):
    """An envelope whose body is exactly body_text, signed by signer over it."""
    from binascii import hexlify

    from crypto import ed25519_ref

    sig = ed25519_ref.sign(kit.seed(signer), tokens.DOMAIN + body_text)
    return b'{"signatures":[{"keyid":"%s","sig":"%s"}],"signed":%s}' % (
        kit.keyid(signer).encode(), hexlify(sig), body_text)


def test_a_full_flash_when_the_counter_is_spent_changes_nothing_not_even_in_ram():
    plane, applied, audit, _ = _plane()

    def full(payload):
        raise OSError(28, "no space left on device")

    plane._slots.save = full
    token = _token("break-glass-on", {"reason": "drill"}, signers=("emergency",))
    exc = raises(tokens.TokenRefused, plane.apply, token)
    assert exc.reason == "internal-error"
    assert plane.break_glass is False and plane.state["last_counter"] == 0  # as on flash
    assert [e for _s, e in audit.entries()][-1]["event"] == "token-refused"


def test_a_break_glass_token_without_a_reason_text_changes_nothing():
    """The reason goes into the audit log: a null or a number there is malformed, refused
    before the state changes (it used to switch break-glass and then fail to log it)."""
    plane, _applied, audit, _ = _plane()
    for counter, reason in ((1, None), (2, ""), (3, 7)):
        raw = _token("break-glass-on", {"reason": reason}, signers=("emergency",),
                     counter=counter)
        assert _refused(plane, raw) == "malformed"
    assert plane.break_glass is False and plane.state["last_counter"] == 0
    texts = [e["text"] for _s, e in audit.entries()]
    assert texts[-1] == "malformed #3 via shell: reason must be a text"
