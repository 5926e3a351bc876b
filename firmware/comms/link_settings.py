"""The operator link's settings record (`operator-link` on flash): broker, schedule and the
CA that the broker's TLS certificate must chain to. Written at commissioning and by a
signed set-operator-link command, nowhere else.

  {"broker": "HOST:PORT" | null, "interval_s": 900..604800, "tls_ca": hex DER | null}

With tls_ca the link is MQTT over TLS with CERT_REQUIRED and the host name checked
(boards.common.mqtt_connector). Without it the link is plain MQTT: the payloads are
DLMS-sealed either way, but the broker is not authenticated and the traffic's metadata
(which meter talks when) is visible on the network.
"""
import hashlib
from binascii import a2b_base64, hexlify, unhexlify

MAX_CA_BYTES = 2048  # one certificate: an EC CA is about 500 bytes, RSA-4096 about 1.4 KB


def check_ca(ca_hex):
    """The CA as stored (lowercase hex of one DER certificate) or None; ValueError if it
    is not one."""
    if ca_hex is None:
        return None
    if type(ca_hex) is not str:
        raise ValueError("tls_ca must be hex DER or null")
    try:
        der = unhexlify(ca_hex)
    except ValueError:
        raise ValueError("tls_ca is not hex") from None
    check_der(der)
    return ca_hex.lower()


def check_der(der):
    """ValueError unless `der` looks like one DER certificate (an ASN.1 SEQUENCE whose
    length covers exactly the bytes given); the TLS stack parses it fully when it
    connects."""
    if not 16 <= len(der) <= MAX_CA_BYTES or der[0] != 0x30:
        raise ValueError("tls_ca is not a DER certificate")
    n = der[1]
    if n < 0x80:
        size, head = n, 2
    elif n in (0x81, 0x82):
        size = der[2] if n == 0x81 else (der[2] << 8) | der[3]
        head = 2 + (n & 0x7F)
    else:
        raise ValueError("tls_ca is not a DER certificate")
    if head + size != len(der):
        raise ValueError("tls_ca is not a DER certificate (length)")


def der_from_file(data):
    """A certificate file as the technician copies it, PEM or DER, as DER bytes."""
    if data[:5] == b"-----":
        lines = [line.strip() for line in data.split(b"\n")]
        body = b"".join(line for line in lines if line and not line.startswith(b"-----"))
        data = a2b_base64(body)
    check_der(data)
    return data


def fingerprint(ca_hex):
    """16 hex digits of the CA's SHA-256, for statements and the audit log."""
    return hexlify(hashlib.sha256(unhexlify(ca_hex)).digest()[:8]).decode()


def describe(settings):
    ca = settings.get("tls_ca")
    if ca:
        return "TLS, operator CA %s pinned" % fingerprint(ca)
    return "plain MQTT (payloads DLMS-sealed; broker not authenticated)"
