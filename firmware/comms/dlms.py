"""DLMS/COSEM general-global-ciphering APDUs, security suite 0 (AES-128-GCM, 12-byte tag).

  0xDB | 0x08 system title(8) | BER length | SC 0x30 | invocation counter(4) | C | T(12)
  IV = system title || invocation counter; AAD = SC || authentication key (AK).

Framing only: keys are handed in, counters come from comms.invocation. Standard DLMS
tooling (dlms-cosem, Gurux) decrypts what this builds.
"""
from crypto import gcm
from refusal import Refusal

TAG_GENERAL_GLOBAL_CIPHERING = 0xDB
SC_AUTHENTICATED_ENCRYPTED = 0x30  # bit 4 authenticated, bit 5 encrypted, suite 0
GCM_TAG_LEN = 12
SYSTEM_TITLE_LEN = 8


class APDUError(Refusal):
    pass


def ber_length(n):
    """A-XDR/BER definite length: short form below 128, else 0x81 n or 0x82 nn."""
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    raise APDUError("too-long", "%d bytes" % n)


def parse_ber_length(data, pos):
    """(length, position after it); refuses forms longer than two length bytes."""
    if pos >= len(data):
        raise APDUError("truncated", "no length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count not in (1, 2) or pos + 1 + count > len(data):
        raise APDUError("bad-length", "length form 0x%02x" % first)
    n = 0
    for k in range(count):
        n = (n << 8) | data[pos + 1 + k]
    return n, pos + 1 + count


def _check_keys(system_title, ek, ak):
    if len(system_title) != SYSTEM_TITLE_LEN:
        raise APDUError("bad-system-title", "must be 8 bytes")
    if len(ek) != 16 or len(ak) != 16:
        raise APDUError("bad-key", "suite 0 keys are 16 bytes")


def seal(system_title, invocation_counter, ek, ak, plaintext, cipher=None):
    """Authenticated-and-encrypted APDU for `plaintext`. cipher: a crypto.gcm.GCM already
    keyed with ek, reused across messages (the meter); None builds one (host tools)."""
    _check_keys(system_title, ek, ak)
    ic = invocation_counter.to_bytes(4, "big")
    sc = bytes((SC_AUTHENTICATED_ENCRYPTED,))
    if cipher is None:
        ciphertext, tag = gcm.encrypt(ek, system_title + ic, plaintext, sc + ak)
    else:
        ciphertext, tag = cipher.encrypt(system_title + ic, plaintext, sc + ak)
    body = sc + ic + ciphertext + tag[:GCM_TAG_LEN]
    return (bytes((TAG_GENERAL_GLOBAL_CIPHERING, SYSTEM_TITLE_LEN)) + system_title
            + ber_length(len(body)) + body)


def parse(apdu):
    """(system title, invocation counter, ciphertext+tag) without decrypting."""
    if len(apdu) < 2 or apdu[0] != TAG_GENERAL_GLOBAL_CIPHERING:
        raise APDUError("not-glo-cipher", "tag is not 0xDB")
    if apdu[1] != SYSTEM_TITLE_LEN or len(apdu) < 2 + SYSTEM_TITLE_LEN:
        raise APDUError("bad-system-title")
    system_title = bytes(apdu[2:2 + SYSTEM_TITLE_LEN])
    n, pos = parse_ber_length(apdu, 2 + SYSTEM_TITLE_LEN)
    if pos + n != len(apdu):
        raise APDUError("bad-length", "length says %d, %d bytes follow" % (n, len(apdu) - pos))
    if n < 1 + 4 + GCM_TAG_LEN:
        raise APDUError("truncated")
    if apdu[pos] != SC_AUTHENTICATED_ENCRYPTED:
        raise APDUError("bad-security-control", "0x%02x" % apdu[pos])
    ic = int.from_bytes(bytes(apdu[pos + 1:pos + 5]), "big")
    return system_title, ic, bytes(apdu[pos + 5:])


def unseal(apdu, ek, ak, cipher=None):
    """(system title, invocation counter, plaintext); APDUError("bad-tag") if forged.
    cipher: as for seal()."""
    system_title, ic, sealed = parse(apdu)
    _check_keys(system_title, ek, ak)
    sc = bytes((SC_AUTHENTICATED_ENCRYPTED,))
    iv = system_title + ic.to_bytes(4, "big")
    try:
        if cipher is None:
            plaintext = gcm.decrypt(ek, iv, sealed[:-GCM_TAG_LEN], sc + ak,
                                    sealed[-GCM_TAG_LEN:], GCM_TAG_LEN)
        else:
            plaintext = cipher.decrypt(iv, sealed[:-GCM_TAG_LEN], sc + ak,
                                       sealed[-GCM_TAG_LEN:], GCM_TAG_LEN)
    except gcm.AuthError:
        raise APDUError("bad-tag", "authentication failed")
    return system_title, ic, plaintext
