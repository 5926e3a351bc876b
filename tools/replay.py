"""Replays an ADC capture (WAV) through the metering firmware and prints what the meter
measures: on the MicroPython unix port here, or on a board over mpremote (--device).

The firmware's own metering.replay does the work, so the numbers are the board's. Never
changes a board's registers or calibration; on a board it only adds, then removes, one file.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

from tools.capture import check_wav, load_calibration, mpremote_binary
from tools.shared.errors import ToolError
from tools.shared.paths import FIRMWARE_DIR, ROOT, venv_tool

DEVICE_CAPTURE = "replay_capture.wav"  # on the board's flash, removed after the run
DEVICE_MODULE = "metering/replay.py"
HEAP = "256K"  # the unix port gets a board's heap, so a replay that fits here fits there

# Runs on the target. Prints P <pairs> (or W <window JSON>) per window, then R <summary
# JSON>, or E <reason> <detail>.
_SNIPPET = """\
def _replay(path, cal, block_pairs, starting_power_w, windows, where):
    import json, sys, time
    try:
        from metering.replay import CaptureError, replay_wav
    except ImportError as exc:
        print("E no-replay-module", exc)
        return

    def each(r):
        if windows:
            print("W", json.dumps(r.to_dict()))
        else:
            print("P", r.n_pairs)

    t0 = time.ticks_ms()
    try:
        s = replay_wav(path, cal, each, block_pairs, starting_power_w)
    except CaptureError as exc:
        print("E", exc.reason, exc.detail)
        return
    except OSError as exc:
        print("E cannot-read", path, exc)
        return
    except ValueError as exc:
        print("E refused", exc)
        return
    ms = time.ticks_diff(time.ticks_ms(), t0)
    s["target"] = {"where": where, "platform": sys.platform, "elapsed_ms": ms,
                   "pairs_per_s": s["pairs"] * 1000 / (ms if ms > 0 else 1)}
    print("R", json.dumps(s))
_replay(%r, %r, %d, %r, %r, %r)
"""


def micropython_binary():
    return venv_tool("micropython")


def snippet(path, cal, block_pairs=128, starting_power_w=0.0, windows=False, where="local"):
    return _SNIPPET % (path, cal, block_pairs, starting_power_w, windows, where)


def _run_target(argv, pairs_total, rate_hz, windows, timeout_s=None):
    """Runs argv (micropython or mpremote exec), following the snippet's output; returns
    (summary, per-window list or None, error line or None, other output)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(timeout_s, proc.kill) if timeout_s else None
    if watchdog:
        watchdog.start()
    summary = error = None
    per_window = [] if windows else None
    done = 0
    other = []
    progress = _Progress(pairs_total, rate_hz)
    try:
        for line in proc.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "P":
                done += int(rest)
                progress(done)
            elif word == "W":
                window = json.loads(rest)
                per_window.append(window)
                done += window["n_pairs"]
                progress(done)
            elif word == "R":
                summary = json.loads(rest)
            elif word == "E":
                error = rest
            elif line.strip():
                other.append(line.strip())
        proc.wait()
    except ValueError:
        raise ToolError("garbled output from the target: %s" % line.strip()[:80])
    finally:
        if watchdog:
            watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return summary, per_window, error, other


class _Progress:
    """Progress on stderr once a replay has run for a couple of seconds."""

    def __init__(self, pairs_total, rate_hz):
        self.total_s = pairs_total / rate_hz
        self.rate_hz = rate_hz
        self.start = self.shown = time.monotonic()

    def __call__(self, pairs_done):
        now = time.monotonic()
        if now - self.start >= 2.0 and now - self.shown >= 1.0:
            self.shown = now
            print("replay: %.0f of %.0f s of capture" % (pairs_done / self.rate_hz,
                                                         self.total_s), file=sys.stderr,
                  flush=True)


def replay_local(capture, cal, windows=False, block_pairs=128, starting_power_w=0.0):
    """The replay on the MicroPython unix port; returns the summary dict."""
    rate_hz, pairs = check_wav(capture)
    code = "import sys\nsys.path[:0] = [%r, %r]\n" % (FIRMWARE_DIR, ROOT) + snippet(
        os.path.abspath(capture), cal, block_pairs, starting_power_w, windows,
        "local unix port")
    argv = [micropython_binary(), "-X", "heapsize=" + HEAP, "-c", code]
    result = _run_target(argv, pairs, rate_hz, windows)
    return _finish(result, "the unix port")


def replay_device(device, capture, cal, windows=False, block_pairs=128,
                  starting_power_w=0.0):
    """The replay on the board at `device` (firmware already deployed); returns the summary
    with on-target timing. Copies the capture there first and removes it afterwards."""
    rate_hz, pairs = check_wav(capture)
    mpremote = mpremote_binary()
    base = [mpremote, "connect", device, "resume"]
    size_kb = os.path.getsize(capture) / 1024.0
    copy_timeout_s = 60 + size_kb / 2  # raw-REPL copies run at a few KB/s on slow links
    if size_kb > 256:
        print("replay: copying %.0f KB to %s..." % (size_kb, device), file=sys.stderr,
              flush=True)
    _mpremote(base + ["fs", "cp", capture, ":" + DEVICE_CAPTURE], copy_timeout_s)
    code = snippet(DEVICE_CAPTURE, cal, block_pairs, starting_power_w, windows, device)
    run_timeout_s = 120 + pairs / 1000.0  # a slow board still replays 1000 pairs/s
    try:
        result = _run_target(base + ["exec", code], pairs, rate_hz, windows, run_timeout_s)
        if result[2] and result[2].startswith("no-replay-module"):
            # firmware deployed before metering.replay existed: bring this one along
            _mpremote(base + ["fs", "cp", os.path.join(FIRMWARE_DIR, *DEVICE_MODULE.split("/")),
                              ":" + DEVICE_MODULE], copy_timeout_s)
            result = _run_target(base + ["exec", code], pairs, rate_hz, windows, run_timeout_s)
    finally:
        try:
            _mpremote(base + ["fs", "rm", ":" + DEVICE_CAPTURE], 60)
        except ToolError:
            pass  # the replay's own error says more; a leftover file is harmless
    return _finish(result, device)


def _mpremote(argv, timeout_s):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolError("no answer from %s within %.0f s" % (argv[2], timeout_s))
    if proc.returncode != 0:
        lines = (proc.stderr + proc.stdout).strip().splitlines() or ["exit code %d"
                                                                      % proc.returncode]
        raise ToolError("mpremote %s failed: %s" % (" ".join(argv[4:6]), lines[-1]))
    return proc.stdout


def _finish(result, where):
    summary, per_window, error, other = result
    if error:
        raise ToolError("replay refused the capture: " + error)
    if summary is None:
        detail = other[-1] if other else "no output"
        raise ToolError("replay on %s failed: %s" % (where, detail))
    if per_window is not None:
        summary["per_window"] = per_window
    return summary


def format_summary(capture, s):
    """The summary as a table for a terminal."""
    lines = [
        "capture   %s: %d pairs at %d/s (%.3f s)" % (capture, s["pairs"], s["rate_hz"],
                                                    s["pairs"] / s["rate_hz"]),
        "windows   %d, of which %d whole-cycle (%.3f s) averaged below"
        % (s["windows"], s["whole_windows"], s["duration_s"]),
        "Vrms      %10.3f V" % s["vrms"],
        "Irms      %10.4f A" % s["irms"],
        "P         %10.2f W" % s["p_w"],
        "Q         %10.2f var" % s["q_var"],
        "S         %10.2f VA" % s["s_va"],
        "PF        %10.4f" % s["pf"],
        "f         %10.4f Hz" % s["freq_hz"],
        "import    %10.5f Wh  (over %.3f s)" % (s["import_wh"], s["registered_s"]),
        "export    %10.5f Wh" % s["export_wh"],
    ]
    t = s.get("target")
    if t:
        lines.append("ran on    %s (%s), kernel %s: %d ms, %.0f pairs/s" % (
            t["where"], t["platform"], s["kernel"], t["elapsed_ms"], t["pairs_per_s"]))
    for n, w in enumerate(s.get("per_window") or ()):
        if n == 0:
            lines.append("window  pairs       Vrms       Irms          P          Q     PF"
                         "          f  whole")
        lines.append("%6d %6d %10.3f %10.4f %10.2f %10.2f %6.3f %10.4f  %s" % (
            n, w["n_pairs"], w["vrms"], w["irms"], w["p_w"], w["q_var"], w["pf"],
            w["freq_hz"], "yes" if w["whole_cycles"] else "no"))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.replay",
        description="Replay an ADC capture through the meter's own firmware and show what "
        "it measures (V, A, W, var, PF, Hz, Wh). Runs on this computer under MicroPython, "
        "or on a board with --device. Example: python -m tools.replay site.wav --cal "
        "site.json",
    )
    parser.add_argument("capture", metavar="CAPTURE.wav",
                        help="capture file (python -m tools.capture synth/record make one)")
    parser.add_argument("--cal", required=True, metavar="CAL.json",
                        help="calibration JSON (at least v_per_count and a_per_count; "
                        "other fields default to the board's)")
    parser.add_argument("--device", metavar="PORT",
                        help="replay on the board at PORT (e.g. /dev/ttyACM0) instead of here; "
                        "also reports how fast the board processed it")
    parser.add_argument("--windows", action="store_true",
                        help="also list every measurement window (about one per second)")
    parser.add_argument("--starting-power-w", type=float, default=0.0, metavar="W",
                        help="ignore powers below this for the energy, as the meter does "
                        "(default 0)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        if not os.path.isfile(args.capture):
            raise ToolError("no capture file %s" % args.capture)
        cal = load_calibration(args.cal)
        if args.device:
            summary = replay_device(args.device, args.capture, cal, args.windows,
                                    starting_power_w=args.starting_power_w)
        else:
            summary = replay_local(args.capture, cal, args.windows,
                                   starting_power_w=args.starting_power_w)
    except ToolError as exc:
        print("replay: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("replay: %s: %s" % (exc.filename or "", exc.strerror or exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("replay: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary, sort_keys=True) if args.json
          else format_summary(args.capture, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
