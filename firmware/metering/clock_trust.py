"""Whether the clock a board restarts with after a reset is the true time.

A board without a battery-backed RTC starts each boot with its clock not set; the
operator's authenticated time sets it (comms.uplink), and until then the quarter-hours
say their times are estimated. After a power cut that is all there is. But most boots
follow a reset (a firmware update, a watchdog, a crash), and there the time is known:
- the ESP32's RTC timer keeps counting through every reset but power-on (ESP-IDF's
  System Time guide), so its time() is still the true time (clock.kept_across_reset);
- the rp2 port restarts time at 2021-01-01 on every boot (ports/rp2/main.c), so the
  clock is set to the last window's time, which the retained words carry: behind by
  the reset, at most the watchdog's timeout and the boot (seconds), until the
  operator's next time corrects it in a bounded step.

Either way only if the clock was set when the meter stopped. That is what this record
says: the first state save made on a set clock in the current run of set clocks,
written just before that save, and withdrawn before the first save made on a clock not
set, so saves after it never count as set. A reset is told from a power cut by the
retained words continuing the last save (metering.retained); the record is read only
then.

Record: `<BBI` version 1, set (0 or 1), the save number from which the clock was set.
Written once per boot at most: when the clock is first set, or withdrawn.
"""
import struct

from compat import const
from storage.slots import SlotStore

_RECORD = "<BBI"
_VERSION = const(1)
MAX_RESET_S = const(3600)  # an RTC further ahead of the last window than this is not kept


class ClockTrust:
    def __init__(self, store):
        self._slots = SlotStore(store, "clockset")
        self._from = self._load()

    def _load(self):
        saved = self._slots.load()
        try:
            version, is_set, first = struct.unpack(_RECORD, saved)
        except (TypeError, ValueError):  # none, or cut short: the clock is not vouched for
            return None
        return first if version == _VERSION and is_set == 1 else None

    def was_set(self, seq):
        """True if the state save number `seq` was made on a set clock."""
        return self._from is not None and seq >= self._from

    def before_save(self, clock_set, seq):
        """Called before state save number `seq`: vouches for it if the clock is set, or
        withdraws the record if it is not. Writes only when that changes (once a boot at
        most); an OSError here fails the save, so no save lands with a wrong record."""
        if clock_set and self._from is None:
            self._slots.save(struct.pack(_RECORD, _VERSION, 1, seq))
            self._from = seq
        elif not clock_set and self._from is not None:
            self._slots.save(struct.pack(_RECORD, _VERSION, 0, 0))
            self._from = None


def carry(clock, trust, state, seq):
    """At boot, with the clock not set: set it if the stop before this boot was a reset
    (state["reset"]: the retained words continued save `seq`) on a set clock. Returns
    "kept" (the board's RTC ran on), "estimated" (set to the last window's time) or None
    (not carried: the trust is withdrawn). state["stopped_s"] is the last window's time."""
    stopped_s = state["stopped_s"]
    if not (state["reset"] and trust.was_set(seq)):
        return None  # the boot's first save withdraws the record
    clock.trusted = True
    ahead_s = clock.time() - stopped_s
    if getattr(clock, "kept_across_reset", False) and 0 <= ahead_s <= MAX_RESET_S:
        return "kept"
    clock.adjust(-ahead_s)
    return "estimated"
