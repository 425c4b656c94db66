"""The patient rules that forms, the spreadsheet import and the services share, each with its one message.

A rule lives here once, worded for a clinician; the service (or the model constraint) that enforces it raises
that message, and a form or the import that checks early raises the same one. Never reword a rule elsewhere.
"""

import zoneinfo
from functools import cache, lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import Role

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
    return _format_phone(e164, settings.PHONE_DEFAULT_REGION)


@lru_cache(maxsize=20_000)
def _format_phone(e164: str, home: str) -> str:
    # phonenumbers takes 0.2–0.4 ms a number here: a list of 25 patients spent several ms on their phones.
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == home
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


# --- Contact -------------------------------------------------------------------------------------

QUIET_HOURS_EMPTY = "Quiet hours must end at a different time than they start."


def validate_quiet_hours(start, end) -> None:
    """Quiet hours may wrap midnight but never be empty (the ``patient_quiet_hours_not_empty`` constraint)."""
    if start is not None and start == end:
        raise ValidationError(QUIET_HOURS_EMPTY, code="quiet_hours_empty")


PREFERRED_CHANNEL_NEEDS_ADDRESS = {
    "email": "Email is the preferred channel, so add an email address or prefer SMS.",
    "sms": "SMS is the preferred channel, so add a mobile number or prefer email.",
}


def validate_preferred_channel(*, channel: str, email: str, phone: str) -> None:
    """The preferred channel needs its address: email an email address, SMS a mobile number."""
    address = email if channel == "email" else phone
    if channel in PREFERRED_CHANNEL_NEEDS_ADDRESS and not address:
        raise ValidationError(PREFERRED_CHANNEL_NEEDS_ADDRESS[channel], code="preferred_channel_unreachable")


CONSENT_NEEDS_ADDRESS = {
    "email": "Add an email address before recording consent to email.",
    "sms": "Add a mobile number before recording consent to text messages.",
}


def validate_consent_address(*, channel: str, address: str) -> None:
    """Consent covers an address: consent to email needs an email address, to SMS a mobile number."""
    if not address:
        raise ValidationError(CONSENT_NEEDS_ADDRESS[channel], code="consent_without_address")


# --- Care team -----------------------------------------------------------------------------------

# Who practises: sees patients at visits and may lead a patient's care (the Chief Strategist). Admins may
# practise too; an inactive account never does.
PRACTISING_ROLES = (Role.PRACTITIONER, Role.ADMIN)
LEAD_MUST_PRACTISE = "The lead must be an active practitioner."


def may_lead(user) -> bool:
    return user is not None and user.is_active and user.role in PRACTISING_ROLES


def validate_lead(user) -> None:
    if not may_lead(user):
        raise ValidationError(LEAD_MUST_PRACTISE, code="lead_not_a_practitioner")


ONE_LEAD = "This patient already has a lead practitioner."
ALREADY_ON_THE_TEAM = "This person is already on the patient's care team."
SPECIALIST_NEEDS_A_NAME = "Give the specialist's name, or choose a colleague."
COLLEAGUE_NEEDED = "Choose the colleague to add."
UNKNOWN_CARE_TEAM_ROLE = "Choose their role on the team: practitioner, health coach or external specialist."
# The roles someone joins the team in (the lead is set with "Change lead", never added).
MEMBER_ROLES = ("practitioner", "health_coach", "specialist")
# Where a form shows each care-team refusal, by its code.
CARE_TEAM_FIELDS = {
    "specialist_unnamed": "external_name",
    "colleague_missing": "user",
    "unknown_role": "role",
}


def validate_care_team_member(*, role: str, user, external_name: str) -> None:
    """A colleague joins the team as a user in one of ``MEMBER_ROLES``; only an external specialist may
    instead be given by name."""
    if role not in MEMBER_ROLES:
        raise ValidationError(UNKNOWN_CARE_TEAM_ROLE, code="unknown_role")
    if role == "specialist":
        if user is None and not (external_name or "").strip():
            raise ValidationError(SPECIALIST_NEEDS_A_NAME, code="specialist_unnamed")
    elif user is None:
        raise ValidationError(COLLEAGUE_NEEDED, code="colleague_missing")
