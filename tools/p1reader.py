"""Reads DSMR P1 telegrams from a meter's P1 port (or the sim's output file) and shows what
each one says, with every CRC checked by dsmr_parser (DSMR 5 specification).

Only reads: never writes to the port. A telegram with a bad checksum is shown as such,
counted, and reading goes on; the exit code is non-zero if any telegram failed.
"""
import argparse
import json
import logging
import re
import sys
import time

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from tools.shared.errors import ToolError

# DSMR 5.0.2 §6.2: '/' header ... '!' CRC16 in 4 hex digits CR LF; '/' appears only at the
# start, so a second '/' before the '!' means the first telegram was cut off
_TELEGRAM = re.compile(rb"/[^/!]*![0-9A-Fa-f]{4}\r\n")
_CRC_GIVEN = re.compile(r"!([0-9A-Fa-f]{4})\r\n$")
MAX_TELEGRAM = 16384  # DSMR telegrams are a few KB; anything longer is noise
PARSER = TelegramParser(telegram_specifications.V5, apply_checksum_validation=True)
# dsmr_parser logs a traceback for each bad line; we report it in one line instead
logging.getLogger("dsmr_parser").addHandler(logging.NullHandler())
logging.getLogger("dsmr_parser").propagate = False


class P1Framer:
    """Bytes in, whole telegrams out; what precedes the first '/' is skipped (reading
    started mid-telegram), a telegram cut off by the next '/' is returned as incomplete."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data):
        """List of (telegram bytes, complete?)."""
        self.buffer += data
        out = []
        while True:
            start = self.buffer.find(b"/")
            if start < 0:
                self.buffer = b""
                return out
            self.buffer = self.buffer[start:]
            m = _TELEGRAM.match(self.buffer)
            if m:
                out.append((m.group(0), True))
                self.buffer = self.buffer[m.end():]
                continue
            cut = self.buffer.find(b"/", 1)
            if cut > 0 and b"!" not in self.buffer[:cut]:
                out.append((self.buffer[:cut], False))
                self.buffer = self.buffer[cut:]
                continue
            if len(self.buffer) > MAX_TELEGRAM:
                out.append((self.buffer[:80], False))
                self.buffer = self.buffer[1:]
                continue
            return out


def _value(t, name):
    obj = getattr(t, name, None)
    return None if obj is None else obj.value


def _num(v):
    return None if v is None else float(v)


def _hex_text(v):
    if v is None:
        return None
    try:
        return bytes.fromhex(v).decode("utf-8", "replace")
    except ValueError:
        return v


def decode(telegram):
    """The dict shown for one telegram: ok, or the reason it failed."""
    try:
        text = telegram.decode("ascii")
    except UnicodeDecodeError:
        return {"ok": False, "error": "not-ascii", "detail": "telegram is not ASCII"}
    try:
        t = PARSER.parse(text, throw_ex=True)
    except InvalidChecksumError:
        given = _CRC_GIVEN.search(text)
        expected = TelegramParser.crc16(text[:text.rindex("!") + 1])
        return {"ok": False, "error": "checksum", "expected": "%04X" % expected,
                "got": given.group(1).upper() if given else "?"}
    except (ParseError, ValueError) as exc:
        return {"ok": False, "error": "parse", "detail": str(exc).splitlines()[0][:200]}
    stamp = _value(t, "P1_MESSAGE_TIMESTAMP")
    tariff = _value(t, "ELECTRICITY_ACTIVE_TARIFF")
    return {
        "ok": True, "header": text[1:text.index("\r")],
        "time_utc": stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None,
        "equipment_id": _hex_text(_value(t, "EQUIPMENT_IDENTIFIER")),
        "import_kwh": [_num(_value(t, "ELECTRICITY_USED_TARIFF_%d" % k)) for k in (1, 2)],
        "export_kwh": [_num(_value(t, "ELECTRICITY_DELIVERED_TARIFF_%d" % k)) for k in (1, 2)],
        "tariff": int(tariff) if tariff else None,
        "power_import_kw": _num(_value(t, "CURRENT_ELECTRICITY_USAGE")),
        "power_export_kw": _num(_value(t, "CURRENT_ELECTRICITY_DELIVERY")),
        "voltage_v": _num(_value(t, "INSTANTANEOUS_VOLTAGE_L1")),
        "current_a": _num(_value(t, "INSTANTANEOUS_CURRENT_L1")),
        "power_failures": _value(t, "SHORT_POWER_FAILURE_COUNT"),
        "long_power_failures": _value(t, "LONG_POWER_FAILURE_COUNT"),
        "sags": _value(t, "VOLTAGE_SAG_L1_COUNT"),
        "swells": _value(t, "VOLTAGE_SWELL_L1_COUNT"),
        "text": _hex_text(_value(t, "TEXT_MESSAGE")),
    }


def _f(v, fmt):
    return "-" if v is None else fmt % v


def describe(n, d):
    if not d["ok"]:
        if d["error"] == "checksum":
            return "#%d CHECKSUM BAD: expected %s, got %s (telegram ignored)" % (
                n, d["expected"], d["got"])
        return "#%d BAD TELEGRAM (%s): %s" % (n, d["error"], d["detail"])
    return "\n".join((
        "#%d %s  meter %s  tariff %s" % (n, d["time_utc"] or "no time", d["equipment_id"],
                                         _f(d["tariff"], "%d")),
        "   import T1 %s kWh  T2 %s kWh   export T1 %s kWh  T2 %s kWh" % tuple(
            _f(v, "%.3f") for v in d["import_kwh"] + d["export_kwh"]),
        "   power in %s kW  out %s kW   %s V  %s A" % (
            _f(d["power_import_kw"], "%.3f"), _f(d["power_export_kw"], "%.3f"),
            _f(d["voltage_v"], "%.1f"), _f(d["current_a"], "%g")),
        "   power failures %s (long %s)  sags %s  swells %s  text %s" % (
            d["power_failures"], d["long_power_failures"], d["sags"], d["swells"],
            json.dumps(d["text"], ensure_ascii=False) if d["text"] else "(none)")))


def _chunks(stream, is_file, follow, idle_s):
    """Bytes as they come: a file to its end (or on, with follow), a port until it has
    been quiet for idle_s (or on, with follow)."""
    last_s = time.monotonic()
    while True:
        data = stream.read(4096)
        if data:
            last_s = time.monotonic()
            yield data
        elif not follow and (is_file or time.monotonic() - last_s >= idle_s):
            return
        elif is_file:
            time.sleep(0.2)


def run(stream, args, is_file, out=None):
    """Reads, shows and counts; returns the summary."""
    out = out or sys.stdout
    framer = P1Framer()
    summary = {"telegrams": 0, "ok": 0, "checksum_bad": 0, "failed": 0}
    try:
        for data in _chunks(stream, is_file, args.follow, args.idle):
            for telegram, complete in framer.feed(data):
                summary["telegrams"] += 1
                n = summary["telegrams"]
                d = decode(telegram) if complete else {
                    "ok": False, "error": "incomplete", "detail": "cut off after %d bytes"
                    % len(telegram)}
                summary["ok" if d["ok"] else "failed"] += 1
                summary["checksum_bad"] += d.get("error") == "checksum"
                d["n"] = n
                print(json.dumps(d, sort_keys=True) if args.json else describe(n, d),
                      file=out, flush=True)
                if args.count and n >= args.count:
                    return summary
    except KeyboardInterrupt:
        pass
    return summary


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m tools.p1reader",
        description="Show the DSMR P1 telegrams a meter sends on its P1 port (RJ12, "
        "115200 baud 8N1, inverted signal: use a P1 cable), checking each checksum. "
        "Exit code 0 only if every telegram was good.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", metavar="PORT", help="serial port, e.g. /dev/ttyUSB0 (or a "
                     "pyserial URL such as socket://host:port)")
    src.add_argument("--file", metavar="PATH", help="a file of telegrams, e.g. build/sim/p1.out")
    p.add_argument("--baud", type=int, default=115200, help="DSMR 4/5: 115200 (default)")
    p.add_argument("--follow", action="store_true",
                   help="keep reading as telegrams arrive, until Ctrl-C")
    p.add_argument("--count", type=int, metavar="N", help="stop after N telegrams")
    p.add_argument("--idle", type=float, default=3.0, metavar="SECONDS",
                   help="without --follow, stop when the port is quiet this long (default 3)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per telegram, then a summary object")
    return p


def _open(args):
    if args.file:
        try:
            return open(args.file, "rb")
        except OSError as exc:
            raise ToolError("cannot read %s: %s" % (args.file, exc.strerror or exc))
    import serial

    try:
        return serial.serial_for_url(args.port, baudrate=args.baud, timeout=0.2)
    except (serial.SerialException, ValueError) as exc:
        raise ToolError("cannot open %s: %s" % (args.port, exc))


def main(argv=None, stream=None):
    """stream: an already-open port or file to read instead of --port/--file (tests)."""
    args = _parser().parse_args(argv)
    try:
        if args.count is not None and args.count < 1:
            raise ToolError("--count must be at least 1")
        source = stream or _open(args)
        try:
            summary = run(source, args, is_file=bool(args.file))
        finally:
            if stream is None:
                source.close()
        if not summary["telegrams"]:
            raise ToolError("no P1 telegram from %s: check the cable, the baud rate and "
                            "that the meter's P1 port is on" % (args.file or args.port))
    except ToolError as exc:
        print("p1reader: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:  # includes serial.SerialException (a port unplugged)
        print("p1reader: %s" % exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"summary": summary}, sort_keys=True))
    else:
        print("%(telegrams)d telegrams: %(ok)d good, %(failed)d failed "
              "(%(checksum_bad)d with a bad checksum)" % summary)
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
