"""Refusal: input the meter will not take, with a reason code (a short word the audit
log, the shell, the head-end and the tests match on) and a detail for people.

The one base of every refusal in the firmware (packages, policies, tokens, calibration,
captures, registers, audit entries, DLMS APDUs, payloads, keys, public keys). A
ValueError, so code that guards a parse with `except ValueError` also catches a refusal
raised inside it: such code re-raises a Refusal it did not make (update.signed).
"""


class Refusal(ValueError):
    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


class TokenRefused(Refusal):
    """An operator command token refused (control.tokens has the reason codes). Defined
    here and not in control.tokens, which is loaded on demand (ondemand.py): a class of
    its own would be a new class at every load, and the loops catch this one."""

    counter = None  # the token's counter, once parsed (the audit entry names it)
