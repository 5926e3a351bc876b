"""Replay of recorded ADC captures (WAV, 2 x 16-bit PCM) through the Sampler, as the board
meters live: channel 0 voltage codes, channel 1 current codes, sample rate = pairs/s.

Streams the file block by block into the Sampler's own buffer and never loads it whole, so
a long capture replays in a board's RAM. Reads only; never touches live registers.
"""
import os
import struct
import sys
from array import array

from compat import const
from metering.calibration import Calibration
from metering.registers import MJ_PER_WH, Registers
from metering.sampling import Sampler
from refusal import Refusal

_BYTES_PER_PAIR = const(4)
_FORMAT_PCM = const(1)
_FORMAT_EXTENSIBLE = const(0xFFFE)
# KSDATAFORMAT_SUBTYPE_PCM {00000001-0000-0010-8000-00aa00389b71}, after the format code
_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_MIN_RATE_HZ = const(500)
_MAX_RATE_HZ = const(200000)
_SWAP_BYTES = sys.byteorder == "big"  # WAV data is little-endian
_SCAN_PAIRS = const(32)
_HYSTERESIS_COUNTS = const(8)  # as metering.sampling: armed below mid - 8 counts


class CaptureError(Refusal):
    """A capture that cannot be replayed: reason code ("not-wav", "not-pcm16-stereo",
    "truncated", "too-short", "bad-rate", "code-out-of-range", "no-cycles") and detail."""


def _u16(data, at):
    return struct.unpack("<H", data[at:at + 2])[0]


def _u32(data, at):
    return struct.unpack("<I", data[at:at + 4])[0]


def _check_format(fmt):
    """RIFF fmt chunk: PCM (or WAVE_FORMAT_EXTENSIBLE with PCM subformat), 2 x 16 bit."""
    if len(fmt) < 16:
        raise CaptureError("not-wav", "fmt chunk shorter than 16 bytes")
    tag = _u16(fmt, 0)
    channels = _u16(fmt, 2)
    rate_hz = _u32(fmt, 4)
    block_align = _u16(fmt, 12)
    bits = _u16(fmt, 14)
    if tag == _FORMAT_EXTENSIBLE:
        if len(fmt) < 40 or _u16(fmt, 24) != _FORMAT_PCM or fmt[26:40] != _PCM_GUID_TAIL:
            raise CaptureError("not-pcm16-stereo", "extensible format is not PCM")
    elif tag != _FORMAT_PCM:
        raise CaptureError("not-pcm16-stereo", "format tag %d, need 1 (PCM)" % tag)
    if channels != 2 or bits != 16 or block_align != _BYTES_PER_PAIR:
        raise CaptureError("not-pcm16-stereo", "%d channel(s) of %d bit, need 2 of 16"
                           % (channels, bits))
    if not _MIN_RATE_HZ <= rate_hz <= _MAX_RATE_HZ:
        raise CaptureError("bad-rate", "%d pairs/s, need %d..%d"
                           % (rate_hz, _MIN_RATE_HZ, _MAX_RATE_HZ))
    return rate_hz


def read_header(f, file_bytes):
    """Parse the RIFF/WAVE header of an open file of `file_bytes` bytes; leaves the file at
    the first sample. Returns (rate_hz, pairs). Chunks other than fmt/data are skipped."""
    head = f.read(12)
    if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise CaptureError("not-wav", "no RIFF/WAVE header")
    rate_hz = None
    pos = 12
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise CaptureError("truncated", "file ends before the data chunk")
        size = _u32(chunk, 4)
        body_at = pos + 8
        if chunk[0:4] == b"data":
            if rate_hz is None:
                raise CaptureError("not-wav", "data chunk before the fmt chunk")
            if body_at + size > file_bytes:
                raise CaptureError("truncated", "data chunk holds %d of %d bytes"
                                   % (file_bytes - body_at, size))
            if size % _BYTES_PER_PAIR:
                raise CaptureError("truncated", "data chunk ends inside a sample pair")
            return rate_hz, size // _BYTES_PER_PAIR
        if chunk[0:4] == b"fmt ":
            if size > 64:
                raise CaptureError("not-wav", "fmt chunk of %d bytes" % size)
            rate_hz = _check_format(f.read(size))
        pos = body_at + size + (size & 1)  # RIFF pads odd-sized chunks to even
        if pos > file_bytes:
            raise CaptureError("truncated", "chunk runs past the end of the file")
        f.seek(pos)


def _pairs_before_rising_crossing(f, pairs, v_level, limit_pairs):
    """Pairs before the first rising crossing of the voltage through v_level (0 if none
    within limit_pairs); moves the file position. Small chunks: a board's RAM is small."""
    buf = array("H", bytes(4 * _SCAN_PAIRS))
    view = memoryview(buf)
    armed = False
    k = 0
    while k < limit_pairs and k < pairs:
        n = min(_SCAN_PAIRS, pairs - k)
        if f.readinto(view[:2 * n]) != 4 * n:
            raise CaptureError("truncated", "file ended inside the data chunk")
        for j in range(n):
            v = buf[2 * j]
            if _SWAP_BYTES:
                v = ((v & 0xFF) << 8) | (v >> 8)
            if v < v_level - _HYSTERESIS_COUNTS:
                armed = True
            elif armed and v >= v_level:
                return k + j
        k += n
    return 0


class CaptureADC:
    """ADC-pair object (contract of boards.sim.SimADC: readinto, rate_hz, lost_pairs) over
    an open capture positioned at its first sample; fills whole blocks only."""

    def __init__(self, f, rate_hz, pairs, top_code, block_pairs):
        self._f = f
        self.block_pairs = block_pairs
        self._top_code = top_code
        self.rate_hz = rate_hz
        self.lost_pairs = 0
        self.remaining_pairs = pairs

    def readinto(self, buf):
        pairs = len(buf) // 2
        if pairs > self.remaining_pairs:
            raise CaptureError("truncated", "read past the end of the data")
        got = self._f.readinto(buf)
        if got != pairs * _BYTES_PER_PAIR:
            raise CaptureError("truncated", "file ended inside the data chunk")
        if _SWAP_BYTES:
            for k in range(len(buf)):
                x = buf[k]
                buf[k] = ((x & 0xFF) << 8) | (x >> 8)
        if max(buf) > self._top_code:  # also catches negative int16 (read unsigned)
            raise CaptureError("code-out-of-range", "code %d above %d"
                               % (max(buf), self._top_code))
        self.remaining_pairs -= pairs


class _Totals:
    """Per-window sink: registers energy, sums duration-weighted values."""

    def __init__(self, rate_hz, starting_power_w, window_cb, keep_windows):
        self.rate_hz = rate_hz
        self.registers = Registers(starting_power_w)
        self.window_cb = window_cb
        self.per_window = [] if keep_windows else None
        self.windows = 0
        self.whole = 0
        self.registered_pairs = 0
        self.t = self.v2t = self.i2t = self.pt = self.qt = self.st = self.ft = 0.0

    def add(self, r):
        self.windows += 1
        if self.windows > 1:
            # the first window starts wherever the capture starts and only synchronises on
            # the first zero crossing: a meter registers it once at boot, a replay never
            self.registers.add(r.p_w, r.n_pairs * 1000.0 / self.rate_hz)
            self.registered_pairs += r.n_pairs
        if r.whole_cycles:
            dt = r.duration_s
            self.whole += 1
            self.t += dt
            self.v2t += r.vrms * r.vrms * dt
            self.i2t += r.irms * r.irms * dt
            self.pt += r.p_w * dt
            self.qt += r.q_var * dt
            self.st += r.s_va * dt
            self.ft += r.freq_hz * dt
        if self.per_window is not None:
            self.per_window.append(r.to_dict())
        if self.window_cb is not None:
            self.window_cb(r)

    def summary(self, pairs, kernel_name):
        t = self.t
        reg = self.registers
        s_va = self.st / t
        p_w = self.pt / t
        out = {
            "vrms": (self.v2t / t) ** 0.5, "irms": (self.i2t / t) ** 0.5,
            "p_w": p_w, "q_var": self.qt / t, "s_va": s_va,
            "pf": p_w / s_va if s_va > 0 else 1.0, "freq_hz": self.ft / t,
            "import_wh": reg.import_wh[1] + reg.import_mj / MJ_PER_WH,
            "export_wh": reg.export_wh[1] + reg.export_mj / MJ_PER_WH,
            "windows": self.windows, "whole_windows": self.whole, "duration_s": t,
            "registered_s": self.registered_pairs / self.rate_hz,
            "pairs": pairs, "rate_hz": self.rate_hz, "kernel": kernel_name,
        }
        if self.per_window is not None:
            out["per_window"] = self.per_window
        return out


def replay_file(f, file_bytes, cal, window_cb=None, block_pairs=128, starting_power_w=0,
                keep_windows=False, use_viper=True):
    """replay_wav on an open file of `file_bytes` bytes (the caller closes it)."""
    if isinstance(cal, dict):
        cal = Calibration(**cal)
    rate_hz, pairs = read_header(f, file_bytes)
    # Start on a rising zero crossing, so the Sampler's synchronising window is one whole
    # cycle: a part-cycle one has a mean far from the bias, which the Sampler then tracks
    # as the offset, and the next two windows miscount crossings (frequency off by 1 Hz).
    data_at = f.tell()
    skipped = _pairs_before_rising_crossing(f, pairs, cal.v_offset,
                                            int(2 * rate_hz / cal.f_nominal_hz))
    f.seek(data_at + skipped * _BYTES_PER_PAIR)
    pairs -= skipped
    # one window needs the synchronising part-cycle, about a second, and the closing
    # crossing inside a whole block
    needed = int(rate_hz * (1.0 + 3.0 / cal.f_nominal_hz)) + block_pairs
    if pairs < needed:
        raise CaptureError("too-short", "%d pairs, a replay needs at least %d (%.1f s)"
                           % (pairs, needed, needed / rate_hz))
    adc = CaptureADC(f, rate_hz, pairs, (1 << cal.adc_bits) - 1, block_pairs)
    totals = _Totals(rate_hz, starting_power_w, window_cb, keep_windows)
    sampler = Sampler(adc, cal, totals.add, use_viper=use_viper)
    # pairs after the last whole block belong to the unfinished last window: not reported
    while adc.remaining_pairs >= block_pairs:
        sampler.poll()
    if not totals.whole:
        raise CaptureError("no-cycles", "no whole-cycle window: no mains zero crossings on "
                           "the voltage channel (channel 0)")
    summary = totals.summary(pairs + skipped, sampler.kernel_name)
    summary["skipped_pairs"] = skipped
    return summary


def replay_wav(path, cal, window_cb=None, block_pairs=128, starting_power_w=0,
               keep_windows=False, use_viper=True):
    """Replay a capture file through the Sampler; returns the summary dict.

    Averages are duration-weighted over whole-cycle windows (RMS values as the root of the
    weighted mean square); import_wh/export_wh are integrated as Registers does, from every
    window after the first. window_cb(WindowResult) is called per window; keep_windows adds
    `per_window` (WindowResult.to_dict() per window) to the summary.
    """
    file_bytes = os.stat(path)[6]
    f = open(path, "rb")
    try:
        return replay_file(f, file_bytes, cal, window_cb, block_pairs, starting_power_w,
                           keep_windows, use_viper)
    finally:
        f.close()
