"""What each operator command does to the running meter. Reached only through
ControlPlane.apply, i.e. after the token's signatures, meter, counter and expiry checked
out, with the meter's lock held. Each returns a short text for the audit log.

Handed exactly the parts the commands change (built by main.py): the calibration in use,
the uplink keys, the operator link, the meter (its tariffs) with the flash store of its
settings, and the audit log.
"""
from binascii import unhexlify

import settings
from comms import link_settings
from metering.calibration import CURVE, Calibration
from metering.tariff import TariffSchedule


def decimal(text):
    """The number a decimal text in a signed command stands for: digits, at most one point,
    a leading minus; nothing else (no exponent, space or underscore), so the tool that
    signs it and every interpreter read the same number. ValueError otherwise."""
    body = text[1:] if text[:1] == "-" else text
    whole, point, fraction = body.partition(".")
    if not whole.isdigit() or (point and not fraction.isdigit()):
        raise ValueError("%r is not a decimal number" % text)
    return float(text)


def numbers(value):
    """A signed value with every decimal text in it read as a number (a field, or a list
    of them)."""
    if type(value) is str:
        return decimal(value)
    if type(value) is list:
        return [numbers(v) for v in value]
    return value


def curve_points(flat):
    """The multi-point curve as a signed command carries it: one flat list, current, gain,
    phase, current, ... (signed documents nest at most five deep), as [[A, gain, deg], ...].
    A length that is no multiple of three leaves a short point the curve refuses."""
    if type(flat) is not list:
        raise ValueError("i_curve must be a list: current, gain, phase, current, ...")
    flat = numbers(flat)
    return [flat[k:k + 3] for k in range(0, len(flat), 3)]


def build(calibration, keys, link, meter, store, audit, clock):
    """{command name: handler(params)}. calibration: metering.calibration_store;
    keys: comms.keys.OperatorKeys; link: comms.operator_link.OperatorLink."""
    def set_calibration(params):
        values = calibration.cal.to_dict()
        if type(params["calibration"]) is not dict:
            raise ValueError("calibration must be an object of fields to replace")
        for name, value in params["calibration"].items():
            # signed documents carry no floats: a fraction comes as decimal text ("1.0021")
            values[name] = curve_points(value) if name == CURVE else numbers(value)
        cal = Calibration(**values)  # range-checked: a bad record raises, nothing changes
        calibration.replace(cal)
        audit.append(clock.time(), "calibration-changed", "by operator command")
        return "calibration replaced"

    def install_keys(params):
        kek = params["wrapped_kek"]
        keys.install_wrapped(unhexlify(params["wrapped_ek"]), unhexlify(params["wrapped_ak"]),
                             unhexlify(kek) if kek else None)
        audit.append(clock.time(), "keys-installed", "ek %s" % keys.fingerprints()["ek"])
        return "keys replaced (generation %d)" % keys.generation

    def set_operator_link(params):
        broker = params["broker"]
        interval_s = params["interval_s"]
        if broker is not None and (type(broker) is not str or ":" not in broker):
            raise ValueError("broker must be HOST:PORT or null")
        if type(interval_s) is not int or not 900 <= interval_s <= 7 * 86400:
            raise ValueError("interval_s must be 900..604800")
        new = {"broker": broker, "interval_s": interval_s,
               "tls_ca": link_settings.check_ca(params["tls_ca"])}
        link.replace(new)
        return "operator link %s every %d s, %s" % (broker or "off", interval_s,
                                                    link_settings.describe(new))

    def set_tariffs(params):
        schedule = TariffSchedule(params["schedule"])  # validated before anything changes
        settings.replace(store, settings.TARIFFS, params["schedule"])
        meter.tariffs = schedule
        return "tariff schedule replaced"

    return {
        "set-calibration": set_calibration,
        "install-keys": install_keys,
        "set-operator-link": set_operator_link,
        "set-tariffs": set_tariffs,
    }
