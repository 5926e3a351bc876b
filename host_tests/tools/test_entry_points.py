"""Every `python -m tools.<name>` the README, the docs and the Makefile name is a program
that starts: `--help` exits 0 and prints its usage. A renamed or moved program without the
docs following fails here."""
import os
import re
import subprocess
import sys

import pytest

from tools.shared.paths import ROOT

_COMMAND = re.compile(r"python -m (tools(?:\.\w+)+)")
_MAKE_COMMAND = re.compile(r"\$\(PY\) -m (tools(?:\.\w+)+)")


def named_programs():
    names = set()
    for rel in ["README.md", "Makefile"] + ["docs/" + n for n in os.listdir(os.path.join(ROOT, "docs"))]:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        names.update(_COMMAND.findall(text))
        names.update(_MAKE_COMMAND.findall(text))
    return sorted(names)


def test_the_docs_name_programs():
    assert "tools.field" in named_programs() and "tools.update" in named_programs()


@pytest.mark.parametrize("program", named_programs())
def test_a_named_program_starts(program):
    proc = subprocess.run([sys.executable, "-m", program, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "usage" in (proc.stdout + proc.stderr).lower()


def _console_scripts():
    import re

    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        text = f.read()
    block = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^(meter-[\w-]+) = ", block, re.M)


def test_the_programs_are_console_commands_that_work_from_any_directory(tmp_path):
    """make venv installs this checkout: the commands need neither an activated venv nor
    the repository as the current directory."""
    names = _console_scripts()
    assert "meter-field" in names and "meter-headend" in names and len(names) >= 10
    bin_dir = os.path.dirname(sys.executable)
    for name in names:
        path = os.path.join(bin_dir, name)
        assert os.path.exists(path), "%s missing: make venv installs them" % name
        proc = subprocess.run([path, "--help"], cwd=str(tmp_path), capture_output=True,
                              text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0 and "usage" in proc.stdout.lower(), (name, proc.stderr)
