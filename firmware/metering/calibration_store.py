"""The calibration the meter uses: the stored record, or the board's design values when
there is none or it cannot be trusted. Replaced only as a whole, atomically, and handed
to the meter at once: the one home of a calibration change (the bench step at the meter
and the operator's signed set-calibration command both end here).
"""
from binascii import crc32

import settings
from metering.calibration import Calibration, CalibrationError

RECORD = "calibration"
# the multi-point current curve: one record per single-point record it belongs to, named
# by that record's CRC, so replacing both is atomic without a journal
CURVE_PREFIX = "calibration.curve."
PROPOSED = "calibration.proposed"  # a bench step on a commissioned meter: needs a token
# the CRC of the record a proposal was measured under, beside it (the proposal itself is
# what the technician sends the operator, fields only): one measured under another
# record (a cut between a replace's record and its removal of the proposal) is not used
PROPOSED_BASE = "calibration.proposed.base"


def curve_record(record):
    """The name of the curve record that belongs to the single-point `record` (bytes)."""
    return CURVE_PREFIX + "%08x" % crc32(record)


class CalibrationStore:
    def __init__(self, store, design):
        """design: the board's calibration values (boards.common.calibration_for)."""
        self.store = store
        self.meter = None  # set by applies_to once the meter is built
        data = store.read(RECORD)
        self._record_crc = _crc_text(data)
        self.source = "default"
        self.curve_source = "none"  # the curve: none, stored, or why it is not used
        if data is not None:
            try:
                self.cal, self.source = Calibration.decode(data), "stored"
                self._attach_curve(data)
                self._remove_other_curves(curve_record(data))
                return
            except CalibrationError as exc:
                # a torn or edited record must not be used; the board default is honest
                self.source = "default (stored: %s)" % exc.reason
        self.cal = Calibration(**design)

    def _attach_curve(self, record):
        data = self.store.read(curve_record(record))
        if data is None:
            return
        try:
            self.cal, self.curve_source = self.cal.with_curve_record(data, record), "stored"
        except CalibrationError as exc:
            # a curve made beside another record (a cut between the two writes), or torn:
            # the single-point record alone is what the meter used before the curve
            self.curve_source = "not used (%s)" % exc.reason

    def _remove_other_curves(self, keep):
        """Curves a cut left behind a replace (not the record's own): removed at boot, so
        a later record that happens to equal an old one never finds its old curve."""
        try:
            for name in self.store.names():
                if name.startswith(CURVE_PREFIX) and name != keep:
                    self.store.remove(name)
        except OSError:
            pass  # a full or failing flash: they stay unused, as they are now

    def proposed(self):
        """The calibration proposed on this meter and not yet signed, or None (also for
        one measured under another record than the one in force)."""
        values = settings.load(self.store, PROPOSED)
        if not values or self.store.read(PROPOSED_BASE) != self._record_crc.encode():
            return None
        try:
            return Calibration(**values)
        except (CalibrationError, TypeError):
            return None

    def applies_to(self, meter):
        self.meter = meter

    def replace(self, cal):
        """Store `cal` (atomic replace) and meter with it from the next window. The new
        curve is written first under the new record's name, then the record, then the old
        curves go: a cut anywhere leaves the old pair or the new, never a mix, and never
        a proposal beside the new pair."""
        record = cal.encode()
        curve = cal.encode_curve(record)
        keep = curve_record(record)
        if curve is not None:
            self.store.replace(keep, curve)
        self.store.replace(RECORD, record)
        self._record_crc = _crc_text(record)
        self.cal, self.source = cal, "stored"  # in force from here, whatever follows
        self.curve_source = "none" if curve is None else "stored"
        if self.meter is not None:
            self.meter.set_calibration(cal)
        # what is applied supersedes any proposal; one left by a cut or a refused removal
        # has the old record as its base: not used (proposed). Old curves: removed at boot
        try:
            self.store.remove(PROPOSED)
            self.store.remove(PROPOSED_BASE)
            for name in self.store.names():
                if name.startswith(CURVE_PREFIX) and (curve is None or name != keep):
                    self.store.remove(name)
        except OSError:
            pass

    def propose(self, cal):
        """Keep `cal` for the operator to sign; nothing the meter uses changes. The base
        goes after the proposal: a cut between leaves the old base, which matches only if
        the record is the same."""
        settings.replace(self.store, PROPOSED, cal.to_dict())
        self.store.replace(PROPOSED_BASE, self._record_crc.encode())


def _crc_text(record):
    """The CRC of a record as text ("none" without one): what a proposal is based on."""
    return "none" if record is None else "%08x" % crc32(record)
