"""Field-service shell: what a technician types at the REPL through mpremote.

  mpremote connect PORT resume exec "import service; service.status()"

Reading needs no authority. Changing the meter needs an operator-signed token, except
the consumer's own operator-link switch (comms). Every function prints text for an
80-column terminal and returns a dict (json=True prints that instead). Never prints a
secret: keys appear only as fingerprints.
"""
import json as _json

import civiltime

RULE = "-" * 78


def _app():
    import main

    if main.app is None:
        raise RuntimeError("the meter is not running (main.app is None)")
    return main.app


def _out(data, json, lines):
    if json:
        print(_json.dumps(data))
    else:
        for line in lines:
            print(line)
    return data


def _kwh(wh):
    return "%d.%03d kWh" % (wh // 1000, wh % 1000)


def readings(json=False):
    """Live values and registers (the same numbers the P1 port shows)."""
    snap = _app().meter.snapshot()
    lines = [RULE]
    if "vrms" in snap:
        lines.append("voltage %8.2f V    current %7.3f A    frequency %7.3f Hz" % (
            snap["vrms"], snap["irms"], snap["freq_hz"]))
        lines.append("power   %+9.1f W  reactive %+8.1f var  PF %+5.3f" % (
            snap["p_w"], snap["q_var"], snap["pf"]))
    lines.append("import  T1 %-16s T2 %-16s (tariff %d active)" % (
        _kwh(snap["import_wh"][0]), _kwh(snap["import_wh"][1]), snap["tariff"]))
    lines.append("export  T1 %-16s T2 %s" % (_kwh(snap["export_wh"][0]), _kwh(snap["export_wh"][1])))
    lines.append("power failures %d (long %d)   sags %d   swells %d   coverage %.2f %%" % (
        snap["power_failures"], snap["long_power_failures"], snap["sags"], snap["swells"],
        100 * snap["coverage"]))
    return _out(snap, json, lines)


def status(json=False):
    """Firmware, clock, readings, operator link, keys and policy: never a secret."""
    app = _app()
    now = app.hw.clock.time()
    snap = app.meter.snapshot()
    up = app.uplink
    data = {
        "meter_id": app.meter_id,
        "board": app.board.NAME,
        "firmware": firmware_info(app),
        "clock_utc": civiltime.iso_utc(now),
        "clock_local": civiltime.dsmr_timestamp(now),
        "uptime_s": now - app.meter.boot_s,
        "calibration": app.cal_source,
        "readings": snap,
        "operator_link": {
            "consumer_switch": "on" if app.switch.on else "off",
            "broker": app.link.get("broker"),
            "keys": app.keys.fingerprints() or None,
            "pending_readings": up.pending_readings(),
            "last_contact_utc": civiltime.iso_utc(up.state["contact_s"]) if up.state["contact_s"] else None,
            "last_result": up.last_result,
            "next_send_utc": civiltime.iso_utc(up.next_s),
        },
    }
    link = data["operator_link"]
    lines = [
        RULE,
        "meter %s  board %s  firmware %s" % (app.meter_id, app.board.NAME, data["firmware"]),
        "clock %s (%s)  up %d s  calibration %s" % (
            data["clock_utc"], data["clock_local"], data["uptime_s"], app.cal_source),
    ]
    lines += readings_lines(snap)
    lines += [
        "operator link: consumer switch %s, broker %s" % (link["consumer_switch"], link["broker"] or "not set"),
        "  keys %s" % (" ".join("%s=%s" % kv for kv in sorted(link["keys"].items())) if link["keys"] else "none (nothing is sent)"),
        "  outbox %d readings, last contact %s, last result: %s" % (
            link["pending_readings"], link["last_contact_utc"] or "never", link["last_result"]),
        RULE,
    ]
    return _out(data, json, lines)


def readings_lines(snap):
    lines = []
    if "vrms" in snap:
        lines.append("%.2f V  %.3f A  %+.1f W  PF %+.3f  %.3f Hz" % (
            snap["vrms"], snap["irms"], snap["p_w"], snap["pf"], snap["freq_hz"]))
    lines.append("import %s / %s   export %s / %s   tariff %d" % (
        _kwh(snap["import_wh"][0]), _kwh(snap["import_wh"][1]), _kwh(snap["export_wh"][0]),
        _kwh(snap["export_wh"][1]), snap["tariff"]))
    return lines


def firmware_info(app):
    info = getattr(app, "firmware", None)
    return info if info else "dev (unsigned)"


def audit(n=10, json=False):
    """The newest n audit entries, oldest first."""
    entries = _app().audit.tail(n)
    data = [{"seq": seq, "time_utc": civiltime.iso_utc(e["time_s"]), "event": e["event"],
             "text": e["text"]} for seq, e in entries]
    lines = ["%5d %s %-26s %s" % (d["seq"], d["time_utc"], d["event"], d["text"][:28]) for d in data]
    return _out(data, json, lines)


def comms(on, json=False):
    """The consumer's switch for the operator link (no token: the consumer's right)."""
    state = _app().comms(bool(on))
    data = {"operator_link": "on" if state else "off"}
    return _out(data, json, ["operator link is now %s%s" % (
        data["operator_link"], "" if state else ": nothing is sent to the operator")])


def selftest(json=False):
    """Checks a technician can run: metering alive, registers sane, storage writable."""
    app = _app()
    results = []
    windows = app.meter.sampler.windows
    snap = app.meter.snapshot()
    results.append(("metering running", windows > 0))
    results.append(("sample coverage >= 99 %", snap["coverage"] >= 0.99))
    results.append(("registers non-negative", min(snap["import_wh"] + snap["export_wh"]) >= 0))
    try:
        app.store.write("selftest.tmp", b"ok")
        ok = app.store.read("selftest.tmp") == b"ok"
        app.store.remove("selftest.tmp")
    except OSError:
        ok = False
    results.append(("flash writable", ok))
    results.append(("calibration record", app.cal_source == "stored" or app.cal_source == "default"))
    data = {"passed": all(r for _n, r in results), "checks": {n: r for n, r in results}}
    lines = ["%-30s %s" % (n, "ok" if r else "FAILED") for n, r in results]
    lines.append("self-test %s" % ("passed" if data["passed"] else "FAILED"))
    return _out(data, json, lines)
