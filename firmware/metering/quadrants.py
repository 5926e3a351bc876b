"""Four-quadrant energy: reactive energy per quadrant (varh) and apparent energy (VAh).

Quadrants as IEC 62053-23 and DLMS define them, seen from the meter: import is active
energy drawn from the grid, Q > 0 is a lagging (inductive) current.
  Q1  P >= 0, Q >= 0   import, inductive      OBIS 1-0:5.8.0
  Q2  P < 0,  Q >= 0   export, inductive      1-0:6.8.0
  Q3  P < 0,  Q < 0    export, capacitive     1-0:7.8.0
  Q4  P >= 0, Q < 0    import, capacitive     1-0:8.8.0
Apparent energy (S = Vrms * Irms, harmonics included) goes to import while P >= 0
(1-0:9.8.0) and to export while P < 0 (1-0:10.8.0).

The same arithmetic as the active registers (metering.registers): integer varh and VAh
with remainders in var x ms and VA x ms, so nothing is lost to rounding, and nothing
registers below the starting threshold (the starting power, read as var or VA), so noise
does not creep. A window whose active power is below the starting power counts on the
import side: a purely reactive load does not flip between Q1 and Q2 on noise. No tariffs.
"""
from metering.registers import MJ_PER_WH, RegisterError

COUNT = 6  # Q1, Q2, Q3, Q4 (varh), then apparent import, export (VAh)
APPARENT = 4  # index of apparent import; export is APPARENT + 1


class QuadrantRegisters:
    """values: [Q1, Q2, Q3, Q4 varh, apparent import, export VAh]; rest: the remainders
    below one unit (var x ms, VA x ms), in the same order."""

    def __init__(self, starting_power_w):
        self.starting = starting_power_w
        self.values = [0] * COUNT
        self.rest = [0] * COUNT

    def add(self, p_w, q_var, s_va, duration_ms):
        """Register one window's reactive and apparent power held for duration_ms."""
        export = p_w <= -self.starting
        if q_var >= self.starting:
            self._add(1 if export else 0, q_var * duration_ms)
        elif q_var <= -self.starting:
            self._add(2 if export else 3, -q_var * duration_ms)
        if s_va >= self.starting:
            self._add(APPARENT + 1 if export else APPARENT, s_va * duration_ms)

    def _add(self, k, amount):
        rest = self.rest[k] + int(amount + 0.5)
        carry = rest // MJ_PER_WH
        if carry:
            self.values[k] += carry
            rest -= carry * MJ_PER_WH
        self.rest[k] = rest

    def reactive_varh(self):
        return self.values[:APPARENT]

    def apparent_vah(self):
        return self.values[APPARENT:]

    def load(self, values, rest):
        """Take saved values and remainders; refuses anything out of range or behind the
        live values (a register never goes backwards)."""
        if len(values) != COUNT or len(rest) != COUNT or min(values) < 0:
            raise RegisterError("malformed", "saved four-quadrant registers out of range")
        for r in rest:
            if not 0 <= r < MJ_PER_WH:
                raise RegisterError("malformed", "four-quadrant remainder out of range")
        for old, new in zip(self.values, values):
            if new < old:
                raise RegisterError("rewind", "saved four-quadrant registers are older")
        self.values = list(values)
        self.rest = list(rest)
