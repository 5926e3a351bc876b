"""The consumer's say over the operator link: the switch (the legal opt-out Dutch consumers
have) and the consent to readings more often than once a day.

The operator reads a meter at most once a day (the Dutch rules for remotely read meters,
BOAUM, as restated in 2026): quarter-hour readings leave the meter once a day unless the
consumer consents here to more; events may go at every session. The meter enforces it
(comms.uplink), whatever interval a signed command sets.

No operator token is needed for either: they are the consumer's rights, exercised at the
meter, audit-logged, revocable. They survive reboots and updates (kept in data/, which
updates never touch). Metering and P1 do not look at them.
"""
from storage.slots import SlotStore


class OperatorLinkSwitch:
    def __init__(self, store):
        self._slots = SlotStore(store, "link")
        saved = self._slots.load()
        self.on = saved != b"off"  # default on; an operator without keys sends nothing
        self._consent = SlotStore(store, "consent")
        # default: readings once a day; only the consumer's own "frequent" allows more
        self.frequent_readings = self._consent.load() == b"frequent"

    def set(self, on):
        on = bool(on)
        if on == self.on:
            return False
        self._slots.save(b"on" if on else b"off")
        self.on = on
        return True

    def consent(self, frequent):
        """The consumer consents (True) to readings at every session, or withdraws it
        (False: once a day). Returns True if it changed."""
        frequent = bool(frequent)
        if frequent == self.frequent_readings:
            return False
        self._consent.save(b"frequent" if frequent else b"daily")
        self.frequent_readings = frequent
        return True
