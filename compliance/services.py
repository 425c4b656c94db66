"""Writes of the compliance app that carry business rules, each transactional and audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.audit import record_access
from accounts.events import domain_event_record
from accounts.models import AccessEvent, User
from accounts.permissions import CLINICAL
from journeys.models import Blueprint, BlueprintItem, CheckIn
from journeys.services.checkins import request_key
from nudges.services import nudge_cancel

from .detection import side_effect_heard
from .models import Alert, Barrier, CheckInAnswer, ClinicSettings, ComplianceLog, CourseCorrection
from .selectors import blueprints_since

RATINGS = ("energy", "sleep", "mood", "digestion")
RATING_MAX = 10
PAUSED_REASON_MAX = cast(int, ComplianceLog._meta.get_field("paused_reason").max_length)
PATIENT_LABEL = "patient via check-in link"
ANSWERED_EARLY = "the check-in was answered before it was asked"
ITEMS_CHANGED_MESSAGE = (
    "The plan was updated while this answer was being written; please have a look at the items again."
)


class Refusal:
    """Why a check-in cannot take an answer now; also the ``code`` of the ValidationError that says so."""

    MISSED = "checkin_missed"
    CLOSED = "checkin_closed"
    RECEIVED = "answer_final"  # answered, and the time to change the answer is over
    ITEMS_CHANGED = "items_changed"


def checkin_answerable_items(checkin: CheckIn) -> list[BlueprintItem]:
    """The items a check-in asks about: the active and paused items of the journey's published plan; none for
    a follow-up after graduation ("how are you now?" is never counted as adherence)."""
    if checkin.kind == CheckIn.Kind.FOLLOW_UP:
        return []
    return list(
        BlueprintItem.objects.filter(
            blueprint__journey_id=checkin.journey_id,
            blueprint__status=Blueprint.Status.PUBLISHED,
            status__in=(BlueprintItem.Status.ACTIVE, BlueprintItem.Status.PAUSED),
        ).order_by("position", "id")
    )


def answer_changeable_until(answer: CheckInAnswer, *, amend_hours: int) -> datetime:
    """The moment an answer stops being open to change: ``amend_hours`` after it was first given."""
    return answer.answered_at + timedelta(hours=amend_hours)


def checkin_answer_refusal(
    *, checkin: CheckIn, answer: CheckInAnswer | None, via: str, now: datetime, amend_hours: int
) -> str | None:
    """The ``Refusal`` code that stops an answer (or a change to one) now, or None when it may be given.

    Missed: never. Answered: only until the change window after the first answer ends (an answered check-in
    without an answer row, from before answers were kept, is final). Open and past ``closes_at``: only by
    phone, when the clinic took the patient's call late.
    """
    if checkin.status == CheckIn.Status.MISSED:
        return Refusal.MISSED
    if checkin.status == CheckIn.Status.ANSWERED or answer is not None:
        if answer is None or now >= answer_changeable_until(answer, amend_hours=amend_hours):
            return Refusal.RECEIVED
        return None
    if checkin.closes_at <= now and via != CheckInAnswer.Via.PHONE:
        return Refusal.CLOSED
    return None


REFUSAL_MESSAGES = {
    Refusal.MISSED: "This check-in has closed without an answer, so it can no longer be answered.",
    Refusal.CLOSED: "This check-in has closed, so it can no longer be answered.",
    Refusal.RECEIVED: "This answer was already received and the time to change it is over.",
}


def _clean_items(
    items_status: dict[int, tuple[str, str]], items: list[BlueprintItem]
) -> list[tuple[BlueprintItem, str, str]]:
    expected = {item.pk: item for item in items}
    if set(items_status) != set(expected):
        raise ValidationError(ITEMS_CHANGED_MESSAGE, code=Refusal.ITEMS_CHANGED)
    cleaned = []
    for item_id, (status, reason) in items_status.items():
        item = expected[item_id]
        if status not in ComplianceLog.Status.values:
            raise ValidationError(f"Choose how “{item.title}” went.", code="invalid_status")
        reason = (reason or "").strip() if status == ComplianceLog.Status.PAUSED else ""
        if status == ComplianceLog.Status.PAUSED and not reason:
            raise ValidationError(f"Say briefly why “{item.title}” is paused.", code="paused_without_reason")
        if len(reason) > PAUSED_REASON_MAX:
            raise ValidationError(
                f"The reason for pausing “{item.title}” can be at most {PAUSED_REASON_MAX} characters.",
                code="paused_reason_too_long",
            )
        cleaned.append((item, status, reason))
    return sorted(cleaned, key=lambda row: (row[0].position, row[0].pk))


def _clean_barriers(barriers: list[str]) -> list[str]:
    unknown = [b for b in barriers if b not in Barrier.values]
    if unknown:
        raise ValidationError("Choose what got in the way from the list.", code="invalid_barrier")
    return list(dict.fromkeys(barriers))


def _clean_ratings(ratings: dict) -> dict[str, int | None]:
    unknown = set(ratings) - set(RATINGS)
    if unknown:
        raise ValueError(f"not ratings: {sorted(unknown)}")
    cleaned = {}
    for name in RATINGS:
        value = ratings.get(name)
        if value is not None and (type(value) is not int or not 0 <= value <= RATING_MAX):
            raise ValidationError(f"Rate {name} from 0 to {RATING_MAX}.", code="invalid_rating")
        cleaned[name] = value
    return cleaned


TALLIED = {
    ComplianceLog.Status.DONE: "done",
    ComplianceLog.Status.PARTIAL: "partly",
    ComplianceLog.Status.MISSED: "missed",
}


def answer_tally(statuses: Iterable[str]) -> dict[str, int]:
    """An answer's item reports counted as its ``done``/``partly``/``missed`` columns (paused: not counted)."""
    tally = dict.fromkeys(TALLIED.values(), 0)
    for status in statuses:
        if status in TALLIED:
            tally[TALLIED[ComplianceLog.Status(status)]] += 1
    return tally


def answer_tallies_refresh(*, answer_ids: Iterable[int] | None = None) -> int:
    """Set each answer's due day and tally from its check-in and logs (every answer, or those given) in one
    statement, whatever their number: for answers written without ``checkin_answer_record``."""
    answers = CheckInAnswer.objects.all()
    if answer_ids is not None:
        answers = answers.filter(pk__in=list(answer_ids))
    logs = ComplianceLog.objects.filter(answer=OuterRef("pk")).order_by().values("answer")
    counted = {
        name: Coalesce(Subquery(logs.annotate(n=Count("pk", filter=Q(status=status))).values("n")), 0)
        for status, name in TALLIED.items()
    }
    due_on = CheckIn.objects.filter(pk=OuterRef("checkin_id")).values("due_on")
    return answers.update(due_on=Subquery(due_on), **counted)


@transaction.atomic
def checkin_answer_record(
    *,
    checkin: CheckIn,
    items_status: dict[int, tuple[str, str]],
    where_it_failed: str,
    barriers: list[str],
    ratings: dict,
    via: str = CheckInAnswer.Via.LINK,
    entered_by: User | None = None,
    now: datetime | None = None,
) -> CheckInAnswer:
    """Record the answer to a check-in, or replace it while it may still change: one log per active or
    paused item of the published plan; the check-in becomes answered, and its request, if it has not gone
    out yet, is withdrawn. Refused (ValidationError, nothing written) when the check-in is missed, closed
    (a late answer only by phone) or its answer is final. An answer telling of a side effect alerts the lead
    practitioner at once (``side_effect_heard``)."""
    if via not in CheckInAnswer.Via.values:
        raise ValueError(f"unknown via: {via!r}")
    if via == CheckInAnswer.Via.PHONE and entered_by is None:
        raise ValueError("an answer taken by phone needs the user who entered it")
    now = now or timezone.now()
    checkin = CheckIn.objects.select_for_update(of=("self",)).select_related("journey").get(pk=checkin.pk)
    answer = CheckInAnswer.objects.filter(checkin=checkin).first()
    refusal = checkin_answer_refusal(
        checkin=checkin, answer=answer, via=via, now=now, amend_hours=ClinicSettings.load().amend_hours
    )
    if refusal is not None:
        raise ValidationError(REFUSAL_MESSAGES[refusal], code=refusal)
    logs = _clean_items(items_status, checkin_answerable_items(checkin))
    fields = {
        "where_it_failed": (where_it_failed or "").strip(),
        "barriers": _clean_barriers(barriers),
        **_clean_ratings(ratings),
        "via": via,
        "entered_by": entered_by if via == CheckInAnswer.Via.PHONE else None,
        **answer_tally(status for _, status, _ in logs),
        "due_on": checkin.due_on,
    }
    if answer is None:
        answer = CheckInAnswer.objects.create(
            checkin=checkin, patient_id=checkin.journey.patient_id, answered_at=now, **fields
        )
        checkin.status, checkin.answered_at = CheckIn.Status.ANSWERED, now
        checkin.save(update_fields=["status", "answered_at"])
        nudge_cancel(dedupe_keys=[request_key(checkin.pk)], reason=ANSWERED_EARLY)
        action = AccessEvent.Action.CREATE
        domain_event_record(
            name="checkin.answered",
            patient_id=checkin.journey.patient_id,
            object_id=checkin.pk,
            data={"checkin_id": checkin.pk, "answer_id": answer.pk},
        )
    else:
        for name, value in fields.items():
            setattr(answer, name, value)
        answer.amended_at = now
        answer.save(update_fields=[*fields, "amended_at"])
        answer.logs.all().delete()
        action = AccessEvent.Action.UPDATE
    ComplianceLog.objects.bulk_create(
        ComplianceLog(answer=answer, checkin=checkin, item=item, status=status, paused_reason=reason)
        for item, status, reason in logs
    )
    side_effect_heard(answer=answer, now=now)
    record_access(
        action=action,
        actor=entered_by,
        actor_label="" if entered_by is not None else PATIENT_LABEL,
        patient_id=checkin.journey.patient_id,
        obj=answer,
        detail=f"check-in due {checkin.due_on:%Y-%m-%d} "
        f"{'changed' if action == AccessEvent.Action.UPDATE else 'answered'} "
        f"{'by phone' if via == CheckInAnswer.Via.PHONE else 'by link'}, {len(logs)} items",
    )
    return answer


# --- Course corrections -----------------------------------------------------------------------------
# Course corrections: a practitioner's answer to a falter alert. The plan adapts; the patient is not blamed.
#
# The loop, as the alert page offers it:
#
# 1. "Open a revision in the builder" starts draft version N+1 from the published plan
#    (``journeys.services.blueprints.blueprint_start_draft``); the practitioner changes it in the builder and
#    publishes it with a reason, as any revision.
# 2. Back on the alert, ``course_correct`` records what changed, linking the version published since the alert
#    opened, and resolves the alert.
#
# A correction without a new version is fine too (a call booked, a dose changed by phone); and a correction may
# be recorded as a step without resolving the alert (``resolve=False``), so the history shows each step.


def _refuse_unless_clinical(actor: User | None) -> None:
    if actor is None or not actor.is_authenticated or not actor.is_active or actor.role not in CLINICAL:
        raise PermissionDenied("Only practitioners and admins record course corrections.")


def _resolution(correction: CourseCorrection) -> str:
    text = f"{correction.get_change_display()}: {correction.note}"
    if correction.blueprint is not None:
        text += f"\nPlan revised to version {correction.blueprint.version}."
    return text


def _withdraw_unsent_outreach(alert: Alert) -> None:
    """The practitioner has answered: an outreach still waiting to go (quiet hours) is withdrawn, unless
    another open alert of the patient shares it."""
    if alert.outreach_nudge_id is None:
        return
    if Alert.objects.filter(outreach_nudge_id=alert.outreach_nudge_id, resolved_at__isnull=True).exists():
        return
    nudge = alert.outreach_nudge
    if nudge is not None:
        nudge_cancel(dedupe_keys=[nudge.dedupe_key], reason="the practitioner answered the alert first")


@transaction.atomic
def course_correct(
    *,
    alert: Alert,
    actor: User,
    change: str,
    note: str,
    blueprint: Blueprint | None = None,
    resolve: bool = True,
) -> CourseCorrection:
    """Record what ``actor`` (a practitioner or admin) changed in answer to an open alert — optionally the
    plan version published since it opened — and, unless ``resolve`` is False, resolve the alert. Audited."""
    _refuse_unless_clinical(actor)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if not alert.is_open:
        raise ValidationError(
            "This alert was already answered; record a new correction on a new alert if things falter again.",
            code="resolved",
        )
    errors = {}
    if change not in CourseCorrection.Change.values:
        errors["change"] = "Choose what changed."
    note = (note or "").strip()
    if not note:
        errors["note"] = "Say what changed and why, in a sentence or two; it stays on the record."
    if blueprint is not None and not blueprints_since(alert).filter(pk=blueprint.pk).exists():
        errors["blueprint"] = (
            "Choose a version of this patient's plan published since the alert opened, or none."
        )
    if errors:
        raise ValidationError(errors)
    correction = CourseCorrection.objects.create(
        alert=alert, practitioner=actor, change=change, note=note, blueprint=blueprint
    )
    detail = f"course correction on alert {alert.pk}: {correction.get_change_display().lower()}"
    if blueprint is not None:
        detail += f", plan version {blueprint.version}"
    if resolve:
        alert.resolved_at = timezone.now()
        alert.resolved_by = actor
        alert.resolution = _resolution(correction)
        alert.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        _withdraw_unsent_outreach(alert)
        detail += "; alert resolved"
        domain_event_record(
            name="alert.resolved",
            patient_id=alert.patient_id,
            object_id=alert.pk,
            data={"alert_id": alert.pk},
        )
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=alert.patient_id,
        obj=correction,
        detail=detail,
    )
    return correction
