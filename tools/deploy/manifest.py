"""MicroPython's freezing manifests (boards/freeze/<board>/manifest.py) read on the host:
which firmware files a board holds and from which source. The manifests are the one list
of what ships; staging, `make deploy` and update packages take their files from here.

MicroPython's own tools/manifestfile.py is not on PyPI; this interprets the functions the
manifests use with its semantics (docs/reference/manifest.rst, MODE_FREEZE): paths
relative to the manifest being run, package(files=...) relative to the package, options
with defaults. It never runs a port's own manifest (`$(PORT_DIR)`): none is here.
"""
import os

from tools.shared.errors import ToolError


class ManifestError(ToolError):
    """A manifest names a file that is not there, or the same target twice."""


class _Options:
    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        return self._kwargs.get(name, self._defaults.get(name))


class Manifest:
    """include / require / package / module, as tools/manifestfile.py (MODE_FREEZE).
    files: {target path: source path}; required: the micropython-lib names required."""

    def __init__(self, port_dir="/nonexistent-port-dir"):
        self.files = {}
        self.required = []
        self.port_dir = port_dir
        self._dirs = [os.getcwd()]  # the folder of the manifest being run

    def _path(self, path):
        path = path.replace("$(PORT_DIR)", self.port_dir)
        return os.path.abspath(os.path.join(self._dirs[-1], path))

    def include(self, path, **kwargs):
        path = self._path(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if not os.path.exists(path):
            return  # the port's own manifest: not in this repository
        with open(path) as f:
            code = compile(f.read(), path, "exec")
        self._dirs.append(os.path.dirname(path))
        try:
            exec(code, {"include": self.include, "require": self.require,
                        "package": self.package, "module": self.module,
                        "options": _Options(**kwargs)})
        finally:
            self._dirs.pop()

    def require(self, name, **kwargs):
        self.required.append(name)

    def _add(self, source, target):
        if not os.path.isfile(source):
            raise ManifestError("manifest names a missing file: " + source)
        if target in self.files:
            raise ManifestError("frozen twice: " + target)
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
        if not module_path.endswith(".py"):
            raise ManifestError("module() takes a .py file: " + module_path)
        self._add(os.path.join(self._path(base_path), module_path), module_path)


def frozen(manifest_path):
    """The Manifest of one board's manifest file, run as a port build would run it."""
    m = Manifest()
    m.include(manifest_path)
    return m
