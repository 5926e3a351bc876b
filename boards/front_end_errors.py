"""What a real front-end adds to the signal the sim board synthesises, so the metering and
its calibration are tested against parts as they are, not as drawn:

- the ADC's transfer error: a smooth S-shaped integral non-linearity (INL, odd about
  mid-scale: it compresses large signals) and codes wider than one LSB (DNL spikes), each
  paid back evenly over the scale so the end points stay put (an end-point INL);
- the ADC reference off nominal, drifting with temperature and, where the reference is
  the supply rail, with the supply;
- the current transformer's ratio and phase error, growing as the current falls (its
  magnetising current is a larger share of a small current): c0 + c1 / sqrt(I / 1 A).

PROFILES holds each chip's figures as scenario settings of boards.sim. They are models
at the magnitudes the datasheets give (../shared/CONTEXT.md), not measured transfer
curves of a unit: a unit on the bench has its own, which is why calibration is per unit.
"""
import math
from array import array

# The CT both profiles use: a 100 A : 50 mA split-core CT on a 54 Ohm burden, about
# -1.4 % and +1.8 degrees at 0.25 A (0.05 Ib), -0.4 % and +0.55 degrees at Ib = 5 A,
# -0.25 % and +0.33 degrees at Imax = 40 A. (Within IEC 61869-2 class 1 over its rated
# range; the meter uses it far below its 100 A rating, where its errors grow.)
CT_RATIO_PCT = (-0.15, -0.6)
CT_PHASE_DEG = (0.2, 0.8)

PROFILES = {
    "ideal": {},
    # ESP32: INL +/-12 LSB, DNL +/-7 LSB (modelled as a +7 LSB code every 512 codes);
    # the internal reference spreads 1000..1200 mV between units (eFuse-trimmed): 3 % here
    "esp32": {
        "adc_inl_lsb": 12.0,
        "adc_wide_codes": tuple((c, 7.0) for c in range(256, 4096, 512)),
        "noise_counts": 2.5,
        "vref_error_pct": 3.0,
        "vref_tempco_ppm_per_k": 50.0,
        "ct_ratio_pct": CT_RATIO_PCT,
        "ct_phase_deg": CT_PHASE_DEG,
    },
    # RP2040: ENOB about 8.7 (noise), DNL spikes at codes 512, 1536, 2560 and 3584
    # (erratum RP2040-E11), reference: an external 3.0 V shunt reference on ADC_VREF
    # (docs/BOARDS.md: the 3V3 rail the Pico feeds it by default moves with the load)
    "rp2040": {
        "adc_inl_lsb": 2.0,
        "adc_wide_codes": ((512, 8.0), (1536, 8.0), (2560, 8.0), (3584, 8.0)),
        "noise_counts": 2.0,
        "vref_error_pct": 0.5,
        "vref_tempco_ppm_per_k": 100.0,
        "ct_ratio_pct": CT_RATIO_PCT,
        "ct_phase_deg": CT_PHASE_DEG,
    },
}
# The Pico as shipped: the ADC reference is the 3V3 rail through an RC filter, so every
# percent the supply moves is a percent of gain on both channels (two on power)
PROFILES["rp2040-rail"] = dict(PROFILES["rp2040"], vref_supply_share=1.0)

REFERENCE_TEMP_C = 23.0  # IEC 62052-11's reference temperature


def reference_gain(scenario):
    """Codes per volt at the ADC, relative to nominal: 1 / (reference / nominal)."""
    s = scenario
    rel = (1.0 + s["vref_error_pct"] / 100.0
           + s["vref_tempco_ppm_per_k"] * 1e-6 * (s["temp_c"] - REFERENCE_TEMP_C)
           + s["vref_supply_share"] * s["supply_pct"] / 100.0)
    return 1.0 / rel


def ct_error(scenario, current_a):
    """(ratio factor, phase lead in degrees) of the CT at current_a RMS."""
    root = math.sqrt(max(current_a, 0.01))
    r0, r1 = scenario["ct_ratio_pct"]
    p0, p1 = scenario["ct_phase_deg"]
    return 1.0 + (r0 + r1 / root) / 100.0, p0 + p1 / root


def transfer_table(scenario, adc_bits, frac_bits):
    """The ADC's transfer error at each code and one past the top, in 1/2**frac_bits
    counts (array 'i'), or None for an ideal ADC; between codes it is linear (error_at). A wide code c of w LSB holds inputs up to w LSB past its edge
    (reads c there), so every code above reads w lower; the end-point fit gives back w/N
    of a count a code."""
    inl = scenario["adc_inl_lsb"]
    wide = scenario["adc_wide_codes"]
    if not inl and not wide:
        return None
    full = 1 << adc_bits
    one = 1 << frac_bits
    table = array("i", bytes(4 * (full + 1)))
    total_wide = sum(w for _c, w in wide)
    for x in range(full + 1):
        e = inl * math.sin(2 * math.pi * x / full) + total_wide * x / full
        for code, width in wide:
            e -= min(max(x - code, 0), width)
        table[x] = int(e * one)
        if x and table[x] < table[x - 1] - one:  # a larger input never reads lower
            table[x] = table[x - 1] - one
    return table


def error_at(table, fx, frac_bits, top):
    """The transfer error at fx (an input in 1/2**frac_bits counts), interpolated."""
    k = min(max(fx >> frac_bits, 0), top)
    e = table[k]
    return e + (((table[k + 1] - e) * (fx & ((1 << frac_bits) - 1))) >> frac_bits)
