"""Two firmware slots (folders fw/a and fw/b under the flash root; "" is the factory image
at the root) and the pointer that names the active one, with its trial state.

The pointer is one two-slot record, so every change of state (activate, boot attempt,
confirm, revert) is a single atomic write. The meter's security counter (`floor`) is
raised only on confirmation. A slot is complete when its manifest.json is present and
every file matches it, with nothing else in the folder.
"""
import hashlib
import json

import canonical
from crypto.ct import equal
from storage.slots import SlotStore
from update.errors import UpdateRejected
from update.layout import MANIFEST_NAME, MAX_TRIAL_BOOTS, SLOTS, slot_dir
from update.tree import walk_files

FACTORY = {
    "active": "", "active_version": "factory", "active_counter": 0,
    "previous": "", "previous_version": "", "previous_counter": 0,
    "trial": False, "boots": 0, "floor": 0, "reverted": "",
}


def _decode(payload):
    try:
        fields = json.loads(payload)
    except ValueError:
        fields = None
    if type(fields) is not dict or sorted(fields) != sorted(FACTORY):
        raise UpdateRejected("malformed", "firmware pointer record unreadable")
    for name in FACTORY:
        if type(fields[name]) is not type(FACTORY[name]):
            raise UpdateRejected("malformed", "firmware pointer field " + name)
    if fields["active"] not in ("",) + SLOTS or fields["previous"] not in ("",) + SLOTS:
        raise UpdateRejected("malformed", "firmware pointer names no slot")
    return fields


class UpdateState:
    """The firmware pointer record `active` on a flash store (power-cut safe)."""

    def __init__(self, store, name="active"):
        self.record = SlotStore(store, name)
        self.fields = None
        self.reload()

    def reload(self):
        payload = self.record.load()
        self.fields = dict(FACTORY) if payload is None else _decode(payload)
        return self.fields

    @property
    def active(self):
        return self.fields["active"]

    @property
    def trial(self):
        return self.fields["trial"]

    @property
    def floor(self):
        """The meter's security counter: a package below it is a rollback."""
        return self.fields["floor"]

    def _save(self, fields):
        self.record.save(canonical.dumps(fields).encode())
        self.fields = fields  # only once the write has landed

    def target(self):
        """The slot a new package is staged into: never the active one."""
        return "b" if self.fields["active"] == "a" else "a"

    def activate(self, slot, manifest):
        """Point at a staged, verified slot; it runs on trial until confirmed."""
        f = dict(self.fields)
        f["previous"], f["previous_version"], f["previous_counter"] = (
            f["active"], f["active_version"], f["active_counter"])
        f["active"], f["active_version"], f["active_counter"] = (
            slot, manifest.version, manifest.security_counter)
        f["trial"], f["boots"], f["reverted"] = True, 0, ""
        self._save(f)

    def confirm(self):
        """The trial firmware passed its self-test: keep it and raise the meter's security
        counter to its counter. False if nothing was on trial."""
        if not self.fields["trial"]:
            return False
        f = dict(self.fields)
        f["floor"] = max(f["floor"], f["active_counter"])
        f["trial"], f["boots"] = False, 0
        f["previous"], f["previous_version"], f["previous_counter"] = "", "", 0
        self._save(f)
        return True

    def revert(self, reason):
        """Go back to the previous slot (the factory image if there is none) and note why,
        for the audit log. The floor stays: it only ever rises."""
        f = dict(self.fields)
        f["active"], f["active_version"], f["active_counter"] = (
            f["previous"], f["previous_version"] or "factory", f["previous_counter"])
        f["previous"], f["previous_version"], f["previous_counter"] = "", "", 0
        f["trial"], f["boots"] = False, 0
        f["reverted"] = reason[:120]
        self._save(f)

    def count_trial_boot(self, max_boots=MAX_TRIAL_BOOTS, last_failure=None):
        """At boot, before the trial firmware runs: count the attempt, or revert when
        max_boots attempts went by unconfirmed (naming last_failure, why it last failed to
        start, when known). True if the trial goes on."""
        if not self.fields["trial"]:
            return False
        if self.fields["boots"] >= max_boots:
            self.revert("%s not confirmed after %d boots%s" % (
                self.fields["active_version"], max_boots,
                "; last failure: " + last_failure if last_failure else ""))
            return False
        f = dict(self.fields)
        f["boots"] += 1
        self._save(f)
        return True

    def clear_reverted(self):
        if self.fields["reverted"]:
            f = dict(self.fields)
            f["reverted"] = ""
            self._save(f)


def clear(tree, slot):
    """Empty a slot's folder: its manifest first, so a half-cleared or half-staged slot
    never looks complete."""
    top = slot_dir(slot)
    if not slot:
        raise ValueError("the factory image is never cleared")
    tree.remove(top + "/" + MANIFEST_NAME)
    for path in list(walk_files(tree, top)):
        tree.remove(path)
    _remove_folders(tree, top)


def _remove_folders(tree, top):
    for name in tree.listdir(top):
        path = top + "/" + name
        if tree.isdir(path):
            _remove_folders(tree, path)
            tree.rmdir(path)


def hash_file(tree, path, mv):
    """SHA-256 of a file, read through the preallocated memoryview mv; (digest, size)."""
    h = hashlib.sha256()
    size = 0
    with tree.open_read(path) as f:
        while True:
            n = f.readinto(mv)
            if not n:
                break
            h.update(mv[:n])
            size += n
    return h.digest(), size


def check(tree, slot, buf):
    """The Manifest of a complete slot; raises UpdateRejected naming the first problem.
    Checks form, sizes, hashes and stray files, not signatures (checked at staging).
    buf: a bytearray of at least signed.SCAN_BYTES, every read goes through it."""
    # imported here: only the boot stage checks slots, and the running meter's pointer
    # record (UpdateState) must not keep the manifest code on the heap
    from update.manifest import Manifest, find

    top = slot_dir(slot)
    mv = memoryview(buf)
    path = top + "/" + MANIFEST_NAME
    length = tree.size(path)
    try:
        f = tree.open_read(path)
    except OSError:
        raise UpdateRejected("missing-file", "slot %s has no manifest" % slot)
    with f:  # parsed from the file through the caller's buffer: no copy of its size
        manifest = Manifest.read(f, 0, length, None, None, buf)
    files = manifest.files
    skip = len(top) + 1
    for path in walk_files(tree, top):
        rel = path[skip:]
        if rel != MANIFEST_NAME and find(files, rel) < 0:
            raise UpdateRejected("extra-file", path)
    for rel, size, digest in files:
        path = top + "/" + rel
        if tree.size(path) is None:
            raise UpdateRejected("missing-file", path)
        got, got_size = hash_file(tree, path, mv)
        if got_size != size:
            raise UpdateRejected("size-mismatch", "%s: %d bytes, manifest %d" % (
                path, got_size, size))
        if not equal(got, digest):
            raise UpdateRejected("hash-mismatch", path)
    return manifest
