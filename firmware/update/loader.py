"""Boot-time slot selection: runs before any firmware module is imported, like a tiny
MCUboot. Counts a trial boot, reverts a trial that was never confirmed, and never starts
a slot that is incomplete or altered (it falls back, ending at the factory image).

It must never write anything but the pointer record (and remove the trial's last-failure
note once the pointer names it), and never raise: a meter that cannot choose a slot still
boots the factory image and keeps metering.
"""
import sys

from update.errors import UpdateRejected

from update.layout import FW_DIR, LAST_FAILURE, MAX_TRIAL_BOOTS, slot_dir, under_root

# Modules the boot stage itself imports; forgotten after the choice so the slot's own
# copies are the ones the firmware gets.
_BOOT_MODULES = ("storage", "update", "crypto", "canonical", "compat", "boards", "control",
                 "post", "metering", "civiltime", "refusal", "boot_install")


def select_slot(store, tree, max_trial_boots=MAX_TRIAL_BOOTS, check=True, buf=None):
    """The folder to import the firmware from: "fw/a", "fw/b", or "" for the factory image
    at the root. store: the flash store holding the pointer; tree: the file tree."""
    from update import firmware_slots

    try:
        state = firmware_slots.UpdateState(store)
    except UpdateRejected:
        return ""  # an unreadable pointer (never written by this code): factory image
    buf = buf if buf is not None else bytearray(512)
    failure = _last_failure(store)
    if not state.count_trial_boot(max_trial_boots, failure) and failure is not None:
        _forget_failure(store)  # no trial any more: its failure is in the pointer's reason
    while state.active:
        if not check:
            break
        try:
            firmware_slots.check(tree, state.active, buf)
            break
        except UpdateRejected as exc:
            state.revert("slot %s damaged: %s" % (state.active, exc))
        except OSError as exc:
            state.revert("slot %s unreadable: %s" % (state.active, exc))
    return slot_dir(state.active)


def _last_failure(store):
    try:
        data = store.read(LAST_FAILURE)
        return None if data is None else bytes(data).decode()[:80]
    except (OSError, ValueError):  # the boot stage never raises
        return None


def _forget_failure(store):
    try:
        store.remove(LAST_FAILURE)
    except OSError:
        pass


def running_slot():
    """The slot folder this firmware was imported from ("fw/a", "fw/b"), or "" for the
    factory image: use_slot() put the chosen slot first on sys.path. The one answer to "am
    I on trial?" for the App; main.py and tools/vboard.py ask it without importing, on the
    path where an updated firmware has just failed to start."""
    top = sys.path[0].lstrip("/") if sys.path else ""
    return top if top.startswith(FW_DIR + "/") else ""


def use_slot(folder, root=""):
    """Import the firmware from `folder` from now on: it goes first on sys.path with its
    lib/, the root leaves the path (a stale root module must not fill a gap), and the boot
    stage's own modules are forgotten. "" keeps the factory path as it is."""
    if not folder:
        return
    top = root.rstrip("/") + "/" + folder if root else folder
    rest = [p for p in sys.path if p not in ("", "/", ".", root)]
    sys.path[:] = [top, top + "/lib"] + rest
    for name in list(sys.modules):
        if name.split(".")[0] in _BOOT_MODULES:
            del sys.modules[name]


def boot(root=""):
    """The boot stage: select the slot and put it on sys.path; returns its folder.
    root: the flash root as a path prefix ("" = the current folder, "/" on a board)."""
    import os

    from storage.flash import FileStore
    from update.tree import FileTree

    folder = ""
    state_dir = under_root(root, FW_DIR)
    try:
        if not os.listdir(state_dir):
            return ""  # nothing was ever installed: the factory image, nothing to check
    except OSError:
        return ""
    try:
        folder = select_slot(FileStore(state_dir), FileTree(root))
    except (OSError, UpdateRejected) as exc:  # keep metering on the factory image
        print("update.loader: factory image (%s)" % exc)
    use_slot(folder, root)
    return folder
