"""Extract a subset of the Ed25519 test vectors (RFC 8032 §7.1 and the SUPERCOP/ed25519
`sign.input` they come from, as shipped in the PyPI package `cryptography-vectors`) into
host_tests/fixtures/vectors/ed25519_rfc8032.json, which the shared Ed25519 tests read on
both CPython and MicroPython (MicroPython cannot see site-packages).

Line i of sign.input (from 0) signs an i-byte message: secret||public : public : message :
signature||message. Subset: lines 0..39 (RFC 8032 TEST 1, 2 and 3 are lines 0, 1 and 2)
and the block-boundary and long messages of LONG_LINES (1023 is RFC 8032 TEST 1024).

Usage: python -m tools.vectors.ed25519 [--out PATH] [--check]
"""
import json
import os
import sys

from tools.shared.paths import ROOT
from tools.vectors.fixture_file import arguments, vectors_path, write_or_check

DEFAULT_OUT = os.path.join(ROOT, "host_tests", "fixtures", "vectors", "ed25519_rfc8032.json")
VECTOR_FILE = ("asymmetric", "Ed25519", "sign.input")
FIRST_LINES = 40
LONG_LINES = (63, 64, 127, 128, 129, 255, 256, 511, 1023)


class VectorError(Exception):
    """sign.input does not look as expected."""


def parse_line(number, line):
    """One sign.input line as a fixture case, after checking its internal consistency."""
    fields = line.rstrip("\n").split(":")
    if len(fields) != 5 or fields[4] != "":
        raise VectorError("line %d: expected 4 ':'-terminated fields" % (number + 1))
    secret_public, public, message, signature_message = fields[:4]
    if len(secret_public) != 128 or secret_public[64:] != public or len(public) != 64:
        raise VectorError("line %d: secret||public does not end in the public key" % (number + 1))
    if signature_message[128:] != message or len(message) != 2 * number:
        raise VectorError("line %d: signature||message does not end in the message"
                          % (number + 1))
    return {"line": number, "seed": secret_public[:64], "pk": public, "msg": message,
            "sig": signature_message[:128]}


def extract(path):
    wanted = set(range(FIRST_LINES)) | set(LONG_LINES)
    cases = []
    with open(path) as f:
        for number, line in enumerate(f):
            if number in wanted:
                cases.append(parse_line(number, line))
    if len(cases) != len(wanted):
        raise VectorError("%s has fewer than %d lines" % (path, max(wanted) + 1))
    return {
        "about": "Ed25519 vectors from cryptography-vectors asymmetric/Ed25519/sign.input "
                 "(RFC 8032 §7.1 TEST 1, 2, 3 = lines 0, 1, 2; TEST 1024 = line 1023); "
                 "subset written by tools/vectors/ed25519.py",
        "cases": cases,
    }


def to_json(data):
    """JSON with one case per line, so a diff of the fixture shows which cases changed."""
    cases = [json.dumps(c, sort_keys=True) for c in data["cases"]]
    return '{\n"about": %s,\n"cases": [\n%s\n]\n}\n' % (
        json.dumps(data["about"]), ",\n".join(cases))


def main(argv=None):
    args = arguments(argv, __doc__, DEFAULT_OUT)
    try:
        text = to_json(extract(vectors_path(*VECTOR_FILE)))
    except (OSError, VectorError) as exc:
        print("error: %s" % exc)
        return 1
    code = write_or_check(args.out, text, "python -m tools.vectors.ed25519", args.check)
    if code or args.check:
        return code
    print("wrote %s: %d cases, %d bytes" % (args.out, text.count('"line"'), len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
