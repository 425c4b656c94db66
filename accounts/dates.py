"""Dates written the way Django's ``date`` filter writes them, for markup built in Python.

``dateformat.format`` parses its format string and resolves a lazy translation for every month name, each
time: 30–50 µs a call, and a page of rows calls it twice a row. These write the same characters for the few
formats the rows use (``"j M"``, ``"j M Y"``, ``"j M, H:i"``, ``"j M Y, H:i"``, ``"c"``, the time filter's ``"H:i"``) with the month's short name translated once per
language. An aware datetime is first put in the current time zone, as the template engine does before its
``date`` filter runs. ``time_since`` is the ``timesince`` filter's "2 weeks, 3 days", its words translated once
per language and number.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache, lru_cache

from django.utils import timezone, translation
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.html import avoid_wrapping
from django.utils.timesince import MONTHS_DAYS, TIME_STRINGS, TIME_STRINGS_KEYS, timesince


@cache
def _months(language: str | None) -> tuple[str, ...]:
    with translation.override(language):
        return ("", *(str(MONTHS_3[n]).title() for n in range(1, 13)))


def _local(value: datetime) -> datetime:
    # ``timezone.localtime(value) if timezone.is_aware(value) else value`` without its three checks a call.
    if value.utcoffset() is None:
        return value
    return value.astimezone(timezone.get_current_timezone())


def day_month(value: date | datetime) -> str:
    """``{{ value|date:"j M" }}``: "4 Dec"."""
    if isinstance(value, datetime):
        value = _local(value)
    return f"{value.day} {_months(translation.get_language())[value.month]}"


def day_month_year(value: date | datetime) -> str:
    """``{{ value|date:"j M Y" }}``: "4 Dec 2026"."""
    if isinstance(value, datetime):
        value = _local(value)
    return f"{value.day} {_months(translation.get_language())[value.month]} {value.year}"


def day_month_time(value: datetime) -> str:
    """``{{ value|date:"j M, H:i" }}``: "4 Dec, 09:05"."""
    value = _local(value)
    return (
        f"{value.day} {_months(translation.get_language())[value.month]}, {value.hour:02d}:{value.minute:02d}"
    )


def day_month_year_time(value: datetime) -> str:
    """``{{ value|date:"j M Y, H:i" }}``: "4 Dec 2026, 09:05"."""
    value = _local(value)
    months = _months(translation.get_language())
    return f"{value.day} {months[value.month]} {value.year}, {value.hour:02d}:{value.minute:02d}"


@cache
def _weekdays(language: str | None) -> tuple[str, ...]:
    with translation.override(language):
        return tuple(str(WEEKDAYS_ABBR[n]) for n in range(7))


def weekday_day_month_year_time(value: datetime) -> str:
    """``{{ value|date:"D j M Y, H:i" }}``: "Fri 4 Dec 2026, 09:05"."""
    value = _local(value)
    language = translation.get_language()
    return (
        f"{_weekdays(language)[value.weekday()]} {value.day} {_months(language)[value.month]} {value.year}, "
        f"{value.hour:02d}:{value.minute:02d}"
    )


def weekday_day_month_time(value: datetime) -> str:
    """``{{ value|date:"D j M, H:i" }}`` of a moment already on the clock it is shown on (``|timezone:…``
    first): "Fri 4 Dec, 09:05"."""
    language = translation.get_language()
    return (
        f"{_weekdays(language)[value.weekday()]} {value.day} {_months(language)[value.month]}, "
        f"{value.hour:02d}:{value.minute:02d}"
    )


def iso(value: datetime) -> str:
    """``{{ value|date:"c" }}``: ISO 8601 in the current time zone."""
    return _local(value).isoformat()


def hour_minute(value: datetime) -> str:
    """``{{ value|time:"H:i" }}``: "09:05"."""
    value = _local(value)
    return f"{value.hour:02d}:{value.minute:02d}"


_WEEK, _DAY, _HOUR, _MINUTE = 7 * 24 * 3600, 24 * 3600, 3600, 60


@lru_cache(maxsize=4096)
def _since_words(language: str | None, unit: int, first: int, second: int) -> str:
    """The words of ``first`` of the ``unit``-th of ``TIME_STRINGS`` and, unless 0, ``second`` of the next, as
    ``timesince`` joins them in ``language`` (the one active: the key only keeps languages apart)."""
    parts = [avoid_wrapping(TIME_STRINGS[TIME_STRINGS_KEYS[unit]] % {"num": first})]
    if second:
        parts.append(avoid_wrapping(TIME_STRINGS[TIME_STRINGS_KEYS[unit + 1]] % {"num": second}))
    return translation.gettext(", ").join(parts)


def time_since(value: datetime, now: datetime, *, language: str | None = None) -> str:
    """``django.utils.timesince.timesince(value, now)`` (``{{ value|timesince:now }}``: "2 weeks, 3 days", two
    adjacent units at most, "0 minutes" for none or the future) for two aware datetimes, by the same calendar
    arithmetic, its words looked up once per language and numbers instead of translated each time (a list of
    50 rows spent more in ``ngettext`` than in the rest of its rows). ``language``: the active language's code,
    for a caller that writes many (looked up otherwise). Anything else than two aware datetimes: ``timesince``
    itself."""
    if type(value) is not datetime or type(now) is not datetime or value.tzinfo is None or now.tzinfo is None:
        return timesince(value, now)
    if now.tzinfo is not value.tzinfo:
        now = now.astimezone(value.tzinfo)
    if language is None:
        language = translation.get_language()
    delta = now - value
    if delta.days * _DAY + delta.seconds <= 0:  # microseconds ignored, as there
        return _since_words(language, 5, 0, 0)
    months = (now.year - value.year) * 12 + (now.month - value.month)
    if value.day > now.day or (value.day == now.day and value.time() > now.time()):
        months -= 1
    years, months = divmod(months, 12)
    if years or months:  # from the day as many years and months on (its seconds, not its microseconds)
        month = value.month + months
        year = value.year + years + (month > 12)
        month -= 12 * (month > 12)
        pivot = datetime(
            year,
            month,
            min(MONTHS_DAYS[month - 1], value.day),
            value.hour,
            value.minute,
            value.second,
            tzinfo=value.tzinfo,
        )
        delta = now - pivot
    # Whole seconds: ``timesince`` floors the float seconds, microseconds and all, by whole units of them.
    seconds = delta.days * _DAY + delta.seconds
    weeks, seconds = divmod(seconds, _WEEK)
    days, seconds = divmod(seconds, _DAY)
    hours, seconds = divmod(seconds, _HOUR)
    partials = (years, months, weeks, days, hours, seconds // _MINUTE)
    for unit in range(6):
        if partials[unit]:
            return _since_words(language, unit, partials[unit], partials[unit + 1] if unit < 5 else 0)
    return _since_words(language, 5, 0, 0)
