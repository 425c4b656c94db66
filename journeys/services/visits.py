"""Visits: booking without double-booking a practitioner, moving, closing, and the reminders they cause.

A practitioner's calendar is checked and written under a lock on their ``User`` row, so two people
booking the same slot at once cannot both succeed (PostgreSQL row lock; SQLite serialises writers).
Reminders are nudges keyed ``visit:<pk>:<start in UTC>:<offset>``: cancelling or moving a visit
withdraws the pending ones under ``visit:<pk>:`` and a move schedules new ones for the new time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import dateformat, timezone

from accounts.audit import record_access
from accounts.events import domain_event_record
from accounts.models import AccessEvent, User
from nudges.models import Kind as NudgeKind
from nudges.models import Nudge, NudgeRule
from nudges.services import nudge_cancel, nudge_schedule
from nudges.timing import next_allowed_moment
from patients.models import Patient
from patients.validation import PRACTISING_ROLES

from .. import intake_services
from ..models import LONGEST_VISIT_MINUTES, Journey, TimeOff, Visit, WorkingHours
from ..selectors.schedule import clinic_zone, day_stretches

DEFAULT_REMINDER_OFFSETS = [-1440, -120]
MIN_MINUTES, MAX_MINUTES = 5, LONGEST_VISIT_MINUTES
PAST_GRACE = timedelta(minutes=1)  # a time typed a moment ago still counts as "now"
EARLY_CLOSE = timedelta(minutes=30)  # a visit that began a little early may be closed a little early


def _clinic_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return dateformat.format(local, r"l j F \a\t H:i")


def patient_local_when(moment: datetime, tz: tzinfo) -> str:
    """A moment as the patient reads it on their own clock: "Tuesday 14 April at 10:00"."""
    return dateformat.format(moment.astimezone(tz), r"l j F \a\t H:i")


def _offset_words(offset: int) -> str:
    minutes = abs(offset)
    amount = f"{minutes // 60} hours" if minutes % 60 == 0 else f"{minutes} minutes"
    amount = {"24 hours": "a day", "1 hours": "an hour"}.get(amount, amount)
    return f"{amount} {'before' if offset < 0 else 'after'}"


def visit_quiet_hours_warning(*, patient: Patient, starts_at: datetime) -> str:
    """A warning for the person booking, or "": the visit's time on the patient's own clock when it falls in
    their quiet hours, and which reminders the outbox would hold back (they could only arrive after it began)."""
    tz = patient.tz
    local = starts_at.astimezone(tz)
    start, end = patient.quiet_hours_start, patient.quiet_hours_end
    held = [
        offset
        for offset in sorted(set(_reminder_offsets()))
        if offset < 0
        and next_allowed_moment(starts_at + timedelta(minutes=offset), tz=tz, start=start, end=end)
        >= starts_at
    ]
    quiet = patient.in_quiet_hours(local.time().replace(tzinfo=None))
    if not quiet and not held:
        return ""
    text = f"This visit is at {patient_local_when(starts_at, tz)} on {patient.display_name}'s own clock ({patient.time_zone})"
    if quiet:
        text += f", inside their quiet hours ({start:%H:%M}–{end:%H:%M})"
    if held:
        which = " and ".join(_offset_words(offset) for offset in held)
        text += f": the reminder {which} would be held back, as it could only go out after the visit began"
    return text + "."


def _reminder_prefix(visit: Visit) -> str:
    return f"visit:{visit.pk}:"


def _reminder_key(visit: Visit, offset: int) -> str:
    return f"{_reminder_prefix(visit)}{visit.starts_at.astimezone(UTC):%Y%m%dT%H%M}:{offset}"


def _reminder_offsets() -> list[int]:
    rule = NudgeRule.objects.filter(kind=NudgeKind.VISIT_REMINDER).first()
    if rule is None:
        return list(DEFAULT_REMINDER_OFFSETS)
    if not rule.enabled:
        return []
    return [int(offset) for offset in rule.offsets_minutes or []]


def _schedule_reminders(visit: Visit, *, actor: User | None) -> list[Nudge]:
    """One reminder per offset of the visit-reminder rule, skipping moments already past."""
    offsets = _reminder_offsets()
    if not offsets:
        return []
    patient, now = visit.patient, timezone.now()
    context = {
        "visit_kind": visit.get_kind_display().lower(),
        "visit_when": patient_local_when(visit.starts_at, patient.tz),
        "practitioner_name": str(visit.practitioner),
    }
    nudges = []
    for offset in sorted(set(offsets)):
        send_at = visit.starts_at + timedelta(minutes=offset)
        if send_at <= now:
            continue
        key = _reminder_key(visit, offset)
        nudge = nudge_schedule(
            patient=patient,
            kind=NudgeKind.VISIT_REMINDER,
            send_at=send_at,
            dedupe_key=key,
            context=context,
            expires_at=visit.starts_at,
            actor=actor,
        )
        # Moved away from this time and back again: the old reminder was withdrawn, so issue a fresh one.
        again = 1
        while nudge.status == Nudge.Status.CANCELLED:
            again += 1
            nudge = nudge_schedule(
                patient=patient,
                kind=NudgeKind.VISIT_REMINDER,
                send_at=send_at,
                dedupe_key=f"{key}:again{again}",
                context=context,
                expires_at=visit.starts_at,
                actor=actor,
            )
        nudges.append(nudge)
    return nudges


def _withdraw_reminders(visit: Visit, reason: str) -> int:
    return nudge_cancel(key_prefix=_reminder_prefix(visit), reason=reason)


def _lock_practitioner(practitioner):
    """Lock the practitioner's row (their calendar) for the rest of the transaction, and check they practise."""
    locked = get_user_model().objects.select_for_update().get(pk=practitioner.pk)
    _check_practises(locked)
    return locked


def _check_practises(practitioner: User) -> None:
    if not practitioner.is_active or practitioner.role not in PRACTISING_ROLES:
        raise ValidationError(
            f"{practitioner} does not see patients (not an active practitioner): choose someone who does.",
            code="not_a_practitioner",
        )


def _check_free(
    practitioner: User, starts_at: datetime, ends_at: datetime, *, exclude_pk: int | None = None
) -> None:
    """Refuse a time that overlaps the practitioner's booked visits or their time off."""
    overlapping = Visit.objects.blocking().overlapping(starts_at, ends_at).filter(practitioner=practitioner)
    if exclude_pk is not None:
        overlapping = overlapping.exclude(pk=exclude_pk)
    clash = overlapping.order_by("starts_at").first()
    if clash is not None:
        raise ValidationError(
            f"{practitioner} is already booked for a {clash.get_kind_display().lower()} "
            f"on {_clinic_time(clash.starts_at)}–{timezone.localtime(clash.ends_at):%H:%M}: "
            "choose a time that does not overlap it.",
            code="double_booked",
        )
    away = (
        TimeOff.objects.filter(practitioner=practitioner, starts_at__lt=ends_at, ends_at__gt=starts_at)
        .order_by("starts_at")
        .first()
    )
    if away is not None:
        why = f" ({away.reason})" if away.reason else ""
        raise ValidationError(
            f"{practitioner} is away{why} from {_clinic_time(away.starts_at)} "
            f"to {_clinic_time(away.ends_at)}: choose another time or another practitioner.",
            code="time_off",
        )


def visit_slot_check(
    *,
    practitioner: User,
    starts_at: datetime,
    duration_minutes: int,
    exclude_pk: int | None = None,
) -> None:
    """The booking rules, read-only: raise the ValidationError ``visit_schedule`` would raise for this time
    and practitioner (past, length, not practising, double-booked, away), without locking or writing.
    ``visit_schedule`` checks again under the practitioner's lock: this only warns before submitting."""
    _check_when(starts_at, duration_minutes)
    _check_practises(practitioner)
    _check_free(
        practitioner, starts_at, starts_at + timedelta(minutes=duration_minutes), exclude_pk=exclude_pk
    )


def visit_hours_warning(*, practitioner: User, starts_at: datetime, duration_minutes: int) -> str:
    """A warning for the person booking, or "": the visit falls outside the practitioner's working hours
    (when any are set). Booking there stays possible: an evening call can be arranged on purpose."""
    hours = list(WorkingHours.objects.filter(practitioner=practitioner))
    if not hours:
        return ""
    day = timezone.localtime(starts_at, clinic_zone()).date()
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    stretches = day_stretches(hours, day)
    if any(start <= starts_at and ends_at <= end for start, end in stretches):
        return ""
    worked = ", ".join(f"{start:%H:%M}–{end:%H:%M}" for start, end in stretches)
    when = f"{day:%A}s {worked}" if stretches else f"not on {day:%A}s"
    return (
        f"This is outside {practitioner}'s working hours ({when}, clinic time): "
        "book it only if they have agreed to it."
    )


def _check_when(starts_at: datetime, duration_minutes: int) -> None:
    if timezone.is_naive(starts_at):
        raise ValidationError("The start time must carry a time zone.")
    if starts_at < timezone.now() - PAST_GRACE:
        raise ValidationError(
            "That time has passed: visits are booked for the future. A visit that already happened "
            "is recorded by marking its booking completed.",
            code="in_the_past",
        )
    if not MIN_MINUTES <= duration_minutes <= MAX_MINUTES:
        raise ValidationError(
            f"A visit lasts between {MIN_MINUTES} minutes and {MAX_MINUTES // 60} hours.", code="duration"
        )


@transaction.atomic
def visit_schedule(
    *,
    patient: Patient,
    practitioner: User,
    kind: str,
    starts_at: datetime,
    duration_minutes: int | None = None,
    location: str = "",
    actor: User,
    journey: Journey | None = None,
) -> Visit:
    """Book a visit in the future with a practitioner who is free for all of it; schedule its reminders."""
    if kind not in Visit.Kind.values:
        raise ValidationError(f"“{kind}” is not a kind of visit.")
    if duration_minutes is None:
        duration_minutes = Visit.DEFAULT_MINUTES[Visit.Kind(kind)]
    _check_when(starts_at, duration_minutes)
    if patient.archived:
        raise ValidationError(f"{patient} is archived: restore them before booking a visit.")
    if journey is None:
        journey = Journey.objects.open().filter(patient=patient).first()
    elif journey.patient_id != patient.pk:
        raise ValidationError("That journey belongs to another patient.")
    practitioner = _lock_practitioner(practitioner)
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    _check_free(practitioner, starts_at, ends_at)
    visit = Visit.objects.create(
        patient=patient,
        journey=journey,
        practitioner=practitioner,
        kind=kind,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        location=location.strip(),
        created_by=actor,
    )
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=patient.pk,
        obj=visit,
        detail=f"booked with {practitioner} for {starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    )
    _schedule_reminders(visit, actor=actor)
    domain_event_record(
        name="visit.booked", patient_id=patient.pk, object_id=visit.pk, data={"visit_id": visit.pk}
    )
    if visit.kind == Visit.Kind.INTAKE:
        intake_services.intake_visit_booked(visit=visit, actor=actor)
    return visit


def _lock_visit(visit: Visit) -> Visit:
    return Visit.objects.select_for_update().get(pk=visit.pk)


def _require_scheduled(visit: Visit) -> None:
    if visit.status != Visit.Status.SCHEDULED:
        raise ValidationError(
            f"This visit is already {visit.get_status_display().lower()}: only a booked visit can change.",
            code="not_scheduled",
        )


@transaction.atomic
def visit_reschedule(
    *,
    visit: Visit,
    starts_at: datetime,
    actor: User,
    duration_minutes: int | None = None,
    practitioner: User | None = None,
    location: str | None = None,
) -> Visit:
    """Move a booked visit (time, length, practitioner or place); its reminders follow the new time."""
    visit = _lock_visit(visit)
    _require_scheduled(visit)
    duration_minutes = duration_minutes or visit.duration_minutes
    _check_when(starts_at, duration_minutes)
    practitioner = _lock_practitioner(practitioner or visit.practitioner)
    _check_free(practitioner, starts_at, starts_at + timedelta(minutes=duration_minutes), exclude_pk=visit.pk)
    before = (visit.starts_at, visit.practitioner_id)
    changes = []
    if starts_at != visit.starts_at:
        changes.append(f"from {visit.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    if practitioner.pk != visit.practitioner_id:
        changes.append(f"to {practitioner}")
    visit.starts_at = starts_at
    visit.duration_minutes = duration_minutes
    visit.practitioner = practitioner
    if location is not None:
        visit.location = location.strip()
    visit.save(update_fields=["starts_at", "duration_minutes", "ends_at", "practitioner", "location"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=visit.patient_id,
        obj=visit,
        detail=("rescheduled " + ", ".join(changes)) if changes else "booking details changed",
    )
    if (visit.starts_at, visit.practitioner_id) != before:
        _withdraw_reminders(visit, reason="visit rescheduled")
        _schedule_reminders(visit, actor=actor)
        if visit.kind == Visit.Kind.INTAKE:
            intake_services.intake_visit_moved(visit=visit, actor=actor)
    return visit


@transaction.atomic
def visit_cancel(*, visit: Visit, actor: User, reason: str = "") -> Visit:
    """Cancel a booked visit and withdraw its reminders that have not gone out yet."""
    visit = _lock_visit(visit)
    _require_scheduled(visit)
    visit.status = Visit.Status.CANCELLED
    visit.save(update_fields=["status"])
    withdrawn = _withdraw_reminders(visit, reason="visit cancelled")
    domain_event_record(
        name="visit.cancelled", patient_id=visit.patient_id, object_id=visit.pk, data={"visit_id": visit.pk}
    )
    if visit.kind == Visit.Kind.INTAKE:
        intake_services.intake_visit_cancelled(visit=visit, actor=actor)
    reason = " ".join(reason.split())
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=visit.patient_id,
        obj=visit,
        detail=f"cancelled ({withdrawn} reminder(s) withdrawn)" + (f": {reason}" if reason else ""),
    )
    return visit


def _close(visit: Visit, status: str, *, actor: User) -> Visit:
    visit = _lock_visit(visit)
    _require_scheduled(visit)
    label = Visit.Status(status).label.lower()
    if visit.starts_at - EARLY_CLOSE > timezone.now():
        raise ValidationError(
            f"This visit starts on {_clinic_time(visit.starts_at)}: it can be marked {label} once it has begun.",
            code="not_started",
        )
    visit.status = status
    visit.save(update_fields=["status"])
    _withdraw_reminders(visit, reason=f"visit marked {label}")
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=visit.patient_id,
        obj=visit,
        detail=f"marked {label}",
    )
    return visit


@transaction.atomic
def visit_complete(*, visit: Visit, actor: User) -> Visit:
    """Record that a booked visit took place."""
    return _close(visit, Visit.Status.COMPLETED, actor=actor)


@transaction.atomic
def visit_no_show(*, visit: Visit, actor: User) -> Visit:
    """Record that the patient did not come to a booked visit."""
    return _close(visit, Visit.Status.NO_SHOW, actor=actor)
