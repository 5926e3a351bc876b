"""The DLMS invocation counter: strictly increasing across reboots and power cuts, so an
AES-GCM IV (system title || counter) is never used twice under a key.

Counters are handed out from a block reserved on flash *before* any of it is used; after
a reboot the unused rest of the block is skipped. A cut can waste counter values, never
repeat one.
"""
import struct

from storage.slots import SlotStore

MAX_COUNTER = 0xFFFFFFFF  # 4 bytes in the APDU; at the end the key must be replaced


class CounterExhausted(Exception):
    """No invocation counter left under this key: a new key is needed."""


class InvocationCounter:
    def __init__(self, store, name="ic", block=64):
        self._slots = SlotStore(store, name)
        self._block = block
        saved = self._slots.load()
        # everything below the reserved limit may have been used before the reboot
        self._next = struct.unpack("<Q", saved)[0] if saved else 1
        self._limit = self._next

    def next(self):
        """A counter value never returned before (persisted before it is returned)."""
        if self._next > MAX_COUNTER:
            raise CounterExhausted("invocation counter exhausted: replace the keys")
        if self._next >= self._limit:
            limit = min(self._next + self._block, MAX_COUNTER + 1)
            self._slots.save(struct.pack("<Q", limit))  # reserve first, then use
            self._limit = limit
        value = self._next
        self._next += 1
        return value

    def reset_for_new_key(self, start=1):
        """Only when the keys change (operator command): a new key may start over."""
        self._slots.save(struct.pack("<Q", start))
        self._next = self._limit = start

    @property
    def peek(self):
        return self._next
