"""A board's design calibration comes from its own front-end constants: a board module
that overrides only some of common's gets them, never common's silently."""
from boards import common


class _Board:
    """A board module's namespace: common's constants, with two overridden."""


for _name in dir(common):
    if _name.isupper():
        setattr(_Board, _name, getattr(common, _name))
_Board.ADC_MID_CODE = 2100
_Board.BURDEN_OHM = 27.0


def test_a_board_overriding_only_its_bias_and_burden_gets_its_own_calibration():
    cal = common.calibration_for(_Board)
    assert cal["v_offset"] == cal["i_offset"] == 2100
    shared = common.shared_calibration()
    expected = shared["a_per_count"] * common.BURDEN_OHM / 27.0
    assert abs(cal["a_per_count"] - expected) < 1e-12 * expected
    assert cal["v_per_count"] == shared["v_per_count"]  # what it did not override is shared


def test_the_esp32_design_follows_its_own_front_end():
    from boards import esp32

    cal = common.calibration_for(esp32)
    assert cal["v_offset"] == esp32.ADC_MID_CODE != common.ADC_MID_CODE
    assert cal["i_delay_us"] == esp32.I_DELAY_US
    assert cal["v_per_count"] == esp32.V_PEAK_FULL_SCALE / esp32.COUNTS_AT_FULL_SCALE
