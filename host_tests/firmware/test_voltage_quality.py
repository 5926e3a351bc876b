"""Voltage sags and swells per whole mains cycle (metering.voltage_quality), through the
real kernels (plain and, on MicroPython, viper): short dips are seen and timed, a voltage
hovering at the limit is one event, a minimum duration is kept, an interruption is not a
sag, and the meter counts, logs and reports them."""
from array import array

from boards import common, sim
from fakes.clock import FakeClock
from fakes.flash import FakeFlash
from metering import kernel
from metering.calibration import Calibration
from metering.sampling import Sampler
from mptest import ON_MICROPYTHON
from host_tests.firmware.meter_kit import sim_meter

NOMINAL = common.SHARED.mains_v_nominal
SAG_V = 0.9 * NOMINAL  # 207 V
SWELL_V = 1.1 * NOMINAL
HYSTERESIS_V = 0.02 * NOMINAL
CHUNK = 8  # pairs between voltage changes: 2 ms at 4000 pairs/s


class ScriptedADC:
    """The sim front-end with the voltage following `schedule(t_s)` (RMS volts, per 2 ms
    of samples): dips and swells of any duration, not only whole blocks."""

    block_pairs = 256
    lost_pairs = 0

    def __init__(self, schedule, seed=2):
        self.fe = sim.SimFrontEnd(load_a=5.0, phase_deg=20.0, seed=seed)
        self.rate_hz = self.fe.rate_hz
        self.schedule = schedule
        self.pairs = 0
        self._chunk = array("H", bytes(4 * CHUNK))

    def readinto(self, buf):
        chunk = self._chunk
        for first in range(0, self.block_pairs, CHUNK):
            self.fe.set(mains_v=self.schedule(self.pairs / self.rate_hz))
            self.fe.fill(chunk, CHUNK)
            for k in range(2 * CHUNK):
                buf[2 * first + k] = chunk[k]
            self.pairs += CHUNK


def _run(schedule, seconds, min_cycles=1, use_viper=False):
    """Windows of a sampler on the scripted voltage: (sags, swells, ended events)."""
    adc = ScriptedADC(schedule)
    windows = []
    sampler = Sampler(adc, Calibration(**common.shared_calibration()), windows.append,
                      use_viper=use_viper)
    sampler.set_voltage_limits(SAG_V, SWELL_V, HYSTERESIS_V, min_cycles)
    while adc.pairs < seconds * adc.rate_hz:
        sampler.poll()
    return (sum(w.sags for w in windows), sum(w.swells for w in windows),
            [w.voltage_event for w in windows if w.voltage_event is not None])


def _kernels():
    return (False, True) if ON_MICROPYTHON and kernel.VIPER_ACCUMULATE else (False,)


def test_a_100_ms_dip_is_one_sag_timed_to_the_cycle_with_its_depth():
    def dip(t):  # 180 V from 2.0 s for 100 ms (five cycles)
        return 180.0 if 2.0 <= t < 2.1 else NOMINAL

    for use_viper in _kernels():
        sags, swells, events = _run(dip, 4, use_viper=use_viper)
        assert (sags, swells) == (1, 0), (use_viper, events)
        assert len(events) == 1
        kind, duration_ms, lowest_v = events[0]
        assert kind == "sag" and abs(duration_ms - 100) <= 20, events  # one cycle
        assert abs(lowest_v - 180.0) < 2.0, events


def test_the_same_dip_went_unseen_by_the_one_second_rms():
    # what the meter counted before: the window's RMS stays above the sag limit
    vrms = []
    adc = ScriptedADC(lambda t: 180.0 if 2.0 <= t < 2.1 else NOMINAL)
    sampler = Sampler(adc, Calibration(**common.shared_calibration()),
                      lambda w: vrms.append(w.vrms), use_viper=False)
    while adc.pairs < 4 * adc.rate_hz:
        sampler.poll()
    assert min(vrms) > SAG_V


def test_a_voltage_hovering_at_the_limit_is_one_event_not_many():
    def hover(t):  # 206 V and 209 V by turns every 300 ms: inside the hysteresis band
        return NOMINAL if t < 1.0 else (206.0 if int(t / 0.3) % 2 else 209.0)

    sags, swells, events = _run(hover, 8)
    assert (sags, swells) == (1, 0), events
    assert events == []  # still under way: it ends only above 207 + 4.6 V


def test_a_dip_shorter_than_the_minimum_duration_is_not_an_event():
    def dip(t):  # 40 ms: two cycles
        return 150.0 if 2.0 <= t < 2.04 else NOMINAL

    assert _run(dip, 3, min_cycles=1)[0] == 1
    assert _run(dip, 3, min_cycles=5) == (0, 0, [])


def test_a_swell_is_counted_with_its_peak():
    def swell(t):
        return 262.0 if 1.5 <= t < 1.7 else NOMINAL

    sags, swells, events = _run(swell, 3)
    assert (sags, swells) == (0, 1)
    kind, duration_ms, peak_v = events[0]
    assert kind == "swell" and abs(duration_ms - 200) <= 20 and abs(peak_v - 262.0) < 2.0


def test_an_interruption_ends_a_sag_and_is_not_timed_as_one():
    def outage(t):  # a sag, then the supply gone for a second, then back
        return 170.0 if 1.0 <= t < 1.2 else (0.0 if 1.2 <= t < 2.2 else NOMINAL)

    sags, swells, events = _run(outage, 4)
    assert (sags, swells) == (1, 0)
    assert len(events) == 1 and events[0][1] <= 220, events  # the sag's 200 ms, not 1.2 s


def test_the_meter_counts_logs_and_summarises_voltage_events():
    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock)
    meter.sampler.set_voltage_limits(239.0, 260.0, HYSTERESIS_V, 1)  # 230 V is a sag now
    target = meter.sampler.windows + 3
    while meter.sampler.windows < target:
        meter.poll()
    assert meter.sags == 1 and meter.swells == 0
    meter.sampler.set_voltage_limits(SAG_V, SWELL_V, HYSTERESIS_V, 1)  # back to normal
    target = meter.sampler.windows + 2
    while meter.sampler.windows < target:
        meter.poll()
    snap = meter.snapshot()
    assert snap["sags"] == 1
    (end_s, kind, duration_ms, lowest_v), = snap["voltage_events"]
    assert kind == "sag" and duration_ms >= 2000 and abs(lowest_v - NOMINAL) < 3.0
    count, longest = meter.take_voltage_summary()
    assert count == 1 and longest == [end_s, kind, duration_ms, lowest_v]
    assert meter.take_voltage_summary() is None  # each event goes to the audit log once


def test_the_window_across_an_interruption_holds_the_last_frequency():
    # its crossings before and after the outage over its whole span read as 8.3 Hz
    adc = ScriptedADC(lambda t: 0.0 if 1.2 <= t < 2.2 else NOMINAL)
    windows = []
    sampler = Sampler(adc, Calibration(**common.shared_calibration()), windows.append,
                      use_viper=False)
    while adc.pairs < 4 * adc.rate_hz:
        sampler.poll()
    measured = [w.freq_hz for w in windows[1:]]
    assert all(abs(f - 50.0) < 0.05 for f in measured), measured
    assert not any(w.whole_cycles for w in windows if w.vrms < 150), "bias learnt across it"


def _thd_meter(**scenario):
    flash = FakeFlash()
    clock = FakeClock()
    meter = sim_meter(flash, clock, **scenario)
    for _ in range(3):  # ask, let a window close with the cycle copied, analyse
        meter.power_quality_tick(clock.time())
        target = meter.sampler.windows + 1
        while meter.sampler.windows < target:
            meter.poll()
        clock.advance_s(10)
    meter.power_quality_tick(clock.time())
    return meter.snapshot()


def test_thd_of_voltage_and_current_from_one_cycle_up_to_the_15th():
    snap = _thd_meter(v_harmonics=((3, 0.05, 0.0), (5, 0.04, 30.0), (15, 0.01, 0.0)),
                      i_harmonics=((3, 0.2, 0.0), (7, 0.1, 90.0)))
    thd_v = 100 * (0.05 ** 2 + 0.04 ** 2 + 0.01 ** 2) ** 0.5  # 6.5 %
    thd_i = 100 * (0.2 ** 2 + 0.1 ** 2) ** 0.5  # 22.4 %
    assert abs(snap["thd_v_pct"] - thd_v) < 0.3, snap["thd_v_pct"]
    assert abs(snap["thd_i_pct"] - thd_i) < 0.5, snap["thd_i_pct"]


def test_a_clean_sine_has_almost_no_thd_and_no_current_no_current_thd():
    snap = _thd_meter(load_a=0.0)
    assert snap["thd_v_pct"] < 0.5, snap["thd_v_pct"]
    assert snap["thd_i_pct"] is None  # a fundamental of noise has no THD worth showing


def test_ten_minute_thd_is_the_rms_of_its_values_and_flags_the_8_percent_limit():
    from metering.harmonics import TenMinuteTHD

    agg = TenMinuteTHD()
    agg.add(1795450200, 0.06, 0.30)  # a block from :10 to :20
    agg.add(1795450500, 0.10, None)
    assert agg.last is None  # not finished yet
    agg.add(1795450800, 0.05, 0.20)  # the next block begins
    end_s, v, i = agg.last
    assert end_s == 1795450800 and abs(v - ((0.06 ** 2 + 0.10 ** 2) / 2) ** 0.5) < 1e-12
    assert abs(i - 0.30) < 1e-12  # only the values it had
    assert agg.take_over_limit() == agg.last  # 8.2 % > 8 %: handed on once
    assert agg.take_over_limit() is None
    agg.add(1795451400, None, None)  # the 5 % block ends: within the limit
    assert agg.last[1] == 0.05 and agg.take_over_limit() is None


def test_a_voltage_thd_over_8_percent_reaches_the_operator_once_per_10_minutes():
    import main
    from mptest import temp_root

    app = main.build("sim", paced=False, storage_root=temp_root("app-thd"), p1_path=None,
                     scenario={"v_harmonics": ((3, 0.09, 0.0), (5, 0.03, 0.0))})
    clock = app.hw.clock

    def seconds(n):
        for _ in range(n):
            clock.adjust(1)  # a P1 second: the THD tick runs, every 10 s it asks a cycle
            target = app.meter.sampler.windows + 1
            while app.meter.sampler.windows < target:
                app.step()

    # start just after a 10-minute boundary, whatever the wall clock says: begun within 25 s
    # of one, the first 25 s ended a block of their own and two entries came (a CI run)
    clock.adjust(601 - int(clock.time()) % 600)
    seconds(25)
    assert abs(app.meter.snapshot()["thd_v_pct"] - 100 * (0.09 ** 2 + 0.03 ** 2) ** 0.5) < 0.3
    clock.adjust(600)  # the 10-minute block ends
    seconds(12)
    entries = [e["text"] for _s, e in app.audit.entries() if e["event"] == "harmonics"]
    assert len(entries) == 1 and entries[0].startswith("THD V 9.5 % (EN 50160 limit 8 %)")
    assert app.meter.snapshot()["thd_10min"]["v_pct"] > 9.0
    seconds(12)  # the same block is not logged twice
    assert len([e for _s, e in app.audit.entries() if e["event"] == "harmonics"]) == 1


def test_the_one_cycle_rms_is_refreshed_every_half_cycle():
    """EN 61000-4-30's Urms(1/2): a 100 ms dip, wherever it starts in the mains cycle, is
    timed to half a cycle (one RMS refreshed once a cycle gave up to 120 ms)."""
    for use_viper in _kernels():
        for offset_ms in (0, 4, 8, 12, 16):
            def dip(t, start=2.0 + offset_ms / 1000.0):
                return 180.0 if start <= t < start + 0.1 else NOMINAL

            sags, swells, events = _run(dip, 4, use_viper=use_viper)
            assert (sags, swells) == (1, 0) and len(events) == 1, (offset_ms, events)
            assert abs(events[0][1] - 100) <= 10, (use_viper, offset_ms, events)
