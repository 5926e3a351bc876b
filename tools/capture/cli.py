"""Capture files for the metering replay (the format: tools/capture/files.py).

`synth` writes one from the simulated front-end, `record` reads one from a board (or the
virtual board) over mpremote, `plot` draws one. Never changes a board's registers or
calibration; `record` pauses the board's metering while it records, then restarts it.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from array import array

from tools.capture.files import WavWriter, check_wav, load_calibration, write_json
from tools.capture.plot import plot
from tools.shared.errors import ToolError, exit_status
from tools.shared.paths import use_firmware, venv_tool

use_firmware()  # boards/ and the firmware modules, as on the board

from boards import common  # noqa: E402
from boards.front_end_errors import PROFILES, REFERENCE_TEMP_C  # noqa: E402
from metering.replay import CaptureError  # noqa: E402


# --- synth ---

def synth(out, cal_path, seconds, rate_hz=common.SHARED.sample_pairs_per_s, progress=None,
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
    p.add_argument("--mains-v", type=float, metavar="V", default=common.SHARED.mains_v_nominal,
                   help="mains voltage, V RMS (default %g)" % common.SHARED.mains_v_nominal)
    p.add_argument("--phase-deg", type=float, metavar="DEG", default=30.0,
                   help="current lag in degrees: 0 resistive, 60 = PF 0.5 inductive, "
                   "-37 = PF 0.8 capacitive, 180 export (default 30)")
    p.add_argument("--freq", type=float, metavar="HZ", default=common.SHARED.mains_f_nominal_hz,
                   help="mains frequency, Hz (default %g)" % common.SHARED.mains_f_nominal_hz)
    p.add_argument("--noise-counts", type=float, metavar="COUNTS", default=None,
                   help="ADC noise, counts RMS (default: the front-end's, 1 when ideal)")
    p.add_argument("--front-end", choices=sorted(PROFILES), default="ideal",
                   help="the errors of real parts to add (boards/front_end_errors.py): ADC "
                   "non-linearity, reference error and drift, CT ratio and phase error vs "
                   "current (default ideal)")
    p.add_argument("--temp-c", type=float, metavar="DEG_C", default=REFERENCE_TEMP_C,
                   help="temperature of the front-end, for its reference drift (default %g)"
                   % REFERENCE_TEMP_C)
    p.add_argument("--supply-pct", type=float, metavar="PCT", default=0.0,
                   help="board supply off nominal, percent (moves a rail reference)")
    p.add_argument("--rate", type=int, metavar="PAIRS_PER_S", default=common.SHARED.sample_pairs_per_s,
                   help="sample pairs per second (default %d)" % common.SHARED.sample_pairs_per_s)
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
        scenario = dict(PROFILES[args.front_end], mains_v=args.mains_v, load_a=args.load_a,
                        phase_deg=args.phase_deg, freq_hz=args.freq, seed=args.seed,
                        temp_c=args.temp_c, supply_pct=args.supply_pct)
        if args.noise_counts is not None:
            scenario["noise_counts"] = args.noise_counts
        result = synth(args.out, cal_path, args.seconds, args.rate, _Progress("synth"),
                       **scenario)
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
    return exit_status("capture", lambda: _run(args), worded=(
        (CaptureError, lambda exc: "not a usable capture: %s" % exc),
        (subprocess.TimeoutExpired, lambda exc: "the board did not answer in time")))


if __name__ == "__main__":
    sys.exit(main())
