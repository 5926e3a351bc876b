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


class _Choice:
    """One of two values kept in a two-slot record: (value when unset, value when set)."""

    def __init__(self, store, name, unset, choice):
        self._slots = SlotStore(store, name)
        self._words = (unset, choice)
        self.chosen = self._slots.load() == choice

    def set(self, chosen):
        """True if it changed (then it is on flash before it counts)."""
        chosen = bool(chosen)
        if chosen == self.chosen:
            return False
        self._slots.save(self._words[chosen])
        self.chosen = chosen
        return True


class OperatorLinkSwitch:
    def __init__(self, store):
        self._off = _Choice(store, "link", b"on", b"off")  # default on; no keys, nothing sent
        # default: readings once a day; only the consumer's own "frequent" allows more
        self._frequent = _Choice(store, "consent", b"daily", b"frequent")

    @property
    def on(self):
        return not self._off.chosen

    @property
    def frequent_readings(self):
        return self._frequent.chosen

    def set(self, on):
        return self._off.set(not on)

    def consent(self, frequent):
        """The consumer consents (True) to readings at every session, or withdraws it
        (False: once a day). Returns True if it changed."""
        return self._frequent.set(frequent)
