"""A 32-bit MicroPython for the host: MicroPython's webassembly port under node (run.mjs
beside this file says what it is and where it differs from a board). `make venv` installs
it from package-lock.json."""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run.mjs")
WASM = os.path.join(HERE, "node_modules", "@micropython", "micropython-webassembly-pyscript",
                    "micropython.wasm")


def missing():
    """Why the 32-bit interpreter cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "node is not installed (Debian's nodejs package)"
    if not os.path.exists(WASM):
        return "the webassembly port is not installed: cd tools/mp32 && npm ci"
    return None


def command(script, *args, dirs=(), inputs=(), romfs=None, heap=None):
    """argv that runs `script args` on the 32-bit port, like the unix port's
    `micropython script args`; dirs: host folders the script reads or writes; inputs:
    folders it only reads (not copied back)."""
    argv = ["node", RUNNER]
    if heap:
        argv += ["-X", "heapsize=%s" % heap]
    for folder in dirs:
        argv += ["--dir", folder]
    for folder in inputs:
        argv += ["--in", folder]
    if romfs:
        argv += ["--romfs", romfs]
    return argv + [script] + [str(a) for a in args]
