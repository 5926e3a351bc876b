"""Replay of WAV captures through the Sampler: the values against the sim front-end's
analytic truth, and every malformed capture refused with its reason code.

The WAV bytes are built here with struct (both interpreters), so the parser is checked
against the RIFF layout itself, not against our own writer.
"""
import os
import struct
import sys
from array import array

from boards import common, sim
from metering.replay import CaptureError, replay_file, replay_wav

import mptest

RATE_HZ = common.SHARED.sample_pairs_per_s
PF_HALF = {"load_a": 5.0, "phase_deg": 60.0}  # 230 V, 5 A, PF 0.5 inductive
LIMIT_PCT = 0.3
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FIXTURE = HERE + "/../fixtures/captures/synth_pf05_5a_3s"
_GOOD = None


def _cal():
    return common.shared_calibration()


def _codes(seconds, start_pair=0, **scenario):
    """Interleaved sim codes (array 'H') and the analytic truth of the scenario."""
    front_end = sim.SimFrontEnd(**scenario)
    front_end.n = start_pair  # start the capture anywhere in the cycle
    pairs = int(seconds * RATE_HZ)
    codes = array("H", bytes(4 * pairs))
    front_end.fill(codes, pairs)
    return codes, front_end.truth()


def _fmt(tag=1, channels=2, bits=16, rate_hz=RATE_HZ, tail=b""):
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate_hz, rate_hz * align, align, bits) + tail
    return b"fmt " + struct.pack("<I", len(body)) + body


def _wav(data, fmt=None, before_data=b"", data_size=None):
    """RIFF/WAVE bytes: fmt chunk, any other chunks, then the data chunk."""
    fmt = fmt if fmt is not None else _fmt()
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + fmt + before_data + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _pcm(codes):
    # the raw buffer is the WAV's little-endian int16 on every host we test on
    if sys.byteorder != "little":
        mptest.skip("sample bytes are written in host order")
    return bytes(codes)


def _good():
    """2.5 s of the PF 0.5 load: a sync window, two whole windows, an unfinished one."""
    global _GOOD
    if _GOOD is None:
        codes, truth = _codes(2.5, **PF_HALF)
        _GOOD = (_pcm(codes), truth)
    return _GOOD


def _write(name, data):
    path = "%s-%s.wav" % (mptest.temp_root("replay"), name)  # unique per run
    with open(path, "wb") as f:
        f.write(data)
    return path


def _replay(name, data, **options):
    path = _write(name, data)
    try:
        return replay_wav(path, _cal(), **options)
    finally:
        os.remove(path)


def _pct(value, truth):
    return 100.0 * abs(value / truth - 1.0)


def _reason(name, data):
    return mptest.raises(CaptureError, _replay, name, data).reason


def test_replay_matches_the_sim_truth_for_a_pf_half_load():
    data, truth = _good()
    s = _replay("good", _wav(data))
    for key in ("vrms", "irms", "p_w", "q_var", "freq_hz"):
        assert _pct(s[key], truth[key]) < LIMIT_PCT, (key, s[key], truth[key])
    assert abs(s["pf"] - 0.5) < 0.5 * LIMIT_PCT / 100


def test_capture_starting_mid_cycle_measures_every_window_right():
    codes, truth = _codes(2.5, start_pair=37, **PF_HALF)
    s = _replay("midcycle", _wav(_pcm(codes)), keep_windows=True)
    whole = [w for w in s["per_window"] if w["whole_cycles"]]
    assert len(whole) == 2
    for w in whole:  # a part-cycle start must not upset the offset tracking
        assert abs(w["freq_hz"] - truth["freq_hz"]) < 0.01, w["freq_hz"]
        assert _pct(w["p_w"], truth["p_w"]) < LIMIT_PCT, w["p_w"]


def test_energy_is_power_times_registered_time():
    data, truth = _good()
    s = _replay("energy", _wav(data))
    expected_wh = truth["p_w"] * s["registered_s"] / 3600.0
    assert _pct(s["import_wh"], expected_wh) < LIMIT_PCT, (s["import_wh"], expected_wh)
    assert s["export_wh"] == 0.0


def test_export_load_registers_export_energy_only():
    codes, truth = _codes(2.3, load_a=5.0, phase_deg=180.0)
    s = _replay("export", _wav(_pcm(codes)))
    assert s["p_w"] < 0 and _pct(s["p_w"], truth["p_w"]) < LIMIT_PCT
    assert s["export_wh"] > 0 and s["import_wh"] == 0.0


def test_last_partial_window_is_not_reported():
    data, _ = _good()
    s = _replay("partial", _wav(data), keep_windows=True)
    assert [w["whole_cycles"] for w in s["per_window"]] == [False, True, True]
    reported = sum(w["n_pairs"] for w in s["per_window"]) + s["skipped_pairs"]
    assert s["pairs"] == len(data) // 4
    assert 0 < s["pairs"] - reported < RATE_HZ  # the unfinished window's pairs


def test_unknown_chunks_before_the_samples_are_skipped():
    data, _ = _good()
    plain = _replay("plain", _wav(data))
    info = b"INFO" + b"ICMT" + struct.pack("<I", 5) + b"test\x00" + b"\x00"  # odd: padded
    listed = _wav(data, before_data=b"LIST" + struct.pack("<I", len(info) - 1) + info)
    s = _replay("list", listed)
    assert s["p_w"] == plain["p_w"] and s["windows"] == plain["windows"]


def test_wave_format_extensible_with_pcm_subformat_is_accepted():
    data, _ = _good()
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    tail = struct.pack("<HHI", 22, 16, 3) + guid  # cbSize, valid bits, channel mask
    s = _replay("extensible", _wav(data, fmt=_fmt(tag=0xFFFE, tail=tail)))
    assert s["p_w"] == _replay("pcm", _wav(data))["p_w"]


class _CountingFile:
    """A file that records the largest single read, as Zephyr's ADC emulator checks writes."""

    def __init__(self, data):
        self._data = data
        self._pos = 0
        self.largest_read = 0

    def _take(self, n):
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        self.largest_read = max(self.largest_read, n)
        return chunk

    def read(self, n):
        return self._take(n)

    def readinto(self, buf):
        chunk = self._take(2 * len(buf))  # buf holds 16-bit codes
        for k in range(len(chunk) // 2):
            buf[k] = chunk[2 * k] | (chunk[2 * k + 1] << 8)
        return len(chunk)

    def seek(self, pos):
        self._pos = pos

    def tell(self):
        return self._pos


def test_capture_is_read_in_blocks_never_whole():
    data, _ = _good()
    wav = _wav(data)
    f = _CountingFile(wav)
    replay_file(f, len(wav), _cal(), block_pairs=64)
    assert f.largest_read == 4 * 64


def test_refuses_a_file_that_is_not_riff():
    data, _ = _good()
    assert _reason("notriff", b"RIFX" + _wav(data)[4:]) == "not-wav"


def test_refuses_mono():
    data, _ = _good()
    assert _reason("mono", _wav(data, fmt=_fmt(channels=1))) == "not-pcm16-stereo"


def test_refuses_8_bit_samples():
    data, _ = _good()
    assert _reason("8bit", _wav(data, fmt=_fmt(bits=8))) == "not-pcm16-stereo"


def test_refuses_float_samples():
    data, _ = _good()
    assert _reason("float", _wav(data, fmt=_fmt(tag=3))) == "not-pcm16-stereo"


def test_refuses_a_truncated_data_chunk():
    data, _ = _good()
    assert _reason("truncated", _wav(data)[:-1000]) == "truncated"


def test_refuses_a_header_with_no_samples():
    assert _reason("header", _wav(b"")) == "too-short"


def test_refuses_a_capture_shorter_than_one_window():
    data, _ = _good()
    assert _reason("short", _wav(data[:4 * RATE_HZ])) == "too-short"


def test_refuses_codes_above_the_adc_range():
    data, _ = _good()
    edited = bytearray(data)
    edited[4000:4002] = struct.pack("<h", -1)  # 0xFFFF: not a 12-bit code
    assert _reason("range", _wav(bytes(edited))) == "code-out-of-range"


def test_refuses_an_impossible_sample_rate():
    data, _ = _good()
    assert _reason("rate", _wav(data, fmt=_fmt(rate_hz=0))) == "bad-rate"


def test_capture_without_voltage_has_no_whole_cycles():
    codes, _ = _codes(2.5, mains_v=0.0, load_a=5.0)
    assert _reason("novolt", _wav(_pcm(codes))) == "no-cycles"


def test_shipped_fixture_replays_to_its_truth():
    import json

    with open(FIXTURE + ".cal.json") as f:
        cal = json.load(f)
    s = replay_wav(FIXTURE + ".wav", cal)
    assert _pct(s["vrms"], 230.0) < LIMIT_PCT and _pct(s["irms"], 5.0) < LIMIT_PCT
    assert _pct(s["p_w"], 575.0) < LIMIT_PCT and abs(s["pf"] - 0.5) < 0.002
