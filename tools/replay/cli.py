"""Replays an ADC capture (WAV) through the metering firmware and prints what the meter
measures: on the MicroPython unix port here, or on a board over mpremote (--device).

The firmware's own metering.replay does the work (tools/replay/runner.py), so the numbers
are the board's. Never changes a board's registers or calibration; on a board it only
adds, then removes, one file.
"""
import argparse
import json
import os
import sys

from tools.capture.files import load_calibration
from tools.replay.runner import replay_device, replay_local
from tools.shared.errors import ToolError, exit_status
from tools.shared.paths import use_firmware

use_firmware()

from boards import common  # noqa: E402 - the meter's own starting power


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
    parser.add_argument("--starting-power-w", type=float,
                        default=common.SHARED.starting_power_w, metavar="W",
                        help="ignore powers below this for the energy, as the meter does "
                        "(default %.2f W, the meter's own; 0 registers everything)"
                        % common.SHARED.starting_power_w)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = {}

    def run():
        if not os.path.isfile(args.capture):
            raise ToolError("no capture file %s" % args.capture)
        cal = load_calibration(args.cal)
        if args.device:
            result["summary"] = replay_device(args.device, args.capture, cal, args.windows,
                                              starting_power_w=args.starting_power_w)
        else:
            result["summary"] = replay_local(args.capture, cal, args.windows,
                                             starting_power_w=args.starting_power_w)

    status = exit_status("replay", run)
    if status:
        return status
    summary = result["summary"]
    print(json.dumps(summary, sort_keys=True) if args.json
          else format_summary(args.capture, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
