"""A connected MQTT client's socket whose reads are bounded.

umqtt.simple (micropython-lib) reads a message's topic and payload whole, each at the
size the broker announces: a broker, or anyone allowed to publish on the meter's topics,
could make it ask for up to 256 MB at once, which the heap cannot give (MemoryError in
the uplink thread) and which no message for the meter needs. Every read through this
wrapper is refused above `limit` bytes with an OSError before anything is allocated;
the uplink ends the session and backs off as for any link failure, and the connection,
with the message, is dropped (umqtt connects with a clean session, so a broker does not
deliver it again).
"""
from comms import fwlink

# the largest message the meter takes: a firmware chunk and its head (comms.fwlink);
# an acknowledgement, a command token (2 KiB) and a topic are all smaller
MAX_READ = fwlink.MAX_MESSAGE


class BoundedSocket:
    def __init__(self, sock, limit=MAX_READ):
        self._sock = sock
        self.limit = limit
        self.refused = 0  # reads refused (the status of the link shows the last error)

    def read(self, n):
        if not 0 <= n <= self.limit:  # negative: a length umqtt computed from a bad header
            self.refused += 1
            raise OSError("mqtt: a message of %d bytes, over the %d the meter takes" % (
                n, self.limit))
        return self._sock.read(n)

    def __getattr__(self, name):  # write, setblocking, close, setsockopt: as they are
        return getattr(self._sock, name)


def bounded(connector):
    """The board's MQTT connector (boards.common.mqtt_connector's signature), its clients'
    socket reads bounded: what main wires into the operator link."""

    def make(server, port, keepalive=0, ca_der=None, network=None):
        connect = connector(server, port, keepalive, ca_der, network)

        def connect_bounded(client_id):
            client = connect(client_id)
            sock = getattr(client, "sock", None)  # umqtt's; a test's in-memory client has none
            if sock is not None and not isinstance(sock, BoundedSocket):
                client.sock = BoundedSocket(sock)
            return client

        return connect_bounded

    return make
