"""The MQTT link's reads are bounded: umqtt.simple reads a message's topic and payload at
the size the broker announces, so a huge announced size would take that much heap. Read
through comms.bounded_socket, such a message is refused with an OSError before anything
is allocated, and a message the meter does take passes unchanged."""
from mptest import micropython_only, raises


class WireSocket:
    """What the broker sent, read back in the pieces umqtt asks for."""

    def __init__(self, data):
        self.data = bytes(data)
        self.at = 0
        self.written = b""

    def read(self, n):
        piece = self.data[self.at:self.at + n]
        self.at += len(piece)
        return piece

    def write(self, data):
        self.written += bytes(data)
        return len(data)

    def setblocking(self, flag):
        pass


def _publish(topic, announced_payload, payload=b""):
    """A QoS 0 PUBLISH whose remaining length announces `announced_payload` bytes."""
    remaining = 2 + len(topic) + announced_payload
    length = bytearray()
    while True:
        byte = remaining & 0x7F
        remaining >>= 7
        length.append(byte | (0x80 if remaining else 0))
        if not remaining:
            break
    return b"\x30" + bytes(length) + bytes([len(topic) >> 8, len(topic) & 0xFF]) + topic + payload


def _umqtt_client(wire):
    """micropython-lib's umqtt.simple client reading `wire` through the bound, and the
    (topic, payload) pairs it hands the meter."""
    import sys

    from comms.bounded_socket import BoundedSocket
    from host_tests.firmware import board_rig

    sys.path.append(board_rig.ROOT + "/.venv/mplib/lib")  # umqtt.simple, as on the board
    from umqtt.simple import MQTTClient

    got = []
    client = MQTTClient("meter", "127.0.0.1")
    client.set_callback(lambda topic, msg: got.append((bytes(topic), bytes(msg))))
    client.sock = BoundedSocket(wire)
    return client, got


@micropython_only("umqtt.simple is micropython-lib's: it imports usocket")
def test_an_announced_size_over_the_bound_is_never_allocated():
    from comms import fwlink
    from comms.bounded_socket import DRAIN_MAX, MAX_READ

    assert MAX_READ == fwlink.MAX_MESSAGE
    token = b"t" * 2048
    retained = b"r" * 5000  # over the bound: drained, handed on empty, the stream in step
    wire = WireSocket(_publish(b"meters/ab/cmd", len(token), token)
                      + _publish(b"meters/ab/cmd", len(retained), retained)
                      + _publish(b"meters/ab/down", 3, b"ack")
                      + _publish(b"meters/ab/cmd", 200 * 1024 * 1024))
    client, got = _umqtt_client(wire)
    client.wait_msg()  # a command token of 2 KiB: taken as it is
    client.wait_msg()
    client.wait_msg()
    assert got == [(b"meters/ab/cmd", token), (b"meters/ab/cmd", b""),
                   (b"meters/ab/down", b"ack")]
    assert client.sock.dropped == 1
    exc = raises(OSError, client.wait_msg)  # 200 MB announced: no MemoryError, an OSError
    assert "over the %d the meter drains" % DRAIN_MAX in str(exc.args[0]), exc.args
    assert len(got) == 3
    client.sock.write(b"\xe0\x00")  # anything else goes to the socket as it is
    assert wire.written.endswith(b"\xe0\x00")


@micropython_only("umqtt.simple is micropython-lib's: it imports usocket")
def test_a_remaining_length_longer_than_mqtts_four_bytes_is_refused():
    # umqtt reads the length a byte at a time with no end: 20,000 bytes of 0xFF once
    # made a number too large for the heap
    client, got = _umqtt_client(WireSocket(b"\x30" + b"\xff" * 20000 + b"\x01"))
    exc = raises(OSError, client.wait_msg)
    assert "more than four bytes" in str(exc.args[0]) and got == []
    five = WireSocket(b"\x30\x85\x80\x80\x80\x00")  # a fifth length byte: not MQTT
    client, got = _umqtt_client(five)
    assert "more than four bytes" in str(raises(OSError, client.wait_msg).args[0])
    # the longest run a legitimate exchange has: a one-byte topic and payload with the
    # bit set, then a PINGRESP (0xd0): three, then its length byte 0 ends it
    legit = WireSocket(_publish(b"\xc3", 1, b"\xff") + b"\xd0\x00" + _publish(b"t", 1, b"x"))
    client, got = _umqtt_client(legit)
    client.wait_msg()
    client.wait_msg()
    client.wait_msg()
    assert got == [(b"\xc3", b"\xff"), (b"t", b"x")]


def test_the_meter_wires_the_bound_into_its_operator_link():
    import main
    from comms.bounded_socket import BoundedSocket
    from mptest import temp_root

    class Client:
        def __init__(self):
            self.sock = WireSocket(b"")

    made = []

    def connector(server, port, keepalive=0, ca_der=None, network=None):
        def connect(client_id):
            made.append(Client())
            return made[-1]

        return connect

    from boards import sim

    real = sim.mqtt_connector
    sim.mqtt_connector = connector  # the board's connector, as main finds it
    try:
        app = main.build("sim", paced=False, storage_root=temp_root("bounded-link"),
                         p1_path=None)
    finally:
        sim.mqtt_connector = real
    app.link.apply({"broker": "127.0.0.1:1883", "interval_s": 900, "tls_ca": None})
    client = app.uplink.connector("meter-1")
    assert client is made[-1] and isinstance(client.sock, BoundedSocket)
