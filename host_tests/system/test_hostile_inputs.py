"""Hostile inputs at the firmware gate, on the real MicroPython unix port, with the code
loaded as `make deploy` loads it (.mpy files in RAM) and the heap the board issue budgets
for a stock Pico (160 KB of 32-bit GC heap; 200 KB here by the 0.8 rule of
tools/deploy/heap_budget.py): forged, oversized, deeply nested or very wide envelopes,
booleans where numbers belong, colliding paths, cut-off containers. Each one is refused
with its reason code and an audit entry; none ends in MemoryError or internal-error.
Then again with the code in a ROMFS image and an ESP32's 96 KB.

Measured with this script (see docs/UPDATE.md), in board heap (this port's heap x 0.8):
the gate and the control plane with these inputs pass down to 130 KB with .mpy in RAM
(124 fails) and down to 92 KB with the code in a ROMFS image (90 fails), on work paths
of 10 to 90 characters. So the second test holds them to the ESP32's 96 KB with the code
out of RAM, as an ESP32 build must have it (frozen); .mpy in RAM would not fit it. The
64 KB frozen budget cannot be measured here (issue 9). The last test runs every case on
the 32-bit MicroPython (tools/mp32): the same refusals with 31-bit small ints and the
plain twins of the viper code; that port cannot hold a heap to a size."""
import json
import os
import subprocess

import pytest

from control import tokens
from fixtures.update import kit
from syspkg import require_mp32
from tools import mp32
from tools.deploy import heap_budget
from tools.deploy.mpy import BYTECODE_ONLY, build
from tools.shared.paths import ROOT, venv_tool
from update import signed

SCRIPT = os.path.join(ROOT, "host_tests", "system", "support", "hostile_gate.py")
BOARD_HEAP_KB = 160  # the board issue's budget for a stock Pico through make deploy
ESP32_HEAP_KB = 96  # and for an ESP32 without PSRAM
FORGED = bytes(64)


def _deep(depth):
    value = 0
    for _ in range(depth):
        value = {"x": value}
    return value


def _token(body_fields, signers=("release1",), extra=()):
    body = {"type": "open-meter-command", "format": 1, "command": "set-tariffs",
            "params": {"schedule": {"low_from_hour": 22, "low_until_hour": 6,
                                    "low_weekdays": [5, 6]}},
            "meter": "sim-0001", "counter": 1, "expires": kit.NOW_S + 3600}
    body.update(body_fields)
    return kit.envelope(body, signers, tokens.DOMAIN, extra)


def _cases():
    files = kit.release_files()
    release = kit.keyid("release1")
    forged = ((release, FORGED),)
    deep_manifest = dict(kit.manifest_body(files), extra=_deep(400))
    wide_manifest = dict(kit.manifest_body(files), extra=[0] * 6000)
    nested_signed = dict(kit.manifest_body(files), extra=_deep(8))
    colliding = dict(files, **{"main.py/x.py": b"x"})
    many = tuple((kit.keyid(n), FORGED) for n in kit.ROLES)[:9]
    good = kit.package()
    big_env = b'{"signatures":[],"signed":{"x":"' + b"a" * 20000 + b'"}}'
    return {
        # packages: through the same gate as the shell and the link
        "pkg-forged-deep.pkg": ("package", kit.package(body=deep_manifest, signers=(),
                                                       extra=forged), "bad-signature"),
        "pkg-forged-wide.pkg": ("package", kit.package(body=wide_manifest, signers=(),
                                                       extra=forged), "bad-signature"),
        "pkg-unsigned.pkg": ("package", kit.package(signers=()), "too-few-signatures"),
        "pkg-nine-signatures.pkg": ("package", kit.package(signers=(), extra=many),
                                    "malformed"),
        "pkg-too-large.pkg": ("package", kit.container(big_env, []), "too-large"),
        "pkg-format-true.pkg": ("package", kit.package(
            body=dict(kit.manifest_body(files), format=True)), "malformed"),
        "pkg-nested-signed.pkg": ("package", kit.package(body=nested_signed), "malformed"),
        "pkg-path-collision.pkg": ("package", kit.package(files=colliding), "malformed"),
        "pkg-cut-off.pkg": ("package", good[:40], "malformed"),
        # operator command tokens, as they arrive over the link
        "tok-forged-deep.tok": ("token", _token({"params": _deep(120)}, (), forged),
                                "bad-signature"),
        "tok-too-large.tok": ("token", b"{" + b" " * 3000 + b"}", "too-large"),
        "tok-format-true.tok": ("token", _token({"format": True}), "malformed"),
        "tok-nested-signed.tok": ("token", _token({"params": {"schedule": _deep(8)}}),
                                  "malformed"),
        "tok-nine-signatures.tok": ("token", _token({}, (), many), "malformed"),
        # a policy rotation
        "pol-forged.pol": ("policy", kit.envelope(kit.policy_body(version=2), (),
                                                  signed.POLICY_DOMAIN,
                                                  ((kit.keyid("root1"), FORGED),)),
                           "bad-signature"),
        "pol-too-large.pol": ("policy", b"{" + b" " * 9000 + b"}", "too-large"),
    }


def _refused_in(tmp_path, board_kb, romfs, bits=64):
    """Every case through the gate on the MicroPython unix port with board_kb of board heap
    (by the 0.8 rule), the code loaded into RAM (.mpy) or out of it (a ROMFS image); or,
    bits=32, on the 32-bit port with the bytecode-only build (no heap limit there)."""
    work = str(tmp_path)
    if bits == 32:
        require_mp32()
        code = os.path.join(work, "mpy")
        build("sim", code, arch=BYTECODE_ONLY, keep_source=())
    else:
        micropython = venv_tool("micropython", required=False)
        if micropython is None:
            pytest.skip("no micropython in the venv (make venv)")
        code = heap_budget.compile_tree(os.path.join(work, "mpy"))
        heap = heap_budget.host_heap_bytes(board_kb)
        if romfs:
            code = heap_budget.romfs_image(code, os.path.join(work, "rom.img"))
            heap += os.path.getsize(code) + 64  # the image is read into the heap first
    with open(os.path.join(work, "policy.bin"), "wb") as f:
        f.write(kit.policy())
    cases = _cases()
    for name, (_kind, data, _reason) in cases.items():
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
    with open(os.path.join(work, "cases.json"), "w") as f:
        json.dump([[name, kind] for name, (kind, _d, _r) in cases.items()], f)
    if bits == 32:
        argv = mp32.command(SCRIPT, code, work, dirs=[work])
    else:
        argv = [micropython, "-X", "heapsize=%d" % heap, SCRIPT, code, work]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    got = {line["case"]: line for line in lines if "case" in line}
    expected = {name: reason for name, (_k, _d, reason) in cases.items()}
    assert {name: got[name]["reason"] for name in expected} == expected
    assert all(got[name]["audited"] for name in expected), got
    assert lines[-1]["done"]


def test_every_hostile_input_is_refused_with_its_reason_in_the_boards_heap(tmp_path):
    _refused_in(tmp_path, BOARD_HEAP_KB, romfs=False)


def test_with_the_code_out_of_ram_the_esp32s_budget_holds_them_too(tmp_path):
    # a stock ESP32 has no ROMFS partition: its build freezes the code (boards/freeze),
    # which keeps even less on the heap than ROMFS (names and code records in flash)
    _refused_in(tmp_path, ESP32_HEAP_KB, romfs=True)


def test_on_a_32_bit_micropython_every_case_is_refused_the_same(tmp_path):
    _refused_in(tmp_path, None, romfs=False, bits=32)
