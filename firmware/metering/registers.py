"""Billing registers: energy import/export per tariff in integer Wh, never decreasing.

Energy arrives per window as watts x milliseconds (= millijoules) and is carried in an
integer remainder, so nothing is lost to rounding and a 32-bit float never touches a
register. Below the starting power nothing registers (no creep from noise).
"""
import canonical
import json

from compat import const
from refusal import Refusal

MJ_PER_WH = const(3600000)


class RegisterError(Refusal):
    pass


class Registers:
    """import_wh[t] / export_wh[t] for tariff t = 1, 2 (index 0 unused: OBIS x.8.1, x.8.2)."""

    def __init__(self, starting_power_w):
        self.starting_power_w = starting_power_w
        self.import_wh = [0, 0, 0]
        self.export_wh = [0, 0, 0]
        self.import_mj = 0  # remainder below one Wh, per direction
        self.export_mj = 0
        self.tariff = 1

    def add(self, p_w, duration_ms):
        """Register p_w (positive: import, negative: export) held for duration_ms; returns
        the millijoules registered (0 below the starting power): the test LED's input."""
        if -self.starting_power_w < p_w < self.starting_power_w:
            return 0  # below starting power: no creep
        t = self.tariff
        if p_w > 0:
            mj = int(p_w * duration_ms + 0.5)
            self.import_mj += mj
            carry = self.import_mj // MJ_PER_WH
            if carry:
                self.import_wh[t] += carry
                self.import_mj -= carry * MJ_PER_WH
        else:
            mj = int(-p_w * duration_ms + 0.5)
            self.export_mj += mj
            carry = self.export_mj // MJ_PER_WH
            if carry:
                self.export_wh[t] += carry
                self.export_mj -= carry * MJ_PER_WH
        return mj

    def add_mj(self, mj, p_w):
        """Register mj millijoules measured by the front-end itself (positive: import),
        in a window whose mean power was p_w: below the starting power nothing, as add.
        Returns the millijoules registered."""
        if -self.starting_power_w < p_w < self.starting_power_w:
            return 0
        t = self.tariff
        if mj >= 0:
            self.import_mj += mj
            carry = self.import_mj // MJ_PER_WH
            if carry:
                self.import_wh[t] += carry
                self.import_mj -= carry * MJ_PER_WH
            return mj
        self.export_mj -= mj
        carry = self.export_mj // MJ_PER_WH
        if carry:
            self.export_wh[t] += carry
            self.export_mj -= carry * MJ_PER_WH
        return -mj

    def add_joules(self, import_j, export_j):
        """Energy metered before a reset and kept across it (metering.retained), at the
        current tariff: integer arithmetic, no starting-power threshold (it was applied
        when the energy was metered)."""
        t = self.tariff
        self.import_mj += import_j * 1000
        carry = self.import_mj // MJ_PER_WH
        self.import_wh[t] += carry
        self.import_mj -= carry * MJ_PER_WH
        self.export_mj += export_j * 1000
        carry = self.export_mj // MJ_PER_WH
        self.export_wh[t] += carry
        self.export_mj -= carry * MJ_PER_WH

    def set_tariff(self, tariff):
        if tariff not in (1, 2):
            raise RegisterError("bad-tariff", str(tariff))
        self.tariff = tariff

    def values(self):
        """(import T1, import T2, export T1, export T2) in Wh."""
        return (self.import_wh[1], self.import_wh[2], self.export_wh[1], self.export_wh[2])

    def encode(self):
        return canonical.dumps({
            "import_wh": self.import_wh[1:], "export_wh": self.export_wh[1:],
            "import_mj": self.import_mj, "export_mj": self.export_mj, "tariff": self.tariff,
        }).encode()

    def restore(self, data):
        """Load a saved state; refuses anything that would make a register go backwards."""
        try:
            state = json.loads(data)
            imp = [int(x) for x in state["import_wh"]]
            exp = [int(x) for x in state["export_wh"]]
            imp_mj = int(state["import_mj"])
            exp_mj = int(state["export_mj"])
            tariff = int(state["tariff"])
        except (ValueError, KeyError, TypeError):
            raise RegisterError("malformed", "saved registers unreadable")
        self.load(imp, exp, imp_mj, exp_mj, tariff)

    def load(self, imp, exp, imp_mj, exp_mj, tariff):
        """Take saved values (import T1, T2; export T1, T2; remainders; tariff); refuses
        anything out of range or that would make a register go backwards."""
        if len(imp) != 2 or len(exp) != 2 or min(imp + exp) < 0 or tariff not in (1, 2):
            raise RegisterError("malformed", "saved registers out of range")
        if not (0 <= imp_mj < MJ_PER_WH and 0 <= exp_mj < MJ_PER_WH):
            raise RegisterError("malformed", "remainder out of range")
        new = (imp[0], imp[1], exp[0], exp[1])
        for old_v, new_v in zip(self.values(), new):
            if new_v < old_v:
                raise RegisterError("rewind", "saved registers are older than the live ones")
        self.import_wh = [0] + imp
        self.export_wh = [0] + exp
        self.import_mj = imp_mj
        self.export_mj = exp_mj
        self.tariff = tariff
