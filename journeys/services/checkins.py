"""The check-in schedule: made when a journey enters check_ins, withdrawn (the unasked part) when it leaves.

Dates are days in the patient's own calendar. Each check-in is requested at the patient's own hour
(``Patient.checkin_hour``, 10:00 unless they chose another) on its ``due_on`` in their time zone, DST-correct
(the outbox may move it later for quiet hours) and ``closes_at`` is the end of the day
two days after ``due_on`` there: the first instant of day ``due_on + 3``, exclusive — a check-in is missed
once ``closes_at <= now``.

The series is anchored on the day the journey *first* entered check_ins, so that entering again after a
pause recreates only the check-ins still to come and never shifts or duplicates them.

``journeys.services.stages.journey_move`` calls ``checkins_schedule`` and ``checkins_withdraw_unasked`` itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from nudges.models import Kind, Nudge
from nudges.services import nudge_cancel, nudge_schedule

from ..models import CheckIn, Journey, Stage, StageChange
from ..tokens import checkin_token

DEFAULT_EVERY_DAYS = 7
DEFAULT_WEEKS = 12
OPEN_DAYS_AFTER_DUE = 2


def request_key(checkin_id: int) -> str:
    return f"checkin:{checkin_id}:request"


def cadence(journey: Journey) -> tuple[int, int]:
    """(every how many days, for how many weeks): the program's, or weekly for 12 weeks without one."""
    program = journey.program
    if program is None:
        return DEFAULT_EVERY_DAYS, DEFAULT_WEEKS
    return program.checkin_every_days or DEFAULT_EVERY_DAYS, program.weeks or DEFAULT_WEEKS


def checkin_dates(*, first_day: date, every_days: int, weeks: int) -> list[date]:
    """One cadence after ``first_day``, then every ``every_days`` for ``weeks`` weeks (at least one)."""
    count = max(1, weeks * 7 // every_days)
    return [first_day + timedelta(days=every_days * n) for n in range(1, count + 1)]


def request_moment(due_on: date, tz: ZoneInfo, hour: int = 10) -> datetime:
    """``hour``:00 on ``due_on`` in ``tz`` (the patient's own hour), as an aware UTC instant. Inside a
    spring-forward gap it is the instant the clocks jump to; in a repeated fall-back hour, the first."""
    return datetime.combine(due_on, time(hour, 0), tzinfo=tz).astimezone(UTC)


def closing_moment(due_on: date, tz: ZoneInfo) -> datetime:
    """The end of the day ``OPEN_DAYS_AFTER_DUE`` days after ``due_on`` in ``tz`` (exclusive), in UTC."""
    day_after = due_on + timedelta(days=OPEN_DAYS_AFTER_DUE + 1)
    return datetime.combine(day_after, time(0), tzinfo=tz).astimezone(UTC)


def _first_entered(journey: Journey) -> datetime | None:
    return (
        StageChange.objects.filter(journey=journey, to_stage=Stage.CHECK_INS)
        .order_by("at", "id")
        .values_list("at", flat=True)
        .first()
    )


@transaction.atomic
def checkins_schedule(
    *, journey: Journey, actor: User | None = None, now: datetime | None = None
) -> list[CheckIn]:
    """Create the check-ins of the journey's series still to come that do not exist yet, each with its
    request nudge; return the ones created. Safe to call again: it never duplicates a check-in or a nudge."""
    now = now or timezone.now()
    journey = Journey.objects.select_related("patient", "program").get(pk=journey.pk)
    patient = journey.patient
    tz = patient.tz
    anchor = _first_entered(journey) or now
    every_days, weeks = cadence(journey)
    dates = checkin_dates(first_day=anchor.astimezone(tz).date(), every_days=every_days, weeks=weeks)
    existing = set(CheckIn.objects.filter(journey=journey, due_on__in=dates).values_list("due_on", flat=True))
    missing = [d for d in dates if d not in existing and request_moment(d, tz, patient.checkin_hour) > now]
    if not missing:
        return []
    checkins = CheckIn.objects.bulk_create(
        [CheckIn(journey=journey, due_on=d, closes_at=closing_moment(d, tz)) for d in missing]
    )
    for checkin in checkins:
        url = settings.ALLIANCE_SITE_URL + reverse(
            "compliance:checkin_answer", args=[checkin_token(checkin.pk)]
        )
        checkin.request_nudge = nudge_schedule(
            patient=patient,
            kind=Kind.CHECKIN_REQUEST,
            send_at=request_moment(checkin.due_on, tz, patient.checkin_hour),
            dedupe_key=request_key(checkin.pk),
            context={"checkin_url": url},
        )  # no actor: the schedule wrote it, not the person who moved the journey
    CheckIn.objects.bulk_update(checkins, ["request_nudge"])
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=patient.pk,
        obj=journey,
        detail=f"{len(checkins)} check-ins scheduled every {every_days} days, "
        f"{missing[0]:%Y-%m-%d} to {missing[-1]:%Y-%m-%d}",
    )
    return checkins


@transaction.atomic
def checkins_withdraw_unasked(*, journey: Journey, actor: User | None = None, reason: str) -> int:
    """Remove the scheduled check-ins whose request has not gone out, withdrawing their pending nudges;
    a check-in already asked for stays (the patient may still answer). Return how many were removed."""
    unasked = Q(request_nudge__isnull=True) | Q(request_nudge__status=Nudge.Status.PENDING)
    candidates = list(
        CheckIn.objects.filter(journey=journey, status=CheckIn.Status.SCHEDULED, kind=CheckIn.Kind.PROGRAM)
        .filter(unasked)
        .values_list("pk", flat=True)
    )
    if not candidates:
        return 0
    nudge_cancel(dedupe_keys=[request_key(pk) for pk in candidates], reason=reason)
    # A dispatcher may have claimed a nudge meanwhile: only a withdrawn (or missing) request lets its check-in go.
    removed, _ = (
        CheckIn.objects.filter(pk__in=candidates)
        .filter(Q(request_nudge__isnull=True) | Q(request_nudge__status=Nudge.Status.CANCELLED))
        .delete()
    )
    if removed:
        record_access(
            action=AccessEvent.Action.DELETE,
            actor=actor,
            patient_id=journey.patient_id,
            obj=journey,
            detail=f"{removed} check-ins not yet asked for were withdrawn: {reason}"[:255],
        )
    return removed
