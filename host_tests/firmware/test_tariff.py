"""The tariff schedule a signed set-tariffs command installs: hours and weekdays are
integers in range, never booleans (JSON true equals 1 in Python)."""
from metering.tariff import TariffSchedule
from mptest import raises


def test_schedule_accepts_integer_hours_and_weekdays():
    schedule = TariffSchedule({"low_from_hour": 22, "low_until_hour": 6, "low_weekdays": [5, 6]})
    assert (schedule.low_from_hour, schedule.low_until_hour) == (22, 6)


def test_booleans_and_out_of_range_values_are_refused():
    for bad in ({"low_from_hour": True, "low_until_hour": 6},
                {"low_from_hour": 22, "low_until_hour": False},
                {"low_from_hour": 22, "low_until_hour": 6, "low_weekdays": [True]},
                {"low_from_hour": 24, "low_until_hour": 6},
                {"low_from_hour": 22, "low_until_hour": 6, "low_weekdays": [7]},
                {"low_from_hour": 22.0, "low_until_hour": 6}):
        raises(ValueError, TariffSchedule, bad)
