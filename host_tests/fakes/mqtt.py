"""An in-memory MQTT broker and a client with umqtt.simple's method names, for tests
that must not need a network. The real broker (mosquitto) is in the host e2e test."""


class FakeBroker:
    def __init__(self):
        self.up = []  # (topic, payload) published by meters
        self.subscribers = {}  # topic -> client
        self.online = True
        self.on_publish = None  # the "head-end": fn(topic, payload) -> [(topic, payload)]

    def client(self, client_id):
        if not self.online:
            raise OSError(111, "ECONNREFUSED")
        return FakeClient(self, client_id)


class FakeClient:
    def __init__(self, broker, client_id):
        self.broker = broker
        self.client_id = client_id
        self.cb = None
        self.inbox = []
        self.connected = True

    def set_callback(self, f):
        self.cb = f

    def subscribe(self, topic, qos=0):
        self.broker.subscribers[topic] = self

    def publish(self, topic, msg, retain=False, qos=0):
        if not self.broker.online:
            raise OSError(104, "ECONNRESET")
        self.broker.up.append((topic, bytes(msg)))
        if self.broker.on_publish:
            for out_topic, out_msg in self.broker.on_publish(topic, bytes(msg)):
                target = self.broker.subscribers.get(out_topic)
                if target is not None:
                    target.inbox.append((out_topic, out_msg))

    def check_msg(self):
        if not self.broker.online:
            raise OSError(104, "ECONNRESET")
        if self.inbox:
            topic, msg = self.inbox.pop(0)
            self.cb(topic, msg)

    def disconnect(self):
        self.connected = False
