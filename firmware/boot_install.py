"""Installing a package in the boot stage, before the meter is built: how boards whose
heap cannot hold the running meter and the update verifier at once take updates
(`INSTALL_AT_BOOT` in the board module; docs/BOARDS.md, "Updates at boot").

The running meter stages the package (apply.Updater.stage_file: a rename and a small
request record) and restarts. Here, with the heap still empty, the same gate as ever
verifies and installs it: the crypto known-answer tests first, the board's identity from
its module, the trust policy and break-glass state from the meter's own storage, the
time from the request (the meter's clock when it staged; the boot stage has none yet).
The verdict goes to the audit log and to a record the meter reports when it is up again
(over the link if the package came that way). The metering loses the seconds of the
restart and the install; the meter logs them as a power failure, as it does any restart.
"""
from update import install_request
from update.layout import FW_DIR, INSTALL_REQUEST, STAGED_PATH, under_root


class _Clock:
    """The meter's time when it staged the package: all the boot stage knows of time."""

    def __init__(self, utc):
        self.utc = utc

    def time(self):
        return self.utc


def run(root=""):
    """The boot stage's first step (boot.py): a package the meter staged is installed now,
    before any of the meter is built. A board restarts afterwards, so that the meter starts
    in a heap the install has not cut up; the unix port goes straight on."""
    import sys

    verdict = install_pending(root)
    if verdict is None:
        return None
    print("boot_install: " + verdict)
    if sys.platform != "linux":
        import machine

        machine.reset()
    return verdict


def install_pending(root="", board=None, activate=True):
    """If the meter asked for an install, verify and install the staged package now;
    returns the verdict ("accepted <version>" / "rejected <reason>"), or None when nothing
    was asked. board: the board module (default: the one this flash runs, boards.module).
    Never raises: the boot stage goes on to choose a slot whatever happens."""
    import os

    try:
        os.stat(under_root(root, FW_DIR + "/" + INSTALL_REQUEST))
    except OSError:
        return None  # the usual boot: one stat, nothing created or loaded
    from storage.flash import FileStore
    from update.tree import FileTree

    try:
        fw = FileStore(under_root(root, FW_DIR))
        if board is None:
            import boards

            board = boards.module(root=root)
        store = FileStore(under_root(root, board.STORAGE_ROOT))
    except Exception as exc:  # noqa: BLE001 - an unreadable store: nothing to install
        print("boot_install: %r" % exc)
        return None
    return install_staged(fw, FileTree(root), store, board, activate)


def install_staged(fw, tree, store, board, activate=True):
    """install_pending() on the meter's storage, handed in: fw the fw/ store (pointer,
    request, verdict), tree the flash file tree, store the data store (audit log, trust
    policy, control state). Never raises."""
    try:
        request = install_request.take_request(fw)  # removed first: no retry at every boot
    except Exception as exc:  # noqa: BLE001
        print("boot_install: %r" % exc)
        return None
    if request is None:
        return None
    try:
        verdict = _verify_and_install(fw, tree, store, request, board, activate)
    except Exception as exc:  # noqa: BLE001 - out of memory, a flash error: refused
        verdict = "rejected internal-error: %s" % type(exc).__name__
    try:
        tree.remove(STAGED_PATH)  # accepted or not, the package is done with
    except Exception:  # noqa: BLE001
        pass
    try:
        install_request.write_result(fw, request["channel"], verdict)
    except Exception:  # noqa: BLE001 - the audit log has it
        pass
    return verdict


def _verify_and_install(fw, tree, store, request, board, activate):
    import post
    from control.audit import AuditLog
    from control.plane import saved_state
    from update.apply import Updater
    from update.errors import UpdateRejected
    from update.policy import PolicyStore

    audit = AuditLog(store)
    clock = _Clock(request["utc"])
    if "malformed" in request:
        audit.append(clock.time(), "update-rejected",
                     "malformed: install request: " + request["malformed"])
        return "rejected malformed"
    crypto_ok = not post.crypto_failures()
    gate = Updater(fw, tree, board.NAME, board.HARDWARE_ID, clock, audit,
                   break_glass=saved_state(store)["break_glass"], policies=PolicyStore(store),
                   crypto_ok=crypto_ok)
    try:
        result = gate.install_file(STAGED_PATH, activate=activate, remove=False)
    except UpdateRejected as exc:
        return "rejected %s" % exc.reason
    return "accepted %s" % result["version"]
