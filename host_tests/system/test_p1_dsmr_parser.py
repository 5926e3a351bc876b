"""Every P1 telegram the firmware builds parses with dsmr_parser (DSMR V5 specification,
checksum validated), with values equal to the registers."""
from decimal import Decimal

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError
from dsmr_parser.parsers import TelegramParser
import pytest

from comms import p1
import civiltime

PARSER = TelegramParser(telegram_specifications.V5, apply_checksum_validation=True)

SNAP = {
    "import_wh": [1234567, 89], "export_wh": [5, 456789], "tariff": 2,
    "p_w": 1193.4, "vrms": 230.14, "irms": 5.19, "sags": 2, "swells": 1,
    "power_failures": 4, "long_power_failures": 2,
    "power_fail_log": [[civiltime.utc_seconds(2026, 1, 10, 12, 0, 0), 240],
                       [civiltime.utc_seconds(2026, 7, 1, 8, 30, 0), 301]],
    "time_s": civiltime.utc_seconds(2026, 11, 23, 16, 0, 5),
    "equipment_id": "sim-0001", "text": "operator link: off (consumer opt-out)",
}


def _parse(telegram):
    return PARSER.parse(telegram.decode("ascii"))


def test_telegram_parses_with_values_equal_to_registers():
    t = _parse(p1.build_telegram(SNAP))
    assert t.ELECTRICITY_USED_TARIFF_1.value == Decimal("1234.567")
    assert t.ELECTRICITY_USED_TARIFF_2.value == Decimal("0.089")
    assert t.ELECTRICITY_DELIVERED_TARIFF_1.value == Decimal("0.005")
    assert t.ELECTRICITY_DELIVERED_TARIFF_2.value == Decimal("456.789")
    assert t.ELECTRICITY_ACTIVE_TARIFF.value == "0002"
    assert t.CURRENT_ELECTRICITY_USAGE.value == Decimal("1.193")
    assert t.CURRENT_ELECTRICITY_DELIVERY.value == Decimal("0.000")
    assert t.INSTANTANEOUS_VOLTAGE_L1.value == Decimal("230.1")
    assert t.INSTANTANEOUS_CURRENT_L1.value == Decimal("5")
    assert t.SHORT_POWER_FAILURE_COUNT.value == 4
    assert t.LONG_POWER_FAILURE_COUNT.value == 2
    assert t.VOLTAGE_SAG_L1_COUNT.value == 2
    assert t.VOLTAGE_SWELL_L1_COUNT.value == 1
    assert bytes.fromhex(t.EQUIPMENT_IDENTIFIER.value).decode() == "sim-0001"
    assert bytes.fromhex(t.TEXT_MESSAGE.value).decode() == SNAP["text"]
    assert t.P1_MESSAGE_TIMESTAMP.value.isoformat() == "2026-11-23T16:00:05+00:00"
    log = t.POWER_EVENT_FAILURE_LOG
    assert log.buffer_length == 2
    # newest first: (end of failure, duration in s)
    assert [int(e.value) for e in log.buffer] == [301, 240]
    assert [e.unit for e in log.buffer] == ["s", "s"]
    assert log.buffer[0].datetime.isoformat() == "2026-07-01T08:30:00+00:00"


def test_export_shows_as_delivered_power():
    snap = dict(SNAP, p_w=-2500.4)
    t = _parse(p1.build_telegram(snap))
    assert t.CURRENT_ELECTRICITY_USAGE.value == Decimal("0.000")
    assert t.CURRENT_ELECTRICITY_DELIVERY.value == Decimal("2.500")


def test_empty_power_failure_log_parses():
    t = _parse(p1.build_telegram(dict(SNAP, power_fail_log=[])))
    assert t.POWER_EVENT_FAILURE_LOG.buffer_length == 0


def test_a_changed_byte_fails_the_checksum():
    telegram = p1.build_telegram(SNAP)
    bad = telegram.replace(b"1-0:1.8.1(001234.567", b"1-0:1.8.1(001234.568")
    with pytest.raises(InvalidChecksumError):
        _parse(bad)
