"""Why an update, a policy or a firmware slot was refused: one exception carrying a short
reason code (shown by the shell, stored in the audit log) and a detail.

Reason codes are data: every code raised anywhere in update/ is listed here.
"""

from refusal import Refusal

REASONS = {
    "malformed": "not in the package or policy format",
    "bad-signature": "a signature does not verify",
    "unknown-key": "signed by a key the trust policy does not hold (unknown or revoked)",
    "vendor-only": "signed by vendor keys only; the operator has not signed",
    "too-few-signatures": "fewer valid operator signatures than the policy requires",
    "expired": "the manifest has expired (meter clock)",
    "wrong-board": "built for another board or hardware",
    "rollback": "security counter or policy version lower than the meter's",
    "policy-gap": "policy version skips one; apply the versions in between first",
    "hash-mismatch": "a file's SHA-256 differs from the manifest",
    "size-mismatch": "a file is shorter than the manifest says (truncated)",
    "missing-file": "a file the manifest or the firmware needs is absent",
    "extra-file": "data or a file the manifest does not list",
    "bad-path": "a path that is absolute, climbs with '..', or is not a module",
    "too-large": "more files or bytes than allowed or than fit",
    "no-policy": "the meter has no trust policy (commissioning not done)",
    "not-allowed-in-break-glass": "break-glass: only the emergency or root keys sign",
    "busy": "a new firmware is on trial (confirm or revert it first), or another package is "
            "being installed",
    "self-test-failed": "the meter's power-on crypto self-test failed: it can verify nothing",
    "internal-error": "the meter failed while checking (out of memory, a flash error): "
                      "nothing active was changed",
}


def internal(exc):
    """An unexpected exception inside the gate, as a refusal the shell and audit log show."""
    return UpdateRejected("internal-error", "%s: %s" % (type(exc).__name__, exc))


class UpdateRejected(Refusal):
    """A package, policy or slot refused; `reason` is a key of REASONS."""

    def __init__(self, reason, detail=""):
        if reason not in REASONS:
            raise ValueError("unknown reason code " + reason)
        super().__init__(reason, detail)
