"""The update gate refuses every package the issue names, with its reason, and changes
nothing active: each negative case is the good package with one edit. Packages are
signed in the test with the RFC 8032 reference signer (fixtures/update/kit.py)."""
import hashlib
from binascii import hexlify

from fakes.flash import FakeFlash
from fakes.tree import FakeTree
from fixtures.update import kit
from mptest import raises
from update import firmware_slots, signed
from update.errors import UpdateRejected
from update.policy import Policy
from update.verify import Verifier

ACTIVE_FILES = kit.release_files("r0")


def _meter():
    """A meter running release r0 from slot b: new packages stage into slot a."""
    flash = FakeFlash()
    tree = FakeTree(flash)
    Verifier(_policy(), "sim", "sim-v1", 0, kit.NOW_S).install(
        kit.stream(kit.package(ACTIVE_FILES, version="0.9.0")), tree, "b")
    return tree


def _policy(**fields):
    return Policy.from_bytes(kit.policy(**fields))


def _verifier(policy=None, floor=0, now_s=kit.NOW_S, **options):
    return Verifier(policy or _policy(), "sim", "sim-v1", floor, now_s, **options)


def _install(package, verifier=None):
    tree = _meter()
    return (verifier or _verifier()).install(kit.stream(package), tree, "a"), tree


def _reason(package, verifier=None):
    """The reason code a package is refused with; checks the active slot b is untouched
    and nothing is left in the staging slot a."""
    tree = _meter()
    before = dict(tree.files)
    exc = raises(UpdateRejected, (verifier or _verifier()).install, kit.stream(package), tree, "a")
    assert [p for p in tree.files if p.startswith("fw/a/")] == []
    assert tree.files == {p: before[p] for p in before if p.startswith("fw/b/")}
    firmware_slots.check(tree, "b", bytearray(2048))
    return exc.reason


def _hex_sha256(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


# --- accepted ----------------------------------------------------------------------------

def test_accepts_package_signed_by_an_operator_release_key():
    manifest, tree = _install(kit.package())
    assert manifest.version == "1.0.0"
    assert firmware_slots.check(tree, "a", bytearray(2048)).version == "1.0.0"
    for path, data in kit.release_files().items():
        assert tree.files["fw/a/" + path] == data


def test_staged_slot_holds_the_signed_manifest():
    package = kit.package()
    _, tree = _install(package)
    env = package[12:12 + int.from_bytes(package[8:12], "little")]
    assert tree.files["fw/a/manifest.json"] == env


def test_accepts_reinstall_at_the_meters_own_security_counter():
    manifest, _ = _install(kit.package(counter=5), _verifier(floor=5))
    assert manifest.security_counter == 5


# --- integrity ---------------------------------------------------------------------------

def test_rejects_any_flipped_bit_across_the_package():
    package = kit.package()
    step = len(package) // 23  # header, envelope, every record head and file body
    for byte in range(0, len(package), step):
        for bit in (0, 5):
            bad = bytearray(package)
            bad[byte] ^= 1 << bit
            assert _reason(bytes(bad)) in (
                "malformed", "bad-signature", "unknown-key", "hash-mismatch", "missing-file",
                "extra-file", "bad-path", "size-mismatch", "too-large"), (byte, bit)


def test_rejects_flipped_bit_in_a_signed_hash_as_bad_signature():
    package = kit.package()
    at = package.index(b'"sha256":"') + 10
    bad = bytearray(package)
    bad[at] = ord("0") if bad[at] != ord("0") else ord("1")
    assert _reason(bytes(bad)) == "bad-signature"


def test_rejects_flipped_bit_in_file_data_as_hash_mismatch():
    package = kit.package()
    bad = bytearray(package)
    bad[package.index(b"# meter r1")] ^= 1
    assert _reason(bytes(bad)) == "hash-mismatch"


def test_rejects_file_from_another_release_mix_and_match():
    files = kit.release_files("r1")
    other = kit.release_files("r2")
    assert len(other["metering/meter.py"]) == len(files["metering/meter.py"])
    records = [(p, other[p] if p == "metering/meter.py" else files[p]) for p in sorted(files)]
    assert _reason(kit.package(files, records=records)) == "hash-mismatch"


# --- files: missing, extra, truncated, endless ---------------------------------------------

def test_rejects_missing_file():
    files = kit.release_files()
    records = [(p, files[p]) for p in sorted(files) if p != "metering/meter.py"]
    assert _reason(kit.package(files, records=records)) == "missing-file"


def test_rejects_missing_last_file():
    files = kit.release_files()
    records = [(p, files[p]) for p in sorted(files)][:-1]
    assert _reason(kit.package(files, records=records)) == "missing-file"


def test_rejects_manifest_without_the_board_module():
    files = kit.release_files()
    del files["boards/sim.py"]
    assert _reason(kit.package(files)) == "missing-file"


def test_rejects_extra_file():
    files = kit.release_files()
    records = [(p, files[p]) for p in sorted(files)] + [("zz.py", b"print('hi')\n")]
    assert _reason(kit.package(files, records=records)) == "extra-file"


def test_rejects_extra_file_between_listed_files():
    files = kit.release_files()
    records = [(p, files[p]) for p in sorted(files)]
    records.insert(1, ("evil.py", b"x = 1\n"))
    assert _reason(kit.package(files, records=records)) == "extra-file"


def test_rejects_bytes_after_the_last_file():
    assert _reason(kit.package() + b"\x00") == "extra-file"


def test_rejects_truncated_file():
    package = kit.package()
    assert _reason(package[:-10]) == "size-mismatch"


def test_rejects_file_record_shorter_than_the_manifest():
    files = kit.release_files()
    records = [(p, files[p][:-1] if p == "main.py" else files[p]) for p in sorted(files)]
    assert _reason(kit.package(files, records=records)) == "size-mismatch"


def test_rejects_file_longer_than_the_manifest_endless_data():
    files = kit.release_files()
    records = [(p, files[p] + (b"#" * 5000 if p == "main.py" else b"")) for p in sorted(files)]
    assert _reason(kit.package(files, records=records)) == "too-large"


def test_rejects_package_that_would_not_fit():
    assert _reason(kit.package(), _verifier(capacity_bytes=1000)) == "too-large"


def test_rejects_file_size_above_the_format_limit():
    files = kit.release_files()
    body = kit.manifest_body(files)
    body["files"][0]["size"] = 300 * 1024
    assert _reason(kit.package(files, body=body)) == "too-large"


# --- paths -----------------------------------------------------------------------------------

def _signed_with_path(path):
    files = kit.release_files()
    files[path] = b"x = 1\n"
    return kit.package(files)


def test_rejects_absolute_path_even_when_signed():
    assert _reason(_signed_with_path("/main2.py")) == "bad-path"


def test_rejects_path_climbing_out_with_dot_dot():
    assert _reason(_signed_with_path("../boot.py")) == "bad-path"
    assert _reason(_signed_with_path("lib/../../x.py")) == "bad-path"


def test_rejects_paths_that_are_not_plain_modules():
    for path in ("data/registers.a", "a//b.py", "./x.py", "x.py ", ".py", "a/b/c/d/e.py",
                 "c:x.py"):
        assert _reason(_signed_with_path(path)) == "bad-path", path
    # a backslash needs a JSON escape, and escapes are refused before any path is read
    assert _reason(_signed_with_path("lib\\x.py")) == "malformed"


def test_rejects_module_listed_as_both_py_and_mpy():
    files = kit.release_files()
    files["main.mpy"] = b"M\x06"
    assert _reason(kit.package(files)) == "malformed"


# --- board, expiry, rollback ---------------------------------------------------------------

def test_rejects_package_for_another_board():
    files = kit.release_files()
    files["boards/esp32.py"] = files.pop("boards/sim.py")
    package = kit.package(files, board="esp32", hardware_id="esp32-devkitc-v1")
    assert _reason(package) == "wrong-board"


def test_rejects_package_for_another_hardware_revision():
    assert _reason(kit.package(hardware_id="sim-v2")) == "wrong-board"


def test_rejects_expired_manifest_freeze_attack():
    assert _reason(kit.package(expires=kit.NOW_S - 1)) == "expired"
    assert _reason(kit.package(expires=kit.NOW_S)) == "expired"


def test_rejects_security_counter_below_the_meters_rollback():
    assert _reason(kit.package(counter=4), _verifier(floor=5)) == "rollback"


# --- signatures and keys ---------------------------------------------------------------------

def test_rejects_package_signed_only_by_vendor():
    assert _reason(kit.package(signers=("vendor",))) == "vendor-only"


def test_rejects_package_signed_by_unknown_key():
    assert _reason(kit.package(signers=("stranger",))) == "unknown-key"


def test_rejects_package_signed_by_revoked_key():
    # policy version 2 dropped release2 (e.g. its laptop was stolen)
    policy = _policy(version=2, names=("root1", "release1", "vendor"))
    assert _reason(kit.package(signers=("release2",)), _verifier(policy)) == "unknown-key"


def test_rejects_package_without_signatures():
    assert _reason(kit.package(signers=())) == "too-few-signatures"


def test_rejects_too_few_operator_signatures():
    policy = _policy(release=2)
    assert _reason(kit.package(signers=("release1",)), _verifier(policy)) == "too-few-signatures"
    manifest, _ = _install(kit.package(signers=("release1", "release2")), _verifier(policy))
    assert manifest.version == "1.0.0"


def test_rejects_forged_signature_under_an_operator_key():
    forged = ((kit.keyid("release1"), bytes(64)),)
    assert _reason(kit.package(signers=(), extra=forged)) == "bad-signature"


def test_rejects_signature_made_for_a_policy_not_a_manifest():
    from update import signed

    files = kit.release_files()
    body = kit.manifest_body(files)
    env = kit.envelope(body, (), signed.MANIFEST_DOMAIN, extra=(
        (kit.keyid("release1"), _sign_as("release1", signed.message(signed.POLICY_DOMAIN, body))),))
    package = kit.container(env, [(p, files[p]) for p in sorted(files)])
    assert _reason(package) == "bad-signature"


def _sign_as(name, msg):
    from crypto import ed25519_ref

    return ed25519_ref.sign(kit.seed(name), msg)


def test_root_key_alone_does_not_sign_firmware():
    assert _reason(kit.package(signers=("root1",))) == "too-few-signatures"


def test_vendor_signature_required_in_addition_when_policy_says_so():
    policy = _policy(vendor_required=True)
    assert _reason(kit.package(signers=("release1",)), _verifier(policy)) == "too-few-signatures"
    assert _reason(kit.package(signers=("vendor",)), _verifier(policy)) == "vendor-only"
    manifest, _ = _install(kit.package(signers=("vendor", "release1")), _verifier(policy))
    assert manifest.version == "1.0.0"


def test_break_glass_ignores_vendor_and_release_keys_and_lets_the_emergency_key_sign():
    policy = _policy(vendor_required=True)
    glass = _verifier(policy, break_glass=True)
    assert _reason(kit.package(signers=("vendor",)), glass) == "vendor-only"
    assert _reason(kit.package(signers=("release1", "vendor")), glass) == \
        "not-allowed-in-break-glass"
    assert _install(kit.package(signers=("emergency",)), glass)[0].version == "1.0.0"


def test_emergency_key_alone_is_refused_outside_break_glass():
    assert _reason(kit.package(signers=("emergency",))) == "too-few-signatures"


def test_rejects_package_when_the_meter_has_no_policy():
    verifier = Verifier(None, "sim", "sim-v1", 0, kit.NOW_S)
    assert _reason(kit.package(), verifier) == "no-policy"


# --- form ------------------------------------------------------------------------------------

def _resigned(package, edit):
    """The package with its manifest body text edited and then signed by release1 over the
    edited text: a validly signed document that is not canonical JSON."""
    from crypto import ed25519_ref

    env_len = int.from_bytes(package[8:12], "little")
    env = package[12:12 + env_len]
    body_text = edit(env[env.index(b'"signed":') + 9:-1])
    sig = ed25519_ref.sign(kit.seed("release1"), signed.MANIFEST_DOMAIN + body_text)
    env = b'{"signatures":[{"keyid":"%s","sig":"%s"}],"signed":%s}' % (
        kit.keyid("release1").encode(), hexlify(sig), body_text)
    return package[:8] + len(env).to_bytes(4, "little") + env + package[12 + env_len:]


def test_rejects_an_edited_manifest_before_parsing_it():
    package = kit.package()
    env_len = int.from_bytes(package[8:12], "little")
    env = package[12:12 + env_len].replace(b'"files":', b'"files": ', 1)
    bad = package[:8] + (env_len + 1).to_bytes(4, "little") + env + package[12 + env_len:]
    assert _reason(bad) == "bad-signature"


def test_rejects_non_canonical_manifest_even_when_validly_signed():
    good = _resigned(kit.package(), lambda text: text)
    assert _install(good)[0].version == "1.0.0"  # the re-signing itself is sound
    spaced = _resigned(kit.package(), lambda text: text.replace(b'"files":', b'"files": ', 1))
    assert _reason(spaced) == "malformed"
    trailing = _resigned(kit.package(), lambda text: text.replace(b'],"format"', b',],"format"', 1))
    assert _reason(trailing) == "malformed"


def test_rejects_float_and_duplicate_signer_and_bad_magic():
    body = kit.manifest_body(kit.release_files())
    body["security_counter"] = 1.5
    assert _reason(kit.package(body=body)) == "malformed"
    assert _reason(kit.package(signers=("release1", "release1"))) == "malformed"
    assert _reason(b"OMUQ" + kit.package()[4:]) == "malformed"
    assert _reason(b"") == "malformed"


def test_rejects_counter_given_as_bool_or_text():
    for value in (True, "7"):
        body = kit.manifest_body(kit.release_files())
        body["security_counter"] = value
        assert _reason(kit.package(body=body)) == "malformed"


def test_rejects_oversized_manifest_before_reading_it():
    package = kit.package()
    bad = package[:8] + (1 << 20).to_bytes(4, "little") + package[12:]
    assert _reason(bad) == "too-large"


def test_a_signed_manifest_whose_format_is_true_is_malformed():
    # JSON true equals 1 in Python: a format field must be the integer itself
    body = kit.manifest_body(kit.release_files())
    body["format"] = True
    assert _reason(kit.package(body=body)) == "malformed"
    body["format"] = 1  # the same package with the integer is accepted
    manifest, _ = _install(kit.package(body=body))
    assert manifest.version == "1.0.0"


def test_a_path_that_is_also_another_files_folder_is_malformed():
    # staging main.py/x.py after main.py would fail with OSError 20 (not a directory)
    files = dict(kit.release_files(), **{"main.py/x.py": b"x = 1\n"})
    assert _reason(kit.package(files)) == "malformed"
    files = dict(kit.release_files(), **{"metering/meter.py/deep/y.py": b"y = 1\n"})
    assert _reason(kit.package(files)) == "malformed"
