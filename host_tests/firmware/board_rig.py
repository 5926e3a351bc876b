"""Runs a board module and the composition root on a port rig (host_tests/rigs) for the
shared board tests: fresh flash, the App built by main.build, windows stepped in the
test's own thread, and the numbers the accuracy and energy checks need."""
import os
import sys
import time

ROOT = __file__.rsplit("/", 3)[0]
MAX_WAIT_S = 30  # a board that meters closes a window every second
CLASS1_THIRD = 0.0033  # a third of IEC 62053-21 class 1 (1.0 %): our algorithm's budget
ACCURACY_POINTS = (  # IEC 62053-21 test points that reach every part of the analysis
    {"load_a": 5.0, "phase_deg": 0.0},  # Ib, PF 1
    {"load_a": 5.0, "phase_deg": 60.0},  # Ib, PF 0.5 inductive: the skew matters
    {"load_a": 0.5, "phase_deg": 0.0},  # 0.1 Ib, PF 1
    {"load_a": 5.0, "phase_deg": 180.0 - 36.87},  # export, PF 0.8 capacitive
)

CLASS2_THIRD = 0.0067  # a third of IEC 62053-23 class 2 (2 %) for reactive energy
REACTIVE_POINTS = (  # (point, its reactive register, its apparent register): Q1..Q4 = 0..3
    ({"load_a": 5.0, "phase_deg": 60.0}, 0, 4),  # import, lagging: Q1
    ({"load_a": 5.0, "phase_deg": -143.13}, 2, 5),  # export, leading: Q3
)


def fresh_flash(board_name):
    """An empty folder as the board's flash, made the working directory (the root of
    the board's filesystem: `fw/`, `data/` are relative to it). One per call, so that
    runs sharing the machine (or the checkout) never share a board's flash."""
    from mptest import made_root

    path = made_root("rig-" + board_name)
    os.chdir(path)
    return path


def build_app(board):
    import main

    board.STORAGE_ROOT = "data"  # the board's /data, inside the rig's flash folder
    return main.build(board.NAME)


def step_windows(app, count, results=None):
    """Step the App (one ADC block per step) until `count` more windows closed; append
    (window result, registered joules, driver's lost_pairs) per window to `results`."""
    sampler = app.meter.sampler
    target = sampler.windows + count
    start = time.ticks_ms()
    while sampler.windows < target:
        before = sampler.windows
        app.step()
        if sampler.windows != before and results is not None:
            results.append((app.meter.last, registered_j(app.meter), app.hw.adc.lost_pairs))
        if time.ticks_diff(time.ticks_ms(), start) > MAX_WAIT_S * 1000:
            raise AssertionError("the board stopped metering: %d windows in %d s"
                                 % (sampler.windows - target + count, MAX_WAIT_S))


def registered_j(meter):
    reg = meter.registers
    return (reg.import_wh[1] + reg.import_wh[2]) * 3600 + reg.import_mj / 1000


def assert_accuracy_subset(board):
    """Build the App on a freshly flashed `board` (its rig installed) and hold every
    ACCURACY_POINTS error within a third of class 1; returns the App."""
    from rigs import state

    fresh_flash(board.NAME)
    app = build_app(board)
    step_windows(app, 1)
    for point in ACCURACY_POINTS:
        error = power_error(app, state.signal, **point)
        assert abs(error) < CLASS1_THIRD, (point, error)
    for point, quadrant, apparent in REACTIVE_POINTS:
        reactive_error, apparent_error, deltas = four_quadrant_errors(app, state.signal, **point)
        assert abs(reactive_error) < CLASS2_THIRD, (point, reactive_error, deltas)
        assert abs(apparent_error) < CLASS1_THIRD, (point, apparent_error, deltas)
        assert [k for k in range(6) if deltas[k]] == sorted((quadrant, apparent)), (point, deltas)
    return app


def four_quadrant_errors(app, signal, **scenario):
    """Relative errors of the reactive and apparent energy the four-quadrant registers
    took over two whole windows at one test point, against the true Q and S over the
    windows' elapsed time, and each register's delta (var x ms, VA x ms)."""
    signal.set(**scenario)
    step_windows(app, 1)
    got = []
    before = _quadrant_exact(app.meter)
    step_windows(app, 2, got)
    deltas = [b - a for a, b in zip(before, _quadrant_exact(app.meter))]
    elapsed_ms = 1000 * sum(w.duration_s for w, _, _ in got)
    truth = signal.truth()
    reactive = max(deltas[:4]) / (abs(truth["q_var"]) * elapsed_ms)
    apparent = max(deltas[4:]) / (truth["vrms"] * truth["irms"] * elapsed_ms)
    return reactive - 1, apparent - 1, deltas


def _quadrant_exact(meter):
    quadrants = meter.quadrants
    return [v * 3600000 + r for v, r in zip(quadrants.values, quadrants.rest)]


def power_error(app, signal, **scenario):
    """Relative error of active power at one test point: the signal changes, the window
    that straddles the change is discarded, two whole windows are measured."""
    signal.set(**scenario)
    step_windows(app, 1)
    got = []
    step_windows(app, 2, got)
    p = sum(w.p_w * w.duration_s for w, _, _ in got) / sum(w.duration_s for w, _, _ in got)
    truth = signal.truth()["p_w"]
    return (p - truth) / abs(truth)


def elapsed_energy_error(app, signal, stall_ms, windows=4):
    """Meter, stall the metering loop for stall_ms (as a long flash write or a network
    wait would), meter on; compare the energy registered between two window closes with
    the true power times the true elapsed time (pairs sampled plus pairs lost).
    Returns (relative error, pairs lost in the span)."""
    from rigs import state

    got = []
    step_windows(app, 2, got)
    state.stall_ms(stall_ms)
    step_windows(app, windows, got)
    first, last = got[1], got[-1]
    sampled = sum(w.n_pairs for w, _, _ in got[2:])
    lost = last[2] - first[2]
    elapsed_s = (sampled + lost) / app.meter.sampler.rate_hz
    expected_j = signal.truth()["p_w"] * elapsed_s
    return (last[1] - first[1] - expected_j) / expected_j, lost


def start_and_wait(board, windows=3):
    """main.start() on the rig's board; returns the App once `windows` windows closed
    in its metering thread, or fails saying the board stopped metering."""
    import main

    board.STORAGE_ROOT = "data"
    app = main.start(board.NAME)
    start = time.ticks_ms()
    while app.meter.sampler.windows < windows:
        if time.ticks_diff(time.ticks_ms(), start) > MAX_WAIT_S * 1000 or app.stopped:
            stop(app)
            raise AssertionError("the %s stopped metering after main.start()" % board.NAME)
        time.sleep_ms(50)
    return app


def stop(app):
    """Stop the App's metering thread and wait until it has saved and ended."""
    app.stop()
    start = time.ticks_ms()
    while not app.stopped and time.ticks_diff(time.ticks_ms(), start) < 5000:
        time.sleep_ms(20)
    if not app.stopped:
        raise AssertionError("the metering thread did not stop within 5 s")


def last_telegram_crc_ok(out):
    """The first complete P1 telegram in `out` (bytes from the P1 UART) has a good CRC."""
    from comms.p1 import crc16

    begin = out.index(b"/")
    end = out.index(b"!", begin)
    return b"%04X" % crc16(out[begin:end + 1]) == out[end + 1:end + 5]


def assert_watchdog_fed_only_while_metering(board):
    """The metering loop starts the board's machine.WDT with board.WATCHDOG_MS (the
    port's fake checks the port's own limits), feeds it while windows close, and stops
    feeding when metering makes no progress although the loop survives: then the board
    would reset. After such a reset the boot entry of the audit log names the watchdog."""
    from rigs import state

    fresh_flash(board.NAME)
    app = build_app(board)
    timeout_ms = board.WATCHDOG_MS
    board.WATCHDOG_MS = 1000  # the shortest every port accepts: starving it takes 1 s here
    try:
        app.run(2, show=False)
        watchdog = state.watchdog
        assert watchdog is not None and watchdog.timeout_ms == 1000
        assert watchdog.feeds >= app.meter.sampler.windows  # a feed per block, at least
        fed = watchdog.feeds

        def dead_adc():
            raise OSError(5, "EIO")  # the ADC stopped answering

        app.meter.poll = dead_adc
        app.run(2, show=False)  # the loop survives the failures, but meters nothing
        assert app.loop_errors.get("metering", 0) > 0
        assert watchdog.feeds == fed and state.watchdog_overdue()
        import main
        import service

        main.app = app
        try:
            shown = service.status()["watchdog"]  # the technician's status says so too
        finally:
            main.app = None
        assert shown == {"timeout_ms": 1000, "feeds": fed}, shown
    finally:
        board.WATCHDOG_MS = timeout_ms
    state.reset_cause = "WDT_RESET"
    _release(app)
    again = build_app(board)
    boots = [e["text"] for _s, e in again.audit.entries() if e["event"] == "boot"]
    assert "reset: watchdog" in boots[-1] and "; reset: power-on" in boots[0], boots
    _release(again)


def assert_reset_keeps_registers(board):
    """Meter with no save after boot, then a reset (the App built again on the same
    flash, nothing saved): the registers come back at least where P1 left them, through
    the board's own retained memory, and the boot entry says how long metering stopped.
    Then a power cut: that memory is gone, the last save counts, a power failure."""
    from rigs import state

    fresh_flash(board.NAME)
    app = build_app(board)
    state.signal.set(load_a=40.0)  # Imax: several Wh in a few windows
    step_windows(app, 4)
    live = app.meter.registers.values()
    import struct

    from metering import meter as meter_module

    saved = struct.unpack(meter_module._STATE, app.meter._slots.load())[2:4]  # import T1, T2
    assert sum(saved) + 5 <= sum(live), (saved, live)  # the retained words hold 5 Wh and more
    _release(app)
    app = build_app(board)  # the reset: RAM is gone, the retained words are not
    kept = app.meter.registers.values()
    assert all(k >= v for k, v in zip(kept, live)) and sum(kept) <= sum(live) + 1, (kept, live)
    assert app.meter.power_failures == 0
    # the board's clock is not set since boot: the gap waits for the operator's time
    assert app.meter.restart_gap_s is None and app.meter.down_unmeasured == "reset"
    boots = [e["text"] for _s, e in app.audit.entries() if e["event"] == "boot"]
    assert "registers kept" in boots[-1], boots
    assert "clock not set" in app.p1.text  # the consumer is told the times are estimates
    step_windows(app, 3)
    _release(app)
    state.power_cut()
    app = build_app(board)
    assert app.meter.registers.values() == kept  # only the boot save after the reset
    assert app.meter.power_failures == 1
    # the operator's time sets the clock (the host's, as the rig's time.time() runs on it);
    # a reset after that keeps it set: the ESP32's RTC ran on, the rp2 port's restarted
    # and the meter sets it to the last window's time
    app.uplink.take_time(int(time.time()))
    assert app.hw.clock.trusted
    step_windows(app, 2)
    _release(app)
    app = build_app(board)
    clock = app.hw.clock
    assert clock.trusted and "clock not set" not in app.p1.text
    assert abs(clock.time() - time.time()) <= 2, (clock.time(), time.time())
    boots = [e["text"] for _s, e in app.audit.entries() if e["event"] == "boot"]
    import main
    import service

    main.app = app
    try:
        shown = service.status()["clock_set"]  # the technician's status says why
    finally:
        main.app = None
    assert shown.startswith("yes, "), shown
    if clock.kept_across_reset:
        assert app.meter.clock_carried == "kept" and "clock kept by the RTC" in boots[-1]
        assert app.meter.restart_gap_s is not None and app.meter.restart_gap_s <= 2
    else:
        assert app.meter.clock_carried == "estimated", app.meter.clock_carried
        assert "clock set to the last window" in boots[-1], boots
    _release(app)
    state.power_cut()
    app = build_app(board)
    assert not app.hw.clock.trusted and app.meter.clock_carried is None
    _release(app)


def assert_test_led_pulses(board):
    """The board's own LED pin shows the meter's pulses: at Imax (9.2 kWh/h, 1000 imp/kWh)
    a window's Wh blink during the next window, one rising edge per pulse counted."""
    from rigs import state

    fresh_flash(board.NAME)
    app = build_app(board)
    state.signal.set(load_a=40.0)
    step_windows(app, 5)
    pulses = app.meter.pulses
    rises = state.pin_rises.get(app.hw.led.id, [])
    assert len(rises) == pulses.emitted >= 5, (len(rises), pulses.status())
    assert rises == sorted(rises)
    _release(app)


def assert_installs_at_boot(board):
    """The board takes updates the boards' way: its meter only stages a signed package,
    and the boot stage, with the board's own identity, verifies and installs it on trial
    (boot_install; on the board a reset follows)."""
    from fixtures.update import kit
    from storage.flash import FileStore
    import boot_install
    from update import firmware_slots, install_request

    fresh_flash(board.NAME)
    app = build_app(board)
    assert app.install_at_boot and board.INSTALL_AT_BOOT
    app.update_gate().install_policy([kit.policy()])
    files = kit.release_files()
    files["boards/%s.py" % board.NAME] = b"NAME = %r\n" % board.NAME  # a package names its board
    package = kit.package(files, board=board.NAME, hardware_id=board.HARDWARE_ID, counter=2,
                          version="2.0.0", expires=app.hw.clock.time() + kit.DAY_S)
    with open("update.pkg", "wb") as f:
        f.write(package)
    assert app.install_update("update.pkg") == {"staged": True, "bytes": len(package),
                                                 "channel": "shell"}
    assert "manifest" not in " ".join(sys.modules)  # the verifier never loaded
    step_windows(app, 1)
    app.meter.save(clean=True)
    _release(app)
    verdict = boot_install.install_pending("", board)
    assert verdict == "accepted 2.0.0", verdict
    fw = FileStore("fw")
    state = firmware_slots.UpdateState(fw)
    assert (state.active, state.trial, state.fields["active_version"]) == ("a", True, "2.0.0")
    assert install_request.read_result(fw) == ("shell", "accepted 2.0.0")


def _release(app):
    if hasattr(app.hw.adc, "deinit"):
        app.hw.adc.deinit()  # the DMA channels, before the next boot claims them
