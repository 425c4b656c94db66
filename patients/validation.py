"""Validation shared by the patient forms and the spreadsheet import."""

import zoneinfo
from functools import cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

PHONE_HELP = "Enter a mobile number we can text, like (312) 555-0147 or +44 7911 123456."


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return the number in E.164 form (+15552010134), or raise a ValidationError a clinician understands."""
    value = (value or "").strip()
    if not value:
        return ""
    region = region or settings.PHONE_DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            f"“{value}” is not a phone number. {PHONE_HELP}", code="invalid_phone"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"“{value}” is not a valid number for {region} or the country it names. {PHONE_HELP}",
            code="invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored E.164 number as people write it: national form at home, international abroad."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == settings.PHONE_DEFAULT_REGION
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


@cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(
        sorted(name for name in zoneinfo.available_timezones() if "/" in name and not name.startswith("Etc/"))
    )


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names() and value != "UTC":
        raise ValidationError(
            f"“{value}” is not a time zone we know. Use a name like America/Chicago or Europe/London.",
            code="invalid_time_zone",
        )


def validate_e164(value: str) -> None:
    """The stored form: already normalised by ``normalize_phone``."""
    if value and normalize_phone(value) != value:
        raise ValidationError(f"“{value}” is not stored in international form. {PHONE_HELP}", code="not_e164")
