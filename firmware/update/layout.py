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


def slot_dir(slot):
    """Folder of a slot relative to the flash root; "" for the factory image."""
    return FW_DIR + "/" + slot if slot else ""
