"""Field technician's wrapper: runs the meter's service shell through mpremote.

  python -m tools.field --port /dev/ttyACM0 status
  python -m tools.field --port /dev/pts/3 audit 20 --json
  python -m tools.field --port /dev/ttyACM0 comms off
  python -m tools.field --port /dev/ttyACM0 update fw-1.4.0.pkg   (copies it, verifies)
  python -m tools.field --port /dev/ttyACM0 reboot                (runs it on trial; waits
                                                                  until the meter meters again;
                                                                  on a board that installs at
                                                                  boot, says the boot stage's
                                                                  verdict, exit 1 if refused)
  python -m tools.field --port /dev/ttyACM0 calibrate pf1 v_ref=230.0 i_ref=5.0
  python -m tools.field --port /dev/ttyACM0 commission policy.bin keys.json broker:1883

The verbs and their arguments come from the meter's own table (service.VERBS), so every
shell verb is here; `--help` lists them.

Works the same on a real board and on the virtual board (`make vboard`); it never
soft-resets the meter (mpremote `resume`). Exit status: 0 when the meter answered and did
what was asked; 1 when it did not answer or refused (an update, token, policy or
commissioning refused, a self-test failed: the reason goes to stderr); 2 for arguments the
verb does not take.
"""
import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

from tools.shared.errors import ToolError
from tools.shared.paths import use_firmware, venv_tool

PACKAGE_ON_METER = "update.pkg"


def verbs():
    """{verb: (parameters, takes json, help)} from the service shell's own table."""
    use_firmware()
    import service

    table = {}
    for name, params, takes_json in service.VERBS:
        doc = " ".join((getattr(service, name).__doc__ or "").split("\n\n")[0].split())
        table[name] = (params, takes_json, doc.split(". ")[0].rstrip(".") + ".")
    return table


class UsageError(ToolError):
    """Arguments the verb does not take: exit status 2."""


def shell_call(verb, params, args, as_json, on_meter=None):
    """The Python call for the meter's shell, and the host files to copy first:
    (call, [(host path, meter path)]). on_meter: a list to which the paths that are no file
    on this computer are added (they must be on the meter)."""
    positional = [a for a in args if "=" not in a]
    keywords = dict(a.split("=", 1) for a in args if "=" in a)
    given = []
    copies = []
    for name, kind in params:
        optional = kind.endswith("?") or kind.endswith("=")
        base = kind.rstrip("?=")
        if kind.endswith("="):
            if name not in keywords:
                continue
            raw = keywords.pop(name)
        elif positional:
            raw = positional.pop(0)
        elif optional:
            continue
        else:
            raise UsageError("%s needs %s" % (verb, name))
        if base == "int":
            try:
                value = int(raw)
            except ValueError:
                raise UsageError("%s: %s must be a whole number, not %r" % (verb, name, raw))
        elif base == "float":
            try:
                value = float(raw)
            except ValueError:
                raise UsageError("%s: %s must be a number, not %r" % (verb, name, raw))
        elif base == "onoff":
            if raw not in ("on", "off"):
                raise UsageError("%s takes on or off" % verb)
            value = raw == "on"
        elif base == "path" and os.path.isfile(raw):
            value = PACKAGE_ON_METER if verb == "update" else os.path.basename(raw)
            copies.append((raw, value))
        else:
            value = raw
            if base == "path" and on_meter is not None:
                on_meter.append(raw)
        given.append("%s=%r" % (name, value) if kind.endswith("=") else repr(value))
    if positional or keywords:
        raise UsageError("%s does not take %s" % (verb, " ".join(positional + sorted(keywords))))
    if as_json:
        given.append("json=True")
    return "service.%s(%s)" % (verb, ", ".join(given)), copies


def copy_to_meter(port, host_path, device_path, timeout=300):
    proc = subprocess.run([mpremote(), "connect", port, "resume", "fs", "cp", host_path,
                           ":" + device_path], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(detail[-1] if detail else "copy failed")


def meter_has(port, path):
    """True if `path` is a file on the meter (asked without touching anything)."""
    out = run(port, "import os\ntry:\n    os.stat(%r)\n    print('field-has: yes')\n"
                    "except OSError:\n    print('field-has: no')" % path)
    return "field-has: yes" in out


def mpremote():
    return venv_tool("mpremote")


class MeterRaised(ToolError):
    """The meter answered, with an exception from the shell (not a connection failure)."""


def run(port, code, timeout=120):
    proc = subprocess.run([mpremote(), "connect", port, "resume", "exec", code],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        if any(line.startswith("Traceback (most recent call last)") for line in detail):
            raise MeterRaised(detail[-1])  # e.g. "OSError: [Errno 2] ENOENT"
        raise RuntimeError(detail[-1] if detail else "mpremote failed (exit %d)" % proc.returncode)
    return proc.stdout


def main(argv=None):
    table = verbs()
    usage = ["verbs (the meter's service shell, service.VERBS):"]
    for name in sorted(table):
        params, _takes_json, doc = table[name]
        shown = []
        for param, kind in params:
            shown.append("on|off" if kind == "onoff" else
                         "[%s=N]" % param if kind.endswith("=") else
                         "[%s]" % param if kind.endswith("?") else param)
        usage.append("  " + " ".join([name] + shown))
        usage += textwrap.wrap(doc, 76, initial_indent="      ", subsequent_indent="      ")
    parser = argparse.ArgumentParser(prog="python -m tools.field",
                                     description=__doc__.split("\n")[0],
                                     epilog="\n".join(usage),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", required=True, help="serial port of the meter (or the vboard pty)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("command", choices=sorted(table))
    parser.add_argument("args", nargs="*", help="the verb's arguments; a path that is a file "
                        "on this computer is copied onto the meter first")
    args = parser.parse_args(argv)
    params, takes_json, _doc = table[args.command]
    if args.command == "commission" and not any(a.startswith("utc=") for a in args.args):
        # the technician's computer sets a board clock that is not set since boot (its
        # RTC reads 2000 until then, and TLS would refuse every certificate)
        args.args.append("utc=%d" % int(time.time()))
    on_meter = []
    try:
        call, copies = shell_call(args.command, params, args.args, args.json and takes_json,
                                  on_meter)
    except UsageError as exc:
        print("field: %s" % exc, file=sys.stderr)
        return 2
    try:
        missing = [path for path in on_meter if not meter_has(args.port, path)]
        if missing:  # a typo: not sent to the meter, so nothing lands in its audit log
            print("field: no file %s on this computer or on the meter" % ", ".join(missing),
                  file=sys.stderr)
            return 1
        for host_path, device_path in copies:
            copy_to_meter(args.port, host_path, device_path)
        if args.command == "reboot":  # the meter goes away mid-command: no answer awaited
            return _reboot(args.port)
        out = run(args.port, "import service, json as _json\n_r = %s\nprint(%r, _json.dumps(_r))"
                  % (call, RESULT_MARK))
    except MeterRaised as exc:
        print("field: the meter answered with an error: %s" % exc, file=sys.stderr)
        return 1
    except ToolError as exc:  # e.g. mpremote not installed
        print("field: %s" % exc, file=sys.stderr)
        return 1
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print("field: the meter did not answer: %s" % exc, file=sys.stderr)
        return 1
    shown, result = split_result(out)
    if result is None:
        print("field: no result in the meter's answer: %s" % out.strip()[:200], file=sys.stderr)
        return 1
    try:
        if args.json:
            print(json.dumps(result, indent=1, sort_keys=True))
        else:
            sys.stdout.write(shown)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (`| head`) left: the answer still counts
        sys.stdout = None  # nothing more goes to the closed pipe, not even at exit
    reason = refusal(result)
    if reason is not None:
        print("field: the meter refused (%s)" % reason, file=sys.stderr)
        return 1
    return 0


# the line the wrapper prints after the shell's own output: the verb's returned dict
RESULT_MARK = "field-result:"
REBOOT_WAIT_S = 180  # a trial firmware that fails boots up to three times before the revert
_REFUSAL_KEYS = ("accepted", "applied", "passed", "commissioned", "sendnow")


def split_result(out):
    """(the shell's own output, the verb's returned value or None) of the meter's answer."""
    shown = []
    result = None
    for line in out.splitlines(True):
        if line.startswith(RESULT_MARK):
            try:
                result = json.loads(line[len(RESULT_MARK):])
            except ValueError:
                result = None
        else:
            shown.append(line)
    return "".join(shown), result


def refusal(result):
    """The reason when the verb's result says the meter refused or failed, else None: a
    refused update, token, policy or commissioning, or a failed self-test."""
    if isinstance(result, dict) and not result.get("proposed"):  # a proposal is not refused
        for key in _REFUSAL_KEYS:
            if result.get(key) is False:
                return result.get("reason") or "%s: false" % key
    return None


# What the meter is running, asked before and after a reboot: the sequence number of its
# newest "boot" audit entry (a restart appends one) and its firmware line; and on a board
# that installs at boot, what its boot stage did with a staged package
_BOOT_PROBE = """\
import main
_a = main.app
_b = [s for s, e in _a.audit.tail(30) if e["event"] == "boot"] if _a is not None else []
print("field-boot:", _b[-1] if _b else -1, _a.trial.firmware if _a is not None else "")
if _a is not None and getattr(_a, "boot_install_verdict", None):
    print("field-install:", _a.boot_install_verdict)
"""


def boot_state(port, timeout=10):
    """(newest boot audit sequence or -1, firmware line, the boot stage's install verdict
    or None) of the running meter."""
    found = None
    verdict = None
    for line in run(port, _BOOT_PROBE, timeout=timeout).splitlines():
        if line.startswith("field-boot:"):
            seq, _, firmware = line[len("field-boot:"):].strip().partition(" ")
            found = int(seq), firmware
        elif line.startswith("field-install:"):
            verdict = line[len("field-install:"):].strip()
    if found is None:
        raise RuntimeError("no answer to the boot probe")
    return found + (verdict,)


def _reboot(port, wait_s=REBOOT_WAIT_S):
    """Restart the meter and wait until it meters again under a new boot: exit 0 only then,
    saying which firmware runs (an update on trial, or the one it went back to)."""
    try:
        before = boot_state(port)[0]
    except (RuntimeError, MeterRaised, subprocess.TimeoutExpired):
        before = -1
    try:
        run(port, "import service\nservice.reboot()", timeout=30)
    except (RuntimeError, MeterRaised, subprocess.TimeoutExpired):
        pass  # the link drops as the meter restarts (the unix port exits: SystemExit)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            seq, firmware, verdict = boot_state(port)
        except (RuntimeError, MeterRaised, subprocess.TimeoutExpired, OSError):
            continue  # not back yet (or still starting: main.app not built)
        if seq > before and firmware:
            print("meter restarted, metering on firmware %s" % firmware)
            if verdict:  # a board that installs at boot: the staged package's fate
                print("the boot stage's install: %s" % verdict)
                if verdict.startswith("rejected"):
                    print("field: the meter refused the staged update (%s)"
                          % verdict[len("rejected"):].strip(), file=sys.stderr)
                    return 1
            return 0
    print("field: the meter did not come back within %d s (no new boot with a running meter)"
          % wait_s, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
