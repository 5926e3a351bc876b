"""Time on a board without a battery-backed RTC: after boot the clock is not set. It never
runs behind the meter's last save, the quarter-hours it closes say their times are
estimated, the outage before the boot is measured once the operator's authenticated time
arrives (accepted whatever the step, never earlier than the last save), and a set clock
takes only bounded steps."""
from boards import common, sim
from fakes.clock import ClockedADC, FakeClock
from fakes.flash import FakeFlash, PowerLoss
from metering import intervals as iv
from metering.calibration import Calibration
from metering.meter import Meter
from host_tests.firmware import uplink_kit

PORT_EPOCH_S = 946684800  # 2000-01-01: where a board's time() starts after power-on
SAVED_S = 1795449600  # 2026-11-23 16:00 UTC: the last save before the power cut


def _meter(flash, clock):
    fe = sim.SimFrontEnd(load_a=10.0)
    adc = ClockedADC(sim.SimADC(fe), clock, 300)  # quarter-hours pass in a few windows
    cal = Calibration(**common.shared_calibration())
    return Meter(adc, cal, clock, flash, starting_power_w=2.3, sag_v=207.0, swell_v=253.0)


def _powered_off_meter():
    """A meter that ran on a set clock, then lost power: its flash, then a board clock
    restarted at the port's epoch, not set."""
    flash = FakeFlash()
    meter = _meter(flash, FakeClock(utc_s=SAVED_S))
    meter.save()
    flash.reboot()
    return flash, FakeClock(utc_s=PORT_EPOCH_S + 3, trusted=False)


def _run_windows(meter, count):
    target = meter.sampler.windows + count
    while meter.sampler.windows < target:
        meter.poll()


def test_an_unset_clock_never_runs_behind_the_last_save_and_flags_its_quarter_hours():
    flash, clock = _powered_off_meter()
    meter = _meter(flash, clock)
    assert clock.time() == SAVED_S  # moved up to the last save, not left in 2000
    assert meter.power_failures == 1 and meter.outage_s is None  # how long: not known yet
    assert meter.down_unmeasured == "power"
    _run_windows(meter, 12)  # an hour of quarter-hours on the sped-up clock
    records = [r for _s, r in meter.intervals.records()]
    assert records and all(r["status"] & iv.STATUS_CLOCK_INVALID for r in records)


def test_the_first_set_measures_the_outage_and_the_quarter_hours_follow_true_time():
    flash, clock = _powered_off_meter()
    meter = _meter(flash, clock)
    _run_windows(meter, 2)
    off_s = 3 * 86400  # the supply was away three days
    delta = SAVED_S + off_s - meter.boot_s
    clock.adjust(delta)
    clock.trusted = True
    assert meter.clock_stepped(delta, True) == ("power", off_s)
    assert meter.outage_s == off_s and meter.long_power_failures == 1
    assert meter.power_fail_log[-1] == [SAVED_S + off_s, off_s]
    _run_windows(meter, 8)
    after = [r for _s, r in meter.intervals.records() if r["end_s"] > SAVED_S + off_s]
    assert after and not after[-1]["status"] & iv.STATUS_CLOCK_INVALID
    # the estimate ran three days behind: that is no reason to call the days switched off
    assert not any(r["status"] & iv.STATUS_POWER_FAIL for r in after[1:])
    assert after[0]["status"] & iv.STATUS_CLOCK_SET


def test_the_operator_time_sets_an_unset_clock_whatever_the_step_but_not_before_the_save():
    flash, clock, broker, head, intervals, audit, up = uplink_kit.uplink_rig()
    clock.trusted = False
    up.time_floor_s = clock.time()
    steps = []
    up.on_clock_step = lambda delta, first: steps.append((delta, first)) or "measured"
    uplink_kit.close_quarters(intervals, clock, 1)
    head.clock = FakeClock(up.time_floor_s - 600)  # a head-end ten minutes before the save
    up.send_now()
    assert not clock.trusted and not steps
    refused = [e["text"] for _s, e in audit.entries() if e["event"] == "clock-correction-refused"]
    assert refused and "before the meter's last save" in refused[-1]
    uplink_kit.close_quarters(intervals, clock, 1)
    head.clock = FakeClock(clock.time() + 40 * 86400)  # forty days ahead: accepted
    up._clock_logged = False
    up.send_now()
    assert clock.trusted and steps == [(40 * 86400, True)]
    set_entries = [e["text"] for _s, e in audit.entries() if e["event"] == "clock-corrected"]
    assert set_entries[-1] == "+3456000 s (set: not set since boot); measured"
    uplink_kit.close_quarters(intervals, clock, 1)
    head.clock = FakeClock(clock.time() + 2 * 86400)  # now set: two days is absurd
    before = clock.time()
    up.send_now()
    assert clock.time() == before and len(steps) == 1


class RecordingRTC:
    def __init__(self):
        self.set = []

    def datetime(self, value):
        self.set.append(tuple(value))


def test_an_adjustment_sets_the_boards_rtc_for_the_tls_date_check():
    import time

    rtc = RecordingRTC()
    clock = common.SystemClock(False, rtc)
    before = clock.time()
    target = 1796094245  # 2026-12-01 03:04:05 UTC, a Tuesday
    clock.adjust(target - before)
    # machine.RTC.datetime: (year, month, day, weekday 0 = Monday, h, m, s, subseconds)
    assert rtc.set == [(2026, 12, 1, 1, 3, 4, 5, 0)], rtc.set
    assert abs(clock.time() - target) <= 1  # the rig's time.time() does not move: the offset
    assert abs(clock.offset_s - (target - int(time.time()))) <= 1


def test_the_first_set_is_saved_so_the_next_outage_is_measured_from_true_time():
    flash, clock = _powered_off_meter()
    meter = _meter(flash, clock)
    _run_windows(meter, 1)
    delta = SAVED_S + 3 * 86400 - meter.boot_s
    clock.adjust(delta)
    clock.trusted = True
    meter.clock_stepped(delta, True)
    _run_windows(meter, 1)  # less than a save interval later the power goes again
    flash.reboot()
    clock.advance_s(600)
    again = _meter(flash, clock)
    assert again.outage_s is not None and again.outage_s <= 900, again.outage_s
    assert again.power_fail_log[-1][1] == again.outage_s  # 600 s and a window, not 3 days


def test_commissioning_sets_a_clock_not_set_since_boot_from_the_technicians_time():
    import main
    from mptest import temp_root

    app = main.build("sim", paced=False, storage_root=temp_root("commission-clock"),
                     p1_path=None)
    app.hw.clock.trusted = False  # as on a board after power-on
    technician_s = app.hw.clock.time() + 86400
    app.commission(kit_policy(), bytes(16), bytes(range(16)), bytes(range(16, 32)),
                   utc=technician_s)
    assert app.hw.clock.trusted and abs(app.hw.clock.time() - technician_s) <= 1
    texts = [e["text"] for _s, e in app.audit.entries() if e["event"] == "clock-corrected"]
    assert texts and "set at commissioning" in texts[-1]


def kit_policy():
    from fixtures.update import kit

    return kit.policy()


class _Words:
    """A board's retained words: survive a reset (the same object), not a power cut."""

    def __init__(self):
        self.words = [0, 0, 0, 0]

    def load(self):
        return list(self.words)

    def store(self, words):
        self.words[:] = words

    def power_cut(self):
        self.words[:] = [0, 0, 0, 0]


def _retained_meter(flash, clock, words):
    fe = sim.SimFrontEnd(load_a=10.0)
    adc = ClockedADC(sim.SimADC(fe), clock, 300)
    cal = Calibration(**common.shared_calibration())
    return Meter(adc, cal, clock, flash, starting_power_w=2.3, sag_v=207.0, swell_v=253.0,
                 retained=words)


def _board_meter(kept_across_reset):
    """A board meter after power-on, its clock not set, and the operator's time at hand:
    the flash, the retained words, the clock, the meter and a function that sets it."""
    flash, words = FakeFlash(), _Words()
    clock = FakeClock(utc_s=PORT_EPOCH_S + 3, trusted=False)
    clock.kept_across_reset = kept_across_reset
    meter = _retained_meter(flash, clock, words)

    def set_clock():
        delta = SAVED_S - clock.time()
        clock.adjust(delta)
        clock.trusted = True
        meter.clock_stepped(delta, True)

    return flash, words, clock, meter, set_clock


def _set_then_reset(kept_across_reset):
    """A board meter whose clock the operator set, metering on, then reset: the flash,
    the retained words, the clock as the board restarts it, and the last window's time."""
    flash, words, clock, meter, set_clock = _board_meter(kept_across_reset)
    set_clock()
    _run_windows(meter, 3)
    last_window_s = clock.time()
    flash.reboot()  # the reset: RAM gone, flash and retained words kept
    return flash, words, clock, last_window_s


def test_a_reset_on_a_set_clock_keeps_it_set_where_the_rtc_runs_on():
    flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=True)
    clock.advance_s(4)  # the ESP32's RTC timer ran through the reset and the boot
    clock.trusted = False  # as every board clock starts
    meter = _retained_meter(flash, clock, words)
    assert clock.trusted and meter.clock_carried == "kept"
    assert clock.time() == last_window_s + 4  # untouched: the RTC's own time
    assert meter.restart_gap_s == 4 and meter.down_unmeasured is None
    _run_windows(meter, 4)
    records = [r for _s, r in meter.intervals.records() if r["end_s"] > last_window_s]
    assert records and not any(r["status"] & iv.STATUS_CLOCK_INVALID for r in records)


def test_a_reset_on_a_set_clock_that_restarts_sets_it_to_the_last_window():
    flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=False)
    clock.utc_s = 1609459200 + 2  # the rp2 port restarts time at 2021-01-01 on every boot
    clock.trusted = False
    meter = _retained_meter(flash, clock, words)
    assert clock.trusted and meter.clock_carried == "estimated"
    assert clock.time() == last_window_s  # behind the true time by the reset
    assert meter.restart_gap_s is None and meter.down_unmeasured is None  # not known
    assert meter.power_failures == 0


def test_an_rtc_that_went_back_or_ran_far_on_is_not_taken_as_the_time():
    for offset in (-86400, 3700):  # behind the last window, or over an hour past it
        flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=True)
        clock.utc_s = last_window_s + offset
        clock.trusted = False
        meter = _retained_meter(flash, clock, words)
        assert not clock.trusted and meter.clock_carried is None, offset
        assert clock.time() >= last_window_s  # never behind the last window, as before


def test_an_estimate_carried_across_a_reset_takes_the_operators_time_whatever_the_step():
    flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=False)
    clock.utc_s = 1609459200 + 2
    clock.trusted = False
    meter = _retained_meter(flash, clock, words)
    assert meter.clock_carried == "estimated" and clock.estimated
    up = uplink_kit.uplink_rig()[-1]
    up.clock = clock
    up.time_floor_s = meter.time_floor_s
    up.on_clock_step = meter.clock_stepped
    true_s = clock.time() + 7200  # a crash loop, or a long install: two hours behind
    up.take_time(true_s)
    assert clock.time() == true_s and clock.trusted and not clock.estimated
    assert meter.clock_carried is None
    before = clock.time()
    up.take_time(before + 7200)  # set now: a two-hour step is refused again
    assert clock.time() == before


def test_a_power_cut_or_a_reset_on_an_unset_clock_leaves_the_clock_unset():
    flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=True)
    words.power_cut()  # a power cut: the retained words are gone
    clock.trusted = False
    meter = _retained_meter(flash, clock, words)
    assert not clock.trusted and meter.clock_carried is None
    _run_windows(meter, 2)  # metering on the unset clock: its words do not vouch
    flash.reboot()
    clock.advance_s(2)
    clock.trusted = False
    again = _retained_meter(flash, clock, words)  # a reset now, but the clock was not set
    assert not clock.trusted and again.clock_carried is None
    assert again.down_unmeasured == "reset"


def test_a_full_flash_after_a_power_cut_never_lets_an_old_save_vouch_for_the_clock():
    from host_tests.firmware.meter_kit import FillingFlash

    flash, words = FillingFlash(), _Words()
    clock = FakeClock(utc_s=SAVED_S, trusted=False)
    clock.kept_across_reset = True
    meter = _retained_meter(flash, clock, words)
    clock.trusted = True
    meter.clock_stepped(0, True)
    _run_windows(meter, 2)  # saves made on a set clock
    words.power_cut()
    flash.full = True  # and from now on nothing lands: the words go on from the last save
    clock.advance_s(86400)  # a day off; the board restarts unset
    clock.trusted = False
    meter = _retained_meter(flash, clock, words)
    _run_windows(meter, 2)
    flash.reboot()
    clock.trusted = False
    again = _retained_meter(flash, clock, words)  # a watchdog reset on the estimate
    assert again.kept_across_reset and not clock.trusted and again.clock_carried is None


def test_the_first_estimate_is_carried_once_a_second_reset_leaves_it_unset():
    flash, words, clock, last_window_s = _set_then_reset(kept_across_reset=False)
    clock.utc_s = 1609459200 + 2
    clock.trusted = False
    meter = _retained_meter(flash, clock, words)
    assert meter.clock_carried == "estimated"
    _run_windows(meter, 2)  # a crash loop must not pile its resets into a set clock
    flash.reboot()
    clock.utc_s = 1609459200 + 2
    clock.trusted = False
    clock.estimated = False
    again = _retained_meter(flash, clock, words)
    assert not clock.trusted and again.clock_carried is None
