"""Whether the clock a board restarts with after a reset is the true time.

A board without a battery-backed RTC starts each boot with its clock not set; the
operator's authenticated time sets it (comms.uplink), and until then the quarter-hours
say their times are estimated. After a power cut that is all there is. But most boots
follow a reset (a firmware update, a watchdog, a crash), and there the time is known if
the clock was set when metering stopped, which the retained words say (their check is
made from another constant on a set clock: metering.retained). They are written every
window and cleared by the power cut that clears the board's time, so nothing on flash
vouches for the time, and no older firmware's words ever do. Then:
- the ESP32's RTC timer keeps counting through every reset but power-on (ESP-IDF's
  System Time guide), so its time() is still the true time (clock.kept_across_reset),
  if it is no earlier than the last window and at most MAX_RESET_S past it;
- the rp2 port restarts time at 2021-01-01 on every boot (ports/rp2/main.c): the clock
  is set to the last window's time, which the retained words carry, behind by the reset
  (at most the watchdog's timeout and the boot: seconds). It counts as set, but as an
  estimate (clock.estimated): the operator's next time is taken whatever the step, as a
  first setting (comms.uplink), never earlier than the meter's last save.
"""
from compat import const

MAX_RESET_S = const(3600)  # an RTC further past the last window is not taken as kept


def carry(clock, state):
    """At boot, with the clock not set: set it if the stop before this boot was a reset
    on a set clock (state["reset"], state["clock_set"]: the retained words). Returns
    "kept" (the board's RTC ran on), "estimated" (set to the last window's time,
    state["stopped_s"]) or None (not carried)."""
    if not (state["reset"] and state["clock_set"]):
        return None
    ahead_s = clock.time() - state["stopped_s"]
    if getattr(clock, "kept_across_reset", False):
        if not 0 <= ahead_s <= MAX_RESET_S:
            return None  # an RTC that went back or ran far on: not the time that ran on
        clock.trusted = True
        return "kept"
    clock.adjust(-ahead_s)
    clock.trusted = True
    clock.estimated = True
    return "estimated"
