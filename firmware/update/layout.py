"""Where firmware lives on the flash: the slots fw/a and fw/b (each a folder with its
manifest), the pointer record beside them in fw/, and how many boots a trial gets.

Imports nothing: the boot stage reads it on every boot, also on a factory meter that
never installed anything and so never loads the update gate (update.firmware_slots).
"""
FW_DIR = "fw"  # the slots fw/a, fw/b and the pointer record
SLOTS = ("a", "b")
MANIFEST_NAME = "manifest.json"
MAX_TRIAL_BOOTS = 3
# in FW_DIR: why the firmware on trial last failed to start (main.record_trial_failure)
LAST_FAILURE = "last-failure"
# Boards that install at boot (boot_install): the package waits at STAGED_PATH
# (from the flash root) and the request record in FW_DIR; the boot stage leaves its
# verdict in FW_DIR for the App to report.
STAGED_PATH = "update.staged"
INSTALL_REQUEST = "install-request"
INSTALL_RESULT = "install-result"
# The largest package the format allows (update.manifest: a 12-byte header, the 16 KiB
# envelope, 1 MiB of file data, 128 records of 6 bytes and a 96-byte path); kept here so
# the link's receiver need not load the manifest code (a test checks the sum)
MAX_PACKAGE_BYTES = 12 + 16384 + 1024 * 1024 + 128 * (6 + 96)


def under_root(root, path):
    """path under the flash root ("" = the current folder; absolute paths as on a board)."""
    if not root:
        return path
    return root.rstrip("/") + "/" + path.lstrip("/")


def slot_dir(slot):
    """Folder of a slot relative to the flash root; "" for the factory image."""
    return FW_DIR + "/" + slot if slot else ""
