"""The current front-end's error as a function of current: gain and phase corrections at
up to MAX_POINTS calibrated currents, interpolated in log(current) between them.

A current transformer's ratio and phase errors come from its magnetising current, so they
grow as the current falls (about as 1/sqrt(I) for a typical core); a SAR ADC's
non-linearity gives small signals another gain than large ones. One calibration point
cannot take both out over 0.05 Ib to Imax: this curve, measured at several currents by
metering.bench_calibration's `point` step, does. Each point multiplies the current gain and
adds to the phase correction of the single-point record, so a meter with no curve meters
exactly as before.

Stored as its own record (calibration_store), bound to the exact bytes of the record it
corrects: firmware that predates the curve reads the single-point record as it always did,
and a curve left from another record is never applied to this one.
"""
from math import log

from refusal import Refusal

MAX_POINTS = 12
GAIN_LIMITS = (0.8, 1.25)  # a correction outside these is a wiring fault, not an error
PHASE_LIMITS_DEG = (-10.0, 10.0)
CURRENT_LIMITS_A = (1e-4, 1e4)
MIN_STEP = 1.05  # neighbouring points at least 5 % apart in current


class CurveError(Refusal):
    pass


class CurrentCurve:
    """points: [[current A, gain, phase deg], ...] in rising current. Read-only once built."""

    def __init__(self, points):
        if not isinstance(points, (list, tuple)) or not 1 <= len(points) <= MAX_POINTS:
            raise CurveError("bad-curve", "1 to %d points" % MAX_POINTS)
        checked = []
        for point in points:
            if not isinstance(point, (list, tuple)) or len(point) != 3:
                raise CurveError("bad-curve", "a point is [current A, gain, phase deg]")
            for value in point:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise CurveError("bad-curve", "a point holds numbers")
            current, gain, phase = float(point[0]), float(point[1]), float(point[2])
            _within(current, CURRENT_LIMITS_A, "current")
            _within(gain, GAIN_LIMITS, "gain")
            _within(phase, PHASE_LIMITS_DEG, "phase")
            if checked and current < checked[-1][0] * MIN_STEP:
                raise CurveError("bad-curve", "currents must rise by 5 %% a point (%r)" % current)
            checked.append([current, gain, phase])
        self.points = checked
        self._logs = [log(p[0]) for p in checked]

    def at(self, current_a):
        """(gain, phase deg) at current_a: the nearest point's outside the calibrated range
        (no extrapolation of a model the bench never saw), linear in log(current) inside."""
        points = self.points
        if current_a <= points[0][0]:
            return points[0][1], points[0][2]
        if current_a >= points[-1][0]:
            return points[-1][1], points[-1][2]
        x = log(current_a)
        k = 1
        while self._logs[k] < x:
            k += 1
        x0, x1 = self._logs[k - 1], self._logs[k]
        t = (x - x0) / (x1 - x0)
        lo, hi = points[k - 1], points[k]
        return lo[1] + t * (hi[1] - lo[1]), lo[2] + t * (hi[2] - lo[2])

    def with_point(self, current_a, gain, phase_deg):
        """A new curve with this point, replacing any point within 5 % of its current."""
        kept = [p for p in self.points
                if not current_a / MIN_STEP < p[0] < current_a * MIN_STEP]
        kept.append([current_a, gain, phase_deg])
        kept.sort(key=lambda p: p[0])
        return CurrentCurve(kept)


def _within(value, limits, name):
    if not limits[0] <= value <= limits[1]:
        raise CurveError("out-of-range", "%s %r outside %r..%r" % (name, value, limits[0], limits[1]))
