"""The test LED (metering.pulses): one pulse per fixed quantum of the energy the registers
take, so pulses x energy per pulse + what is pending = the register delta, always; and a
test bench's accuracy, starting-current and creep tests played through the pulses alone
(IEC 62053-21 / EN 50470-3 read nothing else)."""
from boards import common, sim
from fakes.clock import ClockedADC, FakeClock
from fakes.flash import FakeFlash
from metering.calibration import Calibration
from metering.meter import Meter
from metering.pulses import MJ_PER_KWH, PulseError, PulseOutput
from metering.registers import MJ_PER_WH

RATE = common.SHARED.sample_pairs_per_s


class Pin:
    def __init__(self):
        self.level = None
        self.rises = 0

    def value(self, v=None):
        if v is None:
            return self.level
        if v and not self.level:
            self.rises += 1
        self.level = v


def test_a_constant_that_does_not_give_whole_millijoules_per_pulse_is_refused():
    for bad in (0, -1000, 7, True, 1000.0, "1000", None):
        try:
            PulseOutput(Pin(), bad)
        except PulseError:
            continue
        raise AssertionError("accepted %r" % (bad,))
    out = PulseOutput(Pin(), 1000)
    assert out.mj_per_pulse == MJ_PER_WH  # 1000 imp/kWh: one pulse per Wh
    assert PulseOutput(Pin(), 10000).mj_per_pulse * 10000 == MJ_PER_KWH


def test_pulses_account_for_every_millijoule_and_the_led_is_never_on_two_blocks_running():
    rng = _Lcg(5)
    pin = Pin()
    out = PulseOutput(pin, 10000)
    fed = 0
    levels = []
    for _ in range(3000):
        if rng.random() < 0.2:  # a window closes: its energy over its length
            p_w = rng.choice((0.0, 3.0, 150.0, 2300.0, 9200.0, -1800.0))
            window_pairs = rng.choice((3900, 4000, 4100, 8000))
            mj = int(abs(p_w) * window_pairs / RATE * 1000 + 0.5)
            out.add(mj, window_pairs)
            fed += mj
        out.tick(256)
        levels.append(pin.level)
        assert (out.emitted + out.pending()) * out.mj_per_pulse + out.remainder_mj == fed
        assert 0 <= out.remainder_mj < out.mj_per_pulse
    assert pin.rises == out.emitted > 100
    assert all(not (a and b) for a, b in zip(levels, levels[1:]))
    for _ in range(4 * out.pending() + 40):  # no more energy: the backlog drains
        out.tick(256)
    assert out.pending() == 0 and pin.rises * out.mj_per_pulse + out.remainder_mj == fed


class _Lcg:
    """The same pseudo-random draws on both interpreters (MicroPython has no random.Random)."""

    def __init__(self, seed):
        self.x = seed

    def random(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x / 0x80000000

    def choice(self, options):
        return options[int(self.random() * len(options))]


def _bench(imp_per_kwh, **scenario):
    """A meter on the sim front-end with its test LED (sim.SimLED: pulse instants in
    mains time), the clock running with the samples."""
    fe = sim.SimFrontEnd(**scenario)
    clock = FakeClock()
    led = sim.SimLED(fe)
    led.KEPT = 10000
    pulses = PulseOutput(led, imp_per_kwh)
    cal = Calibration(**common.shared_calibration())
    meter = Meter(ClockedADC(sim.SimADC(fe), clock, 1), cal, clock, FakeFlash(),
                  starting_power_w=common.SHARED.starting_power_w, sag_v=common.SHARED.sag_v,
                  swell_v=common.SHARED.swell_v, save_interval_s=300, pulses=pulses)
    return fe, meter, led


def _run_s(meter, seconds):
    pairs = 0
    while pairs < seconds * RATE:
        pairs += meter.poll()


def _registered_mj(registers):
    return ((sum(registers.import_wh) + sum(registers.export_wh)) * MJ_PER_WH
            + registers.import_mj + registers.export_mj)


def test_pulses_times_energy_per_pulse_is_the_register_delta():
    fe, meter, led = _bench(10000, load_a=10.0, phase_deg=180.0 - 25.0)  # exporting
    _run_s(meter, 6)
    pulses = meter.pulses
    assert (pulses.emitted + pulses.pending()) * pulses.mj_per_pulse + pulses.remainder_mj \
        == _registered_mj(meter.registers)
    assert sum(meter.registers.export_wh) > 0 and led.pulses == pulses.emitted > 10
    assert meter.snapshot()["test_led"] == {"imp_per_kwh": 10000, "emitted": pulses.emitted,
                                            "pending": pulses.pending()}


def _pulse_power_w(instants, imp_per_kwh, skip):
    """What a bench derives from the pulses alone: energy per pulse over the time from
    pulse `skip` to the last one (the first pulses carry the start-up latency)."""
    timed = instants[skip:]
    joules = (len(timed) - 1) * 3600000.0 / imp_per_kwh
    return joules / (timed[-1] - timed[0])


def test_a_bench_reads_accuracy_from_the_pulses_within_class_1():
    # 24 s of mains per point; the pulse instants are late by less than one 64 ms block
    # each, so over a span of ~20 s the timing error stays below 0.3 %. The constant keeps
    # the rate under the LED's 7.8 pulses/s, as a bench picks its meter's.
    for load_a, phase_deg, imp in ((5.0, 0.0, 10000), (5.0, 60.0, 10000), (20.0, -36.87, 1000),
                                   (40.0, 0.0, 1000)):
        fe, meter, led = _bench(imp, load_a=load_a, phase_deg=phase_deg)
        _run_s(meter, 24)
        truth = fe.truth()["p_w"]
        measured = _pulse_power_w(led.instants_s, imp, skip=3)
        error_pct = 100.0 * (measured - truth) / truth
        assert abs(error_pct) < 1.0, (load_a, phase_deg, error_pct, len(led.instants_s))


def test_a_bench_sees_the_meter_start_at_the_starting_current_and_not_creep_at_no_load():
    ist = common.SHARED.starting_current_a
    # starting current (IEC 62053-21: 0.004 Ib at PF 1): pulses come, at the right rate
    fe, meter, led = _bench(100000, load_a=ist)
    expected_s = 3600000.0 / 100000 / fe.truth()["p_w"]  # ~7.8 s per pulse at 4.6 W
    _run_s(meter, 5 * expected_s)
    assert led.pulses >= 3, led.pulses
    spacing = (led.instants_s[-1] - led.instants_s[0]) / (len(led.instants_s) - 1)
    assert abs(spacing - expected_s) < 0.05 * expected_s, (spacing, expected_s)
    # creep: no current, 115 % voltage, noise on both channels: not one pulse
    fe, meter, led = _bench(100000, load_a=0.0, mains_v=1.15 * common.SHARED.mains_v_nominal,
                            noise_counts=2.0)
    _run_s(meter, 40)
    assert led.pulses == 0 and _registered_mj(meter.registers) == 0
    assert meter.sampler.windows >= 39
