"""Command tokens on the host: the body the meter's control/tokens.py verifies, built from
the operator's values and checked with the firmware's own rules before anyone signs it.

A token names the meter by its meter id (what `service.status()` shows as meter_id and
P1 as the equipment identifier), not by its system title; comms.uplink.system_title
derives the title from the id.
"""
import time

from tools.shared.errors import ToolError
from tools.shared.paths import use_firmware

use_firmware()

from comms import link_settings  # noqa: E402
from control import tokens  # noqa: E402
from control.handlers import curve_points, decimal  # noqa: E402 - the meter's own reading
from metering.calibration import CURVE  # noqa: E402
from metering.calibration import FIELDS as CALIBRATION_FIELDS  # noqa: E402
from metering.current_curve import CurrentCurve  # noqa: E402
from metering.tariff import TariffSchedule  # noqa: E402
from tools.update import container  # noqa: E402

DAY_S = 86400
# room kept for three signatures ({"keyid": 16 hex, "sig": 128 hex} is about 170 bytes)
SIGNATURE_ROOM = 3 * 180


class TokenError(ToolError):
    """A token that cannot be built or read; one line for the operator."""


def check_params(command, params):
    """Refuse, before signing, what the meter would refuse as bad parameters."""
    if command not in tokens.COMMANDS:
        raise TokenError("unknown command %r: one of %s" % (
            command, ", ".join(sorted(tokens.COMMANDS))))
    names = tokens.COMMANDS[command][0]
    if sorted(params) != sorted(names):
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        raise TokenError("%s takes exactly %s%s%s" % (
            command, ", ".join(names), "; missing " + ", ".join(missing) if missing else "",
            "; not a parameter: " + ", ".join(extra) if extra else ""))
    try:
        if command == "set-operator-link":
            broker, interval_s = params["broker"], params["interval_s"]
            if broker is not None and (type(broker) is not str or ":" not in broker):
                raise ValueError("broker must be HOST:PORT or null")
            if type(interval_s) is not int or not 900 <= interval_s <= 7 * DAY_S:
                raise ValueError("interval_s must be 900..604800")
            link_settings.check_ca(params["tls_ca"])
        elif command == "set-tariffs":
            TariffSchedule(params["schedule"])
        elif command == "set-calibration":
            fields = params["calibration"]
            if not isinstance(fields, dict) or not fields:
                raise ValueError("calibration must be an object of fields to replace")
            unknown = sorted(set(fields) - set(CALIBRATION_FIELDS) - {CURVE})
            if unknown:
                raise ValueError("not calibration fields: " + ", ".join(unknown))
            for name, value in fields.items():
                if name == CURVE:  # the meter's own check of the multi-point curve
                    CurrentCurve(curve_points(_flat(value) if _nested(value) else value))
                    continue
                kind, low, high = CALIBRATION_FIELDS[name]
                number = decimal(value) if type(value) is str and kind is float else value
                if isinstance(number, bool) or not isinstance(number, (int, float)) or \
                        not low <= number <= high:
                    raise ValueError("%s=%s outside %s..%s" % (name, value, low, high))
        elif command == "install-keys":
            for name in ("wrapped_ek", "wrapped_ak"):
                _check_wrapped(params[name], name)
            if params["wrapped_kek"] is not None:  # null: the KEK stays
                _check_wrapped(params["wrapped_kek"], "wrapped_kek")
        elif command in ("break-glass-on", "break-glass-off"):
            reason = params["reason"]
            if type(reason) is not str or not reason.strip():
                raise ValueError("reason must be a non-empty text (the audit log keeps it)")
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("%s: %s" % (command, exc))


def _check_wrapped(value, name):
    if type(value) is not str or len(value) != 48:
        raise ValueError("%s must be 24 bytes of RFC 3394 output as 48 hex digits" % name)
    bytes.fromhex(value)


def signable(params, command):
    """params with every fraction as decimal text: signed documents carry no floats (their
    text differs between interpreters); the meter reads the text back (control/handlers)."""
    if command == "set-calibration" and isinstance(params.get("calibration"), dict):
        params = dict(params, calibration={
            k: _as_text(_flat(v) if k == CURVE and _nested(v) else v)
            for k, v in params["calibration"].items()})
    _refuse_floats(params, command)
    return params


def decimal_text(value):
    """A fraction as the decimal text the meter reads back (control.handlers.decimal): no
    exponent, twelve places at most, trailing zeros dropped."""
    text = ("%.12f" % value).rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _nested(value):
    return isinstance(value, list) and bool(value) and all(isinstance(p, list) for p in value)


def _flat(points):
    """The curve's points as the signed command carries them (control.handlers.curve_points):
    current, gain, phase, current, ... in one list."""
    return [number for point in points for number in point]


def _as_text(value):
    """Every fraction in a value (a number, or the curve's list of points) as decimal text."""
    if isinstance(value, float):
        return decimal_text(value)
    if isinstance(value, (list, tuple)):
        return [_as_text(v) for v in value]
    return value


def _refuse_floats(value, where):
    if isinstance(value, float):
        raise TokenError("%s: %r is a fraction; signed documents carry none" % (where, value))
    if isinstance(value, dict):
        for v in value.values():
            _refuse_floats(v, where)
    elif isinstance(value, list):
        for v in value:
            _refuse_floats(v, where)


def body(command, params, meter_id, counter, expires_s):
    params = signable(params, command)
    check_params(command, params)
    if type(meter_id) is not str or not 0 < len(meter_id) <= 64:
        raise TokenError("meter must be the meter id (1..64 characters)")
    if not 0 < counter < 1 << 62:
        raise TokenError("counter must be above the last counter the meter applied")
    return {"command": command, "counter": int(counter), "expires": int(expires_s),
            "format": 1, "meter": meter_id, "params": params, "type": tokens.KIND}


def write(path, token_body):
    """An unsigned token envelope (signatures are added with `sign`)."""
    raw = container.envelope(token_body)
    if len(raw) > tokens.MAX_BYTES - SIGNATURE_ROOM:
        raise TokenError("token of %d bytes: with three signatures it would pass the meter's "
                         "limit of %d" % (len(raw), tokens.MAX_BYTES))
    with open(path, "wb") as f:
        f.write(raw)
    return raw


def read(path):
    """container.Document of a token file; TokenError if it is something else."""
    doc = container.Document(path)
    if doc.kind != tokens.KIND:
        raise TokenError("%s is a %s, not a command token" % (path, doc.kind))
    return doc


def utc(seconds):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
