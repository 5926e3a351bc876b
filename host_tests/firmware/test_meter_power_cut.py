"""Power cuts at every flash write of the running meter: registers are never corrupted,
never rewound, and the quarter-hour log never runs ahead of them."""
from boards import common, sim
from fakes.clock import FakeClock, ClockedADC
from fakes.flash import FakeFlash, PowerLoss
from metering.calibration import Calibration
from metering.meter import Meter
from metering import intervals as iv
from storage.slots import SlotStore
from host_tests.firmware.meter_kit import FillingFlash, run_windows, sim_meter


def _interval_values(meter):
    """The active registers of each quarter-hour record."""
    return [r["import_wh"] + r["export_wh"] for _s, r in meter.intervals.records()]


def _registers(meter):
    """Active (import T1, T2, export T1, T2), then Q1..Q4 varh and apparent import, export."""
    return meter.registers.values() + tuple(meter.quadrants.values)


def test_registers_survive_a_cut_at_every_write():
    cut_at = 1
    while True:
        flash = FakeFlash(power_loss_after=cut_at)
        clock = FakeClock()
        last_saved = (0,) * 10
        measured = (0,) * 10
        booted = False
        try:
            meter = sim_meter(flash, clock)
            booted = True  # the boot wrote a first state record
            saves = meter.saves
            for _ in range(12):
                run_windows(meter, 1)
                measured = _registers(meter)
                if meter.saves != saves:
                    saves = meter.saves
                    last_saved = measured
        except PowerLoss:
            if booted:  # what the meter had counted when the power went
                measured = _registers(meter)
        else:
            break  # this run had no cut: every write index was covered
        flash.reboot()
        clock.advance_s(60)
        # the boot's first save ends with the state record: torn, it may have landed
        first_state_landed = SlotStore(flash, "state").load() is not None
        meter = sim_meter(flash, clock, seed=cut_at)
        restored = _registers(meter)
        for old, new, live in zip(last_saved, restored, measured):
            assert old <= new <= live, (cut_at, last_saved, restored, measured)
        records = _interval_values(meter)
        for a, b in zip(records, records[1:]):
            assert all(x <= y for x, y in zip(a, b)), ("interval log went backwards", cut_at)
        if records:
            assert all(x <= y for x, y in zip(records[-1], restored)), ("interval ahead", cut_at)
        # a cut after the first state record is a power failure; before it, a first boot
        assert meter.power_failures == (1 if first_state_landed else 0), cut_at
        assert first_state_landed or not booted
        run_windows(meter, 4)
        after = _registers(meter)
        assert all(x <= y for x, y in zip(restored, after))
        cut_at += 1
    assert cut_at > 10  # the run really wrote state and interval records many times


def test_interval_deltas_equal_register_deltas_exactly():
    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock)
    run_windows(meter, 20)
    records = [r for _s, r in meter.intervals.records()]
    assert len(records) >= 5
    for r in records:
        assert r["end_s"] % iv.QUARTER_S == 0  # aligned to :00/:15/:30/:45
    first, last = records[0], records[-1]
    assert last["end_s"] - first["end_s"] == (len(records) - 1) * iv.QUARTER_S
    delta = sum(last["import_wh"]) - sum(first["import_wh"])
    # 20 A at 230 V, PF cos 10 deg, for one second of samples per five clock minutes
    assert delta > 0
    assert first["status"] & iv.STATUS_PARTIAL
    assert not records[1]["status"] & iv.STATUS_PARTIAL


def test_clean_restart_is_not_a_power_failure_but_a_cut_is():
    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock)
    run_windows(meter, 2)
    meter.save(clean=True)
    meter = sim_meter(flash, clock)
    assert meter.power_failures == 0
    clock.advance_s(600)  # off for 10 minutes without a clean stop: a long power failure
    meter = sim_meter(flash, clock)
    assert meter.power_failures == 1
    assert meter.long_power_failures == 1
    assert meter.power_fail_log[-1][1] == 600


def test_sags_and_swells_are_counted_once_per_episode():
    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock)
    fe = meter.sampler._adc._adc.front_end
    run_windows(meter, 2)
    for volts in (195.0, 195.0, 230.0, 260.0, 260.0, 230.0, 190.0, 230.0):
        fe.set(mains_v=volts)
        run_windows(meter, 2)
    assert (meter.sags, meter.swells) == (2, 1)


def test_interval_log_holds_at_least_ten_days_of_quarter_hours():
    flash = FakeFlash()
    start = 1795449600
    ir = iv.IntervalRegister(flash, start)
    values = [0, 0, 0, 0]
    for k in range(14 * 96):  # two weeks of quarter-hours
        values[0] += 7
        ir.close(start + (k + 1) * iv.QUARTER_S, values)
    records = [r for _s, r in ir.records()]
    span_s = records[-1]["end_s"] - records[0]["end_s"]
    assert span_s >= 10 * 86400
    assert records[-1]["import_wh"][0] == 14 * 96 * 7  # the newest is kept, oldest go
    ends = [r["end_s"] for r in records]
    assert ends == list(range(ends[0], ends[-1] + 1, iv.QUARTER_S))  # no gaps inside


def _real_time_meter(flash, clock, seed=1):
    fe = sim.SimFrontEnd(load_a=20.0, phase_deg=10.0, seed=seed)
    adc = ClockedADC(sim.SimADC(fe), clock, 1)  # the clock moves with the samples
    cal = Calibration(**common.shared_calibration())
    return Meter(adc, cal, clock, flash, starting_power_w=2.3, sag_v=207.0, swell_v=253.0,
                 save_interval_s=300), fe


def test_the_supply_vanishing_is_saved_within_two_blocks_and_a_short_cut_logged_short():
    flash, clock = FakeFlash(), FakeClock()
    meter, fe = _real_time_meter(flash, clock)
    run_windows(meter, 3)
    saves, windows = meter.saves, meter.sampler.windows
    fe.set(mains_v=0.0)  # the supply goes; the board runs on its hold-up capacitor
    # two blocks: the step to zero may itself look like a crossing (a voltage that was
    # negative, armed, jumps to 0), the next 64 ms have none
    meter.poll()
    meter.poll()
    assert meter.saves == saves + 1, "no save two blocks after the supply went"
    assert meter.sampler.windows == windows  # before the window closes (up to 2 s later)
    # the capacitor is empty; five seconds later the supply returns
    flash.reboot()
    clock.advance_s(5)
    again, _fe = _real_time_meter(flash, clock)
    assert again.power_failures == 1 and again.long_power_failures == 0
    assert again.outage_s == 5, again.outage_s  # not the 8 s since the boot's save


def test_a_supply_that_stays_away_is_saved_once_not_per_block():
    flash, clock = FakeFlash(), FakeClock()
    meter, fe = _real_time_meter(flash, clock)
    run_windows(meter, 2)
    saves = meter.saves
    fe.set(mains_v=0.0)
    for _ in range(80):  # five seconds of blocks without a crossing (a bench without mains)
        meter.poll()
    assert meter.saves == saves + 1
    fe.set(mains_v=230.0)
    run_windows(meter, 3)
    fe.set(mains_v=0.0)
    meter.poll()
    meter.poll()
    assert meter.saves == saves + 2  # the next collapse saves again


def test_quarter_hours_wait_in_ram_while_the_flash_is_full_and_are_written_after():
    from metering import intervals as iv

    flash, clock = FillingFlash(), FakeClock()
    meter = sim_meter(flash, clock)
    run_windows(meter, 4)
    written = len(list(meter.intervals.records()))
    flash.full = True
    closes = 0
    while closes < 3:  # three quarter-hours with a full flash: the state saves fail too
        before = len(meter.intervals.waiting)
        try:
            run_windows(meter, 1)
        except OSError:
            pass  # the state save refused: the App's loop survives it (test_app_comms)
        closes += len(meter.intervals.waiting) - before
    assert len(list(meter.intervals.records())) == written  # nothing reached the flash
    waiting = [iv.decode(r) for r in meter.intervals.waiting]
    assert len(waiting) == 3 and meter.intervals.lost_in_ram == 0
    flash.full = False
    run_windows(meter, 3)  # the next close writes them all, in order, then its own
    assert meter.intervals.waiting == []
    records = [r for _s, r in meter.intervals.records()]
    # their four-quadrant companions waited too and were written beside them
    assert all("quadrants" in r for r in records[written:written + 3])
    assert [dict((k, v) for k, v in r.items() if k != "quadrants")
            for r in records[written:written + 3]] == waiting
    ends = [r["end_s"] for r in records]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)


def test_a_full_waiting_list_drops_the_oldest_and_counts_it():
    from metering import intervals as iv

    flash = FillingFlash()
    reg = iv.IntervalRegister(flash, 1795449600)
    flash.full = True
    for k in range(iv.WAITING_MAX + 3):
        reg.close(1795449600 + (k + 1) * iv.QUARTER_S, [k, 0, 0, 0])
    assert len(reg.waiting) == iv.WAITING_MAX and reg.lost_in_ram == 3
    assert iv.decode(reg.waiting[0])["import_wh"][0] == 3  # the oldest three went


def test_a_state_record_of_the_wrong_size_is_refused_as_malformed():
    # MicroPython's struct has no struct.error: naming it in an except clause raised
    # AttributeError there instead of the meter's refusal
    from metering.registers import RegisterError
    from mptest import raises

    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock)
    run_windows(meter, 2)
    SlotStore(flash, "state").save(b"\x02" + bytes(20))  # CRC-valid, but short
    SlotStore(flash, "meter").save(b"")  # no JSON record to fall back on
    exc = raises(RegisterError, sim_meter, flash, clock)
    assert exc.reason == "malformed"
