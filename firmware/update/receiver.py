"""A package arriving over the operator link in chunks, kept in one part file on the
flash until it is whole; then the update gate (update.apply) checks it like any other.
Light on purpose: a meter imports it for every uplink session, the gate only when a
package is complete.
"""
from update.errors import UpdateRejected
from update.layout import MAX_PACKAGE_BYTES

PART_PATH = "update.part"  # where the link's chunks collect


class Receiver:
    """A package arriving over the link in chunks, resumable: write(offset, data) appends
    when offset is where the file ends and returns the new end; any other offset writes
    nothing and returns the end, where the sender resumes. Then Updater.install_file."""

    def __init__(self, tree, path=PART_PATH, max_bytes=None):
        self.tree = tree
        self.path = path
        self.max_bytes = max_bytes or MAX_PACKAGE_BYTES  # the largest the format allows

    def offset(self):
        return self.tree.size(self.path) or 0

    def write(self, offset, data):
        end = self.offset()
        if offset != end:
            return end
        if end + len(data) > self.max_bytes:
            raise UpdateRejected("too-large", "more than %d bytes" % self.max_bytes)
        self.tree.append(self.path, data)
        return end + len(data)

    def reset(self):
        self.tree.remove(self.path)
