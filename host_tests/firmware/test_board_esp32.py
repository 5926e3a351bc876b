"""boards/esp32.py and main.start() on the esp32 port rig (host_tests/rigs/esp32): the
paced viper sampling loop, the measured skew, late slots, energy across a stall.
MicroPython only: the rig stands in for the esp32 port (viper, ticks, ADC reads)."""
import time

from mptest import micropython_only

WIRING = {36: "v", 39: "i"}  # GPIO36 = ADC1_CH0: divider, GPIO39 = ADC1_CH3: CT burden


def _rig(**scenario):
    import rigs
    from boards import common, esp32

    return esp32, rigs.install("esp32", common.calibration_for(esp32), WIRING, **scenario)


class _ScriptedTicks:
    """ticks_us for the acquisition loop: each call moves time on by `step_us`, and a
    stall of `stall_us` happens once, just after read number `stall_after`."""

    def __init__(self, step_us, stall_after, stall_us):
        self.now = 1000
        self.step_us = step_us
        self.reads = []
        self.stall_after = stall_after
        self.stall_us = stall_us

    def ticks_us(self):
        self.now += self.step_us
        return self.now

    def read_v(self):
        self.reads.append(self.now)
        if len(self.reads) == self.stall_after:
            self.now += self.stall_us
        return 2000

    def read_i(self):
        return 2100


def _late_slots_are_skipped(acquire):
    from array import array

    t = _ScriptedTicks(step_us=3, stall_after=4, stall_us=2100)
    buf = array("H", bytes(4 * 16))
    skipped = acquire(buf, 16, t.read_v, t.read_i, t.ticks_us, 1000, 500)
    # a 2100 us stall after the 4th read (slot 3, at ~2500 us): slots 4..6 passed
    # unread, slot 7 (due at 4500 us) is read ~110 us late; no pair is read more than
    # half a period off its slot
    assert skipped == 3, skipped
    slots = [(r - 1000 + 250) // 500 for r in t.reads]
    assert slots == list(range(4)) + list(range(7, 19)), slots
    assert all(abs(r - 1000 - 500 * s) <= 250 for r, s in zip(t.reads, slots))
    assert list(buf[:4]) == [2000, 2100, 2000, 2100]


def test_esp32_plain_acquisition_skips_late_slots_instead_of_reading_them_late():
    from boards import esp32_acquire

    _late_slots_are_skipped(esp32_acquire.acquire)


@micropython_only("viper exists only on MicroPython")
def test_esp32_viper_acquisition_skips_late_slots_instead_of_reading_them_late():
    from boards import esp32_acquire

    _late_slots_are_skipped(esp32_acquire.VIPER_ACQUIRE)
    assert esp32_acquire.VIPER_ACQUIRE is not None


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_meter_uses_the_drivers_block_size_and_measured_skew():
    from host_tests.firmware import board_rig

    board, state = _rig()
    board_rig.fresh_flash("esp32")
    app = board_rig.build_app(board)
    assert len(app.meter.sampler._buf) == 2 * app.hw.adc.block_pairs
    assert app.meter.sampler.i_delay_us == app.hw.adc.i_delay_us
    got = []
    board_rig.step_windows(app, 4, got)
    # the rig reads the signal when the loop really reads (late reads are late, as on the
    # chip): on a loaded host that jitter moves a window's frequency by a few 0.01 Hz,
    # while a wrong pacing rate would move it by a whole hertz or more
    freqs = sorted(w.freq_hz for w, _, _ in got if w.freq_hz)  # the first only synchronises
    assert len(freqs) >= 3 and abs(freqs[len(freqs) // 2] - 50.0) < 0.1, freqs
    assert abs(app.meter.snapshot()["vrms"] - 230.0) < 1.0


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_main_start_meters_on_esp32_with_the_uplink_in_its_own_thread():
    from host_tests.firmware import board_rig

    board, state = _rig()
    board_rig.fresh_flash("esp32")
    app = board_rig.start_and_wait(board)
    try:
        assert not app.uplink_in_metering_loop
        assert board_rig.last_telegram_crc_ok(state.p1_bytes(2))  # UART2 carries P1
        # the task watchdog counts feeds only from the task that started it: the
        # metering thread must be that task
        assert state.watchdog.timeout_ms == board.WATCHDOG_MS and state.watchdog.feeds > 0
    finally:
        board_rig.stop(app)


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_accuracy_subset_through_the_sampling_loop():
    from host_tests.firmware import board_rig

    board, _state = _rig()
    board_rig.assert_accuracy_subset(board)


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_registers_the_elapsed_time_across_lost_slots():
    from host_tests.firmware import board_rig

    board, state = _rig(load_a=10.0, phase_deg=0.0)
    board_rig.fresh_flash("esp32")
    app = board_rig.build_app(board)
    error, lost = board_rig.elapsed_energy_error(app, state.signal, stall_ms=600)
    assert lost >= 1000  # 600 ms at 2000 pairs/s, plus the loop's own gaps
    assert app.meter.snapshot()["coverage"] < 1.0
    assert abs(error) < 0.005, (error, lost)


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_watchdog_is_fed_only_while_metering_and_named_after_it_fires():
    from host_tests.firmware import board_rig

    board_rig.assert_watchdog_fed_only_while_metering(_rig()[0])


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_reset_keeps_the_registers_in_retained_memory_a_power_cut_does_not():
    from host_tests.firmware import board_rig

    board_rig.assert_reset_keeps_registers(_rig()[0])


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_the_test_led_pin_blinks_the_registered_energy():
    from host_tests.firmware import board_rig

    board_rig.assert_test_led_pulses(_rig()[0])


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_esp32_brings_wifi_up_for_the_uplink_and_backs_off_when_it_cannot():
    import service
    import main
    from host_tests.firmware import board_rig

    board, state = _rig()
    state.wifi_aps = {"meterkast": "correct horse"}
    board_rig.fresh_flash("esp32")
    app = board_rig.build_app(board)
    app.keys.commission(bytes(16), bytes(range(16)), bytes(range(16, 32)))
    # a broker nobody listens on: once Wi-Fi is up, the MQTT connect is what fails
    app.link.apply({"broker": "127.0.0.1:9", "interval_s": 900, "tls_ca": None})
    main.app = app
    try:
        def session():
            app.uplink.next_s = app.hw.clock.time()
            return app.uplink.poll(app.hw.clock.time())

        assert session() == "failed: wifi: no network set (service.wifi at the meter)"
        assert app.uplink.next_s - app.hw.clock.time() >= 60 and state.wifi_attempts == []
        service.wifi("meterkast", "wrong")
        assert session() == "failed: wifi: wrong password (meterkast)"
        service.wifi("elsewhere", "correct horse")
        assert session() == "failed: wifi: network not found (elsewhere)"
        service.wifi("meterkast", "correct horse")
        import sys

        sys.path.append(board_rig.ROOT + "/.venv/mplib/lib")  # umqtt.simple, as on the board
        result = session()
        assert not result.startswith("failed: wifi"), result  # up; the broker refused
        shown = service.status(json=True)["operator_link"]["wifi"]
        assert shown == {"ssid": "meterkast", "connected": True, "connects": 1,
                         "failures": 3, "last_error": None}, shown
        assert "correct horse" not in repr(service.status(json=True))
        again = board_rig.build_app(board)  # the network is kept on flash
        assert again.hw.network.credentials["ssid"] == "meterkast"
    finally:
        main.app = None


@micropython_only("the esp32 port rig runs on the MicroPython unix port")
def test_a_signed_update_is_staged_by_the_meter_and_installed_by_the_boot_stage():
    from host_tests.firmware import board_rig

    board_rig.assert_installs_at_boot(_rig()[0])
