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


THREE_PHASE = dict(
    SNAP, p_w=1800.0 + 950.0 - 400.0,
    phases=[{"vrms": 230.14, "irms": 7.8, "p_w": 1800.0, "q_var": 200.0},
            {"vrms": 231.62, "irms": 4.2, "p_w": 950.0, "q_var": 0.0},
            {"vrms": 228.91, "irms": 1.76, "p_w": -400.0, "q_var": -50.0}],
    phase_sags=[2, 5, 0], phase_swells=[1, 0, 3])


def test_a_three_phase_telegram_carries_each_phase_and_parses():
    telegram = p1.build_telegram(THREE_PHASE)
    t = _parse(telegram)
    assert t.CURRENT_ELECTRICITY_USAGE.value == Decimal("2.350")  # the net of all phases
    assert [t.INSTANTANEOUS_VOLTAGE_L1.value, t.INSTANTANEOUS_VOLTAGE_L2.value,
            t.INSTANTANEOUS_VOLTAGE_L3.value] == [Decimal("230.1"), Decimal("231.6"),
                                                  Decimal("228.9")]
    assert [t.INSTANTANEOUS_CURRENT_L1.value, t.INSTANTANEOUS_CURRENT_L2.value,
            t.INSTANTANEOUS_CURRENT_L3.value] == [Decimal("8"), Decimal("4"), Decimal("2")]
    assert [t.INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE.value,
            t.INSTANTANEOUS_ACTIVE_POWER_L2_POSITIVE.value,
            t.INSTANTANEOUS_ACTIVE_POWER_L3_POSITIVE.value] == [
        Decimal("1.800"), Decimal("0.950"), Decimal("0.000")]
    assert [t.INSTANTANEOUS_ACTIVE_POWER_L1_NEGATIVE.value,
            t.INSTANTANEOUS_ACTIVE_POWER_L2_NEGATIVE.value,
            t.INSTANTANEOUS_ACTIVE_POWER_L3_NEGATIVE.value] == [
        Decimal("0.000"), Decimal("0.000"), Decimal("0.400")]
    assert [t.VOLTAGE_SAG_L1_COUNT.value, t.VOLTAGE_SAG_L2_COUNT.value,
            t.VOLTAGE_SAG_L3_COUNT.value] == [2, 5, 0]
    assert [t.VOLTAGE_SWELL_L1_COUNT.value, t.VOLTAGE_SWELL_L2_COUNT.value,
            t.VOLTAGE_SWELL_L3_COUNT.value] == [1, 0, 3]
    # in DSMR 5.0.2's order: each L1 object, then L2's and L3's
    text = telegram.decode()
    order = ["1-0:32.32.0", "1-0:52.32.0", "1-0:72.32.0", "1-0:32.36.0", "1-0:52.36.0",
             "1-0:72.36.0", "0-0:96.13.0", "1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0",
             "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0", "1-0:21.7.0", "1-0:41.7.0",
             "1-0:61.7.0", "1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0"]
    positions = [text.index(obis + "(") for obis in order]
    assert positions == sorted(positions)


def test_a_single_phase_telegram_has_no_l2_or_l3_objects():
    text = p1.build_telegram(SNAP).decode()
    assert "1-0:52.7.0" not in text and "1-0:41.7.0" not in text
