"""The trust policy: commissioned once, replaced only by version N+1 signed by the current
root threshold and the new one (TUF §5.3), walked version by version, power-cut safe."""
from fakes.flash import FakeFlash, PowerLoss
from fixtures.update import kit
from mptest import raises
from update import signed
from update.errors import UpdateRejected
from update.policy import Policy, PolicyStore, verify_initial, verify_successor


def _store(**fields):
    flash = FakeFlash()
    store = PolicyStore(flash)
    store.commission(kit.policy(**fields))
    return flash, store


def _reason(fn, *args):
    return raises(UpdateRejected, fn, *args).reason


# --- commissioning -------------------------------------------------------------------------

def test_commissioning_installs_a_self_signed_policy():
    _, store = _store()
    policy = store.current()
    assert policy.version == 1
    assert policy.keys[kit.keyid("release1")][0] == "operator-release"


def test_commissioning_refuses_policy_not_signed_by_its_root_keys():
    store = PolicyStore(FakeFlash())
    assert _reason(store.commission, kit.policy(signers=("release1",))) == "too-few-signatures"
    assert _reason(store.commission, kit.policy(signers=("stranger",))) == "unknown-key"
    assert store.current() is None


def test_commissioning_happens_once():
    _, store = _store()
    assert _reason(store.commission, kit.policy()) == "rollback"


def test_fingerprint_names_the_signed_content():
    a = verify_initial(kit.policy())
    b = verify_initial(kit.policy(release=2))
    assert len(a.fingerprint()) == 16 and a.fingerprint() != b.fingerprint()


# --- rotation ------------------------------------------------------------------------------

def test_rotation_needs_current_and_new_root_thresholds():
    # v2 replaces root1 by root2 (root1 compromised or retired)
    _, store = _store()
    v2 = dict(names=("root2", "release1"), version=2)
    assert _reason(store.rotate, [kit.policy(signers=("root2",), **v2)]) == "unknown-key"
    assert _reason(store.rotate, [kit.policy(signers=("root1",), **v2)]) == "unknown-key"
    assert store.current().version == 1
    policy = store.rotate([kit.policy(signers=("root1", "root2"), **v2)])
    assert policy.version == 2 and store.current().version == 2


def test_rotation_counts_a_k_of_n_root_threshold():
    roots = ("root1", "root2", "root3", "release1")
    _, store = _store(names=roots, root=2, signers=("root1", "root2"))
    v2 = kit.policy(signers=("root3",), names=roots, root=2, version=2)
    assert _reason(store.rotate, [v2]) == "too-few-signatures"
    v2 = kit.policy(signers=("root1", "root3"), names=roots, root=2, version=2)
    assert store.rotate([v2]).version == 2


def test_rotation_refuses_a_bad_root_signature():
    _, store = _store()
    v2 = kit.envelope(kit.policy_body(version=2), (), signed.POLICY_DOMAIN,
                      extra=((kit.keyid("root1"), bytes(64)),))
    assert _reason(store.rotate, [v2]) == "bad-signature"


def test_rotation_refuses_older_or_same_version():
    _, store = _store(version=3)
    assert _reason(store.rotate, [kit.policy(version=3)]) == "rollback"
    assert _reason(store.rotate, [kit.policy(version=2)]) == "rollback"


def test_rotation_refuses_a_skipped_version():
    _, store = _store()
    assert _reason(store.rotate, [kit.policy(version=3)]) == "policy-gap"


def test_meter_several_versions_behind_walks_the_chain():
    # each version hands over to a new root key; the meter holds v1 only
    chain = [kit.policy(signers=("root1", "root2"), names=("root2", "release1"), version=2),
             kit.policy(signers=("root2", "root3"), names=("root3", "release2"), version=3),
             kit.policy(signers=("root3",), names=("root3", "release1", "vendor"), version=4)]
    _, store = _store()
    assert store.rotate(chain).version == 4
    assert sorted(store.current().keys) == sorted(
        [kit.keyid("root3"), kit.keyid("release1"), kit.keyid("vendor")])


def test_chain_with_a_bad_link_keeps_the_last_good_version():
    chain = [kit.policy(signers=("root1",), version=2),
             kit.policy(signers=("stranger",), version=3)]
    _, store = _store()
    assert _reason(store.rotate, chain) == "unknown-key"
    assert store.current().version == 2


def test_manifest_signature_cannot_pass_as_policy_signature():
    body = kit.policy_body(version=2)
    from crypto import ed25519_ref

    sig = ed25519_ref.sign(kit.seed("root1"), signed.message(signed.MANIFEST_DOMAIN, body))
    v2 = kit.envelope(body, (), signed.POLICY_DOMAIN, extra=((kit.keyid("root1"), sig),))
    assert _reason(verify_successor, verify_initial(kit.policy()), v2) == "bad-signature"


# --- form ----------------------------------------------------------------------------------

def test_refuses_key_id_that_does_not_match_its_key():
    body = kit.policy_body()
    keys = body["keys"]
    first = sorted(keys)[0]
    keys["00" + first[2:]] = keys.pop(first)
    assert _reason(Policy.from_bytes, kit.envelope(body, ("root1",), signed.POLICY_DOMAIN)) \
        == "malformed"


def test_refuses_small_order_and_non_canonical_keys():
    for public_hex in ("01" + "00" * 31, "ed" + "ff" * 30 + "7f"):  # order 1; y = p
        body = kit.policy_body()
        from binascii import unhexlify

        keys = body["keys"]
        keys[signed.key_id(unhexlify(public_hex))] = {"public": public_hex, "role": "vendor"}
        raw = kit.envelope(body, ("root1",), signed.POLICY_DOMAIN)
        assert _reason(Policy.from_bytes, raw) == "malformed", public_hex


def test_refuses_threshold_above_the_keys_of_its_role():
    assert _reason(Policy.from_bytes, kit.policy(release=3)) == "malformed"
    assert _reason(Policy.from_bytes, kit.policy(root=0)) == "malformed"
    assert _reason(Policy.from_bytes, kit.policy(names=("root1", "release1"),
                                                 vendor_required=True)) == "malformed"


def test_refuses_unknown_role():
    raw = kit.policy(roles={"release2": "operator-superuser"})
    assert _reason(Policy.from_bytes, raw) == "malformed"


# --- power cuts ----------------------------------------------------------------------------

def test_power_cut_at_every_write_of_a_rotation_keeps_old_or_new_policy():
    v2 = kit.policy(signers=("root1", "root2"), names=("root2", "release1"), version=2)
    flash, _ = _store()
    after = 1
    while True:
        trial = flash.copy()
        trial.arm(after)
        try:
            PolicyStore(trial).rotate([v2])
            done = True
        except PowerLoss:
            done = False
        trial.reboot()
        assert PolicyStore(trial).current().version in (1, 2)
        if done:
            assert PolicyStore(trial).current().version == 2
            break
        after += 1
    assert after >= 2  # the save was cut at least once


def test_a_signed_policy_whose_format_is_true_is_malformed():
    from update import signed as signed_mod

    body = kit.policy_body()
    body["format"] = True
    raw = kit.envelope(body, ("root1",), signed_mod.POLICY_DOMAIN)
    store = PolicyStore(FakeFlash())
    assert raises(UpdateRejected, store.commission, raw).reason == "malformed"
    assert store.current() is None
