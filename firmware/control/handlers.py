"""What each operator command does to the running meter. Reached only through
ControlPlane.apply, i.e. after the token's signatures, meter, counter and expiry checked
out. Each returns a short text for the audit log."""
import canonical
from binascii import unhexlify

from comms import link_settings
from metering.calibration import Calibration
from metering.tariff import TariffSchedule


def for_app(app):
    def set_calibration(params):
        values = app.cal.to_dict()
        values.update(params["calibration"])
        cal = Calibration(**values)  # range-checked: a bad record raises, nothing changes
        app.store.write("calibration.new", cal.encode())
        app.store.rename("calibration.new", "calibration")
        app.cal, app.cal_source = cal, "stored"
        app.meter.set_calibration(cal)
        app.audit.append(app.hw.clock.time(), "calibration-changed", "by operator command")
        return "calibration replaced"

    def install_keys(params):
        kek = params["wrapped_kek"]
        app.keys.install_wrapped(unhexlify(params["wrapped_ek"]), unhexlify(params["wrapped_ak"]),
                                 unhexlify(kek) if kek else None)
        app.audit.append(app.hw.clock.time(), "keys-installed",
                         "ek %s" % app.keys.fingerprints()["ek"])
        return "keys replaced (generation %d)" % app.keys.generation

    def set_operator_link(params):
        broker = params["broker"]
        interval_s = params["interval_s"]
        if broker is not None and (type(broker) is not str or ":" not in broker):
            raise ValueError("broker must be HOST:PORT or null")
        if type(interval_s) is not int or not 900 <= interval_s <= 7 * 86400:
            raise ValueError("interval_s must be 900..604800")
        settings = {"broker": broker, "interval_s": interval_s,
                    "tls_ca": link_settings.check_ca(params["tls_ca"])}
        app.store.write("operator-link.new", canonical.dumps(settings).encode())
        app.store.rename("operator-link.new", "operator-link")
        app.apply_link_settings(settings)
        return "operator link %s every %d s, %s" % (broker or "off", interval_s,
                                                    link_settings.describe(settings))

    def set_tariffs(params):
        schedule = TariffSchedule(params["schedule"])  # validated before anything changes
        app.store.write("tariffs.new", canonical.dumps(params["schedule"]).encode())
        app.store.rename("tariffs.new", "tariffs")
        app.meter.tariffs = schedule
        return "tariff schedule replaced"

    return {
        "set-calibration": set_calibration,
        "install-keys": install_keys,
        "set-operator-link": set_operator_link,
        "set-tariffs": set_tariffs,
    }
