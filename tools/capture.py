"""Capture files for the metering replay: WAV, 2 x 16-bit PCM, channel 0 the voltage ADC
codes, channel 1 the current ADC codes, the sample rate being pairs per second.

`synth` writes one from the simulated front-end, `record` reads one from a board (or the
virtual board) over mpremote, `plot` draws one. Never changes a board's registers or
calibration; `record` pauses the board's metering while it records, then restarts it.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import threading
import time
from array import array

from tools.shared.errors import ToolError
from tools.shared.paths import use_firmware, venv_tool

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
    try:
        with open(path) as f:
            values = json.load(f)
    except OSError as exc:
        raise ToolError("cannot read calibration %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ToolError("calibration %s is not valid JSON (%s)" % (path, exc))
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


# --- synth ---

def synth(out, cal_path, seconds, rate_hz=common.SAMPLE_PAIRS_PER_S, progress=None,
          **scenario):
    """Writes a capture of the sim front-end and its calibration; returns the truth."""
    from boards.sim import SimFrontEnd

    i_delay_us = 1e6 / (2 * rate_hz)  # sequential sampling: one ADC slot after the voltage
    scenario.setdefault("i_delay_us", i_delay_us)
    front_end = SimFrontEnd(rate_hz=rate_hz, **scenario)
    pairs = int(round(seconds * rate_hz))
    comment = "tools.capture synth: %s" % json.dumps(
        {"seconds": seconds, "rate_hz": rate_hz, "scenario": front_end.scenario},
        sort_keys=True)
    writer = WavWriter(out, rate_hz, comment)
    block = array("H", bytes(4 * rate_hz))
    try:
        while writer.pairs < pairs:
            n = min(rate_hz, pairs - writer.pairs)
            front_end.fill(block, n)
            writer.write_pairs(block[:2 * n])
            if progress:
                progress(writer.pairs / rate_hz, pairs / rate_hz)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    cal = common.shared_calibration()
    cal["i_delay_us"] = i_delay_us
    write_json(cal_path, cal)
    return {"capture": out, "cal": cal_path, "pairs": pairs, "rate_hz": rate_hz,
            "seconds": pairs / rate_hz, "truth": front_end.truth()}


# --- record ---

# Runs on the board. The running meter owns the ADC: it is paused (App.stop) while the
# snippet reads, so no block goes to two readers, and restarted afterwards.
_RECORD_SNIPPET = """\
def _record(seconds):
    import binascii, json, sys, time
    from array import array
    import main
    app = getattr(main, "app", None) or globals().get("app")
    resume = False
    if app is not None:
        adc, cal = app.hw.adc, app.calibration.cal.to_dict()
        if app.running:
            app.stop()
            t0 = time.ticks_ms()
            while not app.stopped:
                if time.ticks_diff(time.ticks_ms(), t0) > 5000:
                    print("ERR the meter did not pause within 5 s")
                    return
                time.sleep_ms(10)
            resume = True
    else:
        from boards import common
        board = main.board_module()
        adc, cal = board.hardware().adc, common.calibration_for(board)
    try:
        print("CAL", json.dumps(cal))
        block = adc.block_pairs  # the driver's block: it refuses any other size
        buf = array("H", bytes(4 * block))
        adc.readinto(buf)  # dropped: what queued up while the meter paused
        lost = adc.lost_pairs
        pairs = -(-int(seconds * adc.rate_hz + 0.5) // block) * block
        print("REC", adc.rate_hz, pairs, sys.byteorder, block)
        n = 0
        while n < pairs:
            adc.readinto(buf)
            print("D", binascii.hexlify(buf).decode())
            n += block
        print("END", adc.lost_pairs - lost)
    finally:
        if resume:
            import _thread
            app.stopped = False
            app.meter.save(clean=False)  # running again: an unclean stop is a power failure
            _thread.start_new_thread(app.run, (0, False))
_record(%r)
"""


def mpremote_binary():
    return venv_tool("mpremote")


def record(device, out, seconds, cal_path=None, progress=None):
    """Records `seconds` of ADC pairs from the board at `device` into a capture file."""
    mpremote = mpremote_binary()
    code = _RECORD_SNIPPET % (float(seconds),)
    proc = subprocess.Popen([mpremote, "connect", device, "resume", "exec", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # a board that stops answering must not hang the technician's terminal
    watchdog = threading.Timer(60 + 4 * seconds, proc.kill)
    watchdog.start()
    data = bytearray()
    cal = lost = byteorder = rate_hz = None
    block_pairs = 0
    pairs = wanted = 0
    other = []
    try:
        for line in proc.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "D":
                try:
                    chunk = bytes.fromhex(rest)
                except ValueError:
                    raise ToolError("garbled data from the board (line of %d chars)" % len(rest))
                if len(chunk) != 4 * block_pairs:
                    raise ToolError("garbled data from the board (block of %d bytes)"
                                    % len(chunk))
                data += chunk
                if progress:
                    progress(len(data) / 4.0 / rate_hz, wanted / rate_hz)
            elif word == "CAL":
                cal = json.loads(rest)
            elif word == "REC":
                rate_text, wanted_text, byteorder, block_text = rest.split()
                rate_hz, wanted, block_pairs = int(rate_text), int(wanted_text), int(block_text)
                pairs = int(round(seconds * rate_hz))
            elif word == "END":
                lost = int(rest)
            elif word == "ERR":
                raise ToolError("board: " + rest)
            elif line.strip():
                other.append(line.strip())
        proc.wait(30)
    except ValueError:  # a CAL or REC line that does not parse
        raise ToolError("garbled answer from the board on %s" % device)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if lost is None:
        detail = (other or proc.stderr.read().strip().splitlines() or ["no output"])[-1]
        raise ToolError("recording on %s failed: %s" % (device, detail))
    if lost:
        raise ToolError("the board lost %d pairs while recording (the link is too slow); "
                        "nothing written" % lost)
    if len(data) < 4 * pairs or cal is None:
        raise ToolError("incomplete recording from %s: %d of %d pairs"
                        % (device, len(data) // 4, pairs))
    codes = array("H")
    codes.frombytes(bytes(data[:4 * pairs]))
    if byteorder != sys.byteorder:
        codes.byteswap()
    writer = WavWriter(out, rate_hz, "tools.capture record: %s, %s" % (device, time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    writer.write_pairs(codes)
    writer.close()
    if cal_path:
        write_json(cal_path, cal)
    return {"capture": out, "cal": cal_path, "pairs": pairs, "rate_hz": rate_hz,
            "seconds": pairs / rate_hz, "device": device}


# --- plot ---

def _error_points(path):
    """[(label, [(current_a, error_pct)])] from an accuracy JSON: a list of points (objects
    with a current and an error in percent, optionally a label, or [current, error])."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as exc:
        raise ToolError("cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ToolError("%s is not valid JSON (%s)" % (path, exc))
    points = doc.get("points") if isinstance(doc, dict) else doc
    if not isinstance(points, list) or not points:
        raise ToolError("%s must hold a list of points (current, error %%)" % path)
    series = {}
    for n, point in enumerate(points):
        label = ""
        if isinstance(point, dict):
            current = _first(point, ("current_a", "i_a", "current", "load_a", "irms"))
            error = _first(point, ("error_pct", "p_pct", "err_pct", "error"))
            label = str(point.get("label", point.get("pf", "")))
        elif isinstance(point, list) and len(point) == 2:
            current, error = point
        else:
            current = error = None
        if not (_number(current) and _number(error) and current > 0):
            raise ToolError("%s: point %d needs a current above 0 A and an error in %%"
                            % (path, n))
        series.setdefault(label, []).append((float(current), float(error)))
    return [(label, sorted(pts)) for label, pts in series.items()]


def _first(point, names):
    for name in names:
        if name in point:
            return point[name]
    return None


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def plot(out_png, capture_path=None, cal=None, cycles=3.0, errors_path=None):
    """PNG of a capture (voltage and current over `cycles` mains cycles) and/or an error
    curve (error % against current, log scale)."""
    series = _error_points(errors_path) if errors_path else None
    capture = read_wav(capture_path) if capture_path else None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as exc:
        raise ToolError("plotting needs matplotlib and numpy (pip install -r "
                        "requirements.txt): %s" % exc)
    rows = (2 if capture else 0) + (1 if series else 0)
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.6 * rows + 0.6), squeeze=False)
    axes = [row[0] for row in axes]
    if capture:
        cal = cal or common.shared_calibration()
        n = min(len(capture.v_codes), int(cycles * capture.rate_hz / cal["f_nominal_hz"]))
        v = np.asarray(capture.v_codes, dtype=float)
        i = np.asarray(capture.i_codes, dtype=float)
        # centre on the capture's mean (the real bias), not on the nominal mid-rail code
        volts = (v[:n] - v.mean()) * cal["v_per_count"] * cal["v_gain"]
        amps = (i[:n] - i.mean()) * cal["a_per_count"] * cal["i_gain"]
        t_ms = np.arange(n) * 1000.0 / capture.rate_hz
        axes[0].plot(t_ms, volts, color="tab:blue", linewidth=1)
        axes[0].set_ylabel("voltage (V)")
        axes[0].set_title("%s: %d pairs/s, %.1f s" % (
            os.path.basename(capture_path), capture.rate_hz, capture.seconds))
        axes[1].plot(t_ms, amps, color="tab:red", linewidth=1)
        axes[1].set_ylabel("current (A)")
        axes[1].set_xlabel("time (ms)")
        for ax in axes[:2]:
            ax.grid(True, alpha=0.3)
    if series:
        ax = axes[-1]
        for label, pts in series:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label or None)
        ax.set_xscale("log")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("current (A)")
        ax.set_ylabel("error (%)")
        ax.set_title("error curve: " + os.path.basename(errors_path))
        ax.grid(True, which="both", alpha=0.3)
        if any(label for label, _ in series):
            ax.legend()
    fig.tight_layout()
    tmp = out_png + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png


# --- command line ---

class _Progress:
    """Progress on stderr for jobs that take more than a couple of seconds."""

    def __init__(self, what):
        self.what = what
        self.start = time.monotonic()
        self.shown = self.start

    def __call__(self, done_s, total_s):
        now = time.monotonic()
        if now - self.start < 2.0 or now - self.shown < 1.0:
            return
        self.shown = now
        print("%s: %.0f of %.0f s" % (self.what, done_s, total_s), file=sys.stderr,
              flush=True)


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m tools.capture",
        description="Make, record and draw ADC capture files (WAV: left = voltage codes, "
        "right = current codes) for `python -m tools.replay`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("synth", help="write a synthetic capture from the simulated meter",
                       description="Write a capture of a simulated load plus the calibration "
                       "JSON that replays it. Example: synth load.wav --cal load.json "
                       "--seconds 5 --load-a 5 --phase-deg 60 (PF 0.5 inductive).")
    p.add_argument("out", metavar="OUT.wav")
    p.add_argument("--cal", metavar="CAL.json",
                   help="where to write the calibration (default: OUT with .json)")
    p.add_argument("--seconds", type=float, default=5.0, metavar="S", help="length (default 5)")
    p.add_argument("--load-a", type=float, metavar="A", default=5.0,
                   help="load current, A RMS (default 5)")
    p.add_argument("--mains-v", type=float, metavar="V", default=common.MAINS_V_NOMINAL,
                   help="mains voltage, V RMS (default %g)" % common.MAINS_V_NOMINAL)
    p.add_argument("--phase-deg", type=float, metavar="DEG", default=30.0,
                   help="current lag in degrees: 0 resistive, 60 = PF 0.5 inductive, "
                   "-37 = PF 0.8 capacitive, 180 export (default 30)")
    p.add_argument("--freq", type=float, metavar="HZ", default=common.MAINS_F_NOMINAL_HZ,
                   help="mains frequency, Hz (default %g)" % common.MAINS_F_NOMINAL_HZ)
    p.add_argument("--noise-counts", type=float, metavar="COUNTS", default=1.0,
                   help="ADC noise, counts RMS (default 1)")
    p.add_argument("--rate", type=int, metavar="PAIRS_PER_S", default=common.SAMPLE_PAIRS_PER_S,
                   help="sample pairs per second (default %d)" % common.SAMPLE_PAIRS_PER_S)
    p.add_argument("--seed", type=int, metavar="N", default=1, help="noise seed (default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = sub.add_parser("record", help="record a capture from a board over USB",
                       description="Record ADC pairs from a running board (or the virtual "
                       "board) into a capture. The board stops metering for the recording "
                       "and restarts by itself. Example: record site.wav --device /dev/ttyACM0 "
                       "--seconds 5 --cal site.json")
    p.add_argument("out", metavar="OUT.wav")
    p.add_argument("--device", required=True, metavar="PORT",
                   help="serial port of the board, e.g. /dev/ttyACM0")
    p.add_argument("--seconds", type=float, default=3.0, metavar="S", help="length (default 3)")
    p.add_argument("--cal", metavar="CAL.json",
                   help="also save the calibration the board uses, for the replay")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = sub.add_parser("plot", help="draw a capture and/or an error curve as a PNG",
                       description="Draw voltage and current of a capture over a few mains "
                       "cycles, and/or an accuracy error curve (error %% against current).")
    p.add_argument("capture", nargs="?", metavar="CAPTURE.wav")
    p.add_argument("-o", "--out", metavar="OUT.png",
                   help="PNG to write (default: CAPTURE with .png)")
    p.add_argument("--cal", metavar="CAL.json",
                   help="calibration for volts and amps (default: the board default)")
    p.add_argument("--cycles", type=float, metavar="N", default=3.0,
                   help="mains cycles shown (default 3)")
    p.add_argument("--errors", metavar="ERRORS.json",
                   help="accuracy points to draw: a JSON list of {\"current_a\": A, "
                   "\"error_pct\": %%, \"label\": optional}")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _run(args):
    if args.command == "synth":
        cal_path = args.cal or os.path.splitext(args.out)[0] + ".json"
        if args.seconds <= 0 or args.rate < 500:
            raise ToolError("--seconds must be above 0 and --rate at least 500")
        result = synth(args.out, cal_path, args.seconds, args.rate,
                       _Progress("synth"), mains_v=args.mains_v,
                       load_a=args.load_a, phase_deg=args.phase_deg, freq_hz=args.freq,
                       noise_counts=args.noise_counts, seed=args.seed)
        t = result["truth"]
        text = ("wrote %s (%.1f s, %d pairs at %d/s) and %s\ntruth: %.2f V %.3f A "
                "P %.1f W Q %.1f var %.3f Hz" % (
                    args.out, result["seconds"], result["pairs"], result["rate_hz"],
                    cal_path, t["vrms"], t["irms"], t["p_w"], t["q_var"], t["freq_hz"]))
    elif args.command == "record":
        if args.seconds <= 0:
            raise ToolError("--seconds must be above 0")
        result = record(args.device, args.out, args.seconds, args.cal,
                        _Progress("record"))
        text = "recorded %s: %.1f s, %d pairs at %d/s from %s" % (
            args.out, result["seconds"], result["pairs"], result["rate_hz"], args.device)
        if args.cal:
            text += "; calibration in " + args.cal
    else:
        if not args.capture and not args.errors:
            raise ToolError("give a CAPTURE.wav, --errors ERRORS.json, or both")
        if args.cycles <= 0:
            raise ToolError("--cycles must be above 0")
        out = args.out or os.path.splitext(args.capture or args.errors)[0] + ".png"
        cal = load_calibration(args.cal) if args.cal else None
        if args.capture:
            check_wav(args.capture)
        plot(out, args.capture, cal, args.cycles, args.errors)
        result = {"png": out}
        text = "wrote " + out
    print(json.dumps(result, sort_keys=True) if args.json else text)


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except ToolError as exc:
        print("capture: %s" % exc, file=sys.stderr)
        return 1
    except CaptureError as exc:
        print("capture: not a usable capture: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("capture: %s: %s" % (exc.filename or "", exc.strerror or exc), file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired:
        print("capture: the board did not answer in time", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("capture: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
