"""The second front-end: the ATM90E32 driver (boards/atm90e32.py) on the chip's
register-level emulator (rigs/atm90e32_chip.py), through metering.ic_windows into the
same registers. Accuracy as for the ADC front-end, the chip's own energy accumulation,
and what the driver does about a garbled wire, a chip that browned out, a wrong SPI mode."""
from boards import common
from boards.atm90e32 import ATM90E32, ChipError
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from host_tests.firmware import accuracy as acc
from metering.calibration import Calibration
from metering.ic_windows import ICWindows
from metering.meter import Meter
from mptest import raises
from rigs.atm90e32_chip import JOULES_PER_COUNT, ATM90E32Chip, ChipSPI

_CAL = {}


def _cal(curve=False):
    if curve not in _CAL:
        _CAL[curve] = acc.ic_factory_calibration(curve, **(acc.CT_ERRORS if curve else {}))
    return _CAL[curve]


def _running_source(clock, windows_first, **signal):
    """The driver on the chip's emulator through ICWindows, after `windows_first` windows:
    (driver, chip, source, the windows closed so far, a list that grows)."""
    driver, chip = acc.ic_front_end(clock, **signal)
    windows = []
    source = ICWindows(driver, _cal(), windows.append, clock)
    while len(windows) < windows_first:
        source.poll()
    return driver, chip, source, windows


def test_the_ic_front_end_meets_the_adc_grid_after_the_same_bench_steps():
    failures = []
    for name, limit, scenario in acc.ic_grid():
        e = acc.ic_measure(_cal(), **scenario)
        if abs(e["p_pct"]) > limit or abs(e["v_pct"]) > acc.RMS_LIMIT_PCT \
                or abs(e["i_pct"]) > acc.RMS_LIMIT_PCT or e["f_hz"] > acc.FREQ_LIMIT_HZ:
            failures.append("%s: %r" % (name, e))
    assert not failures, "; ".join(failures)


def test_uncalibrated_the_chips_own_errors_show_and_the_bench_takes_them_out():
    raw = Calibration(**acc.IC_DESIGN.calibration())
    e = acc.ic_measure(raw, load_a=acc.IB, phase_deg=0.0)
    assert abs(e["p_pct"] + 0.303) < 0.01  # the emulated chip reads +0.4 % V, -0.7 % I
    cal = _cal()
    assert abs(cal.v_gain * 1.004 - 1) < 1e-4 and abs(cal.i_gain * 0.993 - 1) < 1e-4
    assert abs(cal.phase_deg - 0.15) < 0.01


def test_with_a_real_ct_in_front_the_multi_point_curve_keeps_class_1():
    one_point = acc.ic_factory_calibration(False, **acc.CT_ERRORS)
    outside = [name for name, limit, s in acc.ic_class1_grid()
               if abs(acc.ic_measure(one_point, **s)["p_pct"]) > limit]
    assert outside, "the CT's low-current error should show with one point"
    failures = []
    for name, limit, scenario in acc.ic_class1_grid():
        e = acc.ic_measure(_cal(curve=True), **scenario)
        if abs(e["p_pct"]) > limit / 4:
            failures.append("%s: %.3f %%" % (name, e["p_pct"]))
    assert not failures, "; ".join(failures)


def _meter(clock, flash, phases=1, **scenario):
    driver, chip = acc.ic_front_end(clock, phases, **scenario)
    meter = Meter(driver, _cal(), clock, flash, starting_power_w=common.SHARED.starting_power_w,
                  sag_v=207.0, swell_v=253.0)
    return meter, driver, chip


def _windows(meter, n):
    target = meter.sampler.windows + n
    while meter.sampler.windows < target:
        meter.poll()


def test_the_registers_take_the_chips_own_energy_to_its_resolution():
    clock = FakeClock()
    meter, _driver, _chip = _meter(clock, FakeFlash(), load_a=10.0, phase_deg=30.0)
    assert isinstance(meter.sampler, ICWindows) and meter.snapshot()["kernel"] == "ic"
    def registered_mj():
        return sum(meter.registers.import_wh) * 3600000 + meter.registers.import_mj

    _windows(meter, 1)
    start = registered_mj()
    _windows(meter, 30)
    got_j = (registered_mj() - start) / 1000
    truth_j = acc.ic_truth(load_a=10.0, phase_deg=30.0)["p_w"] * 30
    assert abs(got_j - truth_j) <= 2 * JOULES_PER_COUNT + 0.001 * truth_j, (got_j, truth_j)
    assert meter.quadrants.values[0] > 0 and meter.quadrants.values[4] > 0  # Q1, S import


def test_three_phases_are_summed_into_one_net_energy_as_a_dutch_meter_does():
    clock = FakeClock()
    meter, driver, chip = _meter(clock, FakeFlash(), phases=3, load_a=5.0, phase_deg=0.0)
    chip.set_phase(2, load_a=5.0, phase_deg=180.0)  # L3 feeds back what L1 takes
    _windows(meter, 6)
    last = meter.last
    assert len(last.phases) == 3
    assert abs(last.phases[2][2] + last.phases[0][2]) < 0.01 * last.phases[0][2]
    assert abs(last.p_w - last.phases[1][2]) < 0.01 * last.phases[1][2]  # net: L2 alone
    assert meter.registers.export_wh[1] == 0 and meter.registers.export_mj == 0


def test_a_garbled_reply_is_read_again_and_a_cleared_register_taken_from_the_chips_copy():
    for glitches in (0, 40):
        clock = FakeClock()
        driver, chip, source, windows = _running_source(clock, 3, load_a=10.0, phase_deg=0.0)
        chip.glitch_replies = glitches  # a burst: the wire flips a bit in the next replies
        while len(windows) < 13:
            source.poll()
        seconds = sum(w.duration_s for w in windows[3:])
        rate = sum(w.energy_mj for w in windows[3:]) / seconds  # mJ per second
        if not glitches:
            clean = rate
        else:
            # some reads gave up after their retries (read_errors) and their windows ran
            # longer: the counts they had cleared came with the next read, so the energy
            # per second is the clean run's, to two counts over the span
            assert driver.glitches >= 10 and chip.glitch_replies == 0
            assert source.read_errors >= 1
            assert abs(rate - clean) <= 2 * 1000 * JOULES_PER_COUNT / seconds, (rate, clean)


def test_a_chip_that_browned_out_is_configured_again_and_counted():
    clock = FakeClock()
    driver, chip, source, windows = _running_source(clock, 2, load_a=5.0, phase_deg=0.0)
    chip.brownout()
    while len(windows) < 5:
        source.poll()
    assert driver.resets_seen == 1 and chip.regs[0x00] == 1
    assert abs(windows[-1].p_w / 1150.0 - 1) < 0.002


def test_configuration_needs_mode_3_and_the_access_key():
    clock = FakeClock()
    cs = acc._ChipSelect()
    chip = ATM90E32Chip(lambda: clock.ticks_ms() / 1000.0, [{"load_a": 1.0}], cs=cs)
    wrong_mode = ATM90E32(ChipSPI(chip, polarity=0, phase=0), cs, clock.sleep_ms, phases=1)
    raises(ChipError, wrong_mode.configure)
    driver = ATM90E32(ChipSPI(chip, polarity=1, phase=1), cs, clock.sleep_ms, phases=1)
    driver.configure()
    assert chip.regs[0x7F] == 0 and chip.regs[0x33] == 0x0087 and chip.regs[0x00] == 1
    # closed again: the wire confirms the write (LastSPIData), the chip keeps its gain;
    # which is why configure() reads every register back
    driver.write16(0x61, 1234)
    assert driver.read16(0x61) != 1234


def test_each_phases_sags_and_swells_are_counted_kept_and_shown():
    clock = FakeClock()
    flash = FakeFlash()
    meter, _driver, chip = _meter(clock, flash, phases=3, load_a=5.0, phase_deg=0.0)
    _windows(meter, 2)
    chip.set_phase(1, mains_v=190.0)  # a sag on L2
    chip.set_phase(2, mains_v=262.0)  # a swell on L3
    _windows(meter, 3)
    chip.set_phase(1, mains_v=230.0)
    chip.set_phase(2, mains_v=230.0)
    _windows(meter, 3)
    snap = meter.snapshot()
    assert snap["phase_sags"] == [0, 1, 0] and snap["phase_swells"] == [0, 0, 1]
    assert [round(p["vrms"]) for p in snap["phases"]] == [230, 230, 230]
    assert [round(p["pf"], 3) for p in snap["phases"]] == [1.0, 1.0, 1.0]
    again, _driver, _chip = _meter(clock, flash, phases=3, load_a=5.0, phase_deg=0.0)
    _windows(again, 2)
    assert again.snapshot()["phase_sags"] == [0, 1, 0]  # kept across a restart
    assert again.snapshot()["phase_swells"] == [0, 0, 1]
    from comms import p1

    telegram = p1.build_telegram(dict(snap, time_s=clock.time(), equipment_id="x", text=""))
    assert b"1-0:52.32.0(00001)" in telegram and b"1-0:72.36.0(00001)" in telegram


def test_the_supply_going_is_saved_within_a_step_and_is_no_sag():
    clock = FakeClock()
    meter, _driver, chip = _meter(clock, FakeFlash(), phases=3, load_a=5.0, phase_deg=0.0)
    _windows(meter, 3)
    saves = meter.saves
    for k in range(3):
        chip.set_phase(k, mains_v=0.0, load_a=0.0)
    start = clock.ticks_ms()
    while meter.saves == saves and clock.ticks_diff(clock.ticks_ms(), start) < 2000:
        meter.poll()
    # one supply check after the chip's next means (0.2 s): not the window's close
    assert meter.saves == saves + 1 and clock.ticks_diff(clock.ticks_ms(), start) <= 300
    _windows(meter, 3)
    snap = meter.snapshot()
    assert snap["sags"] == 0 and snap["phase_sags"] == [0, 0, 0]  # an interruption


def test_a_load_switched_off_late_in_a_window_keeps_that_windows_energy():
    clock = FakeClock()
    meter, _driver, chip = _meter(clock, FakeFlash(), load_a=10.0, phase_deg=0.0)
    _windows(meter, 2)
    before = sum(meter.registers.import_wh) * 3600000 + meter.registers.import_mj
    start = clock.ticks_ms()
    while clock.ticks_diff(clock.ticks_ms(), start) < 700:  # 700 ms of 2.3 kW
        meter.poll()
    chip.set_phase(0, load_a=0.0)
    _windows(meter, 2)
    got = sum(meter.registers.import_wh) * 3600000 + meter.registers.import_mj - before
    assert got > 0.6 * 2300 * 700, got  # the chip's energy of those 700 ms, not dropped


def test_a_three_phase_meter_calibrates_on_l1_with_a_balanced_source():
    cal = Calibration(**acc.IC_DESIGN.calibration())
    from metering import bench_calibration

    windows = acc.run_ic_windows(cal, 4, phases=3, load_a=5.0, phase_deg=60.0)
    stepped = bench_calibration.step(cal, "point", windows, v_ref=230.0, i_ref=5.0,
                                     p_ref=575.0)
    gain, phase = stepped.curve.at(5.0)
    assert abs(gain * 0.993 * 1.004 - 1) < 0.001 and abs(phase - 0.15) < 0.01


def test_a_dead_chip_does_not_spin_the_loop_and_status_says_so():
    clock = FakeClock()
    driver, chip, source, windows = _running_source(clock, 2, load_a=5.0)
    chip.glitch_replies = 10 ** 6  # every reply garbled from now on
    polls = 0
    start = clock.ticks_ms()
    while clock.ticks_diff(clock.ticks_ms(), start) < 3000:
        source.poll()
        polls += 1
    assert polls <= 3000 // 50 + 2  # each failed read waits a step
    health = source.health()
    assert health["read_errors"] >= 2 and health["glitches"] > 10


def test_a_read_gap_that_may_have_wrapped_is_estimated_not_dropped():
    clock = FakeClock()
    meter, _driver, chip = _meter(clock, FakeFlash(), load_a=10.0, phase_deg=0.0)
    _windows(meter, 2)

    def registered_j():
        return (sum(meter.registers.import_wh) * 3600000 + meter.registers.import_mj) / 1000

    before = registered_j()
    chip.glitch_replies = 10 ** 9  # every reply garbled for 61 s
    start = clock.ticks_ms()
    while clock.ticks_diff(clock.ticks_ms(), start) < 61000:
        meter.poll()
    chip.glitch_replies = 0
    _windows(meter, 1)
    gap_j = registered_j() - before
    truth = acc.ic_truth(load_a=10.0, phase_deg=0.0)["p_w"]
    assert abs(gap_j / (truth * 61.0) - 1) < 0.03, gap_j
    assert meter.sampler.lost_ms > 60000 and meter.snapshot()["coverage"] < 1.0
    assert meter.last.n_pairs == 0 and meter.last.lost_pairs > 60000  # counted once


def test_a_load_below_the_starting_power_registers_nothing_through_the_ic():
    clock = FakeClock()
    meter, _driver, _chip = _meter(clock, FakeFlash(), load_a=0.006, phase_deg=0.0)  # 1.4 W
    _windows(meter, 120)
    assert sum(meter.registers.import_wh) == 0 and meter.registers.import_mj == 0


def test_a_supply_check_that_cannot_read_l1_saves_once_and_not_every_window():
    clock = FakeClock()
    meter, driver, chip = _meter(clock, FakeFlash(), load_a=5.0, phase_deg=0.0)
    _windows(meter, 3)
    saves = meter.saves
    real = driver.voltage_l1

    def refused():
        raise ChipError("garbled")  # a chip losing its supply answers garbage

    driver.voltage_l1 = refused
    start = clock.ticks_ms()
    while meter.saves == saves and clock.ticks_diff(clock.ticks_ms(), start) < 2000:
        meter.poll()
    # three refused reads (150 ms) and the meter saves, as for a voltage read at 0 V
    assert meter.saves == saves + 1 and clock.ticks_diff(clock.ticks_ms(), start) <= 250
    _windows(meter, 5)  # blind on: the windows close, but no save a window
    assert meter.saves == saves + 1
    assert meter.sampler.health()["blind_supply_checks"] == 1
    driver.voltage_l1 = real
    _windows(meter, 2)
    driver.voltage_l1 = refused  # blind again within the minute: counted, not saved
    _windows(meter, 2)
    assert meter.saves == saves + 1 and meter.sampler.health()["blind_supply_checks"] == 2
    driver.voltage_l1 = real
    _windows(meter, 61)  # the minute passes, counted in polling time (no ticks to wrap)
    saves = meter.saves
    driver.voltage_l1 = refused
    _windows(meter, 1)
    assert meter.saves == saves + 1 and meter.sampler.health()["blind_supply_checks"] == 3
