"""Which tariff applies when: a small table in local time, replaceable only through an
operator-signed command. Tariff 1 is the low ("dal") tariff, tariff 2 the normal one,
as DSMR numbers them (OBIS 1-0:1.8.1 / 1-0:1.8.2)."""
import civiltime

# Common Dutch schedule: low tariff on weekdays 23:00-07:00 and all weekend.
DEFAULT_SCHEDULE = {"low_from_hour": 23, "low_until_hour": 7, "low_weekdays": [5, 6]}


class TariffSchedule:
    def __init__(self, schedule=None):
        schedule = schedule or DEFAULT_SCHEDULE
        start = schedule.get("low_from_hour")
        end = schedule.get("low_until_hour")
        days = schedule.get("low_weekdays", [])
        for hour in (start, end):
            if type(hour) is not int or not 0 <= hour <= 23:  # true is not hour 1
                raise ValueError("tariff hours must be 0..23")
        for day in days:
            if type(day) is not int or not 0 <= day <= 6:
                raise ValueError("tariff weekdays must be 0 (Monday)..6")
        self.low_from_hour = start
        self.low_until_hour = end
        self.low_weekdays = list(days)

    def tariff_at(self, utc_s):
        local = civiltime.local(utc_s)
        hour, weekday = local[3], local[6]
        if weekday in self.low_weekdays:
            return 1
        if self.low_from_hour > self.low_until_hour:  # spans midnight
            low = hour >= self.low_from_hour or hour < self.low_until_hour
        else:
            low = self.low_from_hour <= hour < self.low_until_hour
        return 1 if low else 2
