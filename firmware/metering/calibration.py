"""Calibration record: the constants that turn ADC codes into volts, amps and watts.

Versioned and checksummed (CRC-32 over canonical JSON), so a torn or edited record is
refused rather than silently used. Never changed by comms or update code.
"""
import json

import canonical
from refusal import Refusal

from binascii import crc32

CALIBRATION_VERSION = 1

# name: (type, lowest, highest): a record with any value outside these is refused.
FIELDS = {
    "v_per_count": (float, 1e-6, 10.0),  # volts per ADC count, from the front-end
    "a_per_count": (float, 1e-7, 10.0),  # amps per ADC count
    "v_gain": (float, 0.5, 2.0),  # trim found by calibration, multiplies v_per_count
    "i_gain": (float, 0.5, 2.0),
    "v_offset": (int, 0, 65535),  # nominal mid-rail codes
    "i_offset": (int, 0, 65535),
    "adc_bits": (int, 8, 16),
    "i_delay_us": (float, -1000.0, 1000.0),  # current sampled this long after voltage
    "phase_deg": (float, -10.0, 10.0),  # current front-end lead to remove
    "i_crosstalk": (float, -0.01, 0.01),  # in-phase fraction of v codes seen on i
    "v_noise_counts": (float, 0.0, 50.0),  # RMS noise floor, removed in quadrature
    "i_noise_counts": (float, 0.0, 50.0),
    "f_nominal_hz": (float, 40.0, 70.0),
}


class CalibrationError(Refusal):
    """A calibration record that cannot be trusted: reason code and detail."""


CURVE = "i_curve"  # optional: the multi-point current correction (metering.current_curve)


class Calibration:
    """Plain values, every field range-checked; `curve` is the optional CurrentCurve
    (given as i_curve=[[A, gain, deg], ...]), kept out of the single-point record."""

    def __init__(self, **values):
        points = values.pop(CURVE, None)
        self.curve = None
        if points:  # loaded only where there is a curve: a board without one saves its heap
            from metering.current_curve import CurrentCurve, CurveError

            try:
                self.curve = CurrentCurve(points)
            except CurveError as exc:
                raise CalibrationError(exc.reason, CURVE + ": " + exc.detail)
        for name in FIELDS:
            if name not in values:
                raise CalibrationError("missing-field", name)
        for name, value in values.items():
            if name not in FIELDS:
                raise CalibrationError("unknown-field", name)
            kind, low, high = FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CalibrationError("bad-type", name)
            if kind is int and not isinstance(value, int):
                raise CalibrationError("bad-type", name)
            value = kind(value)
            if not low <= value <= high:
                raise CalibrationError("out-of-range", "%s=%r" % (name, value))
            setattr(self, name, value)

    def to_dict(self):
        """Every field, and i_curve when there is a curve."""
        values = {name: getattr(self, name) for name in FIELDS}
        if self.curve is not None:
            values[CURVE] = [list(p) for p in self.curve.points]
        return values

    def replaced(self, **changes):
        values = self.to_dict()
        values.update(changes)
        return Calibration(**values)

    def encode(self):
        """Stored form: one JSON line (sorted keys), then '#cal v<version> crc32=<hex>'.

        The CRC covers the JSON line's exact bytes, so a record written on the host reads
        back on the board even where the two interpreters print floats differently.
        The curve is not in it (encode_curve): firmware that predates the curve reads it.
        """
        body = canonical.dumps({name: getattr(self, name) for name in FIELDS})
        return _seal(body.encode())

    def encode_curve(self, record):
        """The curve's record (None without a curve), bound to the CRC of `record`, the
        single-point record as stored (encode's bytes): applied only beside that record.
        Bound to stored bytes, not a re-encoding: a 32-bit board prints floats otherwise."""
        if self.curve is None:
            return None
        base = crc32(_unseal(record))
        body = canonical.dumps({"base_crc32": "%08x" % base, "points": self.curve.points})
        return _seal(body.encode(), CURVE_SEAL)

    @staticmethod
    def decode(data):
        body = _unseal(data)
        try:
            values = json.loads(body)
        except ValueError:
            raise CalibrationError("malformed", "body is not JSON")
        if not isinstance(values, dict) or CURVE in values:
            raise CalibrationError("malformed", "body is not an object of fields")
        return Calibration(**values)

    def with_curve_record(self, data, record):
        """This calibration (decoded from `record`, the stored single-point record) with
        the curve stored in `data` (encode_curve's form). Refused with "stale-curve" if the
        curve was made beside another single-point record."""
        body = _unseal(data, CURVE_SEAL)
        try:
            stored = json.loads(body)
            bound, points = stored["base_crc32"], stored["points"]
        except (ValueError, KeyError, TypeError):
            raise CalibrationError("malformed", "curve record")
        if bound != "%08x" % crc32(_unseal(record)):
            raise CalibrationError("stale-curve", "made for another calibration record")
        values = self.to_dict()
        values[CURVE] = points
        return Calibration(**values)


CAL_SEAL = b"#cal v"
CURVE_SEAL = b"#curve v"


def _seal(body, seal=CAL_SEAL):
    return body + b"\n" + seal + b"%d crc32=%08x\n" % (CALIBRATION_VERSION, crc32(body))


def _unseal(data, seal=CAL_SEAL):
    if isinstance(data, str):
        data = data.encode()
    lines = data.strip().split(b"\n")
    if len(lines) != 2 or not lines[1].startswith(seal):
        raise CalibrationError("malformed", "expected a body line and a seal line")
    try:
        version_text, crc_text = lines[1][len(seal):].split(b" crc32=")
        version = int(version_text)
        crc = int(crc_text, 16)
    except ValueError:
        raise CalibrationError("malformed", "bad seal line")
    if version != CALIBRATION_VERSION:
        raise CalibrationError("bad-version", str(version))
    if crc32(lines[0]) != crc:
        raise CalibrationError("bad-checksum")
    return lines[0]
