"""Firmware over the operator link: the uplink session carries a package in chunks,
resumes where it broke off (another session, or after a reboot), and hands it to the
same update gate as the service shell, so a tampered or vendor-only package arriving
this way is refused and changes nothing active."""
import struct

from comms.fwlink import FirmwareDownload
from control.audit import AuditLog
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from fakes.tree import FakeTree
from fixtures.update import kit
from update import firmware_slots
from update.apply import Receiver, Updater
from update.errors import UpdateRejected

from host_tests.firmware import uplink_kit

CHUNK = 1000


class ChunkServer:
    """The head-end's firmware side: answers each fw/offset with the next chunk, until
    `budget` chunks have gone (then it falls silent, as a dropped session)."""

    def __init__(self, package, budget=10 ** 6):
        self.package = package
        self.budget = budget
        self.results = []  # verdicts the head-end authenticated
        self.plaintext = []  # anything published on a fw/ topic other than fw/offset
        self.offsets = []

    def __call__(self, topic, msg):
        if not topic.endswith(b"/fw/offset"):
            self.plaintext.append((topic, bytes(msg)))
            return []
        if not topic.endswith(b"/fw/offset") or self.package is None or not self.budget:
            return []
        (offset,) = struct.unpack("<I", msg)
        self.offsets.append(offset)
        if offset > len(self.package):
            offset = 0
        self.budget -= 1
        data = self.package[offset:offset + CHUNK]
        head = struct.pack("<II", offset, len(self.package))
        return [(topic.replace(b"/fw/offset", b"/fw/chunk"), head + data)]

    def retire(self, verdict):
        """The meter's verdict, from an uplink message the head-end authenticated."""
        self.results.append(verdict)
        self.package = None  # retired, whatever the outcome


def _meter(flash=None, tree=None):
    flash, clock, broker, head, intervals, audit, uplink = uplink_kit.uplink_rig()
    tree = FakeTree(flash)
    updater = Updater(flash, tree, "sim", "sim-v1", FakeClock(utc_s=kit.NOW_S),
                      AuditLog(flash))
    updater.install_policy(kit.policy())

    def install(path):
        try:
            return "accepted %s" % updater.install_file(path)["version"]
        except UpdateRejected as exc:
            return "rejected %s" % exc.reason

    uplink.firmware = FirmwareDownload(lambda: Receiver(tree), install, idle_ms=50)
    return flash, clock, broker, head, intervals, uplink, updater, tree


def _serve(broker, head, server):
    def route(topic, msg):
        if b"/fw/" in topic:
            return server(topic, msg)
        return head(topic, msg)

    head.on_fw_result = server.retire
    broker.on_publish = route


def test_package_arrives_in_chunks_and_is_staged_on_trial():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = kit.package(version="2.0.0", counter=2)
    server = ChunkServer(package)
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 2)
    uplink.send_now()
    assert server.results == ["accepted 2.0.0"]
    assert server.offsets[0] == 0 and len(server.offsets) >= len(package) // CHUNK
    state = firmware_slots.UpdateState(flash)
    assert (state.active, state.trial, state.fields["active_version"]) == ("a", True, "2.0.0")
    assert tree.size("update.part") is None  # nothing left behind


def test_transfer_resumes_in_the_next_session_where_it_broke_off():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = kit.package(version="2.0.0", counter=2)
    server = ChunkServer(package, budget=2)
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert tree.size("update.part") == 2 * CHUNK and not server.results
    server.budget = 10 ** 6
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.offsets.count(2 * CHUNK) >= 1 and 0 not in server.offsets[3:]
    assert server.results == ["accepted 2.0.0"]


def test_transfer_resumes_after_a_reboot():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = kit.package(version="2.0.0", counter=2)
    server = ChunkServer(package, budget=3)
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    # a new FirmwareDownload, as after a reboot: the part file is all that is left
    uplink.firmware = FirmwareDownload(lambda: Receiver(tree), uplink.firmware.install,
                                       idle_ms=50)
    server.budget = 10 ** 6
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == ["accepted 2.0.0"]


def test_tampered_or_vendor_only_package_over_the_link_changes_nothing():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = bytearray(kit.package(version="2.0.0", counter=2))
    package[-5] ^= 0x01
    server = ChunkServer(bytes(package))
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == ["rejected hash-mismatch"]
    server.package = kit.package(signers=("vendor",), version="2.0.1", counter=2)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results[-1] == "rejected vendor-only"
    state = firmware_slots.UpdateState(flash)
    assert (state.active, state.trial) == ("", False)
    assert tree.size("update.part") is None


def test_chunks_for_another_transfer_or_offset_are_ignored():
    tree = FakeTree(FakeFlash())
    done = []
    fw = FirmwareDownload(lambda: Receiver(tree), lambda path: done.append(path) or "ok")
    fw.on_chunk(struct.pack("<II", 0, 10) + b"abcde")
    fw.on_chunk(struct.pack("<II", 3, 10) + b"zzz")  # not where the meter is
    fw.on_chunk(struct.pack("<II", 5, 99) + b"fghij")  # another total
    fw.on_chunk(b"\x00\x00")  # shorter than a chunk header
    assert tree.size("update.part") == 5 and not done
    fw.on_chunk(struct.pack("<II", 5, 10) + b"fghij")
    assert done == ["update.part"]


def test_a_meter_holding_the_whole_package_installs_it_on_the_empty_last_chunk():
    """Power was cut while the complete package was being verified: next session the
    head-end's empty chunk at the end makes the meter check it again."""
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = kit.package(version="2.0.0", counter=2)
    tree.append("update.part", package)  # all of it arrived; nothing was installed
    server = ChunkServer(package)
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.offsets == [len(package)] and server.results == ["accepted 2.0.0"]


def test_leftovers_of_a_bigger_package_are_dropped_and_the_new_one_arrives():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    package = kit.package(version="2.0.0", counter=2)
    tree.append("update.part", b"x" * (len(package) + 500))
    server = ChunkServer(package)
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == ["accepted 2.0.0"]


def test_no_package_is_taken_while_a_firmware_is_on_trial_and_restart_waits_for_the_session():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    on_trial = [True]
    restarts = []
    fw = uplink.firmware
    fw.ready = lambda: not on_trial[0]
    fw.after_accept = lambda: restarts.append(len(server.results))
    server = ChunkServer(kit.package(version="2.0.0", counter=2))
    _serve(broker, head, server)
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.offsets == [] and tree.size("update.part") is None
    on_trial[0] = False
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert restarts == [1]  # after the result went out, once
    assert server.plaintext == []  # the verdict went sealed, nothing in clear on fw/


def test_a_forged_verdict_on_the_link_retires_nothing():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    server = ChunkServer(kit.package(version="2.0.0", counter=2))
    _serve(broker, head, server)
    # someone on the broker publishes "accepted" for this meter, in clear and as a sealed
    # message under keys that are not the meter's: the head-end hears of no verdict
    from comms import dlms, payload

    forged = dlms.seal(uplink_kit.TITLE, 10 ** 6, bytes(16), bytes(16),
                       payload.message([payload.fw_result("accepted 2.0.0")]))
    try:
        head(b"meters/" + uplink_kit.TITLE.hex().encode() + b"/up", forged)
    except Exception:  # noqa: BLE001 - the fake head-end cannot unseal it: refused
        pass
    server(b"meters/x/fw/result", b"accepted 2.0.0")
    assert server.results == [] and server.package is not None


def test_break_glass_switched_on_reaches_a_gate_already_built():
    flash = FakeFlash()
    tree = FakeTree(flash)
    glass = [False]
    updater = Updater(flash, tree, "sim", "sim-v1", FakeClock(utc_s=kit.NOW_S),
                      AuditLog(flash), break_glass=lambda: glass[0])
    updater.install_policy(kit.policy())
    glass[0] = True  # a break-glass-on token was applied after the gate was built
    try:
        updater.install(kit.stream(kit.package(version="2.0.0", counter=2)))
        raise AssertionError("a release-only package was accepted in break-glass")
    except UpdateRejected as exc:
        assert exc.reason == "not-allowed-in-break-glass"
    assert firmware_slots.UpdateState(flash).active == ""


def test_an_unacknowledged_verdict_waits_for_the_next_session_and_the_restart_with_it():
    flash, clock, broker, head, intervals, uplink, updater, tree = _meter()
    restarts = []
    uplink.firmware.after_accept = lambda: restarts.append(1)
    server = ChunkServer(kit.package(version="2.0.0", counter=2))
    _serve(broker, head, server)

    def lose_the_ack(verdict):
        head.drop_acks = 1  # the head-end got it, but its acknowledgement is lost

    head.on_fw_result = lose_the_ack
    uplink_kit.close_quarters(intervals, clock, 1)
    try:
        uplink.send_now()
    except Exception:  # noqa: BLE001 - the verdict's ack never came: the session fails
        pass
    assert restarts == [] and uplink.firmware.result() == "accepted 2.0.0"
    head.on_fw_result = server.retire
    uplink_kit.close_quarters(intervals, clock, 1)
    uplink.send_now()
    assert server.results == ["accepted 2.0.0"] and restarts == [1]
    assert uplink.firmware.result() is None
