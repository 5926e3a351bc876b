"""Fetch the micropython-lib packages the board needs (requirements-board.txt) from PyPI,
check their SHA-256, and unpack the listed files into .venv/mplib/ (device layout).

Usage: python -m tools.deploy.board_libs [--dest .venv/mplib]
"""
import argparse
import hashlib
import io
import os
import sys
import tarfile
import urllib.request

from tools.shared.paths import ROOT
SPEC = os.path.join(ROOT, "requirements-board.txt")
DEFAULT_DEST = os.path.join(ROOT, ".venv", "mplib")


def entries(path=SPEC):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, version, url, sha256, *files = line.split()
                yield name, version, url, sha256, [f.split("=", 1) for f in files]


def fetch(dest=DEFAULT_DEST):
    written = []
    for name, version, url, sha256, files in entries():
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise SystemExit("board_libs: %s %s hash mismatch (got %s)" % (name, version, digest))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
            for inner, device_path in files:
                out = os.path.join(dest, *device_path.split("/"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with open(out, "wb") as f:
                    f.write(tar.extractfile(members[inner]).read())
                written.append(device_path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy.board_libs", description=__doc__.split("\n")[0])
    parser.add_argument("--dest", default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    for device_path in fetch(args.dest):
        print("board library: %s" % device_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
