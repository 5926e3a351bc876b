"""Civil time and Dutch summer/winter time, against dates checked in a calendar."""
import civiltime


def test_days_from_civil_round_trips_over_centuries():
    for days in range(-800000, 800000, 997):
        assert civiltime.days_from_civil(*civiltime.civil_from_days(days)) == days


def test_known_epoch_values():
    assert civiltime.utc_seconds(1970, 1, 1) == 0
    assert civiltime.utc_seconds(2000, 3, 1) == 951868800
    assert civiltime.utc_seconds(2026, 11, 23, 16, 0, 0) == 1795449600


def test_summer_time_starts_last_sunday_of_march_at_one_utc():
    start = civiltime.utc_seconds(2026, 3, 29, 1, 0, 0)  # Sunday 29 March 2026
    assert not civiltime.is_summer(start - 1)
    assert civiltime.is_summer(start)
    assert civiltime.dsmr_timestamp(start - 1) == "260329015959W"
    assert civiltime.dsmr_timestamp(start) == "260329030000S"


def test_summer_time_ends_last_sunday_of_october_at_one_utc():
    end = civiltime.utc_seconds(2026, 10, 25, 1, 0, 0)  # Sunday 25 October 2026
    assert civiltime.is_summer(end - 1)
    assert not civiltime.is_summer(end)
    # the hour 02:00-03:00 local is seen twice; the flag tells them apart
    assert civiltime.dsmr_timestamp(end - 1) == "261025025959S"
    assert civiltime.dsmr_timestamp(end) == "261025020000W"


def test_weekday_of_known_date():
    assert civiltime.weekday(civiltime.days_from_civil(2026, 11, 23)) == 0  # a Monday
