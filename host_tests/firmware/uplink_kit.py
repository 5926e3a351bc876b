"""The uplink on fakes, for the firmware tests of the uplink, firmware over the link and the
clock at boot: the keys, a minimal head-end built from the DLMS codec, and the rig."""
from comms import dlms, payload
from comms.invocation import InvocationCounter
from comms.keys import OperatorKeys
from comms.switch import OperatorLinkSwitch
from comms.uplink import Uplink, HEADEND_SYSTEM_TITLE
from control.audit import AuditLog
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from fakes.mqtt import FakeBroker
from metering import intervals as iv

KEK = bytes(range(16))
EK = bytes(range(16, 32))
AK = bytes(range(32, 48))
TITLE = b"OSM\x00\x00\x00\x00\x01"


class HeadEnd:
    """A minimal head-end from the DLMS codec: unseals, keeps readings and events, acks."""

    def __init__(self, clock):
        self.readings = {}
        self.events = {}
        self.last_ic = 0
        self.ic = 0
        self.clock = clock
        self.drop_acks = 0
        self.replays = 0
        self.on_fw_result = None  # fn(text): an authenticated firmware verdict arrived

    def __call__(self, topic, apdu):
        title, ic, plain = dlms.unseal(apdu, EK, AK)
        if ic <= self.last_ic:
            self.replays += 1
            return []
        self.last_ic = ic
        for item in payload.decode(plain):
            if item["type"] == "reading":
                self.readings.setdefault(item["seq"], item)
            elif item["type"] == "event":
                self.events.setdefault(item["seq"], item)
            elif item["type"] == "fw_result" and self.on_fw_result is not None:
                self.on_fw_result(item["text"])
        if self.drop_acks:
            self.drop_acks -= 1
            return []
        self.ic += 1
        ack = dlms.seal(HEADEND_SYSTEM_TITLE, self.ic, EK, AK, payload.ack(ic, self.clock.time()))
        return [(topic.replace(b"/up", b"/down"), ack)]


def uplink_rig(with_keys=True):
    """An uplink on fakes (flash, clock, in-memory broker) with HeadEnd answering: returns
    (flash, clock, broker, head, intervals, audit, uplink)."""
    flash = FakeFlash()
    clock = FakeClock()
    broker = FakeBroker()
    head = HeadEnd(clock)
    broker.on_publish = head
    keys = OperatorKeys(flash)
    if with_keys:
        keys.commission(KEK, EK, AK)
    intervals = iv.IntervalRegister(flash, clock.time())
    audit = AuditLog(flash)
    switch = OperatorLinkSwitch(flash)
    switch.consent(True)  # readings at every session: these tests are about the link
    up = Uplink(flash, keys, InvocationCounter(flash), TITLE, intervals, audit, switch, clock,
                broker.client, interval_s=3600)
    return flash, clock, broker, head, intervals, audit, up


def close_quarters(intervals, clock, n, start_wh=0):
    """n quarter-hours pass and close, import rising 10 Wh each from start_wh."""
    for k in range(n):
        clock.advance_s(iv.QUARTER_S)
        intervals.close(clock.time(), [start_wh + 10 * k, 0, 0, 0])
