"""The calibration the meter uses: the stored record, or the board's design values when
there is none or it cannot be trusted. Replaced only as a whole, atomically, and handed
to the meter at once: the one home of a calibration change (the bench step at the meter
and the operator's signed set-calibration command both end here).
"""
import settings
from metering.calibration import Calibration, CalibrationError

RECORD = "calibration"
PROPOSED = "calibration.proposed"  # a bench step on a commissioned meter: needs a token


class CalibrationStore:
    def __init__(self, store, design):
        """design: the board's calibration values (boards.common.calibration_for)."""
        self.store = store
        self.meter = None  # set by applies_to once the meter is built
        data = store.read(RECORD)
        self.source = "default"
        if data is not None:
            try:
                self.cal, self.source = Calibration.decode(data), "stored"
                return
            except CalibrationError as exc:
                # a torn or edited record must not be used; the board default is honest
                self.source = "default (stored: %s)" % exc.reason
        self.cal = Calibration(**design)

    def applies_to(self, meter):
        self.meter = meter

    def replace(self, cal):
        """Store `cal` (atomic replace) and meter with it from the next window."""
        self.store.replace(RECORD, cal.encode())
        self.cal, self.source = cal, "stored"
        if self.meter is not None:
            self.meter.set_calibration(cal)

    def propose(self, cal):
        """Keep `cal` for the operator to sign; nothing the meter uses changes."""
        settings.replace(self.store, PROPOSED, cal.to_dict())
