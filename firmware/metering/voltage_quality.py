"""Voltage sags and swells judged per mains cycle, as EN 50160 and DSMR count them.

The kernel (metering.kernel and its viper build) sums the squared voltage of each mains
cycle twice: rising zero crossing to rising zero crossing, and falling to falling (from
the sample where the voltage first drops below -hysteresis, a few counts after the
falling crossing, to the next such sample), at no cost per sample (the sum it keeps for
the window anyway), and hands each one-cycle mean square to judge_cycle(), about 100 times
a second: EN 61000-4-30's one-cycle RMS refreshed every half cycle, Urms(1/2). So a sag of
100 ms (five cycles) is seen and timed to half a cycle, which one RMS value per second
missed. judge_cycle counts in half cycles (ST_PQ_MIN, ST_PQ_CYCLES, ST_END_CYCLES).

An event starts when a cycle's RMS falls below the sag threshold (or rises above the
swell threshold) and ends when it comes back past the threshold plus the hysteresis
(EN 61000-4-30: 2 % of the nominal voltage), so a voltage hovering at the threshold is
one event, not one per second. It counts once it has lasted `min_cycles`; shorter ones
are not events. A cycle longer than the cycle limit (the supply gone, no crossings) ends
an event under way: an interruption is a power failure, not a sag.

Everything lives in the kernel's state words (metering.kernel ST_*), integers only: no
allocation, and the window reads what happened once per window.
"""
from compat import const

# The kernel's state words from 15 on (metering.kernel ST_*; its ST_LEN covers them)
ST_CYC_N = const(15)  # pairs of the cycle under way (since the last rising crossing)
ST_CYC_SQ = const(16)  # their sum of squared centred voltage
ST_CYC_MAX = const(17)  # a "cycle" of more pairs is none (the supply went): not judged
ST_SAG_IN = const(18)  # mean squares (counts^2): below this a sag starts,
ST_SAG_OUT = const(19)  # above this (hysteresis) it ends
ST_SWELL_IN = const(20)
ST_SWELL_OUT = const(21)
ST_PQ_MIN = const(22)  # half cycles (refreshes) an event must last to count
ST_PQ_STATE = const(23)  # voltage_quality.NORMAL, SAG or SWELL
ST_PQ_CYCLES = const(24)  # refreshes (half cycles) of the event under way
ST_PQ_EXTREME = const(25)  # its lowest (sag) or highest (swell) cycle mean square
ST_SAG_STARTS = const(26)  # events that reached PQ_MIN cycles in this window
ST_SWELL_STARTS = const(27)
ST_END_KIND = const(28)  # the longest event that ended in this window
ST_END_CYCLES = const(29)
ST_END_EXTREME = const(30)
# the same one-cycle sum from the other half: arming (the voltage below -hysteresis, once a
# cycle, just after the falling crossing) to arming; refreshes the one-cycle RMS mid-cycle
ST_ARM_N = const(31)
ST_ARM_SQ = const(32)

NORMAL = 0
SAG = 1
SWELL = 2
KIND_NAMES = ("normal", "sag", "swell")


def judge_cycle(st, mean_square):
    """One whole mains cycle's mean squared voltage (counts^2) against the limits, at each
    half-cycle refresh."""
    state = st[ST_PQ_STATE]
    if state == NORMAL:
        if mean_square < st[ST_SAG_IN]:
            state = SAG
        elif mean_square > st[ST_SWELL_IN]:
            state = SWELL
        else:
            return
        st[ST_PQ_STATE] = state
        st[ST_PQ_CYCLES] = 0
        st[ST_PQ_EXTREME] = mean_square
    elif state == SAG:
        if mean_square > st[ST_SAG_OUT]:
            end_event(st)
            return
        if mean_square < st[ST_PQ_EXTREME]:
            st[ST_PQ_EXTREME] = mean_square
    else:
        if mean_square < st[ST_SWELL_OUT]:
            end_event(st)
            return
        if mean_square > st[ST_PQ_EXTREME]:
            st[ST_PQ_EXTREME] = mean_square
    cycles = st[ST_PQ_CYCLES] + 1
    st[ST_PQ_CYCLES] = cycles
    if cycles == st[ST_PQ_MIN]:  # long enough to be an event: counted once, now
        if state == SAG:
            st[ST_SAG_STARTS] += 1
        else:
            st[ST_SWELL_STARTS] += 1


def end_event(st):
    """The event under way (if any) is over; the window keeps its longest ended one."""
    state = st[ST_PQ_STATE]
    if state == NORMAL:
        return
    cycles = st[ST_PQ_CYCLES]
    if cycles >= st[ST_PQ_MIN] and cycles > st[ST_END_CYCLES]:
        st[ST_END_KIND] = state
        st[ST_END_CYCLES] = cycles
        st[ST_END_EXTREME] = st[ST_PQ_EXTREME]
    st[ST_PQ_STATE] = NORMAL
