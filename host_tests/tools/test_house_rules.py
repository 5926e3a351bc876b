"""The house rules of docs/ARCHITECTURE.md, checked on the source: no two modules import
each other (directly or round a longer circle), and no module reads another module's
private (`_name`) attributes."""
import ast
import os

from tools.shared.paths import ROOT

TOPS = ("firmware", "boards", "tools")


def _modules():
    """{dotted module name: path}; firmware/ is the flash root, so its modules are
    top-level names, as on the board."""
    found = {}
    for top in TOPS:
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if rel[0] == "firmware":
                    rel = rel[1:]
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                found[".".join(rel)] = path
    return found


def _imports(name, path, modules):
    with open(path) as f:
        tree = ast.parse(f.read())
    deps = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.rsplit(".", node.level)[0] if "." in name else ""
                target = ".".join(p for p in (base, node.module) if p)
            else:
                target = node.module
            deps.add(target)
            deps.update(target + "." + a.name for a in node.names)
    return sorted(d for d in deps if d in modules and d != name)


def import_circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_no_import_circles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert import_circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert import_circles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


def foreign_private_reads(source):
    """(line, expression) of every `x._name` read where x is not self/cls and `_name` is
    not defined in the same file (a module may use its own classes' privates)."""
    tree = ast.parse(source)
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and node.attr not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append((node.lineno, ast.unparse(node)))
    return found


# reads of a library's documented underscore names, not of another module of ours
_LIBRARY = {"sys._getframe", "os._exit"}


def test_no_module_reads_another_modules_private_attributes():
    offenders = []
    for name, path in sorted(_modules().items()):
        with open(path) as f:
            for line, expr in foreign_private_reads(f.read()):
                if expr not in _LIBRARY:
                    offenders.append("%s:%d %s" % (os.path.relpath(path, ROOT), line, expr))
    assert offenders == []


def test_the_private_read_check_sees_one():
    assert foreign_private_reads("import x\ny = x._secret\n") == [(2, "x._secret")]
    assert foreign_private_reads("class A:\n    def f(self):\n        return self._a\n") == []


# docs/ARCHITECTURE.md's table: what each firmware folder may import besides itself.
# Leaf modules (canonical, civiltime, compat, refusal, settings) are open to all.
_LEAVES = {"canonical", "civiltime", "compat", "refusal", "settings"}
ALLOWED = {
    "storage": set(),
    "crypto": set(),
    "metering": {"storage"},
    "update": {"storage", "crypto"},
    "comms": {"storage", "crypto"},
    "control": {"storage", "crypto", "update", "comms", "metering"},
    "boards": set(),
}


def folder_imports_outside(allowed):
    """{folder: folders it imports that `allowed` does not grant}."""
    modules = _modules()
    found = {}
    for name, path in modules.items():
        folder = name.split(".")[0]
        if folder not in allowed:
            continue
        for dep in _imports(name, path, modules):
            top = dep.split(".")[0]
            if top != folder and top not in _LEAVES and top not in allowed[folder]:
                found.setdefault(folder, set()).add(top)
    return found


def test_each_firmware_folder_imports_only_what_the_architecture_allows():
    assert folder_imports_outside(ALLOWED) == {}


def test_the_folder_rule_sees_a_breach():
    strict = dict(ALLOWED, control=set())
    assert "comms" in folder_imports_outside(strict)["control"]


# what the metering module may import from outside the firmware: the language's own
# modules. No machine (no pin, so no switching output), no network, socket, ssl, MQTT,
# threads: "it has no kill path" is this test, not a claim.
METERING_MAY_USE = {"array", "binascii", "hashlib", "json", "math", "micropython", "os",
                    "struct", "sys"}


def metering_outside_imports():
    found = set()
    for name, path in _modules().items():
        if name.split(".")[0] != "metering":
            continue
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module.split(".")[0])
    firmware_tops = {m.split(".")[0] for m in _modules()}
    return found - firmware_tops


def test_the_metering_module_uses_no_hardware_output_and_no_network():
    assert metering_outside_imports() <= METERING_MAY_USE, metering_outside_imports()
