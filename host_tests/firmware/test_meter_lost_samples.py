"""Pairs a driver never delivers (a blocking ADC loop between blocks, a lapped DMA ring)
are elapsed time: their energy is estimated at the window's power, frequency counts them
as time, and a quarter-hour that lost too many is flagged."""
from boards import common, sim
from fakes.clock import FakeClock, ClockedADC
from fakes.flash import FakeFlash
from metering import intervals as iv
from metering.calibration import Calibration
from metering.meter import COVERAGE_MIN, Meter

SPEEDUP = 300  # each second of samples moves the clock five minutes: quarter-hours pass


class GappyADC:
    """SimADC that loses `gap_pairs` paced pairs before every block, as the ESP32's
    blocking loop does while the metering code runs between blocks."""

    def __init__(self, front_end, gap_pairs):
        self._adc = sim.SimADC(front_end)
        self.front_end = front_end
        self.rate_hz = front_end.rate_hz
        self.block_pairs = self._adc.block_pairs
        self.gap_pairs = gap_pairs
        self.lost_pairs = 0

    def readinto(self, buf):
        self.front_end.n += self.gap_pairs  # time passes, nothing is sampled
        self.lost_pairs += self.gap_pairs
        self._adc.readinto(buf)


def _meter(gap_pairs, load_a=20.0, phase_deg=10.0):
    fe = sim.SimFrontEnd(load_a=load_a, phase_deg=phase_deg)
    clock = FakeClock()
    adc = ClockedADC(GappyADC(fe, gap_pairs), clock, SPEEDUP)
    cal = Calibration(**common.shared_calibration())
    meter = Meter(adc, cal, clock, FakeFlash(), starting_power_w=2.3, sag_v=207.0,
                  swell_v=253.0)
    return meter, fe


def _run_windows(meter, windows):
    got = []
    target = meter.sampler.windows + windows
    while meter.sampler.windows < target:
        before = meter.sampler.windows
        meter.poll()
        if meter.sampler.windows != before:
            got.append(meter.last)
    return got


def _joules(meter):
    reg = meter.registers
    return (reg.import_wh[1] + reg.import_wh[2]) * 3600 + reg.import_mj / 1000


def test_energy_of_lost_pairs_is_registered_at_the_windows_power():
    meter, fe = _meter(gap_pairs=12)  # 12 of every 268 pairs lost: 4.5 %
    _run_windows(meter, 2)
    j0 = _joules(meter)
    windows = _run_windows(meter, 4)
    elapsed_s = sum(w.n_pairs + w.lost_pairs for w in windows) / fe.rate_hz
    assert sum(w.lost_pairs for w in windows) > 0.04 * elapsed_s * fe.rate_hz
    expected_j = fe.truth()["p_w"] * elapsed_s
    assert abs(_joules(meter) - j0 - expected_j) < 0.002 * expected_j


def test_frequency_counts_short_gaps_as_time():
    meter, fe = _meter(gap_pairs=12)
    for w in _run_windows(meter, 4)[1:]:
        assert abs(w.freq_hz - 50.0) < 0.01, w.freq_hz
        assert w.whole_cycles


def test_quarter_hour_with_over_two_percent_lost_is_flagged_estimated():
    meter, _fe = _meter(gap_pairs=12)  # 4.5 % lost
    _run_windows(meter, 12)  # an hour at SPEEDUP: the second record is a whole interval
    records = [r for _s, r in meter.intervals.records()]
    assert len(records) >= 2
    assert all(r["status"] & iv.STATUS_ESTIMATED for r in records[1:]), records


def test_quarter_hour_with_little_lost_is_not_flagged():
    meter, _fe = _meter(gap_pairs=2)  # 0.8 % lost, inside COVERAGE_MIN
    assert 2 / 258 < 1 - COVERAGE_MIN
    _run_windows(meter, 12)
    records = [r for _s, r in meter.intervals.records()]
    assert len(records) >= 2
    assert not any(r["status"] & iv.STATUS_ESTIMATED for r in records[1:]), records


def test_the_per_block_counts_stay_small_ints_and_coverage_counts_whole_windows():
    # on the boards ints past 2**30 are heap objects: a count added to every block would
    # allocate every block after 74 hours. The block count wraps below 2**30; the pairs
    # are counted once per window.
    meter, fe = _meter(gap_pairs=40)
    meter.sampler.blocks = 0x3FFFFFFF - 1
    windows = _run_windows(meter, 3)
    assert 0 <= meter.sampler.blocks < 100  # wrapped, still moving (the watchdog's progress)
    metered = sum(w.n_pairs for w in windows)
    assert meter.sampler.pairs_processed >= metered  # the synchronising window too
    lost = meter.sampler.lost_pairs()
    assert meter.sampler.coverage() == meter.sampler.pairs_processed / (
        meter.sampler.pairs_processed + lost)
    assert 0.8 < meter.sampler.coverage() < 0.9  # 40 of every 296 pairs lost
