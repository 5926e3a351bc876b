"""Each board's freezing manifest (boards/freeze/<board>/manifest.py, MicroPython's
manifest format) freezes exactly the modules `make deploy` copies for that board, so a
frozen image and a deployed board run the same code.

MicroPython's own tools/manifestfile.py is not on PyPI; this is a minimal interpreter of
the functions the manifests use, with its semantics (paths relative to the manifest being
run, package(files=...) relative to the package, options with defaults)."""
import os

import pytest

from tools import stage

ROOT = stage.ROOT


class _Options:
    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        return self._kwargs.get(name, self._defaults.get(name))


class MiniManifest:
    """include / require / package / module, as tools/manifestfile.py (MODE_FREEZE)."""

    def __init__(self, port_dir):
        self.files = {}  # target path -> source path
        self.required = []
        self.port_dir = port_dir

    def _path(self, path):
        return os.path.abspath(path.replace("$(PORT_DIR)", self.port_dir))

    def include(self, path, **kwargs):
        path = self._path(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if not os.path.exists(path):
            return  # the port's own manifest: not in this repository
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                exec(f.read(), {"include": self.include, "require": self.required.append,
                                "package": self.package, "module": self.module,
                                "options": _Options(**kwargs)})
        finally:
            os.chdir(cwd)

    def _add(self, source, target):
        assert os.path.isfile(source), "manifest names a missing file: " + source
        assert target not in self.files, "frozen twice: " + target
        self.files[target] = source

    def package(self, package_path, files=None, base_path="."):
        base = self._path(base_path)
        if files is not None:
            for name in files:
                target = package_path + "/" + name
                self._add(os.path.join(base, target), target)
            return
        for folder, dirs, names in os.walk(os.path.join(base, package_path)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    source = os.path.join(folder, name)
                    self._add(source, os.path.relpath(source, base).replace(os.sep, "/"))

    def module(self, module_path, base_path="."):
        assert module_path.endswith(".py")
        self._add(os.path.join(self._path(base_path), module_path), module_path)


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
