"""The operator link in force: its settings record (broker, schedule, the broker's CA;
comms/link_settings.py has the format) and the Wi-Fi it leaves by. Loaded at boot and
replaced as a whole, atomically: the one home of both records. Who may replace them is
the caller's decision (commissioning, a signed set-operator-link command, the technician
for the Wi-Fi), never this module's.
"""
from binascii import unhexlify

import settings

RECORD = "operator-link"
WIFI = "wifi"
DEFAULT_INTERVAL_S = 86400


class OperatorLink:
    def __init__(self, store, uplink, connector_for, network, clock, lock):
        """connector_for(host, port, ca_der, network): the board's MQTT connector;
        network: the board's network (None where the board has none)."""
        self.store = store
        self.uplink = uplink
        self.connector_for = connector_for
        self.network = network
        self.clock = clock
        self.lock = lock
        if network is not None:
            network.credentials = settings.load(store, WIFI) or None
        self.settings = {}
        self.apply(settings.load(store, RECORD))

    def apply(self, link):
        """Use these settings from now on (the uplink's next round)."""
        self.settings = link or {}
        connector = None
        broker = self.settings.get("broker")
        if broker:
            host, port = broker.rsplit(":", 1)
            ca = self.settings.get("tls_ca")
            connector = self.connector_for(host, int(port),
                                           ca_der=unhexlify(ca) if ca else None,
                                           network=self.network)
        self.uplink.connector = connector
        self.uplink.set_interval(self.settings.get("interval_s", DEFAULT_INTERVAL_S),
                                 self.clock.time())

    def replace(self, link):
        """Store the settings (atomic replace) and use them; the caller holds the lock."""
        settings.replace(self.store, RECORD, link)
        self.apply(link)

    def set_wifi(self, ssid, password):
        """The network the operator link leaves by (the technician, at the meter: the
        home's or the operator's Wi-Fi). Stored atomically; used from the next session."""
        if self.network is None:
            raise ValueError("this board has no Wi-Fi")
        if type(ssid) is not str or not 1 <= len(ssid) <= 32 or type(password) is not str \
                or len(password) > 64:
            raise ValueError("ssid must be 1..32 characters, password at most 64")
        credentials = {"ssid": ssid, "password": password}
        with self.lock:
            settings.replace(self.store, WIFI, credentials)
        self.network.credentials = credentials
