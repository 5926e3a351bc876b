"""Operator command tokens: build, sign (k-of-n, one signer after another), inspect and
verify them with the meter's own rules (docs/CONTROL.md).

  python -m tools.command make set-operator-link --meter sim-0001 --counter 7 \\
      --param broker=headend.example:8883 --param interval_s=900 --param tls_ca=@ca.pem \\
      --out link.token
  python -m tools.command sign link.token --key release.pem      (each signer in turn)
  python -m tools.command inspect link.token --policy policy.json
  python -m tools.command verify link.token --policy policy.json --meter sim-0001
  python -m tools.headend send link.token                        (over the operator link)
  mpremote ... exec "import service; service.apply('link.token')"  (or at the meter)

A parameter is NAME=VALUE: VALUE is JSON (900, null, {"v_gain": 1.002}) or else text
(headend.example:8883); NAME=@FILE reads it from a file (tls_ca: a PEM or DER
certificate; calibration, schedule: a JSON file, e.g. the meter's calibration.proposed).
The meter is named by its meter id (service.status() shows it). Exit 0 on success, 1 with
one line on stderr otherwise (a token the meter would refuse, with the meter's reason).
"""
import argparse
import json
import sys
import time

from tools.command import token as tok
from tools.shared.errors import exit_status
from tools.shared.output import emit
from tools.update import keys

from comms import link_settings  # noqa: E402 - on the path through tools.command.token
from control import tokens  # noqa: E402
from update.policy import Policy  # noqa: E402


def _print(args, data, lines):
    emit(args.json, data, lines)


def parse_param(text):
    """(name, value) of NAME=VALUE or NAME=@FILE."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise tok.TokenError("a parameter is NAME=VALUE, got %r" % text)
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise tok.TokenError("cannot read %s: %s" % (path, exc.strerror or exc))
        if name == "tls_ca":
            try:
                return name, link_settings.der_from_file(data).hex()
            except ValueError as exc:
                raise tok.TokenError("%s: %s" % (path, exc))
        try:
            return name, json.loads(data)
        except ValueError as exc:
            raise tok.TokenError("%s is not JSON (%s)" % (path, exc))
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def cmd_make(args):
    params = dict(parse_param(p) for p in args.param or ())
    expires = args.expires if args.expires else int(time.time()) + args.expires_days * tok.DAY_S
    body = tok.body(args.name, params, args.meter, args.counter, expires)
    raw = tok.write(args.out, body)
    data = {"out": args.out, "command": args.name, "meter": args.meter,
            "counter": args.counter, "expires": expires, "bytes": len(raw)}
    _print(args, data, ["wrote %s: %s for meter %s, counter %d, expires %s, unsigned: sign "
                        "it with the operator's keys" % (args.out, args.name, args.meter,
                                                         args.counter, tok.utc(expires))])


def cmd_sign(args):
    doc = tok.read(args.file)
    keyid = doc.add_signature(keys.load_signer(args.key))
    doc.save(args.out)
    data = {"file": args.out or args.file, "keyid": keyid,
            "signatures": len(doc.env["signatures"])}
    _print(args, data, ["signed %s with key %s (%d signature(s) now)" % (
        data["file"], keyid, data["signatures"])])


def _policy(path):
    try:
        with open(path, "rb") as f:
            return Policy.from_bytes(f.read())
    except OSError as exc:
        raise tok.TokenError("cannot read policy %s: %s" % (path, exc.strerror or exc))
    except tokens.UpdateRejected as exc:
        raise tok.TokenError("policy %s: %s" % (path, exc))


def _standing(doc, policy):
    """Who signed, and whether the signatures meet the command's thresholds in normal
    operation and in break-glass (the meter's own counting)."""
    body = doc.body
    msg = doc.message()
    sigs = [(s["keyid"], bytes.fromhex(s["sig"])) for s in doc.env["signatures"]]
    counts = policy.count(msg, sigs, tuple(policy.thresholds))
    _names, roles, glass_roles = tokens.COMMANDS.get(body["command"], ((), (), ()))

    def met(allowed):
        return any(counts[r] >= policy.thresholds[r] for r in allowed)

    signers = [{"keyid": k, "role": policy.keys.get(k, ("unknown",))[0]} for k, _s in sigs]
    return signers, met(roles), met(glass_roles), counts


def cmd_inspect(args):
    doc = tok.read(args.file)
    body = doc.body
    data = {"signed": body, "signatures": [s["keyid"] for s in doc.env["signatures"]]}
    lines = ["%s for meter %s, counter %d, expires %s" % (
        body["command"], body["meter"], body["counter"], tok.utc(body["expires"]))]
    lines += ["  %s = %s" % (k, json.dumps(v, sort_keys=True)) for k, v in
              sorted(body["params"].items())]
    if args.policy:
        policy = _policy(args.policy)
        signers, normal, glass, _counts = _standing(doc, policy)
        data.update(signers=signers, meets_threshold=normal, meets_break_glass_threshold=glass)
        lines += ["signatures:"] + ["  %s  %s" % (s["keyid"], s["role"]) for s in signers]
        lines.append("threshold met: %s; in break-glass: %s" % (
            "yes" if normal else "no", "yes" if glass else "no"))
    else:
        lines += ["signatures:"] + ["  %s" % k for k in data["signatures"]]
    _print(args, data, lines)


def cmd_verify(args):
    doc = tok.read(args.file)
    now = args.now if args.now is not None else int(time.time())
    if doc.body.get("command") in tokens.COMMANDS and isinstance(doc.body.get("params"), dict):
        try:  # what the meter's handler would refuse as bad parameters, after the checks
            tok.check_params(doc.body["command"], doc.body["params"])
        except tok.TokenError as exc:
            if args.json:
                print(json.dumps({"accepted": False, "reason": "malformed",
                                  "detail": str(exc)}))
            print("REFUSED: malformed: %s" % exc, file=sys.stderr)
            raise SystemExit(1)
    try:
        command, params, counter = tokens.verify(doc.env_raw, _policy(args.policy), args.meter,
                                                 now, args.last_counter, args.break_glass)
    except tokens.TokenRefused as exc:
        if args.json:
            print(json.dumps({"accepted": False, "reason": exc.reason, "detail": exc.detail}))
        print("REFUSED: %s" % exc, file=sys.stderr)
        raise SystemExit(1)
    data = {"accepted": True, "command": command, "counter": counter}
    _print(args, data, ["ACCEPTED: %s, counter %d, as meter %s would%s" % (
        command, counter, args.meter, " in break-glass" if args.break_glass else "")])


def parser():
    p = argparse.ArgumentParser(prog="python -m tools.command",
                                description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object")
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("make", parents=[common], help="build an unsigned token")
    s.add_argument("name", metavar="COMMAND", choices=sorted(tokens.COMMANDS),
                   help="one of: " + ", ".join(sorted(tokens.COMMANDS)))
    s.add_argument("--meter", required=True, help="the meter id (service.status: meter_id)")
    s.add_argument("--counter", type=int, required=True,
                   help="above the last counter the meter applied (a replay is refused)")
    s.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a parameter of the command (repeat for each)")
    s.add_argument("--expires-days", type=int, default=7,
                   help="the meter refuses the token after this many days (default 7)")
    s.add_argument("--expires", type=int, help="expiry as UTC seconds (instead of days)")
    s.add_argument("--out", required=True, help="token file to write")
    s.set_defaults(fn=cmd_make)

    s = sub.add_parser("sign", parents=[common], help="add a signature (one signer at a time)")
    s.add_argument("file")
    s.add_argument("--key", required=True, help="PEM file or pkcs11: URI")
    s.add_argument("--out", help="write here instead of changing FILE")
    s.set_defaults(fn=cmd_sign)

    s = sub.add_parser("inspect", parents=[common], help="what a token says and who signed")
    s.add_argument("file")
    s.add_argument("--policy", help="name the signers' roles and check the thresholds")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("verify", parents=[common],
                       help="run the meter's own checks (exit 1 with its reason if refused)")
    s.add_argument("file")
    s.add_argument("--policy", required=True, help="the meter's trust policy")
    s.add_argument("--meter", required=True, help="the meter id")
    s.add_argument("--last-counter", type=int, default=0,
                   help="the last counter the meter applied (default 0)")
    s.add_argument("--now", type=int, help="the meter's clock, UTC seconds (default now)")
    s.add_argument("--break-glass", action="store_true", help="as a meter in break-glass")
    s.set_defaults(fn=cmd_verify)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return exit_status("command", lambda: args.fn(args),
                           refusals=(tok.TokenError, keys.KeyUnusable,
                                     tok.container.PackageError))
    except BrokenPipeError:  # the reader (`| head`) left: not our failure
        return 0
