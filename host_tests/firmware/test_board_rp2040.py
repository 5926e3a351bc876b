"""boards/rp2040.py and main.start() on the rp2 port rig (host_tests/rigs/rp2): the DMA
driver, the one-extra-thread layout, accuracy through the driver, energy across a stall.
MicroPython only: the rig stands in for the rp2 port (viper, uctypes, _thread limits)."""
import time

from mptest import micropython_only

WIRING = {26: "v", 27: "i"}  # GP26 = ADC0: divider, GP27 = ADC1: CT burden


def _rig(**scenario):
    import rigs
    from boards import common, rp2040

    return rp2040, rigs.install("rp2", common.calibration_for(rp2040), WIRING, **scenario)


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_rp2040_meter_uses_the_dma_drivers_block_size():
    from host_tests.firmware import board_rig

    board, state = _rig()
    board_rig.fresh_flash("rp2040")
    app = board_rig.build_app(board)
    assert app.meter.sampler._buf is not None
    assert len(app.meter.sampler._buf) == 2 * app.hw.adc.block_pairs
    board_rig.step_windows(app, 4)
    snap = app.meter.snapshot()
    assert snap["coverage"] == 1.0, snap["coverage"]  # the DMA ring loses nothing
    assert abs(snap["freq_hz"] - 50.0) < 0.01, snap["freq_hz"]
    assert abs(snap["vrms"] - 230.0) < 0.5, snap["vrms"]
    app.hw.adc.deinit()


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_main_start_meters_on_the_rp2_ports_one_extra_thread():
    from host_tests.firmware import board_rig

    board, state = _rig()
    board_rig.fresh_flash("rp2040")
    app = board_rig.start_and_wait(board)
    try:
        assert app.uplink_in_metering_loop  # core1 meters; no thread left for the uplink
        import _thread  # the rig's: installed by _rig()

        try:
            _thread.start_new_thread(lambda: None, ())
            raise AssertionError("the rig allowed a second extra thread")
        except OSError:
            pass
        assert board_rig.last_telegram_crc_ok(state.p1_bytes(0))
        assert state.watchdog.timeout_ms == board.WATCHDOG_MS and state.watchdog.feeds > 0
        assert app.meter.snapshot()["coverage"] == 1.0
    finally:
        board_rig.stop(app)
    app.hw.adc.deinit()


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_rp2040_accuracy_subset_through_the_dma_driver():
    from host_tests.firmware import board_rig

    board, _state = _rig()
    board_rig.assert_accuracy_subset(board).hw.adc.deinit()


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_rp2040_registers_the_elapsed_time_when_a_stall_laps_the_dma_ring():
    from host_tests.firmware import board_rig

    board, state = _rig(load_a=10.0, phase_deg=0.0)
    board_rig.fresh_flash("rp2040")
    app = board_rig.build_app(board)
    ring_ms = 1000 * app.hw.adc._ring_pairs // app.hw.adc.rate_hz
    error, lost = board_rig.elapsed_energy_error(app, state.signal, stall_ms=ring_ms + 400)
    assert lost > 0  # the ring was lapped: those pairs never reached a window
    assert app.meter.snapshot()["coverage"] < 1.0  # and status says so
    assert abs(error) < 0.005, (error, lost)
    app.hw.adc.deinit()


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_rp2040_watchdog_is_fed_only_while_metering_and_named_after_it_fires():
    from host_tests.firmware import board_rig

    board_rig.assert_watchdog_fed_only_while_metering(_rig()[0])


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_rp2040_reset_keeps_the_registers_in_retained_memory_a_power_cut_does_not():
    from host_tests.firmware import board_rig

    board_rig.assert_reset_keeps_registers(_rig()[0])


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_the_test_led_pin_blinks_the_registered_energy():
    from host_tests.firmware import board_rig

    board_rig.assert_test_led_pulses(_rig()[0])


@micropython_only("the rp2 port rig runs on the MicroPython unix port")
def test_a_signed_update_is_staged_by_the_meter_and_installed_by_the_boot_stage():
    from host_tests.firmware import board_rig

    board_rig.assert_installs_at_boot(_rig()[0])
