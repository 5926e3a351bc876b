"""The assembled meter: the consumer's switch stops the operator link, shows on P1,
survives a reboot, and leaves metering and P1 running."""
import main
from mptest import temp_root

class Capture:
    def __init__(self):
        self.telegrams = []

    def write(self, data):
        self.telegrams.append(bytes(data))
        return len(data)


def _app(root):
    app = main.build("sim", paced=False, storage_root=root, p1_path=None)
    app.hw.p1 = app.p1._uart = Capture()
    return app


def _run(app, windows):
    target = app.meter.sampler.windows + windows
    t = app.hw.clock.time()
    while app.meter.sampler.windows < target:
        app.step()
    return t


def test_opt_out_shows_on_p1_persists_and_metering_goes_on():
    root = temp_root("app-test")
    app = _app(root)
    _run(app, 2)
    assert app.comms(False) is False
    before = app.meter.registers.import_mj + sum(app.meter.registers.values()) * 3600000
    app.p1._last_s = None  # force a telegram now
    _run(app, 2)
    telegram = app.hw.p1.telegrams[-1]
    assert "".join("%02X" % b for b in b"operator link off").encode() in telegram
    after = app.meter.registers.import_mj + sum(app.meter.registers.values()) * 3600000
    assert after > before  # metering did not stop
    app.meter.save(clean=True)
    again = _app(root)  # reboot
    assert again.switch.on is False
    assert again.uplink.send_now().startswith("off")
    events = [e["event"] for _s, e in again.audit.entries()]
    assert "operator-link-off" in events
    assert again.comms(True) is True
    assert [e["event"] for _s, e in again.audit.entries()][-1] == "operator-link-on"


def test_keys_are_never_in_the_repr():
    app = _app(temp_root("app-test"))
    app.keys.commission(bytes(16), bytes(range(16)), bytes(range(16, 32)))
    text = repr(app.keys) + repr(app.keys.fingerprints())
    for key in (bytes(range(16)), bytes(range(16, 32))):
        assert "".join("%02x" % b for b in key) not in text


def test_unsigned_command_over_the_operator_link_changes_nothing_and_is_logged():
    from fakes.mqtt import FakeBroker

    app = _app(temp_root("app-test"))
    app.keys.commission(bytes(16), bytes(range(16)), bytes(range(16, 32)))
    broker = FakeBroker()
    forged = b'{"signatures":[],"signed":{"command":"set-operator-link","counter":99,' \
             b'"expires":4000000000,"format":1,"meter":"sim-0001","params":{"broker":' \
             b'"evil:1883","interval_s":900},"type":"open-meter-command"}}'
    # the "broker" pushes a command on /cmd as soon as the meter publishes
    broker.on_publish = lambda topic, msg: [(topic.replace(b"/up", b"/cmd"), forged)]
    app.uplink.connector = broker.client
    app.uplink.ack_timeout_ms = 300
    _run(app, 3)
    app.meter.intervals.close(app.hw.clock.time() + 900, app.meter.registers.values())
    try:
        app.uplink.send_now()  # no head-end acks here: the session times out
    except Exception:
        pass
    assert app.link.settings.get("broker") is None  # nothing changed
    refused = [e for _s, e in app.audit.entries() if e["event"] == "token-refused"]
    assert refused and "operator-link" in refused[-1]["text"]


def test_an_exception_in_the_metering_loop_is_survived_logged_and_metering_goes_on():
    # a full flash when the registers are saved, or (rp2, no GIL) a spurious MemoryError:
    # the metering thread must not end
    root = temp_root("app-loop-error")
    app = _app(root)
    real_poll = app.meter.poll
    start = app.meter.sampler.windows
    failures = [3]

    def poll():  # three failures, then real blocks until three more windows
        if failures[0]:
            failures[0] -= 1
            raise OSError(28, "no space left on device")
        real_poll()
        if app.meter.sampler.windows >= start + 3:
            app.running = False

    app.meter.poll = poll
    app.run(0, show=False)
    assert app.meter.sampler.windows >= start + 3  # metering went on after the failures
    assert app.loop_errors == {"metering": 3}
    logged = [e for _s, e in app.audit.entries() if e["event"] == "loop-error"]
    assert len(logged) == 1 and "OSError" in logged[0]["text"]  # once, not per failure
    assert "1 so far" in logged[0]["text"]


def test_an_exception_in_the_uplink_loop_is_survived():
    root = temp_root("app-uplink-error")
    app = _app(root)
    rounds = [0]

    def poll(now):
        rounds[0] += 1
        if rounds[0] >= 3:
            app.running = False
        raise MemoryError("memory allocation failed")

    app.uplink.connector = object()  # a link is configured: the loop polls it
    app.uplink.poll = poll
    app.hw.clock.sleep_ms = lambda ms: None
    app.running = True
    app.uplink_loop()
    assert rounds[0] == 3 and app.loop_errors == {"uplink": 3}
    assert [e["event"] for _s, e in app.audit.entries()][-1] == "loop-error"


class _Killed(BaseException):
    """What no loop may catch: a thread that meets it ends."""


def test_an_uplink_thread_that_ends_anyway_is_restarted_by_the_metering_loop():
    root = temp_root("app-uplink-dies")
    app = _app(root)
    spawned = []
    app.running = True
    app.start_uplink_thread(spawned.append)  # a spawn that records instead of starting
    assert app.uplink_alive and spawned == [app.uplink_loop]

    def poll(now):
        raise _Killed()

    app.uplink.connector = object()
    app.uplink.poll = poll
    try:
        spawned.pop()()  # the thread runs and dies of what no loop catches
    except _Killed:
        pass
    assert not app.uplink_alive
    app.p1._last_s = None
    _run(app, 1)
    while not spawned:  # the supervisor looks once per P1 second
        app.step()
    assert app.uplink_restarts == 1 and app.uplink_alive and spawned == [app.uplink_loop]
    logged = [e["text"] for _s, e in app.audit.entries() if e["event"] == "loop-error"]
    assert logged[-1] == "uplink thread ended; restarting (1)"
    app.running = False


def test_a_full_flash_is_said_in_status_and_the_audit_log_and_recovers():
    import service

    app = _app(temp_root("app-flash-full"))
    _run(app, 2)
    store = app.store
    real_append = store.append

    def refuse(name, data):
        raise OSError(28, "ENOSPC")

    store.append = refuse  # the interval log and the audit log: flash full
    now = app.hw.clock.time()
    app.meter.intervals.close(now + 900, app.meter.registers.values())
    assert len(app.meter.intervals.waiting) == 1
    app.p1._last_s = None
    _run(app, 1)
    import main

    main.app = app
    try:
        shown = service.status(json=True)["readings_waiting_in_ram"]  # prints it too
    finally:
        main.app = None
    assert shown == 1
    store.append = real_append  # space again
    app.meter.intervals.close(now + 1800, app.meter.registers.values())
    assert app.meter.intervals.waiting == []
    app.p1._last_s = None
    _run(app, 1)
    while app.flash_full:  # the next P1 second looks
        app.step()
    texts = [e["text"] for _s, e in app.audit.entries() if e["event"] == "flash-full"]
    # the entry made while the flash was full waited in RAM and landed, in order
    assert texts == ["quarter-hour readings wait in RAM", "recovered: 1 readings had waited "
                     "in RAM, 0 lost; 0 audit entries lost"], texts
    from control.audit import verify_chain

    verify_chain(app.audit.raw())  # no gap, no break: the refused writes spent no number


def test_the_consumers_consent_to_frequent_readings_is_theirs_logged_and_kept():
    import service

    root = temp_root("consent")
    app = main.build("sim", paced=False, storage_root=root, p1_path=None)
    main.app = app
    assert app.switch.frequent_readings is False  # the default: once a day
    assert service.consent(True, json=True) == {"readings": "every session"}
    assert service.consent(True, json=True) == {"readings": "every session"}  # no change
    entries = [e for _s, e in app.audit.entries() if e["event"] == "readings-consent"]
    assert [e["text"] for e in entries] == ["consumer: readings at every session"]
    flows = service.controlplane(json=True)["data_flows"]
    assert flows[1]["consent"] == "readings more often than daily: yes, given by the " \
        "consumer at the meter"
    service.consent(False)
    again = main.build("sim", paced=False, storage_root=root, p1_path=None)
    assert again.switch.frequent_readings is False  # withdrawn, and kept across a restart


def test_status_and_the_boot_entry_name_the_metering_modules_identity():
    import service
    from metering import identity

    app = main.build("sim", paced=False, storage_root=temp_root("identity"), p1_path=None)
    main.app = app
    status = service.status(json=True)
    assert status["metering_module"] == {"software_id": identity.SOFTWARE_ID,
                                         "check": "verified"}
    # and the sim board's drivers, checked against the boards package's sources
    assert status["board_drivers"] == {"driver_id": identity.DRIVER_IDS["sim"],
                                       "check": "verified"}
    boots = [e["text"] for _s, e in app.audit.entries() if e["event"] == "boot"]
    assert boots[-1].startswith("metering %s; drivers %s; " % (identity.SOFTWARE_ID,
                                                               identity.DRIVER_IDS["sim"]))
    module = service.controlplane(json=True)["metering_module"]
    assert module["software_id"] == identity.SOFTWARE_ID and "no command" in module["kill_path"]


def test_commissioning_keeps_to_the_signed_commands_interval_limits():
    import service

    app = main.build("sim", paced=False, storage_root=temp_root("commission-interval"),
                     p1_path=None)
    main.app = app
    result = service.commission("policy.json", "keys.json", "broker.example:8883", 60,
                                json=True)
    assert result == {"commissioned": False, "reason": "interval_s must be 900..604800 s"}
    assert app.policies.current() is None and not app.keys.present  # nothing changed


def test_voltage_events_reach_the_audit_log_at_most_once_a_quarter_hour():
    from metering.meter import HYSTERESIS_SHARE

    app = _app(temp_root("app-voltage"))
    sampler = app.meter.sampler
    hysteresis = HYSTERESIS_SHARE * 230.0
    for _ in range(2):  # two sags: the sim's 230 V against a limit above it, then not
        sampler.set_voltage_limits(240.0, 260.0, hysteresis, 1)
        _run(app, 2)
        sampler.set_voltage_limits(207.0, 253.0, hysteresis, 1)
        _run(app, 2)
    entries = [e for _s, e in app.audit.entries() if e["event"] == "voltage-quality"]
    assert app.meter.sags == 2 and len(app.meter.voltage_log) == 2
    assert len(entries) == 1, entries  # the first at once, the second waits its turn
    assert entries[0]["text"].startswith("1 sag/swell(s); longest: sag to 2")
    app.hw.clock.adjust(900)  # a quarter-hour later the waiting one is logged
    _run(app, 1)
    entries = [e for _s, e in app.audit.entries() if e["event"] == "voltage-quality"]
    assert len(entries) == 2 and entries[1]["text"].startswith("1 sag/swell(s)")
