"""Calibrate a meter from reference captures (or on a board through mpremote).

  python -m tools.calibrate --cal base.json --no-load nl.wav --pf1 pf1.wav --pf05 pf05.wav \
      --v-ref 230 --i-ref 5 --p-ref 575 [--point CAPTURE:I_REF:P_REF ...] --out cal.json \
      [--verify CAPTURE:P_REF ...] [--plot err.png]
  python -m tools.calibrate --device /dev/ttyACM0 --step pf1 --v-ref 230 --i-ref 5

Captures replay through the firmware's metering module on the MicroPython unix port
(tools.replay.runner); the steps are the firmware's own (metering.bench_calibration), so the
record this writes is exactly what the board would compute. Exit 0 only on success.
"""
import argparse
import json
import os
import subprocess
import sys

from tools.shared.paths import use_firmware, venv_tool

use_firmware()

from metering import bench_calibration  # noqa: E402
from metering.calibration import Calibration, CalibrationError  # noqa: E402
from tools.capture.files import load_calibration, write_json  # noqa: E402
from tools.capture.plot import plot  # noqa: E402
from tools.replay.runner import replay_local  # noqa: E402
from tools.shared.errors import ToolError  # noqa: E402


class _Window:
    def __init__(self, d):
        self.__dict__.update(d)


def measure(capture, cal):
    summary = replay_local(capture, cal.to_dict(), windows=True)
    return [_Window(w) for w in summary["per_window"]]


def from_captures(args):
    cal = Calibration(**load_calibration(args.cal))
    steps = (("no-load", args.no_load, {}),
             ("pf1", args.pf1, {"v_ref": args.v_ref, "i_ref": args.i_ref}),
             ("pf05", args.pf05, {"v_ref": args.v_ref, "i_ref": args.i_ref, "p_ref": args.p_ref}))
    report = {"steps": []}
    for name, capture, reference in steps:
        if capture is None:
            continue
        if None in reference.values():
            raise ToolError("step %s needs --v-ref, --i-ref%s" % (name, " and --p-ref" if name == "pf05" else ""))
        cal = bench_calibration.step(cal, name, measure(capture, cal), **reference)
        report["steps"].append(name)
    for spec in args.point or []:
        capture, i_ref, p_ref = _point_spec(spec)
        if args.v_ref is None:
            raise ToolError("--point needs --v-ref")
        cal = bench_calibration.step(cal, "point", measure(capture, cal), v_ref=args.v_ref,
                                     i_ref=i_ref, p_ref=p_ref)
        report["steps"].append("point %g A" % i_ref)
    points = []
    for spec in args.verify or []:
        capture, _, p_ref = spec.rpartition(":")
        if not capture:
            raise ToolError("--verify takes CAPTURE:P_REF, got %r" % spec)
        m = bench_calibration.average(measure(capture, cal))
        points.append({"label": os.path.basename(capture), "current_a": m["irms"],
                       "error_pct": bench_calibration.error_pct(m, float(p_ref))})
    report["calibration"] = cal.to_dict()
    report["verification"] = points
    if args.out:
        write_json(args.out, cal.to_dict())
    if args.plot:
        if not points:
            raise ToolError("--plot needs at least one --verify point")
        errors = args.plot + ".json"
        write_json(errors, points)
        plot(args.plot, errors_path=errors)
    return report


def _point_spec(spec):
    capture, i_ref, p_ref = (spec.rsplit(":", 2) + ["", ""])[:3]
    try:
        return capture, float(i_ref), float(p_ref)
    except ValueError:
        raise ToolError("--point takes CAPTURE:I_REF:P_REF (a capture at PF 0.5 lagging, its "
                        "reference current and power), got %r" % spec)


def on_device(args):
    """Run App.calibrate on the board: the firmware measures and stores the record."""
    mpremote = venv_tool("mpremote")
    reference = {k: getattr(args, k) for k in ("v_ref", "i_ref", "p_ref") if getattr(args, k) is not None}
    code = ("import main, json\nc, applied = main.app.calibrate(%r, windows=%d, **%r)\n"
            "print('CAL', json.dumps(c.to_dict()))" % (args.step, args.windows, reference))
    proc = subprocess.run([mpremote, "connect", args.device, "resume", "exec", code],
                          capture_output=True, text=True, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("CAL "):
            return {"steps": [args.step], "calibration": json.loads(line[4:])}
    detail = (proc.stdout + proc.stderr).strip().splitlines()
    raise ToolError("the board refused the step: %s" % (detail[-1] if detail else "no answer"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--cal", help="starting calibration JSON (captures mode)")
    parser.add_argument("--no-load", help="capture with mains voltage and no current")
    parser.add_argument("--pf1", help="capture of the reference load at PF 1")
    parser.add_argument("--pf05", help="capture of the reference load at PF 0.5 lagging")
    parser.add_argument("--v-ref", type=float, help="reference RMS voltage")
    parser.add_argument("--i-ref", type=float, help="reference RMS current")
    parser.add_argument("--p-ref", type=float, help="reference active power at PF 0.5")
    parser.add_argument("--point", action="append", metavar="CAPTURE:I_REF:P_REF",
                        help="a point of the multi-point current curve: a capture at PF 0.5 "
                        "lagging, its reference current and power (repeatable; after pf05)")
    parser.add_argument("--verify", action="append", metavar="CAPTURE:P_REF",
                        help="a verification point: capture and its reference power (repeatable)")
    parser.add_argument("--out", help="write the new calibration JSON here")
    parser.add_argument("--plot", help="PNG of the error curve of the verification points")
    parser.add_argument("--device", help="calibrate a board (or virtual board) instead")
    parser.add_argument("--step", choices=bench_calibration.STEPS, help="with --device: the step to run")
    parser.add_argument("--windows", type=int, default=5, help="windows to average (device)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        if args.device:
            if not args.step:
                raise ToolError("--device needs --step " + "|".join(bench_calibration.STEPS))
            report = on_device(args)
        else:
            if not args.cal:
                raise ToolError("give --cal (captures mode) or --device")
            report = from_captures(args)
    except (ToolError, CalibrationError, bench_calibration.CalibrationStepError) as exc:
        print("calibrate: %s" % exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        cal = report["calibration"]
        print("steps: %s" % ", ".join(report["steps"]))
        for key in ("v_gain", "i_gain", "phase_deg", "i_crosstalk", "i_noise_counts"):
            print("  %-15s %.6f" % (key, cal[key]))
        for p in cal.get("i_curve", []):
            print("  curve %9.3f A  gain %.5f  phase %+.3f deg" % tuple(p))
        for p in report.get("verification", []):
            print("  verify %-24s %8.3f A  error %+.3f %%" % (p["label"], p["current_a"], p["error_pct"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
