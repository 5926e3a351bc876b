"""Capture files and calibration files, as tools.capture writes them and tools.replay and
tools.calibrate read them. A capture is a WAV file, 2 x 16-bit PCM: channel 0 the voltage
ADC codes, channel 1 the current ADC codes, the sample rate being pairs per second; a
calibration is the board default with the fields of a JSON object over it. Files appear
whole (written, then renamed) or not at all.
"""
import json
import os
import struct
import sys
from array import array

from tools.shared.errors import ToolError
from tools.shared.files import read_json
from tools.shared.paths import use_firmware

use_firmware()  # boards/ and the firmware modules, as on the board

from boards import common  # noqa: E402
from metering.calibration import FIELDS, Calibration, CalibrationError  # noqa: E402
from metering.replay import CaptureError, read_header  # noqa: E402

MAX_CODE = 32767  # codes are stored as int16
REQUIRED_CAL_FIELDS = ("v_per_count", "a_per_count")
_SWAP = sys.byteorder == "big"


# --- WAV files ---

class WavWriter:
    """Streams pairs into a capture file; the file appears (atomically) on close()."""

    def __init__(self, path, rate_hz, comment=None):
        self.path = path
        self.rate_hz = int(rate_hz)
        self.pairs = 0
        self._tmp = path + ".tmp"
        self._f = open(self._tmp, "wb")
        fmt = _pack("<HHIIHH", 1, 2, self.rate_hz, 4 * self.rate_hz, 4, 16)
        head = b"RIFF" + bytes(4) + b"WAVE" + b"fmt " + _pack("<I", len(fmt)) + fmt
        if comment:
            # LIST/INFO/ICMT: what the capture is, readable by any audio tool
            text = comment.encode() + b"\x00"
            text += b"\x00" * (len(text) & 1)
            info = b"INFO" + b"ICMT" + _pack("<I", len(text)) + text
            head += b"LIST" + _pack("<I", len(info)) + info
        self._f.write(head + b"data" + bytes(4))
        self._data_at = len(head) + 8

    def write_pairs(self, codes):
        """codes: interleaved (voltage, current) codes, 0..32767 (array('H') or a list)."""
        if len(codes) % 2:
            raise ValueError("codes must come in (voltage, current) pairs")
        if not isinstance(codes, array) or codes.typecode != "H":
            codes = array("H", codes)
        if len(codes) and max(codes) > MAX_CODE:
            raise ValueError("code %d does not fit a 16-bit sample" % max(codes))
        if _SWAP:
            codes = array("H", codes)
            codes.byteswap()
        self._f.write(codes.tobytes())
        self.pairs += len(codes) // 2

    def close(self):
        data_bytes = 4 * self.pairs
        self._f.seek(4)
        self._f.write(_pack("<I", self._data_at - 8 + data_bytes))
        self._f.seek(self._data_at - 4)
        self._f.write(_pack("<I", data_bytes))
        self._f.close()
        os.replace(self._tmp, self.path)

    def abort(self):
        self._f.close()
        os.remove(self._tmp)


def _pack(fmt, *values):
    return struct.pack(fmt, *values)


def write_wav(path, rate_hz, v_codes, i_codes, comment=None):
    """Writes a capture from two equally long sequences of raw ADC codes."""
    if len(v_codes) != len(i_codes):
        raise ValueError("voltage and current need the same number of codes")
    codes = array("H", bytes(4 * len(v_codes)))
    codes[0::2] = array("H", v_codes)
    codes[1::2] = array("H", i_codes)
    writer = WavWriter(path, rate_hz, comment)
    try:
        writer.write_pairs(codes)
    except BaseException:
        writer.abort()
        raise
    writer.close()


class Capture:
    """A capture in memory: rate_hz and the voltage and current codes (array('H'))."""

    def __init__(self, rate_hz, v_codes, i_codes):
        self.rate_hz = rate_hz
        self.v_codes = v_codes
        self.i_codes = i_codes

    @property
    def seconds(self):
        return len(self.v_codes) / self.rate_hz


def read_wav(path):
    """Reads a capture; raises CaptureError (reason, detail) for anything malformed."""
    with open(path, "rb") as f:
        rate_hz, pairs = read_header(f, os.fstat(f.fileno()).st_size)
        codes = array("H")
        codes.frombytes(f.read(4 * pairs))
    if _SWAP:
        codes.byteswap()
    return Capture(rate_hz, codes[0::2], codes[1::2])


def check_wav(path):
    """(rate_hz, pairs) of a capture file, or ToolError in one line."""
    try:
        with open(path, "rb") as f:
            return read_header(f, os.fstat(f.fileno()).st_size)
    except OSError as exc:
        raise ToolError("cannot read capture %s: %s" % (path, exc.strerror or exc))
    except CaptureError as exc:
        raise ToolError("%s is not a usable capture: %s" % (path, exc))


# --- calibration JSON ---

def load_calibration(path):
    """A calibration JSON merged over the board default; ToolError for anything wrong.
    The JSON must give at least v_per_count and a_per_count; unknown keys are refused."""
    values = read_json(path, "calibration ")
    if not isinstance(values, dict):
        raise ToolError("calibration %s must be a JSON object of field: value" % path)
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ToolError("calibration %s: unknown field(s) %s (known: %s)"
                        % (path, ", ".join(unknown), ", ".join(FIELDS)))
    missing = [name for name in REQUIRED_CAL_FIELDS if name not in values]
    if missing:
        raise ToolError("calibration %s lacks %s" % (path, " and ".join(missing)))
    merged = common.shared_calibration()
    merged.update(values)
    try:
        return Calibration(**merged).to_dict()
    except CalibrationError as exc:
        raise ToolError("calibration %s refused: %s" % (path, exc))


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
