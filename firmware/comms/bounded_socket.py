"""A connected MQTT client's socket whose reads are bounded.

umqtt.simple (micropython-lib) reads a message's topic and payload whole, each at the
size the broker announces: a broker, or anyone allowed to publish on the meter's topics,
could make it ask for up to 256 MB at once, which the heap cannot give (MemoryError in
the uplink thread) and which no message for the meter needs. Through this wrapper:
- a read over `limit` (the largest message the meter takes) is drained from the
  socket in small pieces and comes back empty: umqtt goes on (it acknowledges the
  message), the meter's handlers refuse an empty topic or payload as they refuse any
  malformed one (a command as a refused token, audited), and a retained message cannot
  block every later session;
- a read over DRAIN_MAX is not worth draining: an OSError, so the uplink ends the
  session and backs off as for any link failure, and the connection drops it;
- the remaining-length field, which umqtt reads a byte at a time with no end, is held
  to MQTT's four bytes: a fifth byte with its continuation bit set is an OSError.
"""
from comms import fwlink

# the largest message the meter takes: a firmware chunk and its head (comms.fwlink);
# an acknowledgement, a command token (2 KiB) and a topic are all smaller
MAX_READ = fwlink.MAX_MESSAGE
DRAIN_MAX = 65536
_PIECE = 256
# single bytes in a row with 0x80 set: a PUBLISH length has at most three before its last
# byte (MQTT's four bytes), and no legitimate run of one-byte reads has more (a one-byte
# topic and payload with the bit set, then a PINGRESP's 0xd0: three)
_MAX_LENGTH_RUN = 3


class BoundedSocket:
    def __init__(self, sock, limit=MAX_READ):
        self._sock = sock
        self.limit = limit
        self.dropped = 0  # reads over the limit, drained and handed on empty
        self._run = 0  # single bytes in a row with the continuation bit (0x80) set

    def read(self, n):
        if n == 1:
            data = self._sock.read(1)
            if data and data[0] & 0x80:
                self._run += 1
                if self._run > _MAX_LENGTH_RUN:
                    raise OSError("mqtt: a remaining length of more than four bytes")
            else:
                self._run = 0
            return data
        self._run = 0
        if 0 <= n <= self.limit:
            return self._sock.read(n)
        if not 0 <= n <= DRAIN_MAX:  # negative: a length umqtt computed from a bad header
            raise OSError("mqtt: a read of %d bytes, over the %d the meter drains" % (
                n, DRAIN_MAX))
        left = n
        while left:
            piece = self._sock.read(min(left, _PIECE))
            if not piece:
                raise OSError("mqtt: the connection ended in a message being dropped")
            left -= len(piece)
        self.dropped += 1
        return b""

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
