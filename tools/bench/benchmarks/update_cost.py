"""MicroPython benchmark: the update gate on a 200 KB package (vendor + operator signed)
the way a meter runs it: check the manifest (two Ed25519 verifications), stream every file
through one chunk buffer into a slot while hashing, and the boot stage's check of the slot.

Usage: micropython -X heapsize=256K tools/bench/benchmarks/update_cost.py REPO_ROOT [CODE_DIR]
CODE_DIR: where to import the firmware from (default REPO_ROOT/firmware; tools/bench/report.py
passes its mpy-cross build). Prints one JSON line; times are medians in ms, heap in bytes:
  package_bytes, files, signatures      the package verified
  check_manifest_ms                     parse + signatures + board/expiry/counter checks
  install_ms                            the whole install: manifest, files, slot manifest
  stream_files_ms                       install_ms - check_manifest_ms: hashing and writing
  boot_check_ms                         the loader's check of the staged slot (hash all)
  install_min_free_bytes                least free heap the whole install still succeeds in
                                        (ballast fills the rest; GC runs as it must)
  boot_check_min_free_bytes             the same for the boot-stage check
  heap_total, code_heap_bytes           heap size; heap the imported update code keeps
Ed25519 time on the boards: see tools/bench/benchmarks/ed25519_cost.py (est_*_ms).
"""
import sys

sys.path[:0] = [sys.argv[2] if len(sys.argv) > 2 else sys.argv[1] + "/firmware", sys.argv[1]]

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from timing import median_ms  # noqa: E402 - tools/bench/benchmarks, the script's own folder

gc.collect()
_BASE = gc.mem_alloc()
import heap_probe  # noqa: E402 - tools/bench/benchmarks, the script's own folder
from update import signed  # noqa: E402
from update.policy import Policy  # noqa: E402
from update.firmware_slots import check  # noqa: E402
from update.tree import FileTree  # noqa: E402
from update.verify import Verifier  # noqa: E402

gc.collect()
CODE_BYTES = gc.mem_alloc() - _BASE
NOW_S = 1795449600
FILES = 38
FILE_BYTES = 5390  # 38 x 5390 + main + board module = 200 KB
WORK = "/tmp/meter-update-bench-%d" % (os.getpid() if hasattr(os, "getpid") else 0)


def _content(index, size):
    """Deterministic module-like bytes, yielded in 512-byte pieces (never whole in RAM)."""
    line = b"x%03d = %d  # padding for the update benchmark ......................\n" % (
        index, index)
    done = 0
    while done < size:
        n = min(512, size - done)
        yield (line * (512 // len(line) + 1))[:n]
        done += n


def _layout():
    files = [("boards/sim.py", 640), ("main.py", 2048)]
    for i in range(FILES):
        files.append(("pkg%d/mod%02d.py" % (i // 10, i), FILE_BYTES))
    return sorted(files)


def signer():
    """The RFC 8032 reference signer (crypto/ed25519_ref.py). It is host code, left out of
    a board's build, so with CODE_DIR a build it comes from the firmware source folder."""
    try:
        from crypto import ed25519_ref
    except ImportError:
        sys.path.append(sys.argv[1] + "/firmware/crypto")
        import ed25519_ref
    return ed25519_ref


def seed(name):
    return (name.encode() + b"-benchmark-key" + bytes(32))[:32]


def sign_envelope(body, domain, names):
    from binascii import hexlify

    import canonical
    ed25519_ref = signer()

    msg = signed.message(domain, body)
    sigs = [{"keyid": signed.key_id(ed25519_ref.secret_to_public(seed(n))),
             "sig": hexlify(ed25519_ref.sign(seed(n), msg)).decode()} for n in names]
    return canonical.dumps({"signatures": sigs, "signed": body}).encode()


def _policy():
    from binascii import hexlify

    ed25519_ref = signer()

    keys = {}
    for name, role in (("root", "operator-root"), ("release", "operator-release"),
                       ("vendor", "vendor")):
        public = ed25519_ref.secret_to_public(seed(name))
        keys[signed.key_id(public)] = {"public": hexlify(public).decode(), "role": role}
    body = {"format": 1, "keys": keys, "thresholds": {"emergency": 1, "release": 1,
                                                       "root": 1, "vendor": 1},
            "type": "open-meter-policy", "vendor_required": True, "version": 1}
    return Policy.from_bytes(sign_envelope(body, signed.POLICY_DOMAIN, ("root",)))


def write_package(path, expires=NOW_S + 86400):
    """The package, written in pieces: the benchmark's own setup must not need more heap
    than the flow it measures (no canonical.dumps of the whole manifest)."""
    import hashlib
    import struct
    from binascii import hexlify

    ed25519_ref = signer()

    pieces = []
    for index, (name, size) in enumerate(_layout()):
        h = hashlib.sha256()
        for piece in _content(index, size):
            h.update(piece)
        pieces.append(b'{"path":"%s","sha256":"%s","size":%d}' % (
            name.encode(), hexlify(h.digest()), size))
    body = (b'{"board":"sim","expires":%d,"files":[' % expires + b",".join(pieces)
            + b'],"format":1,"hardware_id":"sim-v1","security_counter":1,'
            b'"type":"open-meter-firmware","version":"bench"}')
    pieces = None
    msg = signed.MANIFEST_DOMAIN + body
    sigs = []
    for name in ("release", "vendor"):
        public = ed25519_ref.secret_to_public(seed(name))
        sigs.append(b'{"keyid":"%s","sig":"%s"}' % (signed.key_id(public).encode(),
                                                    hexlify(ed25519_ref.sign(seed(name), msg))))
    sigs.sort()  # canonical: the list as written; sorted only so runs are identical
    msg = None
    env = b'{"signatures":[' + b",".join(sigs) + b'],"signed":' + body + b"}"
    with open(path, "wb") as f:
        f.write(b"OMUP" + struct.pack("<BBHI", 1, 0, 0, len(env)))
        f.write(env)
        env = None
        for index, (name, size) in enumerate(_layout()):
            f.write(struct.pack("<H", len(name)) + name.encode() + struct.pack("<I", size))
            for piece in _content(index, size):
                f.write(piece)
    return sum(size for _, size in _layout())


class Bench:
    def __init__(self):
        self.policy = _policy()
        self.package = WORK + "/update.pkg"
        self.tree = FileTree(WORK)
        self.buf = bytearray(1024)

    def verifier(self):
        return Verifier(self.policy, "sim", "sim-v1", 0, NOW_S, buf=self.buf)

    def check_manifest(self):
        v = self.verifier()
        with open(self.package, "rb") as f:
            v.read_manifest(f)

    def install(self):
        v = self.verifier()
        with open(self.package, "rb") as f:
            v.install(f, self.tree, "a")

    def boot_check(self):
        check(self.tree, "a", memoryview(self.buf)[:512])  # the loader's 512-byte buffer


def main():
    try:
        os.mkdir(WORK)
    except OSError:
        pass
    total = write_package(WORK + "/update.pkg")
    gc.collect()
    bench = Bench()
    bench.install()  # warm: builds the Ed25519 table of B once, as a board after boot
    check_ms = median_ms(bench.check_manifest)
    install_ms = median_ms(bench.install)
    boot_ms = median_ms(bench.boot_check)
    out = {
        "package_bytes": total, "files": len(_layout()), "signatures": 2,
        "check_manifest_ms": round(check_ms, 2), "install_ms": round(install_ms, 2),
        "stream_files_ms": round(install_ms - check_ms, 2), "boot_check_ms": round(boot_ms, 2),
        # the boot check first: an install that runs out of heap leaves the slot empty
        "boot_check_min_free_bytes": heap_probe.min_free(bench.boot_check),
        "install_min_free_bytes": heap_probe.min_free(bench.install),
        "heap_total": gc.mem_alloc() + gc.mem_free(), "code_heap_bytes": CODE_BYTES,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
