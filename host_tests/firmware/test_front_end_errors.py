"""The sim board's model of real parts (boards.front_end_errors) does what it says: the ADC
transfer error holds a wide code and stays monotonic, the reference and the CT scale and
turn the signal as stated, and an ideal scenario is untouched."""
import math

from boards import common, front_end_errors, sim

BITS = common.SHARED.adc_bits
FRAC = 20


def _transfer(scenario):
    """f(x): the code an ideal input x (in counts) converts to, as SimFrontEnd.fill does."""
    table = front_end_errors.transfer_table(dict(sim.DEFAULT_SCENARIO, **scenario), BITS, FRAC)
    top = (1 << BITS) - 1

    def convert(x):
        fx = int((x + 0.5) * (1 << FRAC))
        return (fx + front_end_errors.error_at(table, fx, FRAC, top)) >> FRAC
    return convert


def test_an_ideal_scenario_has_no_transfer_table_and_unit_gains():
    s = dict(sim.DEFAULT_SCENARIO)
    assert front_end_errors.transfer_table(s, BITS, FRAC) is None
    assert front_end_errors.reference_gain(s) == 1.0
    assert front_end_errors.ct_error(s, 5.0) == (1.0, 0.0)


def test_a_wide_code_holds_its_width_and_the_transfer_stays_monotonic():
    convert = _transfer({"adc_wide_codes": ((1536, 8.0),)})
    counts = {}
    for x in range(1500, 1600):
        code = convert(x)
        counts[code] = counts.get(code, 0) + 1
    widest = max(counts, key=lambda c: counts[c])
    assert counts[widest] == 9  # its own count and the 8 LSB it is wider by
    assert abs(widest - 1536) <= 4  # moved by the end-point fit's 8 * 1536 / 4096 = 3
    assert sorted(set(counts.values())) == [1, 9]
    convert = _transfer(front_end_errors.PROFILES["esp32"])
    codes = [convert(x / 4.0) for x in range(4 * 4090)]
    assert all(b >= a for a, b in zip(codes, codes[1:]))
    assert abs(convert(2.0) - 2) <= 1  # end points stay put (end-point INL)
    assert abs(convert(4090.0) - 4090) <= 1
    inl = max(abs(convert(x) - x) for x in range(4096))
    assert 12 <= inl <= 12 + 7 + 1  # the S-curve's peak, plus at most one wide code


def test_the_reference_and_the_ct_scale_and_turn_the_current_as_stated():
    s = dict(sim.DEFAULT_SCENARIO, vref_error_pct=2.0, vref_tempco_ppm_per_k=100.0, temp_c=33.0)
    assert abs(front_end_errors.reference_gain(s) - 1 / 1.021) < 1e-12
    s = dict(s, vref_supply_share=1.0, supply_pct=-1.0, temp_c=23.0)
    assert abs(front_end_errors.reference_gain(s) - 1 / 1.01) < 1e-12
    ct = dict(sim.DEFAULT_SCENARIO, ct_ratio_pct=front_end_errors.CT_RATIO_PCT,
              ct_phase_deg=front_end_errors.CT_PHASE_DEG)
    ratio, lead = front_end_errors.ct_error(ct, 4.0)
    assert abs(ratio - (1 - 0.0045)) < 1e-12 and abs(lead - 0.6) < 1e-12
    low, high = front_end_errors.ct_error(ct, 0.25), front_end_errors.ct_error(ct, 40.0)
    assert low[0] < ratio < high[0] and low[1] > lead > high[1]  # worse at low current


def test_the_sim_front_end_applies_the_ct_error_to_the_signal_it_synthesises():
    """Fundamental of 4000 pairs (one second, 50 whole cycles): the CT's ratio and lead
    show in the current's amplitude and phase against the ideal front-end's."""
    def fundamental(**scenario):
        fe = sim.SimFrontEnd(noise_counts=0.0, load_a=4.0, phase_deg=0.0, **scenario)
        n = fe.rate_hz
        buf = [0] * (2 * n)
        fe.fill(buf, n)
        re = im = 0.0
        for k in range(n):
            a = 2 * math.pi * 50.0 * k / n
            re += (buf[2 * k + 1] - 2048) * math.cos(a)
            im += (buf[2 * k + 1] - 2048) * math.sin(a)
        return math.sqrt(re * re + im * im), math.degrees(math.atan2(re, im))

    amp0, ph0 = fundamental()
    amp1, ph1 = fundamental(ct_ratio_pct=front_end_errors.CT_RATIO_PCT,
                            ct_phase_deg=front_end_errors.CT_PHASE_DEG)
    assert abs(amp1 / amp0 - (1 - 0.0045)) < 0.002
    assert abs((ph1 - ph0) - 0.6) < 0.05
