"""The uplink APDUs decrypt with independent DLMS tooling (dlms-cosem), given the keys;
a flipped bit anywhere is refused."""
import pytest
from dlms_cosem import security
from dlms_cosem.protocol.xdlms.general_global_cipher import GeneralGlobalCipher
from dlms_cosem.exceptions import DecryptionError

from comms import dlms, payload

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = b"OSM\x00\x00\x00\x00\x07"


def _day_message():
    items = [payload.reading(k + 1, {"end_s": 1795449600 + 900 * k, "import_wh": [k * 10, 5],
                                     "export_wh": [0, k], "status": 0}) for k in range(96)]
    return payload.message(items)


def _decrypt(apdu):
    g = GeneralGlobalCipher.from_bytes(apdu)
    return g, security.decrypt(g.security_control, g.system_title, g.invocation_counter,
                               EK, g.ciphered_text, AK)


def test_dlms_cosem_parses_and_decrypts_a_days_message():
    plain = _day_message()
    apdu = dlms.seal(TITLE, 123456, EK, AK, plain)
    assert apdu[0] == 0xDB and apdu[1] == 8 and apdu[10:13] == bytes((0x82,)) + (
        len(apdu) - 13).to_bytes(2, "big")
    g, decrypted = _decrypt(apdu)
    assert g.system_title == TITLE
    assert g.invocation_counter == 123456
    assert g.security_control.encrypted and g.security_control.authenticated
    assert g.security_control.security_suite == 0
    assert decrypted == plain
    assert len(payload.decode(decrypted)) == 96


def test_short_messages_use_the_short_length_form():
    apdu = dlms.seal(TITLE, 1, EK, AK, b"\x01")
    assert apdu[10] == 1 + 4 + 1 + 12
    assert _decrypt(apdu)[1] == b"\x01"


@pytest.mark.parametrize("where", ["counter", "ciphertext", "tag"])
def test_a_flipped_bit_is_refused_by_dlms_cosem(where):
    apdu = bytearray(dlms.seal(TITLE, 77, EK, AK, _day_message()))
    offset = {"counter": 14, "ciphertext": 40, "tag": len(apdu) - 3}[where]
    apdu[offset] ^= 0x10
    with pytest.raises(DecryptionError):
        _decrypt(bytes(apdu))


def test_wrong_authentication_key_is_refused():
    apdu = dlms.seal(TITLE, 5, EK, AK, b"hello")
    g = GeneralGlobalCipher.from_bytes(apdu)
    with pytest.raises(DecryptionError):
        security.decrypt(g.security_control, g.system_title, g.invocation_counter, EK,
                         g.ciphered_text, bytes(16))
