"""Field technician's wrapper: runs the meter's service shell through mpremote.

  python -m tools.field --port /dev/ttyACM0 status
  python -m tools.field --port /dev/pts/3 audit 20 --json
  python -m tools.field --port /dev/ttyACM0 comms off
  python -m tools.field --port /dev/ttyACM0 update fw-1.4.0.pkg   (copies it, verifies)
  python -m tools.field --port /dev/ttyACM0 reboot                (runs it on trial)

Works the same on a real board and on the virtual board (`make vboard`); it never
soft-resets the meter (mpremote `resume`). Exit 0 only if the meter answered.
"""
import argparse
import json
import os
import subprocess
import sys

from tools.shared.paths import venv_tool

COMMANDS = {
    "status": "service.status({json})",
    "readings": "service.readings({json})",
    "selftest": "service.selftest({json})",
    "audit": "service.audit({n}, {json})",
    "comms": "service.comms({on}, {json})",
    "controlplane": "service.controlplane({json})",
    "apply": "service.apply({path!r}, {json})",
    "update": "service.update({path!r}, {json})",
    "firmware": "service.firmware({json})",
    "policy": "service.policy({path!r}, {json})",
    "reboot": "service.reboot()",
}
PACKAGE_ON_METER = "update.pkg"


def copy_to_meter(port, host_path, device_path, timeout=300):
    proc = subprocess.run([mpremote(), "connect", port, "resume", "fs", "cp", host_path,
                           ":" + device_path], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(detail[-1] if detail else "copy failed")


def mpremote():
    return venv_tool("mpremote")


def run(port, code, timeout=120):
    proc = subprocess.run([mpremote(), "connect", port, "resume", "exec", code],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(detail[-1] if detail else "mpremote failed (exit %d)" % proc.returncode)
    return proc.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.field", description=__doc__.split("\n")[0])
    parser.add_argument("--port", required=True, help="serial port of the meter (or the vboard pty)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("arg", nargs="?", help="audit: how many entries; comms: on/off; "
                        "apply/policy: path of the token or policy on the meter; update: "
                        "package on the "
                        "meter, or a file on this computer (copied to :update.pkg first)")
    args = parser.parse_args(argv)
    values = {"json": "json=True" if args.json else "", "n": 10, "on": None, "path": args.arg}
    if args.command == "audit" and args.arg:
        values["n"] = int(args.arg)
    if args.command == "comms":
        if args.arg not in ("on", "off"):
            print("field: comms takes on or off", file=sys.stderr)
            return 2
        values["on"] = args.arg == "on"
    if args.command in ("apply", "update", "policy") and not args.arg:
        print("field: %s needs the path of the file on the meter" % args.command, file=sys.stderr)
        return 2
    call = COMMANDS[args.command].format(**values).replace(", )", ")").replace("(, ", "(")
    try:
        if args.command == "update" and os.path.isfile(args.arg):
            copy_to_meter(args.port, args.arg, PACKAGE_ON_METER)
            call = COMMANDS["update"].format(path=PACKAGE_ON_METER, json=values["json"])
            call = call.replace(", )", ")")
        if args.command == "reboot":  # the meter goes away mid-command: no answer awaited
            return _reboot(args.port)
        out = run(args.port, "import service\n" + call)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print("field: the meter did not answer: %s" % exc, file=sys.stderr)
        return 1
    if args.json:
        lines = [line for line in out.splitlines() if line.strip()]
        try:
            print(json.dumps(json.loads(lines[-1]), indent=1, sort_keys=True))
        except (ValueError, IndexError):
            print("field: no JSON in the meter's answer: %s" % out.strip()[:200], file=sys.stderr)
            return 1
    else:
        sys.stdout.write(out)
    return 0


def _reboot(port):
    try:
        run(port, "import service\nservice.reboot()", timeout=30)
    except (RuntimeError, subprocess.TimeoutExpired):
        pass  # the link drops as the meter restarts
    print("meter restarting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
