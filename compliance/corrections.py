"""Course corrections: a practitioner's answer to a falter alert. The plan adapts; the patient is not blamed.

The loop, as the alert page offers it:

1. "Open a revision in the builder" starts draft version N+1 from the published plan
   (``journeys.services.blueprints.blueprint_start_draft``); the practitioner changes it in the builder and
   publishes it with a reason, as any revision.
2. Back on the alert, ``course_correct`` records what changed, linking the version published since the alert
   opened, and resolves the alert.

A correction without a new version is fine too (a call booked, a dose changed by phone); and a correction may
be recorded as a step without resolving the alert (``resolve=False``), so the history shows each step.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.permissions import CLINICAL
from journeys.models import Blueprint
from nudges.services import nudge_cancel

from .models import Alert, CourseCorrection


def blueprints_since(alert: Alert) -> QuerySet[Blueprint]:
    """The versions of the alert's journey published since it opened, newest first: what a correction may link."""
    if alert.journey_id is None:
        return Blueprint.objects.none()
    return (
        Blueprint.objects.filter(journey_id=alert.journey_id, published_at__gte=alert.opened_at)
        .exclude(status=Blueprint.Status.DRAFT)
        .order_by("-version")
    )


def _refuse_unless_clinical(actor) -> None:
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
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=alert.patient_id,
        obj=correction,
        detail=detail,
    )
    return correction
