"""UTC epoch seconds <-> civil time, and Dutch local time (CET/CEST) with the DSMR
summer/winter flag. Pure integer arithmetic: no dependence on a port's time epoch.

The meter keeps UTC; local time is derived for display, P1 timestamps and tariffs.
"""

_DAY = 86400


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def utc_seconds(year, month, day, hour=0, minute=0, second=0):
    return days_from_civil(year, month, day) * _DAY + hour * 3600 + minute * 60 + second


def weekday(days):
    """0 = Monday ... 6 = Sunday, for days since 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


def _last_sunday_utc_1am(year, month):
    last = days_from_civil(year, month, 31)
    return (last - (weekday(last) + 1) % 7) * _DAY + 3600


def is_summer(utc_s):
    """EU summer time: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC."""
    year = civil_from_days(utc_s // _DAY)[0]
    return _last_sunday_utc_1am(year, 3) <= utc_s < _last_sunday_utc_1am(year, 10)


def local(utc_s):
    """(year, month, day, hour, minute, second, weekday, summer) in Dutch local time."""
    summer = is_summer(utc_s)
    t = utc_s + (7200 if summer else 3600)
    days = t // _DAY
    rem = t - days * _DAY
    year, month, day = civil_from_days(days)
    return (year, month, day, rem // 3600, rem // 60 % 60, rem % 60, weekday(days), summer)


def dsmr_timestamp(utc_s):
    """DSMR 5.0.2 TST: YYMMDDhhmmssX in local time, X = S (summer) or W (winter)."""
    y, mo, d, h, mi, s, _, summer = local(utc_s)
    return "%02d%02d%02d%02d%02d%02d%s" % (y % 100, mo, d, h, mi, s, "S" if summer else "W")


def iso_utc(utc_s):
    days = utc_s // _DAY
    rem = utc_s - days * _DAY
    y, mo, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, rem // 3600, rem // 60 % 60, rem % 60)
