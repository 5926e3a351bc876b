"""Each board's freezing manifest (boards/freeze/<board>/manifest.py, MicroPython's
manifest format) freezes exactly the modules `make deploy` copies for that board, so a
frozen image and a deployed board run the same code.

The manifests are read with tools/deploy/manifest.py, the minimal interpreter of
MicroPython's tools/manifestfile.py that staging uses too (paths relative to the manifest
being run, package(files=...) relative to the package, options with defaults)."""
import os

import pytest

from tools.deploy import stage
from tools.deploy.manifest import Manifest as MiniManifest

ROOT = stage.ROOT


def _frozen(board):
    m = MiniManifest("/nonexistent-port-dir")
    m.include(os.path.join(ROOT, "boards", "freeze", board, "manifest.py"))
    return m


def _board_libs():
    """micropython-lib package names pinned in requirements-board.txt."""
    names = []
    with open(os.path.join(ROOT, "requirements-board.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                names.append(line.split()[0].replace("micropython-", "", 1))
    return names


@pytest.mark.parametrize("board", ["esp32", "rp2040"])
def test_manifest_freezes_what_deploy_copies(board):
    frozen = _frozen(board)
    deployed = {device for _host, device in stage.layout(board) if not device.startswith("lib/")}
    assert set(frozen.files) == deployed
    for target, source in frozen.files.items():  # and from the same sources
        host = dict((d, h) for h, d in stage.layout(board))[target]
        assert os.path.samefile(source, host), target


@pytest.mark.parametrize("board", ["esp32", "rp2040"])
def test_manifest_requires_the_pinned_board_libraries(board):
    assert _frozen(board).required == _board_libs()


def test_shared_manifest_refuses_to_run_without_a_board():
    m = MiniManifest("/nonexistent-port-dir")
    with pytest.raises(ValueError, match="board="):
        m.include(os.path.join(ROOT, "boards", "freeze", "firmware.py"))
