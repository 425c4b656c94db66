"""Graduation, celebrated: the graduation message, and gentle "how are you now?" check-ins 1, 3 and 6 months
after the program ends.

``journeys.services.stages.journey_move`` calls ``graduation_celebrate`` when a journey enters *graduated*.
Safe to run twice: the message and each follow-up have their own dedupe key and day.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from nudges.models import Kind, Nudge, NudgeRule
from nudges.services import nudge_schedule
from patients.selectors import marketing_consent_granted
from patients.services import advocate_link_for

from ..models import CheckIn, Journey
from ..tokens import checkin_token
from .checkins import closing_moment, request_key, request_moment

FOLLOW_UP_MONTHS = (1, 3, 6)
FOLLOW_UP_OPEN_DAYS = 7  # a gentle question: open for a week, not three days


def graduation_key(journey_id: int) -> str:
    return f"graduation:{journey_id}"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has fewer (31 January + 1: 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _graduation_offset() -> timedelta | None:
    rule = NudgeRule.objects.filter(kind=Kind.GRADUATION).first()
    if rule is None or not rule.enabled:
        return None
    offsets = rule.offsets_minutes or [0]
    return timedelta(minutes=int(offsets[0]))


@transaction.atomic
def graduation_celebrate(
    *, journey: Journey, at: datetime, actor: User | None = None
) -> tuple[Nudge | None, list[CheckIn]]:
    """Schedule the graduation message (its rule's timing, unless the rule is switched off) and the three
    follow-up check-ins, each with its request; return what now exists."""
    patient = journey.patient
    nudge = None
    offset = _graduation_offset()
    if offset is not None:
        nudge = nudge_schedule(
            patient=patient,
            kind=Kind.GRADUATION,
            send_at=at + offset,
            dedupe_key=graduation_key(journey.pk),
            context={},
        )
    tz = patient.tz
    graduated_on = at.astimezone(tz).date()
    follow_ups = []
    for months in FOLLOW_UP_MONTHS:
        due = add_months(graduated_on, months)
        checkin, created = CheckIn.objects.get_or_create(
            journey=journey,
            due_on=due,
            defaults={
                "kind": CheckIn.Kind.FOLLOW_UP,
                "closes_at": closing_moment(due + timedelta(days=FOLLOW_UP_OPEN_DAYS - 3), tz),
            },
        )
        if created:
            url = settings.ALLIANCE_SITE_URL + reverse(
                "compliance:checkin_answer", args=[checkin_token(checkin.pk)]
            )
            checkin.request_nudge = nudge_schedule(
                patient=patient,
                kind=Kind.FOLLOW_UP_CHECKIN,
                send_at=request_moment(due, tz, patient.checkin_hour),
                dedupe_key=request_key(checkin.pk),
                context={"checkin_url": url, "months": str(months)},
            )
            checkin.save(update_fields=["request_nudge"])
        follow_ups.append(checkin)
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=patient.pk,
        obj=journey,
        detail="graduated: the graduation message and follow-ups at 1, 3 and 6 months scheduled",
    )
    return nudge, follow_ups


def advocacy_ask_key(journey_id: int) -> str:
    return f"advocacy-ask:{journey_id}"


def referral_url(token: str) -> str:
    return f"{settings.ALLIANCE_SITE_URL}{reverse('journeys:inquire')}?ref={token}"


def advocacy_ask(*, journey: Journey, at: datetime, actor: User | None = None) -> Nudge | None:
    """When a journey reaches *advocate*: make the patient's personal referral link and, with their marketing
    consent, schedule one ask (a referral or a testimonial). Marketing-type: the outbox checks that consent
    again and sends it only between 09:00 and 20:00 on the patient's clock, whatever their quiet hours."""
    patient = journey.patient
    token = advocate_link_for(patient=patient, actor=actor)
    if not marketing_consent_granted(patient):
        return None
    return nudge_schedule(
        patient=patient,
        kind=Kind.ADVOCACY_ASK,
        send_at=at,
        dedupe_key=advocacy_ask_key(journey.pk),
        context={"referral_url": referral_url(token)},
    )
