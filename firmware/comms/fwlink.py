"""Firmware packages over the operator link: chunked, resumable, and no more trusted than
a package copied in by a technician. The chunks carry no authority; the package is
verified whole by the update gate, the same as from the service shell.

Protocol, inside an uplink session (after the readings), topics under meters/<title>/:
  fw/offset  meter -> head-end  u32 LE: bytes of the package the meter holds, where the
                                head-end resumes; sent at the start and after each chunk
  fw/chunk   head-end -> meter  u32 LE offset | u32 LE total | data (at most 4 KiB)
  fw/result  meter -> head-end  text: "accepted <version>" or the rejection reason
A chunk at any other offset than the meter's is ignored (the head-end resends from the
offset it is told); the part file survives sessions and reboots. When the meter holds
`total` bytes it hands the file to the update gate and starts over empty, whatever the
outcome. A forged chunk can at worst spoil one transfer: the gate refuses the result.
"""
import struct

from update.errors import UpdateRejected

MAX_CHUNK = 4096
_HEAD = 8


class FirmwareDownload:
    """receiver(): an update.apply.Receiver (offset, write, reset, path), built on first
    use so a meter that never gets a package never imports the update gate.
    install(path): verify and stage the package; returns the result text."""

    def __init__(self, receiver, install, idle_ms=3000, max_session_ms=600000):
        self._make_receiver = receiver
        self._receiver = None
        self.install = install
        self.idle_ms = idle_ms
        self.max_session_ms = max_session_ms
        self._total = None  # the size the first chunk of this transfer announced
        self._changed = False
        self._result = None

    def receiver(self):
        if self._receiver is None:
            self._receiver = self._make_receiver()
        return self._receiver

    def on_chunk(self, msg):
        """A fw/chunk message (called from the MQTT callback)."""
        if len(msg) < _HEAD or len(msg) > _HEAD + MAX_CHUNK:
            return
        offset, total = struct.unpack("<II", msg[:_HEAD])
        rx = self.receiver()
        if self._total is None and offset == rx.offset():
            self._total = total  # the transfer under way (resumed after a reboot too)
        if total != self._total or offset + len(msg) - _HEAD > total:
            return  # not the transfer under way
        try:
            end = rx.write(offset, memoryview(msg)[_HEAD:])
        except UpdateRejected as exc:  # more than the receiver's limit
            rx.reset()
            self._total = None
            self._result = str(exc)
            self._changed = True
            return
        self._changed = True
        if end == total:
            self._result = self.install(rx.path)
            rx.reset()
            self._total = None

    def session(self, client, topic, clock):
        """Offer the offset, then take chunks until the head-end falls silent."""
        base = topic + "/fw/"
        rx = self.receiver()
        client.publish((base + "offset").encode(), struct.pack("<I", rx.offset()), False, 1)
        start = last = clock.ticks_ms()
        while clock.ticks_diff(clock.ticks_ms(), last) < self.idle_ms:
            if clock.ticks_diff(clock.ticks_ms(), start) > self.max_session_ms:
                break
            self._changed = False
            client.check_msg()
            if not self._changed:
                clock.sleep_ms(10)
                continue
            last = clock.ticks_ms()
            if self._result is not None:
                client.publish((base + "result").encode(), self._result.encode(), False, 1)
                self._result = None
            client.publish((base + "offset").encode(), struct.pack("<I", rx.offset()),
                           False, 1)
