"""The replay of an ADC capture (WAV) through the metering firmware, as a library for
tools.replay and tools.calibrate: on the MicroPython unix port here (replay_local), or on
a board over mpremote (replay_device). Returns what the meter measures.

The firmware's own metering.replay does the work, so the numbers are the board's. Never
changes a board's registers or calibration; on a board it only adds, then removes, one file.
"""
import json
import os
import subprocess
import sys
import threading
import time

from tools.capture.files import check_wav
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
    mpremote = venv_tool("mpremote")
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
