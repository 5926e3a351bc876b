"""On-device verification of a firmware package, streamed from a file or the link into an
inactive slot. Fail closed, as MCUboot's image_validate.c: start from rejected, raise
UpdateRejected at the first failed check, one exit that accepts; nothing active changes.

Package (docs/UPDATE.md): header "OMUP" | u8 format 1 | u8 0 | u16 0 | u32 LE envelope
length; the signed manifest envelope; then for each manifest file, in manifest order, a
record u16 LE path length | path | u32 LE size | data; then the end of the stream.
Files pass through one preallocated chunk buffer, hashed as they are written. The
envelope is never held whole: its signatures are checked over the body streamed from the
package (authenticate before parsing), then the body is parsed from the stream, so no
allocation grows with the manifest (a board's heap has no 7 KB block late in its life).
"""
import hashlib
import struct

from civiltime import iso_utc
from compat import const
from crypto.ct import equal
from update import manifest as manifest_mod
from update.errors import UpdateRejected
from update.manifest import Manifest, check_path
from update.signed import read_into
from update.firmware_slots import clear
from update.layout import MANIFEST_NAME, slot_dir

MAGIC = b"OMUP"
FORMAT = 1
HEADER = "<4sBBHI"
HEADER_BYTES = const(12)
CHUNK_BYTES = const(1024)


def package_header(envelope_bytes):
    """The 12 bytes that open a package (the writer's side: tools/update_package.py)."""
    return struct.pack(HEADER, MAGIC, FORMAT, 0, 0, envelope_bytes)


def record_head(path, size):
    """What precedes each file's data in a package: its path and size."""
    return struct.pack("<H", len(path)) + path.encode() + struct.pack("<I", size)




class Verifier:
    """The checks of one meter: its policy, board, hardware id, security counter, clock
    reading, break-glass state and the bytes it has room for (None: only the format's
    limits). `buf`: the chunk buffer, preallocated once."""

    def __init__(self, policy, board, hardware_id, counter_floor, now_s, break_glass=False,
                 capacity_bytes=None, buf=None):
        self.policy = policy
        self.board = board
        self.hardware_id = hardware_id
        self.counter_floor = counter_floor
        self.now_s = now_s
        self.break_glass = break_glass
        self.capacity_bytes = capacity_bytes
        self.buf = buf if buf is not None else bytearray(CHUNK_BYTES)
        self.mv = memoryview(self.buf)

    def check_manifest(self, raw):
        """The Manifest of an envelope's bytes if this meter may install it: signatures,
        then form, then what the now-trusted fields say."""
        import io

        return self._read(io.BytesIO(raw), len(raw))

    def authenticate(self, message, signatures):
        """Raise UpdateRejected unless the policy's thresholds are met on message."""
        if self.policy is None:
            raise UpdateRejected("no-policy")
        self.policy.check_firmware(message, signatures, self.break_glass)

    def check(self, manifest):
        """The trusted fields of an authenticated manifest, against this meter."""
        if manifest.board != self.board or manifest.hardware_id != self.hardware_id:
            raise UpdateRejected("wrong-board", "package for %s/%s, meter is %s/%s" % (
                manifest.board, manifest.hardware_id, self.board, self.hardware_id))
        if self.now_s >= manifest.expires:
            raise UpdateRejected("expired", "expired %s, meter clock %s" % (
                iso_utc(manifest.expires), iso_utc(self.now_s)))
        if manifest.security_counter < self.counter_floor:
            raise UpdateRejected("rollback", "security counter %d, meter has %d" % (
                manifest.security_counter, self.counter_floor))
        if self.capacity_bytes is not None and manifest.total_bytes > self.capacity_bytes:
            raise UpdateRejected("too-large", "%d bytes, room for %d" % (
                manifest.total_bytes, self.capacity_bytes))
        return manifest

    def read_manifest(self, stream):
        """Header and envelope from the start of a package stream, checked."""
        head = self.mv[:HEADER_BYTES]
        if read_into(stream, head) != HEADER_BYTES:
            raise UpdateRejected("malformed", "shorter than a package header")
        magic, fmt, flags, reserved, length = struct.unpack(HEADER, head)
        if magic != MAGIC or fmt != FORMAT or flags or reserved:
            raise UpdateRejected("malformed", "not a format %d update package" % FORMAT)
        return self._read(stream, length)

    def _read(self, stream, length):
        if length > manifest_mod.MAX_BYTES:
            raise UpdateRejected("too-large", "manifest of %d bytes" % length)
        start = stream.tell()
        signatures, message = manifest_mod.read_signatures(stream, start, length, self.buf)
        self.authenticate(message, signatures)
        manifest = Manifest.read(stream, start, length, signatures, message, self.buf)
        stream.seek(start + length)  # the file records follow the envelope
        return self.check(manifest)

    def install(self, stream, tree, slot):
        """Check the package in `stream` and stage it into `slot` (which must not be
        active); return its Manifest. On any rejection the slot is left empty."""
        accepted = None
        manifest = self.read_manifest(stream)
        top = slot_dir(slot)
        clear(tree, slot)
        try:
            tree.makedirs(top)
            for index in range(len(manifest.files)):
                path, size, digest = manifest.files[index]
                self._record(stream, manifest, index)
                self._stage(stream, tree, top + "/" + path, size, digest)
            if read_into(stream, self.mv[:1]):
                raise UpdateRejected("extra-file", "data after the last file")
            with tree.create(top + "/" + MANIFEST_NAME) as out:
                manifest.write_envelope(out)
            accepted = manifest
        finally:
            if accepted is None:
                _clear_quietly(tree, slot)
        return accepted

    def _record(self, stream, manifest, index):
        """Read a file record's head; it must be the manifest's file number `index`."""
        path, size, _ = manifest.files[index]
        mv = self.mv
        got = read_into(stream, mv[:2])
        if got == 0:
            raise UpdateRejected("missing-file", path)
        if got != 2:
            raise UpdateRejected("malformed", "file record cut short")
        (path_len,) = struct.unpack("<H", mv[:2])
        if not 0 < path_len <= manifest_mod.MAX_PATH:
            raise UpdateRejected("malformed", "file record path of %d bytes" % path_len)
        if read_into(stream, mv[:path_len]) != path_len:
            raise UpdateRejected("malformed", "file record cut short")
        try:
            found = bytes(mv[:path_len]).decode()
        except ValueError:
            raise UpdateRejected("bad-path", "not text")
        if found != path:
            for listed, _, _ in manifest.files:
                if listed == found:  # the expected file was skipped (or reordered)
                    raise UpdateRejected("missing-file", path)
            check_path(found)
            raise UpdateRejected("extra-file", found)
        if read_into(stream, mv[:4]) != 4:
            raise UpdateRejected("size-mismatch", "%s: cut short" % path)
        (found_size,) = struct.unpack("<I", mv[:4])
        if found_size > size:  # endless data: never read more than the manifest says
            raise UpdateRejected("too-large", "%s: %d bytes, manifest %d" % (
                path, found_size, size))
        if found_size < size:
            raise UpdateRejected("size-mismatch", "%s: %d bytes, manifest %d" % (
                path, found_size, size))

    def _stage(self, stream, tree, path, size, digest):
        folder = path.rsplit("/", 1)[0]
        tree.makedirs(folder)
        mv = self.mv
        chunk = len(mv)
        h = hashlib.sha256()
        remaining = size
        with tree.create(path) as out:
            while remaining:
                n = stream.readinto(mv[:remaining if remaining < chunk else chunk])
                if not n:
                    break
                h.update(mv[:n])
                out.write(mv[:n])
                remaining -= n
        if remaining:
            raise UpdateRejected("size-mismatch", "%s: truncated, %d of %d bytes" % (
                path, size - remaining, size))
        if not equal(h.digest(), digest):
            raise UpdateRejected("hash-mismatch", path)


def _clear_quietly(tree, slot):
    try:
        clear(tree, slot)
    except OSError:  # the rejection matters more; the next staging clears the slot again
        pass
