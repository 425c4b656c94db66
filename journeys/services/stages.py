"""Journeys and their moves: every stage change is made here, checked against the allowed moves."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_access
from accounts.events import domain_event_record
from accounts.models import AccessEvent, User
from patients.models import Patient

from ..intake_services import intake_stage_reached
from ..models import ALLOWED_MOVES, CLOSING, OFF_PATH, ExitReason, Journey, Program, Stage, StageChange
from .checkins import checkins_schedule, checkins_withdraw_unasked
from .graduation import advocacy_ask, graduation_celebrate


def allowed_moves(journey: Journey) -> list[str]:
    """The stages this journey may move to now, in path order."""
    moves = ALLOWED_MOVES[journey.stage]
    if journey.stage == Stage.PAUSED:
        resume = paused_from(journey)
        moves = {m for m in moves if m in OFF_PATH or m == resume}
    return [s for s in Stage.values if s in moves]


def paused_from(journey: Journey) -> str | None:
    change = journey.stage_changes.filter(to_stage=Stage.PAUSED).order_by("-at", "-id").first()
    return change.from_stage if change else None


@transaction.atomic
def journey_start(
    *,
    patient: Patient,
    actor: User | None = None,
    program: Program | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Journey:
    """Open a journey at ``inquiry`` for a patient who has no open journey."""
    at = at or timezone.now()
    try:
        with transaction.atomic():
            journey = Journey.objects.create(
                patient=patient, program=program, stage=Stage.INQUIRY, stage_entered_at=at, started_at=at
            )
    except IntegrityError:
        raise ValidationError("This patient already has an open journey.") from None
    change = StageChange.objects.create(
        journey=journey, from_stage="", to_stage=Stage.INQUIRY, at=at, by=actor, note=note
    )
    _stage_event(journey, change)
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        actor_label="" if actor else "public inquiry form",
        patient_id=patient.pk,
        obj=journey,
        detail="journey started at inquiry",
    )
    return journey


@transaction.atomic
def journey_move(
    *,
    journey: Journey,
    to_stage: str,
    actor: User,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
) -> StageChange:
    """Move a journey one allowed step. Leaving the path (paused, declined, withdrawn) needs a reason
    from ``ExitReason`` and a note. Raises ValidationError, changing nothing, for any other move."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    if to_stage not in Stage.values:
        raise ValidationError(f"“{to_stage}” is not a stage.")
    if to_stage not in allowed_moves(journey):
        raise ValidationError(
            f"A journey at {Stage(journey.stage).label} cannot move to {Stage(to_stage).label}.",
            code="forbidden_move",
        )
    if to_stage in OFF_PATH:
        if reason not in ExitReason.values:
            raise ValidationError("Choose why the patient is leaving the path.", code="reason_required")
        if not note.strip():
            raise ValidationError("Add a few words about what happened.", code="note_required")
    elif reason:
        raise ValidationError("A reason is only recorded when a patient leaves the path.")
    at = at or timezone.now()
    StageChange.objects.filter(journey=journey, left_at__isnull=True).update(left_at=at)
    change = StageChange.objects.create(
        journey=journey,
        from_stage=journey.stage,
        to_stage=to_stage,
        at=at,
        by=actor,
        reason=reason,
        note=note.strip(),
    )
    journey.stage = to_stage
    journey.stage_entered_at = at
    if to_stage in CLOSING:
        journey.ended_at = at
    journey.save(update_fields=["stage", "stage_entered_at", "ended_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=journey.patient_id,
        obj=journey,
        detail=f"moved from {change.from_stage} to {to_stage}",
    )
    _stage_event(journey, change)
    _stage_effects(journey=journey, change=change, actor=actor)
    return change


def _stage_event(journey: Journey, change: StageChange) -> None:
    domain_event_record(
        name="stage.changed",
        patient_id=journey.patient_id,
        object_id=journey.pk,
        data={
            "journey_id": journey.pk,
            "stage_change_id": change.pk,
            "from": change.from_stage,
            "to": change.to_stage,
        },
    )


def _stage_effects(*, journey: Journey, change: StageChange, actor: User | None) -> None:
    """What a move causes beyond its own rows, in the move's transaction: entering intake sends the intake
    questionnaire (once); entering check-ins schedules the check-ins still to come; leaving check-ins
    (paused, graduated, withdrawn) withdraws those not yet asked; entering graduated sends the graduation
    message and schedules the follow-ups (``graduation``)."""
    if change.to_stage == Stage.INTAKE:
        intake_stage_reached(journey=journey, actor=actor)
    if change.to_stage == Stage.CHECK_INS:
        checkins_schedule(journey=journey, actor=actor)
    elif change.from_stage == Stage.CHECK_INS:
        checkins_withdraw_unasked(
            journey=journey, actor=actor, reason=f"journey moved to {Stage(change.to_stage).label.lower()}"
        )
    if change.to_stage == Stage.GRADUATED:
        graduation_celebrate(journey=journey, at=change.at, actor=actor)
    elif change.to_stage == Stage.ADVOCATE:
        advocacy_ask(journey=journey, at=change.at, actor=actor)
