"""A board's design calibration comes from its own front-end constants: a board module
that overrides only some of common's gets them, never common's silently."""
from boards import common


class _Board:
    """A board module's namespace: the shared front-end, with two values restated."""

    FRONT_END = common.FrontEnd(adc_mid_code=2100, burden_ohm=27.0)


def test_a_board_overriding_only_its_bias_and_burden_gets_its_own_calibration():
    cal = common.calibration_for(_Board)
    assert cal["v_offset"] == cal["i_offset"] == 2100
    shared = common.shared_calibration()
    expected = shared["a_per_count"] * common.SHARED.burden_ohm / 27.0
    assert abs(cal["a_per_count"] - expected) < 1e-12 * expected
    assert cal["v_per_count"] == shared["v_per_count"]  # what it did not override is shared


def test_the_esp32_design_follows_its_own_front_end():
    from boards import esp32

    cal = common.calibration_for(esp32)
    fe = esp32.FRONT_END
    assert cal["v_offset"] == fe.adc_mid_code != common.SHARED.adc_mid_code
    assert cal["i_delay_us"] == fe.i_delay_us
    assert cal["v_per_count"] == fe.v_peak_full_scale / fe.counts_at_full_scale
