"""Update packages and policy documents on the host: build a package from the firmware
tree, read and write the container, add signatures, and run the meter's own verifier.

Uses the firmware's modules (canonical JSON, update.*) so host and meter agree byte for
byte; the format is in docs/UPDATE.md. Never writes a package in place: a new file is
written, then renamed over the old.
"""
import ast
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import time

from tools.deploy.mpy import build as compile_board
from tools.deploy.stage import StageError, layout
from tools.shared.paths import ROOT, use_firmware

use_firmware()

import canonical  # noqa: E402
from control import tokens  # noqa: E402
from update import signed  # noqa: E402
from update import verify as verify_format  # noqa: E402 - the container, as the meter reads it
from update.errors import UpdateRejected  # noqa: E402

MAGIC = verify_format.MAGIC
FIRMWARE_KIND = "open-meter-firmware"
POLICY_KIND = "open-meter-policy"
COMMAND_KIND = tokens.KIND
DOMAINS = {FIRMWARE_KIND: signed.MANIFEST_DOMAIN, POLICY_KIND: signed.POLICY_DOMAIN,
           COMMAND_KIND: tokens.DOMAIN}


class PackageError(Exception):
    """A package or document cannot be built or read; one line for the user."""


def hardware_id(board):
    """HARDWARE_ID of boards/<board>.py, read without importing it (it may need machine)."""
    path = os.path.join(ROOT, "boards", board + ".py")
    try:
        with open(path) as f:
            tree = ast.parse(f.read())
    except OSError:
        raise PackageError("no board module boards/%s.py" % board)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "HARDWARE_ID" for t in node.targets):
            return ast.literal_eval(node.value)
    raise PackageError("boards/%s.py has no HARDWARE_ID" % board)


def firmware_files(board, mpy=False, out_dir=None):
    """[(device path, host file)] of the modules a package for `board` holds: the same
    layout tools.deploy.stage copies, compiled with mpy-cross (main.py stays source) if mpy."""
    try:
        if mpy:
            files = compile_board(board, out_dir)
            pairs = [(device, host) for host, device in files]
        else:
            pairs = [(device, host) for host, device in layout(board)]
    except StageError as exc:
        raise PackageError(str(exc))
    # boot.py is the boot stage: factory code an update never replaces (docs/UPDATE.md)
    return sorted(p for p in pairs if p[0].endswith((".py", ".mpy")) and p[0] != "boot.py")


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_body(board, version, counter, expires_s, files):
    entries = [{"path": device, "sha256": _sha256_file(host), "size": os.path.getsize(host)}
               for device, host in files]
    return {"board": board, "expires": int(expires_s), "files": entries, "format": 1,
            "hardware_id": hardware_id(board), "security_counter": int(counter),
            "type": FIRMWARE_KIND, "version": version}


def envelope(body, signatures=()):
    return canonical.dumps({"signatures": list(signatures), "signed": body}).encode()


def write_package(path, env_raw, records):
    """records: [(device path, bytes or host file path)], in manifest order."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        _write_container(out, env_raw, records)
    os.replace(tmp, path)


def _write_container(out, env_raw, records):
    """The package container (firmware/update/verify.py reads it): header, envelope, then
    each record's head and data. records: [(device path, bytes or host file path)]."""
    out.write(verify_format.package_header(len(env_raw)))
    out.write(env_raw)
    for device, data in records:
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        out.write(verify_format.record_head(device, len(data)) + data)


def build(board, version, counter, expires_s, out_path, mpy=False):
    """Write an unsigned package of the firmware for `board`; returns its manifest body."""
    with tempfile.TemporaryDirectory() as tmp:
        files = firmware_files(board, mpy, os.path.join(tmp, "mpy"))
        body = manifest_body(board, version, counter, expires_s, files)
        write_package(out_path, envelope(body), files)
    return body


class Document:
    """A package (container), or a bare policy or command-token envelope, read whole (host
    side)."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise PackageError("cannot read %s: %s" % (path, exc.strerror))
        self.is_package = data[:4] == MAGIC
        self.records = []
        if self.is_package:
            try:
                start = verify_format.HEADER_BYTES
                length = struct.unpack_from(verify_format.HEADER, data)[-1]
                self.env_raw = data[start:start + length]
                self.records = _records(data, start + length)
            except (struct.error, IndexError):
                raise PackageError("%s: package cut short" % path)
        else:
            self.env_raw = data
        try:
            self.env = json.loads(self.env_raw)
            self.body = self.env["signed"]
            self.kind = self.body["type"]
        except (ValueError, KeyError, TypeError):
            raise PackageError("%s is not an update package, a policy or a command token"
                               % path)
        if self.kind not in DOMAINS:
            raise PackageError("%s: unknown document type %r" % (path, self.kind))

    def message(self):
        return signed.message(DOMAINS[self.kind], self.body)

    def add_signature(self, signer):
        """Sign (or re-sign) with signer; returns the key id."""
        keyid = signed.key_id(signer.public)
        sig = signer.sign(self.message())
        sigs = [s for s in self.env["signatures"] if s.get("keyid") != keyid]
        sigs.append({"keyid": keyid, "sig": sig.hex()})
        self.env["signatures"] = sigs
        self.env_raw = envelope(self.body, sigs)
        return keyid

    def save(self, path=None):
        path = path or self.path
        if self.is_package:
            write_package(path, self.env_raw, self.records)
        else:
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(self.env_raw)
            os.replace(tmp, path)

    def package_bytes(self):
        out = io.BytesIO()
        _write_container(out, self.env_raw, self.records)
        return out.getvalue()


def _records(data, pos):
    records = []
    while pos + 2 <= len(data):
        (n,) = struct.unpack_from("<H", data, pos)
        path = data[pos + 2:pos + 2 + n].decode("ascii", "replace")
        (size,) = struct.unpack_from("<I", data, pos + 2 + n)
        start = pos + 6 + n
        records.append((path, data[start:start + size]))
        pos = start + size
    return records


def verify(package_path, policy_path, board=None, counter_floor=0, now_s=None,
           break_glass=False):
    """Run the meter's verifier (firmware/update/verify.py) on a package in CPython, staging
    into a temporary folder. Returns the Manifest; raises UpdateRejected as the meter."""
    from update.policy import Policy
    from update.tree import FileTree
    from update.verify import Verifier

    with open(policy_path, "rb") as f:
        policy = Policy.from_bytes(f.read())
    doc = Document(package_path)
    board = board or doc.body.get("board")
    hw = hardware_id(board)
    now_s = int(time.time()) if now_s is None else now_s
    tmp = tempfile.mkdtemp(prefix="meter-verify-")
    try:
        verifier = Verifier(policy, board, hw, counter_floor, now_s, break_glass)
        with open(package_path, "rb") as stream:
            return verifier.install(stream, FileTree(tmp), "a")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["PackageError", "UpdateRejected", "Document", "build", "verify", "hardware_id"]
