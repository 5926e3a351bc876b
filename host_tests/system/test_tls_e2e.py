"""The operator link over TLS, end to end: a meter on the MicroPython unix port sends
through Debian's mosquitto with a TLS listener to the head-end (which sits on the
broker's plain loopback listener, inside the operator's network). The meter pins the
operator's CA and checks the broker's name: a certificate from another CA, for another
name, or expired is refused, and the uplink backs off as for any network failure."""
import datetime
import json
import os
import subprocess
import sys

import pytest

from host_tests.system.support.broker import Broker, Serve, ok
from syspkg import require
from tools.deploy.stage import stage

from host_tests.system.support import meter_e2e_keys as keys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "host_tests", "system", "support", "tls_e2e.py")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
TITLE, EK, AK = keys.TLS_TITLE.hex(), keys.EK.hex(), keys.AK.hex()


def _pki(folder):
    """A test operator CA and broker certificates: good, wrong name, expired, and a CA
    the meter does not pin. Files in folder; returns their paths by name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    paths = {}

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save(tag, cert, key=None):
        paths[tag] = os.path.join(folder, tag + ".pem")
        with open(paths[tag], "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        paths[tag + ".der"] = os.path.join(folder, tag + ".der")
        with open(paths[tag + ".der"], "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.DER))
        if key is not None:
            paths[tag + ".key"] = os.path.join(folder, tag + ".key")
            with open(paths[tag + ".key"], "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))

    def ca(tag):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(tag)).issuer_name(name(tag))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - day).not_valid_after(now + 30 * day)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        save(tag, cert)
        return key, cert

    def leaf(tag, issuer, host, start, end):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(host)).issuer_name(issuer[1].subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now + start).not_valid_after(now + end)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .sign(issuer[0], hashes.SHA256()))
        save(tag, cert, key)

    operator = ca("operator-ca")
    stranger = ca("other-ca")
    leaf("good", operator, "localhost", -day, 30 * day)
    leaf("wrong-name", operator, "broker.example", -day, 30 * day)
    leaf("expired", operator, "localhost", -30 * day, -day)
    leaf("stranger", stranger, "localhost", -day, 30 * day)
    return paths


class TLSBroker(Broker):
    """mosquitto with a plain loopback listener (the head-end's) and a TLS listener
    serving `cert` (the meters')."""

    def __init__(self, folder, pki, cert):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.tls_port = s.getsockname()[1]
        self._tls = (pki["operator-ca"], pki[cert], pki[cert + ".key"])
        super().__init__(folder)

    def _command(self, folder):
        import pwd

        binary = require("mosquitto", "mosquitto")
        conf = os.path.join(folder, "mosquitto-tls.conf")
        # started as root, mosquitto drops to its own user, which cannot read the test's
        # key files: it stays the user running the tests (ignored when not root)
        me = pwd.getpwuid(os.getuid()).pw_name
        with open(conf, "w") as f:
            f.write("user %s\nper_listener_settings false\nallow_anonymous true\n" % me +
                    "listener %d 127.0.0.1\n"
                    "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                    % ((self.port, self.tls_port) + self._tls))
        return [binary, "-c", conf]


def _meter(fs, port, ca_der, host="localhost"):
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=1M", SCRIPT, ROOT, host, str(port),
                           ca_der], cwd=fs, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("micropython not in the venv (make venv)")
    return _pki(str(tmp_path_factory.mktemp("pki")))


def _run(tmp_path, pki, cert, ca="operator-ca", host="localhost"):
    fs = str(tmp_path / "fs")
    stage("sim", fs)
    broker = TLSBroker(str(tmp_path), pki, cert)
    db = str(tmp_path / "headend.sqlite")
    ok("keys", "add", "--db", db, "--system-title", TITLE, "--ek", EK, "--ak", AK)
    serve = Serve(broker, db)
    try:
        return _meter(fs, broker.tls_port, pki[ca + ".der"], host), serve
    finally:
        serve.proc.terminate()
        serve.wait()
        broker.stop()


def test_the_uplink_reaches_the_head_end_through_tls_with_the_pinned_ca(tmp_path, pki):
    got, serve = _run(tmp_path, pki, "good")
    assert got["result"] == "sent 1 message(s)", got
    accepted = [e for e in serve.lines if e.get("event") == "accepted"]
    assert accepted and accepted[0]["meter"] == TITLE, serve.lines


@pytest.mark.parametrize("cert,ca,host,why", [
    ("stranger", "operator-ca", "localhost", "another CA"),
    ("good", "other-ca", "localhost", "another CA pinned"),
    ("wrong-name", "operator-ca", "localhost", "another name"),
    ("good", "operator-ca", "127.0.0.1", "the name is not the address"),
    ("expired", "operator-ca", "localhost", "expired"),
])
def test_a_broker_certificate_the_meter_cannot_trust_is_refused(tmp_path, pki, cert, ca, host, why):
    got, serve = _run(tmp_path, pki, cert, ca, host)
    assert got["result"].startswith("failed: tls: "), (why, got)
    assert got["retry_in_s"] >= 60  # backs off as for any network failure
    assert not [e for e in serve.lines if e.get("event") == "accepted"]
