"""Firmware packages over the operator link: chunked, resumable, and no more trusted than
a package copied in by a technician. The chunks carry no authority; the package is
verified whole by the update gate, the same as from the service shell.

Protocol, inside an uplink session (after the readings), topics under meters/<title>/:
  fw/offset  meter -> head-end  u32 LE: bytes of the package the meter holds, where the
                                head-end resumes; sent at the start and after each chunk
  fw/chunk   head-end -> meter  u32 LE offset | u32 LE total | data (at most 4 KiB)
The verdict ("accepted <version>" or "rejected <reason>") goes back sealed like every
uplink message, as a firmware-result item on meters/<title>/up (comms.payload), after
the chunks: a forged verdict cannot retire a package at the head-end. A chunk at any other offset than the meter's is ignored (the head-end resends from the
offset it is told); the part file survives sessions and reboots. When the meter holds
`total` bytes it hands the file to the update gate and starts over empty, whatever the
outcome. A board that installs at boot (boot_install) answers "staged" instead of
a verdict: the meter restarts after the session, the boot stage verifies, and the verdict
goes sealed in the first session after the restart (pending_verdict). A forged chunk can at worst spoil one transfer: the gate refuses the result.
"""
import struct

# The wire format, the one copy: the head-end (tools/headend_firmware.py) imports it.
# Topics under meters/<system title hex>/:
OFFSET_TOPIC = "fw/offset"
CHUNK_TOPIC = "fw/chunk"
MAX_CHUNK = 4096  # data bytes per chunk
_HEAD = 8
MAX_MESSAGE = _HEAD + MAX_CHUNK  # the largest message on the meter's topics


def pack_offset(offset):
    """A fw/offset payload."""
    return struct.pack("<I", offset)


def unpack_offset(msg):
    """The offset in a fw/offset payload, or None if it is not one."""
    return struct.unpack("<I", bytes(msg))[0] if len(msg) == 4 else None


def pack_chunk(offset, total, data):
    """A fw/chunk payload: bytes offset.. of a package of `total` bytes."""
    return struct.pack("<II", offset, total) + data


class FirmwareDownload:
    """receiver(): an update.receiver.Receiver (offset, write, reset, path), built on first
    use. install(path): verify and stage the package, return the result text (it starts
    with "accepted" when staged). ready(): False while a package may not be taken (a
    firmware on trial): no offset is offered. after_accept(): called by session_over()
    once the session that delivered an accepted package, and its sealed verdict, is over
    (the meter restarts into it)."""

    def __init__(self, receiver, install, idle_ms=3000, max_session_ms=600000, ready=None,
                 after_accept=None):
        self._make_receiver = receiver
        self._receiver = None
        self.install = install
        self.idle_ms = idle_ms
        self.max_session_ms = max_session_ms
        self.ready = ready
        self.after_accept = after_accept
        self._total = None  # the size announced for the transfer under way
        self._moves = 0  # chunks taken: the session publishes an offset per new one
        self._result = None
        self._accepted = False
        self._staged = False  # a package waits for the boot stage: end the session
        self._on_delivered = None

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
        held = rx.offset()
        if offset == 0 and held and (total != self._total or held >= total):
            rx.reset()  # a new transfer (another package, or leftovers): start over
            held = 0
            self._total = None
        if self._total is None and offset == held:
            self._total = total  # the transfer under way (resumed after a reboot too)
        if total != self._total or offset != held or offset + len(msg) - _HEAD > total:
            return  # a duplicate, or not the transfer under way: the offset says where
        try:
            end = rx.write(offset, memoryview(msg)[_HEAD:])
            self._moves += 1
            if end == total:
                self._finish(rx)
        except Exception as exc:  # noqa: BLE001 - flash full, out of memory: start over
            self._result = "rejected %s" % (getattr(exc, "reason", None) or repr(exc))
            self._moves += 1
            self._reset(rx)

    def _finish(self, rx):
        try:
            result = self.install(rx.path)
            if result == "staged":
                self._staged = self._accepted = True  # restart; the verdict comes after
            else:
                self._result = result
                self._accepted = self._accepted or result.startswith("accepted")
        finally:
            self._reset(rx)

    def _reset(self, rx):
        self._total = None
        try:
            rx.reset()
        except OSError:
            pass

    def session(self, client, topic, clock):
        """Offer the offset, then take chunks until the head-end falls silent."""
        if self.ready is not None and not self.ready():
            return
        offset_topic = (topic + "/" + OFFSET_TOPIC).encode()
        rx = self.receiver()
        client.publish(offset_topic, pack_offset(rx.offset()), False, 1)
        start = last = clock.ticks_ms()
        seen = self._moves
        while clock.ticks_diff(clock.ticks_ms(), last) < self.idle_ms:
            if clock.ticks_diff(clock.ticks_ms(), start) > self.max_session_ms:
                break
            if seen == self._moves:
                client.check_msg()
            if seen == self._moves:
                clock.sleep_ms(10)
                continue
            seen = self._moves  # chunks handled inside publish() count too
            last = clock.ticks_ms()
            if self._result is not None or self._staged:
                break  # a verdict: the uplink seals it and sends it now
            client.publish(offset_topic, pack_offset(rx.offset()), False, 1)

    def result(self):
        """The verdict on the package the last session completed, until delivered()."""
        return self._result

    def delivered(self):
        """The head-end acknowledged the sealed verdict."""
        self._result = None
        if self._on_delivered is not None:
            done, self._on_delivered = self._on_delivered, None
            done()

    def pending_verdict(self, verdict, on_delivered=None):
        """A verdict from before the restart (the boot stage's, on a board that installs
        at boot): sent in the next session; on_delivered() once the head-end has it."""
        self._result = verdict
        self._on_delivered = on_delivered

    def session_over(self):
        """The uplink session is over: an accepted package restarts the meter now, once
        its verdict reached the head-end (else the head-end would send it again, and it
        would be installed again); an undelivered verdict goes with the next session."""
        if self._accepted and self._result is None and self.after_accept is not None:
            self._accepted = self._staged = False
            self.after_accept()
