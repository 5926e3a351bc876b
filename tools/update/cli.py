"""Operator and vendor tool for signed firmware updates (docs/UPDATE.md).

  python -m tools.update keygen --out vendor.pem
  python -m tools.update keygen --key "pkcs11:token=meter-op;object=op-release-1"
  python -m tools.update build --board esp32 --version 1.4.0 --counter 8 --out fw.pkg
  python -m tools.update sign fw.pkg --key vendor.pem            (vendor builds and signs)
  python -m tools.update inspect fw.pkg --policy policy.json     (operator reviews)
  python -m tools.update sign fw.pkg --key "pkcs11:token=meter-op;object=op-release-1"
  python -m tools.update verify fw.pkg --policy policy.json --board esp32 --counter 7
  python -m tools.update policy create --root R.pub.pem --release ... --out policy.json
  python -m tools.update policy rotate --from policy.json --remove KEYID --out next.json
  python -m tools.update policy check next.json --current policy.json

Exit 0 only on success; errors are one line. PKCS#11 PIN: METER_HSM_PIN or a prompt.
"""
import argparse
import json
import sys
import time

from tools.shared.output import emit
from tools.update import keys
from tools.update import container as pkg

ROLES = {"root": "operator-root", "release": "operator-release",
         "emergency": "operator-emergency", "vendor": "vendor"}
DAY_S = 86400


def _print(args, data, lines):
    emit(args.json, data, lines)


def cmd_keygen(args):
    if args.key.startswith("pkcs11:"):
        public = keys.keygen_pkcs11(args.key)
    else:
        public = keys.keygen_pem(args.key)
    data = {"key": args.key, "keyid": keys.key_id(public), "public": public.hex()}
    _print(args, data, ["new key %s" % args.key, "keyid  %s" % data["keyid"],
                        "public %s" % data["public"]])


def cmd_pubkey(args):
    public = keys.load_public(args.key)
    data = {"keyid": keys.key_id(public), "public": public.hex()}
    _print(args, data, ["keyid  %s" % data["keyid"], "public %s" % data["public"]])


def cmd_build(args):
    expires = args.expires if args.expires else int(time.time()) + args.expires_days * DAY_S
    body = pkg.build(args.board, args.version, args.counter, expires, args.out, args.mpy)
    total = sum(f["size"] for f in body["files"])
    data = {"out": args.out, "files": len(body["files"]), "bytes": total,
            "version": args.version, "security_counter": args.counter, "expires": expires}
    _print(args, data, ["built %s: %d files, %d bytes, version %s, counter %d, unsigned" % (
        args.out, data["files"], total, args.version, args.counter)])


def cmd_sign(args):
    doc = pkg.Document(args.file)
    signer = keys.load_signer(args.key)
    keyid = doc.add_signature(signer)
    doc.save(args.out)
    data = {"file": args.out or args.file, "keyid": keyid,
            "signatures": len(doc.env["signatures"])}
    _print(args, data, ["signed %s with key %s (%d signature(s) now)" % (
        data["file"], keyid, data["signatures"])])


def _roles(policy_path):
    if not policy_path:
        return {}
    doc = pkg.Document(policy_path)
    return {k: v["role"] for k, v in doc.body["keys"].items()}


def cmd_inspect(args):
    doc = pkg.Document(args.file)
    roles = _roles(args.policy)
    body = doc.body
    sigs = [{"keyid": s["keyid"], "role": roles.get(s["keyid"], "unknown" if roles else "?")}
            for s in doc.env["signatures"]]
    data = {"type": doc.kind, "signed": body, "signatures": sigs}
    lines = []
    if doc.kind == pkg.FIRMWARE_KIND:
        lines += ["firmware %s for board %s (%s)" % (body["version"], body["board"],
                                                     body["hardware_id"]),
                  "security counter %d, expires %s UTC" % (
                      body["security_counter"], time.strftime(
                          "%Y-%m-%d %H:%M", time.gmtime(body["expires"]))),
                  "%d files, %d bytes" % (len(body["files"]),
                                          sum(f["size"] for f in body["files"]))]
        lines += ["  %8d  %s  %s" % (f["size"], f["sha256"][:16], f["path"])
                  for f in body["files"]]
    else:
        lines += ["trust policy version %d, thresholds %s, vendor required: %s" % (
            body["version"], json.dumps(body["thresholds"], sort_keys=True),
            body["vendor_required"])]
        lines += ["  %s  %s" % (k, v["role"]) for k, v in sorted(body["keys"].items())]
    lines += ["signatures:"] + ["  %s  %s" % (s["keyid"], s["role"]) for s in sigs]
    _print(args, data, lines)


def cmd_verify(args):
    manifest = pkg.verify(args.file, args.policy, args.board, args.counter,
                          args.now, args.break_glass)
    data = {"accepted": True, "version": manifest.version, "board": manifest.board,
            "security_counter": manifest.security_counter, "files": len(manifest.files)}
    _print(args, data, ["ACCEPTED: " + manifest.summary()])


def _policy_keys(args, existing=None):
    found = dict(existing or {})
    for name, role in ROLES.items():
        for spec in getattr(args, name, None) or getattr(args, "add_" + name, None) or ():
            public = keys.load_public(spec)
            found[keys.key_id(public)] = {"public": public.hex(), "role": role}
    return found


def _thresholds(args, current=None):
    th = dict(current or {"root": 1, "release": 1, "emergency": 1, "vendor": 1})
    for item in args.threshold or ():
        name, _, value = item.partition("=")
        if name not in ROLES or not value.isdigit():
            raise pkg.PackageError("threshold is ROLE=K with ROLE in %s" % ", ".join(ROLES))
        th[name] = int(value)
    return th


def _write_policy(args, body):
    raw = pkg.envelope(body)
    from update.policy import Policy

    Policy.from_bytes(raw)  # form check by the meter's own parser before anyone signs it
    with open(args.out, "wb") as f:
        f.write(raw)
    data = {"out": args.out, "version": body["version"], "keys": len(body["keys"])}
    _print(args, data, ["wrote %s: policy version %d, %d keys, unsigned: sign it with the "
                        "root keys" % (args.out, body["version"], len(body["keys"]))])


def cmd_policy_create(args):
    body = {"format": 1, "keys": _policy_keys(args), "thresholds": _thresholds(args),
            "type": pkg.POLICY_KIND, "vendor_required": args.vendor_required,
            "version": args.version}
    _write_policy(args, body)


def cmd_policy_rotate(args):
    current = pkg.Document(getattr(args, "from")).body
    kept = {k: v for k, v in current["keys"].items()
            if k not in _removed(args.remove or ())}
    body = dict(current, keys=_policy_keys(args, kept),
                thresholds=_thresholds(args, current["thresholds"]),
                version=current["version"] + 1)
    if args.vendor_required is not None:
        body["vendor_required"] = args.vendor_required == "yes"
    _write_policy(args, body)


def _removed(specs):
    ids = set()
    for spec in specs:
        ids.add(spec if len(spec) == 16 else keys.key_id(keys.load_public(spec)))
    return ids


def cmd_policy_check(args):
    from update.policy import verify_initial, verify_successor

    with open(args.file, "rb") as f:
        raw = f.read()
    if args.current:
        current = verify_initial(open(args.current, "rb").read())
        policy = verify_successor(current, raw)
    else:
        policy = verify_initial(raw)
    data = {"version": policy.version, "fingerprint": policy.fingerprint(), "ok": True}
    _print(args, data, ["policy version %d OK, fingerprint %s" % (
        policy.version, policy.fingerprint())])


class _Sub:
    """add_parser with the shared options (--json after the subcommand too)."""

    def __init__(self, subparsers, common):
        self.subparsers = subparsers
        self.common = common

    def add_parser(self, name, **kwargs):
        return self.subparsers.add_parser(name, parents=[self.common], **kwargs)


def parser():
    p = argparse.ArgumentParser(
        prog="python -m tools.update",
        description="Build, sign, inspect and verify firmware packages and the meter's trust "
        "policy. A key is a PEM file, or pkcs11:token=LABEL;object=LABEL for a key held in "
        "the operator's HSM (PIN from METER_HSM_PIN or a prompt).")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON object")
    sub = _Sub(p.add_subparsers(dest="command", required=True), common)

    s = sub.add_parser("keygen", help="make a new Ed25519 key (PEM file or inside the HSM)")
    s.add_argument("--key", "--out", dest="key", required=True,
                   help="new PEM file (a .pub.pem is written beside it) or pkcs11: URI")
    s.set_defaults(fn=cmd_keygen)

    s = sub.add_parser("pubkey", help="show a key's id and public key")
    s.add_argument("key", help="PEM file, pkcs11: URI or 64 hex digits")
    s.set_defaults(fn=cmd_pubkey)

    s = sub.add_parser("build", help="package the firmware for a board (unsigned)")
    s.add_argument("--board", required=True, help="board name: sim, esp32, rp2040")
    s.add_argument("--version", required=True, help="release name, e.g. 1.4.0")
    s.add_argument("--counter", type=int, required=True,
                   help="security counter: raise it when a fix must never be undone")
    s.add_argument("--expires-days", type=int, default=90,
                   help="meters refuse the package after this many days (default 90)")
    s.add_argument("--expires", type=int, help="expiry as UTC seconds (instead of days)")
    s.add_argument("--mpy", action="store_true", help="compile modules with mpy-cross")
    s.add_argument("--out", required=True, help="package file to write")
    s.set_defaults(fn=cmd_build)

    s = sub.add_parser("sign", help="add a signature to a package or a policy")
    s.add_argument("file")
    s.add_argument("--key", required=True, help="PEM file or pkcs11: URI")
    s.add_argument("--out", help="write here instead of changing FILE")
    s.set_defaults(fn=cmd_sign)

    s = sub.add_parser("inspect", help="show what a package or policy says and who signed")
    s.add_argument("file")
    s.add_argument("--policy", help="name the signers' roles from this policy")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("verify", help="run the meter's own checks on a package")
    s.add_argument("file")
    s.add_argument("--policy", required=True, help="the meter's trust policy")
    s.add_argument("--board", help="the meter's board (default: the package's)")
    s.add_argument("--counter", type=int, default=0, help="the meter's security counter")
    s.add_argument("--now", type=int, help="the meter's clock, UTC seconds (default: now)")
    s.add_argument("--break-glass", action="store_true", help="as a meter in break-glass")
    s.set_defaults(fn=cmd_verify)

    pol = sub.add_parser("policy", help="create, rotate or check a trust policy")
    psub = _Sub(pol.add_subparsers(dest="policy_command", required=True), common)
    s = psub.add_parser("create", help="a first policy (version 1 unless --version)")
    for name in ROLES:
        s.add_argument("--" + name, action="append", metavar="KEY",
                       help="%s key (repeat for more)" % ROLES[name])
    s.add_argument("--threshold", action="append", metavar="ROLE=K",
                   help="signatures needed, e.g. root=2 (default 1 each)")
    s.add_argument("--vendor-required", action="store_true",
                   help="a vendor signature is needed in addition to the operator's")
    s.add_argument("--version", type=int, default=1)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_policy_create)
    s = psub.add_parser("rotate", help="the next version of a policy: add or revoke keys")
    s.add_argument("--from", required=True, help="the current policy")
    for name in ROLES:
        s.add_argument("--add-" + name, action="append", metavar="KEY")
    s.add_argument("--remove", action="append", metavar="KEY",
                   help="revoke a key (key id or key file)")
    s.add_argument("--threshold", action="append", metavar="ROLE=K")
    s.add_argument("--vendor-required", choices=("yes", "no"))
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_policy_rotate)
    s = psub.add_parser("check", help="check a policy's signatures as a meter would")
    s.add_argument("file")
    s.add_argument("--current", help="the policy the meters hold now (for a rotation)")
    s.set_defaults(fn=cmd_policy_check)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except pkg.UpdateRejected as exc:
        if args.json:
            print(json.dumps({"accepted": False, "reason": exc.reason, "detail": exc.detail}))
        print("REJECTED: %s" % exc, file=sys.stderr)
        return 1
    except (pkg.PackageError, keys.KeyUnusable) as exc:
        print("update: %s" % exc, file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader (e.g. `| head`) left: not our failure
        return 0
    except OSError as exc:
        print("update: %s: %s" % (getattr(exc, "filename", "") or "", exc.strerror or exc),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
