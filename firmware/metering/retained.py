"""What the registers gained since their last save, kept where a reset does not reach it.

The meter saves its state to flash every few minutes (flash wear); a crash, a watchdog
reset or machine.reset() in between would lose what was metered since. A board has a
few words that survive a reset but not a power cut (RP2040: watchdog scratch registers
0-3; ESP32: RTC slow memory): the metering loop writes this record there every window,
and the next boot adds it to the registers, so a reset loses at most one window. After
a power cut the words read as zeros or noise and the check refuses them: the loss is
then bounded by the save interval, as before.

The record is four words below 2**30 (small ints on a 32-bit port: no allocation per
window): the save it continues (its sequence number) and a 16-bit check, the import
and export energy in joules since that save, and the seconds metered since it (so the
next boot knows when metering stopped). The energy is the saved tariff's: the meter
saves whenever the tariff changes.

The check also says whether the clock was set (the operator's time) when the record
was written: it starts from one of two constants. So the record that tells a reset from
a power cut also tells whether the time it carries is true (metering.clock_trust), and
a power cut clears both at once. Firmware before this bit knows only the first constant:
it takes a record written on an unset clock, and refuses one written on a set clock as
after a power cut (what is unsaved then is lost: at most a save's worth, and nothing
after a clean save, as before a planned restart).
"""
from compat import const

WORDS = const(4)
_MASK30 = const(0x3FFFFFFF)
_MASK14 = const(0x3FFF)
_MASK16 = const(0xFFFF)
_MAGIC = const(0x6D31)  # zeros (a power-on) never check
_MAGIC_CLOCK_SET = const(0x2B5A)  # the same record, written on a set clock


def _fold(c, word, turn):
    c ^= (word & _MASK16) ^ (word >> 16)
    return ((c << turn) | (c >> (16 - turn))) & _MASK16  # rotated: the order matters


def _check(magic, seq, import_j, export_j, alive_s):
    """16 bits from every bit of the record: folded, never multiplied (no big ints)."""
    return _fold(_fold(_fold(magic ^ seq, import_j, 3), export_j, 7), alive_s, 11)


def encode(seq, import_j, export_j, alive_s, out, clock_set=False):
    """Fill out[0:4] with the record; every value is clamped to 30 bits. clock_set: the
    clock is the operator's time (not an estimate since boot)."""
    seq &= _MASK14
    import_j = min(import_j, _MASK30)
    export_j = min(export_j, _MASK30)
    alive_s = min(max(alive_s, 0), _MASK30)
    magic = _MAGIC_CLOCK_SET if clock_set else _MAGIC
    out[0] = seq | (_check(magic, seq, import_j, export_j, alive_s) << 14)
    out[1] = import_j
    out[2] = export_j
    out[3] = alive_s


def decode(words, seq):
    """(import_j, export_j, alive_s, clock_set) if `words` is a record continuing save
    number `seq`, else None (a power cut, another save, or noise)."""
    if words is None or len(words) != WORDS:
        return None
    head, import_j, export_j, alive_s = words
    if not all(0 <= w <= _MASK30 for w in words):
        return None
    seq &= _MASK14
    if head & _MASK14 != seq:
        return None
    check = head >> 14
    if check == _check(_MAGIC, seq, import_j, export_j, alive_s):
        return import_j, export_j, alive_s, False
    if check == _check(_MAGIC_CLOCK_SET, seq, import_j, export_j, alive_s):
        return import_j, export_j, alive_s, True
    return None
