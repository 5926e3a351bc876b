"""P1 telegram framing on both interpreters (dsmr_parser checks the same telegrams on
the host in host_tests/system/test_p1_dsmr_parser.py)."""
from comms import p1

SNAP = {
    "import_wh": [1234567, 89], "export_wh": [5, 456789], "tariff": 1, "p_w": 12.6,
    "vrms": 229.96, "irms": 0.4, "sags": 0, "swells": 0, "power_failures": 0,
    "long_power_failures": 0, "power_fail_log": [], "time_s": 1795449605,
    "equipment_id": "sim-0001", "text": "",
}


def test_crc16_is_crc16_arc():
    assert p1.crc16(b"123456789") == 0xBB3D  # the CRC catalogue's check value


def test_telegram_ends_with_the_crc_of_everything_from_slash_to_bang():
    telegram = p1.build_telegram(SNAP)
    body, tail = telegram.split(b"!")
    assert telegram.startswith(b"/OSM5")
    assert tail == b"%04X\r\n" % p1.crc16(body + b"!")
    assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")  # CR LF only


def test_registers_are_printed_from_integers_exactly():
    telegram = p1.build_telegram(SNAP)
    assert b"1-0:1.8.1(001234.567*kWh)" in telegram
    assert b"1-0:2.8.2(000456.789*kWh)" in telegram
    assert b"1-0:1.7.0(00.013*kW)" in telegram
    assert b"1-0:32.7.0(230.0*V)" in telegram
