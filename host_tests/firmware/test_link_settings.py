"""The operator link's settings: the CA pinned for TLS is one DER certificate, given as a
PEM or DER file at commissioning or as hex in a signed set-operator-link command; a bad
one changes nothing."""
from binascii import hexlify, b2a_base64

import main
from comms import link_settings
from control import tokens
from fixtures.update import kit
from mptest import raises, temp_root

# the shape of a DER certificate (SEQUENCE, two-byte length) around filler: what the
# meter checks before its TLS stack parses the certificate at the first connection
CA_DER = b"\x30\x82\x01\x00" + bytes(range(256))


def test_a_ca_is_checked_and_read_from_pem_or_der():
    assert link_settings.check_ca(None) is None
    assert link_settings.check_ca(hexlify(CA_DER).decode().upper()) == hexlify(CA_DER).decode()
    for bad in ("zz", "3082", hexlify(CA_DER[:-1]).decode(), hexlify(b"\x31" + CA_DER[1:]).decode(), 7):
        raises(ValueError, link_settings.check_ca, bad)
    pem = (b"-----BEGIN CERTIFICATE-----\n" + b2a_base64(CA_DER) + b"-----END CERTIFICATE-----\n")
    assert link_settings.der_from_file(pem) == CA_DER
    assert link_settings.der_from_file(CA_DER) == CA_DER
    raises(ValueError, link_settings.der_from_file, b"-----BEGIN-----\nAAAA\n-----END-----\n")
    text = link_settings.describe({"tls_ca": hexlify(CA_DER).decode()})
    assert text.startswith("TLS, operator CA ") and "pinned" in text
    assert link_settings.describe({}).startswith("plain MQTT")


def _token(app, params, counter):
    body = {"type": "open-meter-command", "format": 1, "command": "set-operator-link",
            "params": params, "meter": app.meter_id, "counter": counter,
            "expires": app.hw.clock.time() + 3600}
    return kit.envelope(body, ("release1",), tokens.DOMAIN)


def test_a_signed_command_pins_a_ca_and_a_bad_one_changes_nothing():
    app = main.build("sim", paced=False, storage_root=temp_root("link-ca"), p1_path=None)
    app.policies.commission(kit.policy())
    ca_hex = hexlify(CA_DER).decode()
    result = app.apply_token(_token(app, {"broker": "broker.example:8883", "interval_s": 900,
                                          "tls_ca": ca_hex}, 1))
    assert "TLS, operator CA" in result
    assert app.link.settings["tls_ca"] == ca_hex and app.uplink.connector is not None
    stored = app.store.read("operator-link")
    assert ca_hex.encode() in stored
    refused = raises(tokens.TokenRefused, app.apply_token,
                     _token(app, {"broker": "evil.example:8883", "interval_s": 900,
                                  "tls_ca": "3082"}, 2))
    assert refused.reason == "malformed"
    assert app.link.settings["broker"] == "broker.example:8883" and app.store.read("operator-link") == stored
    # without the CA parameter the command is malformed: it is not optional
    body_without = raises(tokens.TokenRefused, app.apply_token,
                          _token(app, {"broker": "broker.example:8883", "interval_s": 900}, 3))
    assert body_without.reason == "malformed"


def test_a_new_interval_takes_effect_now_and_a_technician_can_send_at_once():
    import service

    app = main.build("sim", paced=False, storage_root=temp_root("link-interval"), p1_path=None)
    now = app.hw.clock.time()  # the default schedule: daily, at 02:00 UTC
    app.link.apply({"broker": "broker.example:8883", "interval_s": 900,
                             "tls_ca": None})
    assert 0 < app.uplink.next_s - now <= 900  # the next quarter-hour, not the next 02:00
    main.app = app
    try:
        assert service.sendnow(json=True) == {"sendnow": True}
        assert app.uplink.due(app.hw.clock.time())
        app.link.apply({})
        assert service.sendnow(json=True)["sendnow"] is False  # no broker: a refusal
    finally:
        main.app = None


def test_a_signed_command_may_say_null_plain_mqtt_and_no_broker():
    """null is part of the signed format: a link without TLS (tls_ca null) and a link
    switched off (broker null) are commands an operator can sign and a meter obeys."""
    app = main.build("sim", paced=False, storage_root=temp_root("link-null"), p1_path=None)
    app.policies.commission(kit.policy())
    result = app.apply_token(_token(app, {"broker": "broker.example:1883", "interval_s": 900,
                                          "tls_ca": None}, 1))
    assert "plain MQTT" in result and app.link.settings["tls_ca"] is None
    assert app.uplink.connector is not None
    app.apply_token(_token(app, {"broker": None, "interval_s": 3600, "tls_ca": None}, 2))
    assert app.link.settings["broker"] is None and app.uplink.connector is None


def test_a_signed_calibration_carries_fractions_as_decimal_text():
    app = main.build("sim", paced=False, storage_root=temp_root("cal-token"), p1_path=None)
    app.policies.commission(kit.policy())
    body = {"type": "open-meter-command", "format": 1, "command": "set-calibration",
            "params": {"calibration": {"v_gain": "1.0021", "phase_deg": "-0.35",
                                       "v_offset": 2050}},
            "meter": app.meter_id, "counter": 1, "expires": app.hw.clock.time() + 3600}
    app.apply_token(kit.envelope(body, ("release1",), tokens.DOMAIN))
    cal = app.calibration.cal
    assert abs(cal.v_gain - 1.0021) < 1e-6 and abs(cal.phase_deg + 0.35) < 1e-6
    assert cal.v_offset == 2050 and app.calibration.source == "stored"
    # one reading on every interpreter: digits, one point, a leading minus, nothing else
    for counter, text in enumerate(("fast", "1e0", "1_0", " 1.0", ".5", "1."), 2):
        body["params"] = {"calibration": {"v_gain": text}}
        body["counter"] = counter
        refused = raises(tokens.TokenRefused, app.apply_token,
                         kit.envelope(body, ("release1",), tokens.DOMAIN))
        assert refused.reason == "malformed", text
    assert abs(app.calibration.cal.v_gain - 1.0021) < 1e-6


def test_a_signed_calibration_carries_the_current_curve_and_the_meter_meters_with_it():
    app = main.build("sim", paced=False, storage_root=temp_root("cal-curve"), p1_path=None)
    app.policies.commission(kit.policy())
    # flat, as tools.command signs it: current, gain, phase, current, ...
    curve = ["0.25", "1.0103", "1.2944", "5", "1", "0", "40", "0.9992", "-0.235"]
    body = {"type": "open-meter-command", "format": 1, "command": "set-calibration",
            "params": {"calibration": {"i_curve": curve}},
            "meter": app.meter_id, "counter": 1, "expires": app.hw.clock.time() + 3600}
    app.apply_token(kit.envelope(body, ("release1",), tokens.DOMAIN))
    assert app.calibration.curve_source == "stored"
    assert app.meter.sampler.cal.curve.points[0] == [0.25, 1.0103, 1.2944]
    for counter, bad in enumerate((["5", "1.5", "0"],  # a gain of 1.5: a wiring fault
                                   ["5", "1", "0", "40"],  # a short point
                                   "5,1,0"), 2):
        body["params"] = {"calibration": {"i_curve": bad}}
        body["counter"] = counter
        refused = raises(tokens.TokenRefused, app.apply_token,
                         kit.envelope(body, ("release1",), tokens.DOMAIN))
        assert refused.reason == "malformed", bad
    assert len(app.calibration.cal.curve.points) == 3  # nothing changed


def test_bench_steps_on_a_commissioned_meter_add_up_to_one_proposal():
    """Each point step proposes on top of the last proposal (the meter meters on with the
    signed record), so a curve's points travel in one token; applying it clears it."""
    from metering import bench_calibration

    app = main.build("sim", paced=False, storage_root=temp_root("cal-chain"), p1_path=None)
    app.policies.commission(kit.policy())
    signed = app.calibration.cal.to_dict()

    def collect(meter, count, clock, timeout_s=60):  # the meter stepped here, not waited for
        got = []
        while len(got) < count:
            seen = meter.sampler.windows
            while meter.sampler.windows == seen:
                app.step()
            got.append(meter.last)
        return got

    waiting = bench_calibration.collect
    bench_calibration.collect = collect
    try:
        for amps in (1.0, 5.0, 20.0):
            app.hw.front_end.set(load_a=amps, phase_deg=60.0)
            app.step()
            cal, applied = app.calibrate("point", windows=3, v_ref=230.0, i_ref=amps,
                                         p_ref=230.0 * amps * 0.5)
            assert not applied
    finally:
        bench_calibration.collect = waiting
    proposed = app.calibration.proposed()
    assert [round(p[0]) for p in proposed.curve.points] == [1, 5, 20]
    assert app.calibration.cal.to_dict() == signed  # metering on the signed record
    flat = []
    for point in proposed.curve.points:
        flat += ["%.6f" % x for x in point]
    body = {"type": "open-meter-command", "format": 1, "command": "set-calibration",
            "params": {"calibration": {"i_curve": flat}},
            "meter": app.meter_id, "counter": 1, "expires": app.hw.clock.time() + 3600}
    app.apply_token(kit.envelope(body, ("release1",), tokens.DOMAIN))
    assert len(app.calibration.cal.curve.points) == 3 and app.calibration.proposed() is None
