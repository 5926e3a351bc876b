"""The consumer's switch for the operator link (the legal opt-out Dutch consumers have).

No operator token is needed: it is the consumer's right, exercised at the meter. It
survives reboots and updates (kept in data/, which updates never touch). Metering and
P1 do not look at it.
"""
from storage.slots import SlotStore


class OperatorLinkSwitch:
    def __init__(self, store):
        self._slots = SlotStore(store, "link")
        saved = self._slots.load()
        self.on = saved != b"off"  # default on; an operator without keys sends nothing

    def set(self, on):
        on = bool(on)
        if on == self.on:
            return False
        self._slots.save(b"on" if on else b"off")
        self.on = on
        return True
