"""DSMR 5.0.2 P1 telegrams for the consumer's port, built from a metering snapshot.

The object list is a table (OBIS reference, value formatter), as dsmr_parser describes
telegram versions. Bytes only: the UART (inverted, 115200 8N1) belongs to the board.
Never builds from anything but a snapshot, so the P1 port cannot change the meter.
"""
from array import array

import civiltime

# CRC-16/ARC (poly 0xA001 reflected, init 0), DSMR 5.0.2 §6.2: over '/' .. '!' inclusive.
# 16-bit entries: 512 bytes on the heap (a tuple of 256 ints took 1 KB on a board)
_CRC_TABLE = array("H", bytes(512))
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0xA001 if _crc & 1 else _crc >> 1
    _CRC_TABLE[_byte] = _crc


def crc16(data, crc=0):
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def _kwh(wh):  # F9(3,3): (000123.456*kWh) from integer Wh, no float on the way
    return "%06d.%03d*kWh" % (wh // 1000, wh % 1000)


def _kw(w):  # F5(3,3): (01.193*kW)
    w = int(w + 0.5) if w > 0 else 0
    return "%02d.%03d*kW" % (w // 1000, w % 1000)


def _count(n):  # F5(0,0)
    return "%05d" % n


def _hex(text):
    return "".join("%02X" % b for b in text.encode())


def _tariff(snap):
    return "%04d" % snap["tariff"]


def _volts(snap):  # F4(1,1)
    return "%05.1f*V" % snap.get("vrms", 0.0)


def _amps(snap):  # F3(0,0)
    return "%03d*A" % int(snap.get("irms", 0.0) + 0.5)


def _power_fail_log(snap):
    """(z)(0-0:96.7.19)(end TST)(duration*s)... newest first, at most 10."""
    entries = list(reversed(snap["power_fail_log"]))[:10]
    parts = ["(%d)(0-0:96.7.19)" % len(entries)]
    for end_s, duration_s in entries:
        parts.append("(%s)(%010d*s)" % (civiltime.dsmr_timestamp(end_s), duration_s))
    return "".join(parts)


# (OBIS reference, value as a function of the snapshot) in telegram order
OBJECTS = (
    ("1-3:0.2.8", lambda s: "(50)"),
    ("0-0:1.0.0", lambda s: "(%s)" % civiltime.dsmr_timestamp(s["time_s"])),
    ("0-0:96.1.1", lambda s: "(%s)" % _hex(s["equipment_id"])),
    ("1-0:1.8.1", lambda s: "(%s)" % _kwh(s["import_wh"][0])),
    ("1-0:1.8.2", lambda s: "(%s)" % _kwh(s["import_wh"][1])),
    ("1-0:2.8.1", lambda s: "(%s)" % _kwh(s["export_wh"][0])),
    ("1-0:2.8.2", lambda s: "(%s)" % _kwh(s["export_wh"][1])),
    ("0-0:96.14.0", lambda s: "(%s)" % _tariff(s)),
    ("1-0:1.7.0", lambda s: "(%s)" % _kw(s.get("p_w", 0.0))),
    ("1-0:2.7.0", lambda s: "(%s)" % _kw(-s.get("p_w", 0.0))),
    ("0-0:96.7.21", lambda s: "(%s)" % _count(s["power_failures"])),
    ("0-0:96.7.9", lambda s: "(%s)" % _count(s["long_power_failures"])),
    ("1-0:99.97.0", _power_fail_log),
    ("1-0:32.32.0", lambda s: "(%s)" % _count(s["sags"])),
    ("1-0:32.36.0", lambda s: "(%s)" % _count(s["swells"])),
    ("0-0:96.13.0", lambda s: "(%s)" % _hex(s.get("text", ""))),
    ("1-0:32.7.0", lambda s: "(%s)" % _volts(s)),
    ("1-0:31.7.0", lambda s: "(%s)" % _amps(s)),
    ("1-0:21.7.0", lambda s: "(%s)" % _kw(s.get("p_w", 0.0))),
    ("1-0:22.7.0", lambda s: "(%s)" % _kw(-s.get("p_w", 0.0))),
)


# A three-phase meter (DSMR 5.0.2 table 6): each per-phase object of L1 is followed by
# L2's and L3's, and L1's values are L1's own (its power is not the total)
_PER_PHASE = {
    "1-0:32.32.0": (("1-0:52.32.0", lambda s: "(%s)" % _count(s["phase_sags"][1])),
                    ("1-0:72.32.0", lambda s: "(%s)" % _count(s["phase_sags"][2]))),
    "1-0:32.36.0": (("1-0:52.36.0", lambda s: "(%s)" % _count(s["phase_swells"][1])),
                    ("1-0:72.36.0", lambda s: "(%s)" % _count(s["phase_swells"][2]))),
    "1-0:32.7.0": (("1-0:52.7.0", lambda s: "(%s)" % _volts(s["phases"][1])),
                   ("1-0:72.7.0", lambda s: "(%s)" % _volts(s["phases"][2]))),
    "1-0:31.7.0": (("1-0:51.7.0", lambda s: "(%s)" % _amps(s["phases"][1])),
                   ("1-0:71.7.0", lambda s: "(%s)" % _amps(s["phases"][2]))),
    "1-0:21.7.0": (("1-0:41.7.0", lambda s: "(%s)" % _kw(s["phases"][1]["p_w"])),
                   ("1-0:61.7.0", lambda s: "(%s)" % _kw(s["phases"][2]["p_w"]))),
    "1-0:22.7.0": (("1-0:42.7.0", lambda s: "(%s)" % _kw(-s["phases"][1]["p_w"])),
                   ("1-0:62.7.0", lambda s: "(%s)" % _kw(-s["phases"][2]["p_w"]))),
}
_L1_OWN = {
    "1-0:32.7.0": lambda s: "(%s)" % _volts(s["phases"][0]),
    "1-0:31.7.0": lambda s: "(%s)" % _amps(s["phases"][0]),
    "1-0:21.7.0": lambda s: "(%s)" % _kw(s["phases"][0]["p_w"]),
    "1-0:22.7.0": lambda s: "(%s)" % _kw(-s["phases"][0]["p_w"]),
}


def build_telegram(snap, header="OSM5open-meter"):
    """The telegram for a snapshot that also carries time_s, equipment_id and text; with
    three phases in the snapshot ("phases"), the three-phase objects too."""
    lines = ["/" + header, ""]
    three = len(snap.get("phases") or ()) == 3
    for obis, value in OBJECTS:
        if three:
            value = _L1_OWN.get(obis, value)
        lines.append(obis + value(snap))
        if three:
            for other, other_value in _PER_PHASE.get(obis, ()):
                lines.append(other + other_value(snap))
    body = ("\r\n".join(lines) + "\r\n!").encode()
    return body + ("%04X\r\n" % crc16(body)).encode()


class P1Port:
    """Writes one telegram per second of meter time to the board's UART."""

    def __init__(self, uart, equipment_id, header="OSM5open-meter"):
        self._uart = uart
        self.equipment_id = equipment_id
        self.header = header
        self.text = ""
        self.sent = 0
        self._last_s = None

    def due(self, now_s):
        return now_s != self._last_s

    def send(self, snap, now_s):
        snap = dict(snap)
        snap["time_s"] = now_s
        snap["equipment_id"] = self.equipment_id
        snap["text"] = self.text
        telegram = build_telegram(snap, self.header)
        self._uart.write(telegram)
        self._last_s = now_s
        self.sent += 1
        return telegram
