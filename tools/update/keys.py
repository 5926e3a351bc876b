"""Ed25519 keys for tools.update: PEM files (vendor, tests) and keys inside a PKCS#11 token
(the operator's HSM; SoftHSM2 in tests) that sign without ever leaving it.

A key is named by a spec: a PEM file path, 64 hex digits (a public key), or a PKCS#11 URI
`pkcs11:token=LABEL;object=LABEL` (RFC 7512 style). The token PIN comes from the
environment (METER_HSM_PIN) or a prompt; the PKCS#11 module from METER_PKCS11_MODULE.
"""
import getpass
import hashlib
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN_ENV = "METER_HSM_PIN"
MODULE_ENV = "METER_PKCS11_MODULE"
PASSWORD_ENV = "METER_KEY_PASSWORD"
_ED25519_OID = "1.3.101.112"


class KeyUnusable(Exception):
    """A key cannot be loaded, made or used; the message is one line for the user."""


def key_id(public_key):
    """Same as the meter's update.signed.key_id: hex of SHA-256(public key)[:8]."""
    return hashlib.sha256(public_key).digest()[:8].hex()


def _raw_public(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _password():
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value else None


class PemSigner:
    def __init__(self, path):
        try:
            with open(path, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), password=_password())
        except (OSError, ValueError, TypeError) as exc:
            raise KeyUnusable("cannot load private key %s: %s" % (path, exc))
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnusable("%s is not an Ed25519 private key" % path)
        self.key = key
        self.public = _raw_public(key.public_key())
        self.name = path

    def sign(self, message):
        return self.key.sign(message)


def parse_pkcs11_uri(spec):
    """{"token": .., "object": ..} of a `pkcs11:token=..;object=..` URI."""
    fields = {}
    for part in spec[len("pkcs11:"):].split(";"):
        if "=" in part:
            name, value = part.split("=", 1)
            fields[name.strip()] = value.strip()
    if "token" not in fields or "object" not in fields:
        raise KeyUnusable("a PKCS#11 key is named pkcs11:token=LABEL;object=LABEL")
    return fields


def _pin(token_label):
    pin = os.environ.get(PIN_ENV)
    if pin:
        return pin
    if not sys.stdin.isatty():  # no one to ask: say how to give it (getpass would fail)
        raise KeyUnusable("token %s needs its PIN: set %s or run at a terminal" % (
            token_label, PIN_ENV))
    try:
        return getpass.getpass("PIN for token %s: " % token_label)
    except EOFError:
        raise KeyUnusable("token %s needs its PIN: none was typed" % token_label)


def _open_token(token_label):
    try:
        import pkcs11
    except ImportError:
        raise KeyUnusable("python-pkcs11 is not installed (pip install python-pkcs11)")
    module = os.environ.get(MODULE_ENV, DEFAULT_MODULE)
    try:
        lib = pkcs11.lib(module)
        return lib.get_token(token_label=token_label)
    except (RuntimeError, OSError, pkcs11.PKCS11Error) as exc:
        raise KeyUnusable("PKCS#11 token %r via %s: %s" % (token_label, module, exc))


def _ec_point(pub):
    """The 32 raw bytes of an Ed25519 CKA_EC_POINT (a DER OCTET STRING, or raw)."""
    from pkcs11 import Attribute

    point = bytes(pub[Attribute.EC_POINT])
    if len(point) == 34 and point[0] == 0x04 and point[1] == 32:
        return point[2:]
    if len(point) == 32:
        return point
    raise KeyUnusable("unexpected EC point of %d bytes" % len(point))


class Pkcs11Signer:
    """Signs inside the token (CKM_EDDSA); the private key is never read out."""

    def __init__(self, spec):
        fields = parse_pkcs11_uri(spec)
        self.token_label = fields["token"]
        self.label = fields["object"]
        self.name = spec
        import pkcs11
        from pkcs11 import KeyType, ObjectClass

        token = _open_token(self.token_label)
        try:
            with token.open(user_pin=_pin(self.token_label)) as session:
                pub = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS, label=self.label)
                self.public = _ec_point(pub)
        except pkcs11.PKCS11Error as exc:
            raise KeyUnusable("key %r in token %r: %s" % (self.label, self.token_label,
                                                         type(exc).__name__))
        self._token = token

    def sign(self, message):
        import pkcs11
        from pkcs11 import KeyType, Mechanism, ObjectClass

        try:
            with self._token.open(user_pin=_pin(self.token_label)) as session:
                key = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS, label=self.label)
                return bytes(key.sign(message, mechanism=Mechanism.EDDSA))
        except pkcs11.PKCS11Error as exc:
            raise KeyUnusable("signing with %r failed: %s" % (self.label, type(exc).__name__))


def load_signer(spec):
    if spec.startswith("pkcs11:"):
        return Pkcs11Signer(spec)
    return PemSigner(spec)


def load_public(spec):
    """The 32-byte public key of a spec: hex, PEM public or private key, or PKCS#11 URI."""
    if len(spec) == 64 and all(c in "0123456789abcdefABCDEF" for c in spec):
        return bytes.fromhex(spec)
    if spec.startswith("pkcs11:"):
        return Pkcs11Signer(spec).public
    try:
        with open(spec, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise KeyUnusable("cannot read key %s: %s" % (spec, exc.strerror))
    if b"PRIVATE KEY" in data:
        return PemSigner(spec).public
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyUnusable("%s: not a PEM key (%s)" % (spec, exc))
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnusable("%s is not an Ed25519 key" % spec)
    return _raw_public(key)


def keygen_pem(path, public_path=None):
    """New Ed25519 key in a PEM file (PKCS#8, encrypted if METER_KEY_PASSWORD is set),
    mode 0600; its public key as PEM beside it. Returns the public key bytes."""
    if os.path.exists(path):
        raise KeyUnusable("%s exists: refusing to overwrite a key" % path)
    key = Ed25519PrivateKey.generate()
    password = _password()
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path = public_path or (path[:-4] if path.endswith(".pem") else path) + ".pub.pem"
    with open(public_path, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return _raw_public(key.public_key())


def keygen_pkcs11(spec):
    """New Ed25519 key pair inside the token, private half sensitive and non-extractable.
    Returns the public key bytes."""
    fields = parse_pkcs11_uri(spec)
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    token = _open_token(fields["token"])
    label = fields["object"]
    try:
        with token.open(rw=True, user_pin=_pin(fields["token"])) as session:
            if list(session.get_objects({Attribute.LABEL: label, Attribute.CLASS:
                                         ObjectClass.PRIVATE_KEY})):
                raise KeyUnusable("token already holds a key %r" % label)
            params = session.create_domain_parameters(KeyType.EC_EDWARDS, {
                Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)}, local=True)
            pub, _priv = params.generate_keypair(
                store=True, label=label, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
            return _ec_point(pub)
    except pkcs11.PKCS11Error as exc:
        raise KeyUnusable("key generation in token %r failed: %s" % (
            fields["token"], type(exc).__name__))
