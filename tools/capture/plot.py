"""Drawing a capture and an error curve as a PNG (`python -m tools.capture plot`, and
tools.calibrate's verification plot). Needs matplotlib and numpy, loaded only here.
"""
import os

from tools.capture.files import read_wav
from tools.shared.errors import ToolError
from tools.shared.files import read_json
from tools.shared.paths import use_firmware

use_firmware()  # boards/: the board default calibration

from boards import common  # noqa: E402


# --- plot ---

def _error_points(path):
    """[(label, [(current_a, error_pct)])] from an accuracy JSON: a list of points (objects
    with a current and an error in percent, optionally a label, or [current, error])."""
    doc = read_json(path)
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
