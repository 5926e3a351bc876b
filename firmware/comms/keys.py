"""The operator's uplink keys held by the meter: encryption key (EK), authentication key
(AK) and the master key (KEK) that wraps new ones (RFC 3394).

Keys are the operator's: never printed (repr shows fingerprints), never sent, replaced
only wrapped under the KEK by an operator-authorised command. Without keys the meter
sends nothing to the operator.
"""
import binascii
import hashlib
import json

import canonical
from crypto import keywrap
from refusal import Refusal
from storage.slots import SlotStore


class KeyError_(Refusal):
    pass


def fingerprint(key):
    """Public identifier of a key: first 8 bytes of SHA-256, hex. Reveals nothing usable."""
    return binascii.hexlify(hashlib.sha256(key).digest()[:8]).decode()


class OperatorKeys:
    def __init__(self, store):
        self._slots = SlotStore(store, "keys")
        self._ek = self._ak = self._kek = None
        self._cipher = None  # crypto.gcm.GCM for EK: its table and buffers, allocated once
        self._cipher_key = None
        self.generation = 0
        saved = self._slots.load()
        if saved is not None:
            try:
                state = json.loads(saved)
                self._set(binascii.unhexlify(state["kek"]), binascii.unhexlify(state["ek"]),
                          binascii.unhexlify(state["ak"]))
                self.generation = int(state["generation"])
            except (ValueError, KeyError, TypeError):
                raise KeyError_("malformed", "stored keys unreadable")

    def __repr__(self):
        return "<OperatorKeys %s>" % (self.fingerprints() if self.present else "none")

    @property
    def present(self):
        return self._ek is not None

    def fingerprints(self):
        if not self.present:
            return {}
        return {"ek": fingerprint(self._ek), "ak": fingerprint(self._ak),
                "kek": fingerprint(self._kek)}

    def uplink_keys(self):
        """(EK, AK) for the uplink codec only; None without keys."""
        return (self._ek, self._ak) if self.present else None

    def cipher(self):
        """The AES-GCM state for EK, built on first use (the App asks at boot) and re-keyed
        in place when EK changes; None without keys. One user at a time: the uplink."""
        if not self.present:
            return None
        if self._cipher is None:
            from crypto.gcm import GCM

            self._cipher = GCM(self._ek)
        elif self._cipher_key != self._ek:
            self._cipher.rekey(self._ek)
        self._cipher_key = self._ek
        return self._cipher

    def _set(self, kek, ek, ak):
        for name, key in (("kek", kek), ("ek", ek), ("ak", ak)):
            if len(key) != 16:
                raise KeyError_("bad-key", "%s must be 16 bytes" % name)
        self._kek, self._ek, self._ak = bytes(kek), bytes(ek), bytes(ak)

    def _save(self):
        self.generation += 1
        state = {"kek": binascii.hexlify(self._kek).decode(),
                 "ek": binascii.hexlify(self._ek).decode(),
                 "ak": binascii.hexlify(self._ak).decode(), "generation": self.generation}
        self._slots.save(canonical.dumps(state).encode())

    def commission(self, kek, ek, ak):
        """First provisioning, at the operator's commissioning (physical access, no keys
        yet). Refused once keys exist: from then on only wrapped replacements."""
        if self.present:
            raise KeyError_("already-commissioned", "replace keys with a wrapped install")
        self._set(kek, ek, ak)
        self._save()

    def install_wrapped(self, wrapped_ek, wrapped_ak, wrapped_kek=None):
        """Replace keys delivered wrapped under the current KEK (RFC 3394)."""
        if not self.present:
            raise KeyError_("no-kek", "the meter has not been commissioned")
        try:
            ek = keywrap.unwrap(self._kek, wrapped_ek)
            ak = keywrap.unwrap(self._kek, wrapped_ak)
            kek = keywrap.unwrap(self._kek, wrapped_kek) if wrapped_kek else self._kek
        except keywrap.AuthError:
            raise KeyError_("bad-wrap", "not wrapped under this meter's master key")
        self._set(kek, ek, ak)
        self._save()
