"""Extract a subset of the NIST CAVP AES-GCM vectors (from the PyPI package
`cryptography-vectors`) into host_tests/fixtures/vectors/gcm_nist.json, which the shared
GCM tests read on both CPython and MicroPython (MicroPython cannot see site-packages).

Subset: 128-bit keys, 96-bit IVs, tag lengths 96..128 bits (what crypto.gcm accepts),
every plaintext and AAD length NIST tests; per section one encryption case and, from
gcmDecrypt128.rsp, the first passing and the first FAIL case.

Usage: python -m tools.vectors.gcm [--out PATH] [--check]
"""
import json
import os
import sys

from tools.shared.paths import ROOT
from tools.vectors.fixture_file import arguments, vectors_path, write_or_check

DEFAULT_OUT = os.path.join(ROOT, "host_tests", "fixtures", "vectors", "gcm_nist.json")
GCM_DIR = ("ciphers", "AES", "GCM")
TAG_BITS = (96, 104, 112, 120, 128)


def parse_rsp(text):
    """Yield (section dict, case dict) for each case of a CAVP .rsp file."""
    section, case = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            if case is not None:
                yield dict(section), case
                case = None
            name, _, value = line[1:-1].partition("=")
            section[name.strip()] = int(value)
        elif line.startswith("Count"):
            if case is not None:
                yield dict(section), case
            case = {"count": int(line.split("=")[1])}
        elif line == "FAIL" and case is not None:
            case["fail"] = True
        elif "=" in line and case is not None:
            name, _, value = line.partition("=")
            case[name.strip()] = value.strip()
    if case is not None:
        yield dict(section), case


def _wanted(section):
    return (section.get("Keylen") == 128 and section.get("IVlen") == 96
            and section.get("Taglen") in TAG_BITS)


def _section_key(section):
    return (section["PTlen"], section["AADlen"], section["Taglen"])


def _case(section, case, source):
    out = {"source": "%s PTlen=%d AADlen=%d Taglen=%d Count=%d" % (
        source, section["PTlen"], section["AADlen"], section["Taglen"], case["count"])}
    for name in ("Key", "IV", "AAD", "CT", "Tag", "PT"):
        if name in case:
            out[name.lower()] = case[name]
    if case.get("fail"):
        out["pt"] = None  # the tag must be refused
    return out


def extract(vectors_dir):
    with open(os.path.join(vectors_dir, "gcmEncryptExtIV128.rsp")) as f:
        enc_text = f.read()
    with open(os.path.join(vectors_dir, "gcmDecrypt128.rsp")) as f:
        dec_text = f.read()
    encrypt, seen = [], set()
    for section, case in parse_rsp(enc_text):
        if _wanted(section) and _section_key(section) not in seen:
            seen.add(_section_key(section))
            encrypt.append(_case(section, case, "gcmEncryptExtIV128.rsp"))
    decrypt, seen = [], set()
    for section, case in parse_rsp(dec_text):
        kind = (_section_key(section), bool(case.get("fail"))) if _wanted(section) else None
        if kind is not None and kind not in seen:
            seen.add(kind)
            decrypt.append(_case(section, case, "gcmDecrypt128.rsp"))
    return {
        "about": "NIST CAVP GCM test vectors (gcmtestvectors.zip) as shipped in PyPI "
                 "cryptography-vectors; subset written by tools/vectors/gcm.py",
        "encrypt": encrypt,
        "decrypt": decrypt,
    }


def to_json(data):
    """JSON with one case per line, so a diff of the fixture shows which cases changed."""
    lines = ["{", '"about": %s,' % json.dumps(data["about"])]
    for group in ("encrypt", "decrypt"):
        cases = [json.dumps(c, sort_keys=True) for c in data[group]]
        lines.append('"%s": [\n%s\n]%s' % (group, ",\n".join(cases),
                                           "," if group == "encrypt" else ""))
    return "\n".join(lines) + "\n}\n"


def main(argv=None):
    args = arguments(argv, __doc__, DEFAULT_OUT)
    text = to_json(extract(vectors_path(*GCM_DIR)))
    code = write_or_check(args.out, text, "python -m tools.vectors.gcm", args.check)
    if code or args.check:
        return code
    data = json.loads(text)
    print("wrote %s: %d encrypt, %d decrypt (%d FAIL) cases" % (
        args.out, len(data["encrypt"]), len(data["decrypt"]),
        sum(1 for c in data["decrypt"] if c["pt"] is None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
