"""Tamper-evident audit log: append-only, hash-chained, bounded, power-cut safe.

Each entry carries the SHA-256 of the entry before it, so editing, removing or
reordering any entry breaks the chain at that point. When old entries roll off the
bounded log, the oldest one kept still carries its predecessor's hash: that is the
anchor a verifier that saw the earlier entries (the head-end) checks against.

  entry := prev_hash(32) | time UTC s u32 | code u16 | text (UTF-8)
  hash(entry) = SHA-256(seq u32 || entry)
"""
import hashlib
import struct

from refusal import Refusal
from storage.applog import AppendLog

ZERO_HASH = bytes(32)

# event codes: data, not chains of if (shown in the shell and decoded by the head-end)
CODES = {
    1: "boot",
    2: "power-failure",
    3: "operator-link-off",
    4: "operator-link-on",
    5: "clock-corrected",
    6: "clock-correction-refused",
    7: "readings-lost",
    8: "keys-installed",
    9: "keys-refused",
    10: "calibration-changed",
    11: "update-accepted",
    12: "update-rejected",
    13: "token-refused",
    14: "policy-changed",
    15: "break-glass-on",
    16: "break-glass-off",
    17: "update-confirmed",
    18: "update-reverted",
    19: "command-applied",
    20: "self-test-failed",
    21: "loop-error",
    22: "flash-full",
    23: "readings-consent",
    24: "update-staged",
    25: "voltage-quality",
    26: "harmonics",
}
CODE_BY_NAME = {name: code for code, name in CODES.items()}
_HEAD = ">IH"


class AuditError(Refusal):
    pass


def entry_hash(seq, entry):
    return hashlib.sha256(struct.pack(">I", seq) + entry).digest()


def encode(prev_hash, time_s, code, text=""):
    return prev_hash + struct.pack(_HEAD, time_s, code) + text.encode()


def decode(entry):
    if len(entry) < 38:
        raise AuditError("malformed", "entry too short")
    time_s, code = struct.unpack(_HEAD, entry[32:38])
    return {"prev_hash": bytes(entry[:32]), "time_s": time_s, "code": code,
            "event": CODES.get(code, "unknown-%d" % code), "text": bytes(entry[38:]).decode()}


WAITING_MAX = 16  # entries kept in RAM while the flash refuses them (about 4 KB at most)


class AuditLog:
    def __init__(self, store, max_bytes=32768):
        self.log = AppendLog(store, "audit", max_bytes)
        self._last_hash = ZERO_HASH
        last = self.log.last_seq
        if last is not None:
            for seq, entry in self.log.records(last - 1):
                self._last_hash = entry_hash(seq, entry)
        # (time_s, code, text) the flash refused (full), oldest first: chained and written,
        # in order, at the next append; a power cut loses them, as it loses RAM
        self.waiting = []
        self.lost_in_ram = 0  # entries dropped from a full waiting list

    def append(self, time_s, event, text=""):
        """Chain and store one entry; returns its seq, or None if it waits in RAM because
        the flash refused it (full). Never raises for a refusing flash: what happened is
        kept until it can be written."""
        code = CODE_BY_NAME[event] if isinstance(event, str) else event
        self.waiting.append((time_s, code, text[:200]))
        if len(self.waiting) > WAITING_MAX:
            self.waiting.pop(0)
            self.lost_in_ram += 1
        return self.flush()

    def flush(self):
        """Write the waiting entries, oldest first; the seq of the last written, or None
        if one is still refused."""
        seq = None
        while self.waiting:
            time_s, code, text = self.waiting[0]
            entry = encode(self._last_hash, time_s, code, text)
            try:
                seq = self.log.append(entry)
            except OSError:
                return None
            self._last_hash = entry_hash(seq, entry)
            self.waiting.pop(0)
        return seq

    def entries(self, after_seq=None):
        """(seq, decoded entry) oldest first."""
        for seq, entry in self.log.records(after_seq):
            yield seq, decode(entry)

    def raw(self, after_seq=None):
        for seq, entry in self.log.records(after_seq):
            yield seq, bytes(entry)

    def tail(self, n):
        """The newest n entries, oldest first."""
        last = self.log.last_seq
        if last is None:
            return []
        return list(self.entries(max(last - n, -1) if last >= n else None))


def verify_chain(entries, anchor=None):
    """Check (seq, raw entry) pairs oldest first. anchor: the hash the first entry must
    follow (None: accept what the first entry claims). Returns the last hash; raises
    AuditError("gap"/"broken-chain") at the first problem."""
    prev_seq = None
    prev_hash = anchor
    for seq, entry in entries:
        if prev_seq is not None and seq != prev_seq + 1:
            raise AuditError("gap", "entries %d..%d missing" % (prev_seq + 1, seq - 1))
        claimed = bytes(entry[:32])
        if prev_hash is not None and claimed != prev_hash:
            raise AuditError("broken-chain", "entry %d does not follow its predecessor" % seq)
        prev_hash = entry_hash(seq, entry)
        prev_seq = seq
    return prev_hash
