"""Field-service shell: what a technician types at the REPL through mpremote.

  mpremote connect PORT resume exec "import service; service.status()"

Reading needs no authority. Changing the meter needs an operator-signed token, except
the consumer's own operator-link switch (comms). Every function prints text for an
80-column terminal and returns a dict (json=True prints that instead). Never prints a
secret: keys appear only as fingerprints.
"""
import json as _json

import civiltime
from comms import link_settings
from storage.flash import Oversized, read_path, remove_path

RULE = "-" * 78
# The shell's verbs as tools.field offers them (`python -m tools.field VERB [ARG ...]`):
# (verb, parameters, takes json). A parameter is (name, kind): "int", "text", "onoff",
# "path" (a file on the meter; tools.field copies a file from the computer first), with
# "?" when it may be left out and "=" when it is given as name=value. tools.field builds
# its commands from this table alone; the help is each function's docstring.
VERBS = (
    ("readings", (), True),
    ("status", (), True),
    ("selftest", (), True),
    ("audit", (("n", "int?"),), True),
    ("comms", (("on", "onoff"),), True),
    ("consent", (("frequent", "onoff"),), True),
    ("controlplane", (), True),
    ("firmware", (), True),
    ("apply", (("path", "path"),), True),
    ("update", (("path", "path"),), True),
    ("policy", (("path", "path"),), True),
    ("calibrate", (("step", "text"), ("windows", "int?"), ("v_ref", "float="),
                   ("i_ref", "float="), ("p_ref", "float=")), True),
    ("commission", (("policy_path", "path"), ("keys_path", "path"), ("broker", "text?"),
                    ("interval_s", "int?"), ("ca_path", "path="), ("utc", "int=")), True),
    ("wifi", (("ssid", "text"), ("password", "text")), True),
    ("sendnow", (), True),
    ("reboot", (), False),
)


def _app():
    import main

    if main.app is None:
        raise RuntimeError(
            "the meter is not running in this session: mpremote without `resume` soft-resets "
            "the board, which stops the firmware. Restart it with `import service; "
            "service.reboot()`, then connect with `mpremote connect PORT resume ...`")
    return main.app


def _out(data, json, lines):
    if json:
        print(_json.dumps(data))
    else:
        for line in lines:
            print(line)
    return data


def _kwh(wh):
    return _thousandths(wh) + " kWh"


def _thousandths(units):  # varh as kvarh, VAh as kVAh
    return "%d.%03d" % (units // 1000, units % 1000)


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
    q = snap["reactive_varh"]
    lines.append("reactive kvarh  Q1 %s  Q2 %s  Q3 %s  Q4 %s" % (
        _thousandths(q[0]), _thousandths(q[1]), _thousandths(q[2]), _thousandths(q[3])))
    s = snap["apparent_vah"]
    lines.append("apparent kVAh   import %s  export %s" % (
        _thousandths(s[0]), _thousandths(s[1])))
    if "quadrant_error" in snap:
        lines.append("four-quadrant registers: " + snap["quadrant_error"])
    lines.append("power failures %d (long %d)   sags %d   swells %d   coverage %.2f %%" % (
        snap["power_failures"], snap["long_power_failures"], snap["sags"], snap["swells"],
        100 * snap["coverage"]))
    if snap["thd_v_pct"] is not None:
        block = snap["thd_10min"]
        lines.append("THD voltage %.1f %%  current %s   10-min voltage %s (limit 8 %%)" % (
            snap["thd_v_pct"], "-" if snap["thd_i_pct"] is None else "%.1f %%" % snap["thd_i_pct"],
            "-" if block is None else "%.1f %%" % block["v_pct"]))
    return _out(snap, json, lines)


def status(json=False):
    """Firmware, clock, readings, operator link, keys and policy: never a secret."""
    app = _app()
    now = app.hw.clock.time()
    snap = app.meter.snapshot()
    up = app.uplink
    data = {
        "meter_id": app.meter_id,
        "system_title": _hex(app.uplink.system_title),
        "board": app.board.NAME,
        "firmware": firmware_info(app),
        "clock_utc": civiltime.iso_utc(now),
        "clock_local": civiltime.dsmr_timestamp(now),
        "clock_set": _clock_set(app),
        "uptime_s": now - app.meter.boot_s,
        "calibration": app.calibration.source,
        "calibration_curve": app.calibration.curve_source,
        "power_on_self_test": app.post.to_dict(),
        "metering_module": {"software_id": app.metering_identity[0],
                            "check": app.metering_identity[1]},
        "board_drivers": {"driver_id": app.driver_identity[0],
                          "check": app.driver_identity[1]},
        "loop_errors": dict(app.loop_errors),
        "watchdog": _watchdog_status(app),
        "uplink_thread_restarts": app.uplink_restarts,
        "readings_waiting_in_ram": len(app.meter.intervals.waiting),
        "audit_entries_waiting_in_ram": len(app.audit.waiting),
        "readings": snap,
        "operator_link": {
            "consumer_switch": "on" if app.switch.on else "off",
            "readings": "every session (consumer's consent)" if app.switch.frequent_readings
                        else "once a day",
            "broker": app.link.settings.get("broker"),
            "transport": link_settings.describe(app.link.settings),
            "wifi": app.hw.network.state() if app.hw.network is not None else None,
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
        "meter %s  system title %s  board %s" % (app.meter_id, data["system_title"],
                                                 app.board.NAME),
        "firmware %s" % data["firmware"],
        "clock %s (%s)  up %d s  calibration %s%s" % (
            data["clock_utc"], data["clock_local"], data["uptime_s"], app.calibration.source,
            "" if app.calibration.curve_source == "none" else
            ", curve " + app.calibration.curve_source),
        "clock set: " + data["clock_set"],
    ]
    lines += readings_lines(snap)
    lines += [
        "metering module %s: %s" % app.metering_identity,
        "board drivers %s: %s" % app.driver_identity,
        "power-on self-test %s   metering kernel %s" % (app.post.summary(), snap["kernel"]),
        "sampling coverage %.2f %% (%d pairs lost, registered as estimated)" % (
            100 * snap["coverage"], snap["lost_pairs_total"]),
        "loop errors survived: %s; uplink thread restarts %d" % (", ".join(
            "%s %d" % kv for kv in sorted(app.loop_errors.items())) or "none (see audit: "
            "loop-error)", app.uplink_restarts),
        "flash: %s" % ("FULL? %d quarter-hour readings and %d audit entries wait in RAM "
                       "(%d, %d lost)" % (
                           len(app.meter.intervals.waiting), len(app.audit.waiting),
                           app.meter.intervals.lost_in_ram, app.audit.lost_in_ram)
                       if app.meter.intervals.waiting or app.audit.waiting else "writing"),
        "watchdog: %s" % (("%(timeout_ms)d ms, fed %(feeds)d times while metering"
                           % data["watchdog"]) if data["watchdog"] else
                          "none running (started by the metering loop on a board)"),
        "operator link: consumer switch %s, broker %s" % (link["consumer_switch"],
                                                          link["broker"] or "not set"),
        "  readings to the operator: %s" % link["readings"],
        "  transport %s" % link["transport"],
        "  wifi %s" % _wifi_line(link["wifi"]),
        "  keys %s" % (" ".join("%s=%s" % kv for kv in sorted(link["keys"].items())) if link["keys"] else "none (nothing is sent)"),
        "  outbox %d readings, last contact %s, last result: %s" % (
            link["pending_readings"], link["last_contact_utc"] or "never", link["last_result"]),
        RULE,
    ]
    return _out(data, json, lines)


def sendnow(json=False):
    """Test the operator link: the uplink sends what is pending at its next round (within
    a second); `status` shows the result. Nothing is sent with the consumer's switch off
    or without keys."""
    app = _app()
    if app.uplink.connector is None:
        data = {"sendnow": False, "reason": "no broker set"}
        return _out(data, json, ["no broker set: nothing to send to"])
    app.uplink.send_soon(app.hw.clock.time())
    data = {"sendnow": True}
    return _out(data, json, ["the uplink sends within a second; see status for the result"])


def _wifi_line(wifi):
    if wifi is None:
        return "none on this board (the host's network)"
    if wifi["ssid"] is None:
        return "no network set (service.wifi)"
    return "%s, %s, %d connects, %d failures%s" % (
        wifi["ssid"], "connected" if wifi["connected"] else "not connected",
        wifi["connects"], wifi["failures"],
        ", last: " + wifi["last_error"] if wifi["last_error"] else "")


def wifi(ssid, password, json=False):
    """The Wi-Fi network the operator link leaves by (ESP32). The password is stored on
    the meter's flash and never shown."""
    _app().link.set_wifi(ssid, password)
    data = {"wifi": ssid}
    return _out(data, json, ["wifi set to %s; used from the next uplink session" % ssid])


def _watchdog_status(app):
    if app.watchdog is None:
        return None
    return {"timeout_ms": app.board.WATCHDOG_MS, "feeds": app.watchdog_feeds}


def readings_lines(snap):
    lines = []
    if "vrms" in snap:
        lines.append("%.2f V  %.3f A  %+.1f W  PF %+.3f  %.3f Hz" % (
            snap["vrms"], snap["irms"], snap["p_w"], snap["pf"], snap["freq_hz"]))
    lines.append("import %s / %s   export %s / %s   tariff %d" % (
        _kwh(snap["import_wh"][0]), _kwh(snap["import_wh"][1]), _kwh(snap["export_wh"][0]),
        _kwh(snap["export_wh"][1]), snap["tariff"]))
    return lines


def _metering_statement(metering_identity):
    from control.statement import metering_module

    return metering_module(*metering_identity)


def _hex(raw):
    return "".join("%02x" % b for b in raw)


def firmware_info(app):
    info = app.trial.firmware
    return info if info else "dev (unsigned)"


def audit(n=10, json=False):
    """The newest n audit entries, oldest first."""
    entries = _app().audit.tail(n)
    data = [{"seq": seq, "time_utc": civiltime.iso_utc(e["time_s"]), "event": e["event"],
             "text": e["text"]} for seq, e in entries]
    lines = []
    for d in data:  # the whole text, wrapped under itself: a reason is never cut off
        head = "%5d %s %-26s " % (d["seq"], d["time_utc"], d["event"])
        lines += _wrap(d["text"], " " * 8, first=head)
    return _out(data, json, lines)


def comms(on, json=False):
    """The consumer's switch for the operator link (no token: the consumer's right)."""
    state = _app().comms(bool(on))
    data = {"operator_link": "on" if state else "off"}
    return _out(data, json, ["operator link is now %s%s" % (
        data["operator_link"], "" if state else ": nothing is sent to the operator")])


def consent(frequent, json=False):
    """The consumer's consent to quarter-hour readings leaving more often than once a day
    (no token: the consumer's right; the operator reads daily otherwise)."""
    state = _app().consent(bool(frequent))
    data = {"readings": "every session" if state else "once a day"}
    return _out(data, json, ["readings now go to the operator %s%s" % (
        data["readings"], " (the consumer consented at the meter)" if state else "")])


def selftest(json=False):
    """Checks a technician can run: metering alive, registers sane, storage writable."""
    results = _app().selftest()
    data = {"passed": all(r for _n, r in results), "checks": {n: r for n, r in results}}
    lines = ["%-30s %s" % (n, "ok" if r else "FAILED") for n, r in results]
    lines.append("self-test %s" % ("passed" if data["passed"] else "FAILED"))
    return _out(data, json, lines)


def calibrate(step, windows=5, json=False, **reference):
    """A calibration step against a reference source: no-load, pf1 (v_ref, i_ref),
    pf05 (v_ref, i_ref, p_ref), or point (v_ref, i_ref, p_ref at PF 0.5, once at each
    current of the multi-point curve). Applied at once on a bench meter; on a
    commissioned meter only proposed (data/calibration.proposed) until the operator
    signs it."""
    cal, applied = _app().calibrate(step, windows, **reference)
    data = {"step": step, "applied": applied, "proposed": not applied,
            "calibration": cal.to_dict()}
    lines = ["%s: %s" % (step, "applied" if applied else
                         "PROPOSED only: send data/calibration.proposed to the operator for "
                         "a signed set-calibration token")]
    lines += ["  %-15s %.6f" % (k, v) for k, v in sorted(cal.to_dict().items())
              if k in ("v_gain", "i_gain", "phase_deg", "i_crosstalk", "i_noise_counts")]
    if cal.curve is not None:
        lines += ["  curve %9.3f A  gain %.5f  phase %+.3f deg" % tuple(p)
                  for p in cal.curve.points]
    return _out(data, json, lines)


def _clock_set(app):
    """Whether the meter's time is the true time, and why."""
    if not app.hw.clock.trusted:
        return "no, times estimated (set by the operator's time)"
    carried = app.meter.clock_carried
    if carried == "kept":
        return "yes, kept across a reset by the RTC"
    if carried == "estimated":
        return "yes, from the last window before a reset (seconds behind)"
    return "yes"


def _read_whole(path, max_bytes, what):
    """The bytes of a file the shell reads itself (no gate to refuse it with a reason)."""
    raw = read_path(path, max_bytes)
    if isinstance(raw, Oversized):
        raise ValueError("%s %s is %d bytes, more than %d" % (what, path, len(raw), max_bytes))
    return raw


def apply(path, json=False):
    """Apply an operator-signed command token copied onto the meter (mpremote fs cp)."""
    from refusal import TokenRefused

    app = _app()
    with app.rare:  # control.tokens goes again after the use (ondemand.py)
        from control.tokens import MAX_BYTES

        raw = read_path(path, MAX_BYTES)
        try:
            result = app.apply_token(raw, "shell")
            data = {"applied": True, "result": result}
            lines = ["applied: %s" % result]
        except TokenRefused as exc:
            data = {"applied": False, "reason": exc.reason, "detail": exc.detail}
            lines = ["REFUSED (%s): %s" % (exc.reason, exc.detail),
                     "nothing was changed; logged"]
    return _out(data, json, lines)


def update(path="update.pkg", json=False):
    """Verify a firmware package copied onto the meter (mpremote fs cp fw.pkg
    :update.pkg), stage it in the free slot and start it on trial at the next boot. It
    must carry the operator's signatures; nothing active changes if any check fails. A
    board that installs at boot only stages it here: reboot() and the boot stage verifies
    and installs it; firmware() then shows its verdict."""
    from update.errors import REASONS, UpdateRejected

    try:
        data = _app().install_update(path)
    except UpdateRejected as exc:
        data = {"accepted": False, "reason": exc.reason, "detail": exc.detail}
        return _out(data, json, ["REFUSED (%s): %s" % (exc.reason, exc.detail),
                                 "  " + REASONS[exc.reason],
                                 "nothing active was changed; logged"])
    if data.get("staged"):
        return _out(data, json, [
            "staged %d bytes for the boot stage: nothing is verified yet" % data["bytes"],
            "reboot() now: the boot stage verifies and installs it before the meter starts;",
            "firmware() then shows its verdict (the audit log has it too)"])
    return _out(data, json, [
        "accepted %s (security counter %d): %d files, %d bytes in slot %s" % (
            data["version"], data["security_counter"], data["files"], data["bytes"],
            data["slot"]),
        "reboot to run it on trial (machine.reset()); it confirms itself once metering",
        "runs and the self-test passes, or the meter returns to the current firmware"])


def policy(*paths, json=False):
    """Rotate the trust policy: the next versions (N+1, N+2, ..) copied onto the meter,
    in order. Each must be signed by the current root threshold and its own."""
    from update.errors import REASONS, UpdateRejected

    app = _app()
    try:
        with app.rare:
            from update.policy import MAX_BYTES

            raws = [read_path(path, MAX_BYTES) for path in paths]
            data = app.update_gate().install_policy(raws)
    except UpdateRejected as exc:
        data = {"applied": False, "reason": exc.reason, "detail": exc.detail}
        return _out(data, json, ["REFUSED (%s): %s" % (exc.reason, exc.detail),
                                 "  " + REASONS[exc.reason], "policy unchanged; logged"])
    data["applied"] = True
    return _out(data, json, ["policy now version %d, fingerprint %s, %d keys" % (
        data["version"], data["fingerprint"], data["keys"])])


def firmware(json=False):
    """The firmware pointer: active and previous slot, trial state, security counter."""
    app = _app()
    with app.rare:
        data = app.update_gate().status()
    data["boot_install"] = app.boot_install_verdict
    lines = [
        "active   %s (slot %s)%s" % (data["active_version"], data["active"] or "factory",
                                     ", ON TRIAL boot %d" % data["boots"] if data["trial"] else ""),
        "previous %s (slot %s)" % (data["previous_version"] or "-", data["previous"] or "factory"),
        "security counter %d   policy %s" % (data["floor"], (
            "v%d %s" % (data["policy_version"], data["policy_fingerprint"])
            if data["policy_version"] is not None else "none (not commissioned)"))]
    if data["boot_install"]:
        lines.append("the boot stage's last install: " + data["boot_install"])
    return _out(data, json, lines)


def reboot():
    """Save the registers and restart the meter (a board resets; the unix port exits and
    the virtual board starts it again): how a staged update begins its trial. Also when
    the meter is not running here (after a soft reset): it starts again."""
    import main

    app = main.app
    if app is not None:
        app.stop()
        for _ in range(40):  # the metering loop saves the registers as it stops
            if app.stopped:
                break
            app.hw.clock.sleep_ms(50)
        else:
            with app.lock:
                app.meter.save(clean=True)

    main.restart()


def commission(policy_path, keys_path, broker=None, interval_s=86400, ca_path=None,
               utc=None, json=False):
    """First installation at the meter: trust policy + operator keys (+ broker, and the
    operator's CA for TLS: a PEM or DER file; utc: the technician's time, for a clock not
    set since boot). Prints the policy fingerprint for the technician to compare with the
    operator's value."""
    import binascii

    if type(interval_s) is not int or not 900 <= interval_s <= 7 * 86400:
        # the signed set-operator-link keeps to the same limits
        data = {"commissioned": False, "reason": "interval_s must be 900..604800 s"}
        return _out(data, json, ["not commissioned: " + data["reason"]])
    with _app().rare:  # the policy code goes again after the use (ondemand.py)
        from update.policy import MAX_BYTES

        policy_raw = read_path(policy_path, MAX_BYTES)
    keys = _json.loads(_read_whole(keys_path, 512, "the keys file"))
    ca = None
    if ca_path is not None:
        ca = binascii.hexlify(link_settings.der_from_file(_read_whole(
            ca_path, 2 * link_settings.MAX_CA_BYTES, "the CA file"))).decode()  # PEM: base64
    link = {"broker": broker, "interval_s": interval_s, "tls_ca": ca} if broker else None
    fingerprint = _app().commission(policy_raw, binascii.unhexlify(keys["kek"]),
                                    binascii.unhexlify(keys["ek"]),
                                    binascii.unhexlify(keys["ak"]), link, utc)
    remove_path(keys_path)  # the keys are installed (wrapped): no plaintext copy stays on flash
    data = {"commissioned": True, "policy_fingerprint": fingerprint,
            "link": link_settings.describe(link) if link else None}
    return _out(data, json, ["commissioned; policy fingerprint %s (compare with the "
                             "operator's)" % fingerprint] +
                (["operator link: " + data["link"]] if link else []))


def controlplane(json=False):
    """Who controls this meter: channels, keys, thresholds, remote access, break-glass,
    and where which data goes. The sovereignty statement, meter by meter."""
    app = _app()
    with app.rare:
        from control.statement import statement

        policy = app.policies.current()
        glass = app.control.break_glass
        data = statement(app.meter_id, policy, glass, app.keys.fingerprints(),
                         app.link.settings, app.switch.on, app.switch.frequent_readings)
        data["metering_module"] = _metering_statement(app.metering_identity)
    data["system_title"] = _hex(app.uplink.system_title)
    thresholds = data["policy"]["thresholds"]
    keys = data["policy"]["keys"]
    uplink_keys = data["uplink_keys"]["fingerprints"]
    lines = [RULE, "WHO CONTROLS METER %s (system title %s)" % (app.meter_id,
                                                                data["system_title"]), RULE,
             "remote access: off (no WebREPL/telnet/listening socket)",
             "break-glass: %s" % ("ON: vendor and release keys disabled" if glass else "off"),
             "policy: %s" % ("v%d fingerprint %s" % (policy.version, policy.fingerprint())
                             if policy else "none (not commissioned: nothing can be changed)")]
    module = data["metering_module"]
    lines += _wrap("metering module %s (%s); kill path %s" % (
        module["software_id"], module["check"], module["kill_path"]), "  ", first="")
    if thresholds:
        lines.append("thresholds: " + ", ".join("%s %d" % kv for kv in sorted(thresholds.items())))
    for k in keys:
        lines.append("  key %s %-18s owner %-8s %s" % (k["keyid"], k["role"], k["owner"],
                                                         "" if k["active"] else "(disabled)"))
    lines.append("channels:")
    for c in data["channels"]:
        lines.append("  " + c["name"])
        lines += _wrap("accepts " + c["accepts"], "    ")
    lines.append("data:")
    for d in data["data_flows"]:
        lines += _wrap("to %s: %s" % (d["to"], d["how_often"]), "  ")
        lines += _wrap(d["what"], "    ")
        if "consent" in d:
            lines += _wrap(d["consent"], "    ")
    lines.append("uplink keys (operator's, fingerprints):")
    lines.append("  " + (" ".join("%s=%s" % kv for kv in sorted(uplink_keys.items()))
                         if uplink_keys else "none: nothing is sent to the operator"))
    lines.append(RULE)
    return _out(data, json, lines)


def _wrap(text, indent, width=78, first=None):
    """Lines of at most `width` columns (words kept whole), each after `indent` (the first
    after `first` if given): shown whole, never cut at the edge of the terminal."""
    lines = []
    start = indent if first is None else first
    line = start
    for word in text.split():
        if len(line) > len(start) and len(line) + 1 + len(word) > width:
            lines.append(line)
            start = line = indent
        line += (" " if len(line) > len(start) else "") + word
    lines.append(line)
    return lines
