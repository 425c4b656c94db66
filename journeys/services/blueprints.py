"""The Strategic Blueprint: a journey's care plan, versioned. Only a draft changes; a published version is
the plan the patient holds and never changes, except that one of its items may be paused, stopped or
resumed (with a reason). Revising the plan means a new draft, published with a reason.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User

from ..models import Blueprint, BlueprintItem, BlueprintTemplate, ItemKind, Journey

ITEM_FIELDS = ("kind", "title", "instructions", "dose", "frequency", "starts_on", "ends_on")
STATUS_REASON_MAX = cast(int, BlueprintItem._meta.get_field("status_reason").max_length)


def _audit(*, action: str, actor: User, blueprint: Blueprint, detail: str) -> None:
    record_access(
        action=action,
        actor=actor,
        patient_id=blueprint.journey.patient_id,
        obj=blueprint,
        detail=detail[:255],
    )


def _refuse_unless_draft(blueprint: Blueprint) -> None:
    if blueprint.status != Blueprint.Status.DRAFT:
        raise ValidationError(
            f"Version {blueprint.version} is {blueprint.get_status_display().lower()} and cannot change; "
            "start a revision.",
            code="not_a_draft",
        )


def _locked(blueprint: Blueprint) -> Blueprint:
    return Blueprint.objects.select_for_update().select_related("journey").get(pk=blueprint.pk)


def _locked_draft(blueprint: Blueprint) -> Blueprint:
    """The blueprint's row, locked against a concurrent publish, and only if it is still a draft."""
    blueprint = _locked(blueprint)
    _refuse_unless_draft(blueprint)
    return blueprint


def _clean_item(fields: dict) -> dict:
    unknown = set(fields) - set(ITEM_FIELDS)
    if unknown:
        raise ValueError(f"not item fields: {sorted(unknown)}")
    cleaned = dict(fields)
    for name in ("title", "instructions", "dose", "frequency"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "title" in cleaned and not cleaned["title"]:
        raise ValidationError({"title": "Give the item a title the patient will recognise."})
    if "kind" in cleaned and cleaned["kind"] not in ItemKind.values:
        raise ValidationError({"kind": "Choose what kind of item this is."})
    return cleaned


def _check_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": "The end date cannot be before the start date."})


@transaction.atomic
def blueprint_start_draft(
    *, journey: Journey, actor: User, from_template: BlueprintTemplate | None = None
) -> Blueprint:
    """Open draft version N+1 of the journey's plan: a copy of a template's items, or else of the
    published version's active and paused items. A journey has one draft at a time."""
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    if not journey.is_open:
        raise ValidationError("This journey has ended; its plan can be read but not revised.")
    draft = journey.blueprints.filter(status=Blueprint.Status.DRAFT).first()
    if draft is not None:
        raise ValidationError(
            f"Version {draft.version} is already a draft: finish or discard it first.", code="draft_exists"
        )
    latest = journey.blueprints.aggregate(latest=Max("version"))["latest"] or 0
    published = journey.blueprints.filter(status=Blueprint.Status.PUBLISHED).first()
    if from_template is not None:
        summary = from_template.summary
        source = [
            BlueprintItem(kind=t.kind, title=t.title, instructions=t.instructions, dose=t.dose,
                          frequency=t.frequency, position=t.position)
            for t in from_template.items.all()
        ]  # fmt: skip
        origin = f"from template “{from_template.name}”"
    elif published is not None:
        summary = published.summary
        source = [
            BlueprintItem(
                **{name: getattr(item, name) for name in ITEM_FIELDS},
                position=item.position,
                status=item.status,
                status_reason=item.status_reason,
                status_changed_at=item.status_changed_at,
            )
            for item in published.items.exclude(status=BlueprintItem.Status.STOPPED)
        ]
        origin = f"from version {published.version}"
    else:
        summary, source, origin = "", [], "blank"
    try:
        with transaction.atomic():
            blueprint = Blueprint.objects.create(
                journey=journey, version=latest + 1, summary=summary, created_by=actor
            )
    except IntegrityError:
        raise ValidationError("Someone else just started a draft of this plan; reload the page.") from None
    for position, item in enumerate(sorted(source, key=lambda i: i.position)):
        item.blueprint = blueprint
        item.position = position
    BlueprintItem.objects.bulk_create(source)
    blueprint.journey = journey
    _audit(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version} draft started {origin}",
    )
    return blueprint


@transaction.atomic
def blueprint_update_summary(*, blueprint: Blueprint, actor: User, summary: str) -> Blueprint:
    """Change a draft's summary (the path forward in the patient's words)."""
    blueprint = _locked_draft(blueprint)
    blueprint.summary = summary.strip()
    blueprint.save(update_fields=["summary"])
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version} summary edited",
    )
    return blueprint


@transaction.atomic
def blueprint_add_item(*, blueprint: Blueprint, actor: User, **fields: Any) -> BlueprintItem:
    """Add an item at the end of a draft. ``fields``: kind, title, instructions, dose, frequency,
    starts_on, ends_on."""
    blueprint = _locked_draft(blueprint)
    cleaned = _clean_item({"instructions": "", "dose": "", "frequency": "", **fields})
    if "kind" not in cleaned or "title" not in cleaned:
        raise ValidationError("An item needs a kind and a title.")
    _check_dates(cleaned.get("starts_on"), cleaned.get("ends_on"))
    last = blueprint.items.aggregate(last=Max("position"))["last"]
    item = BlueprintItem.objects.create(
        blueprint=blueprint, position=0 if last is None else last + 1, **cleaned
    )
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version}: item “{item.title}” added",
    )
    return item


@transaction.atomic
def blueprint_update_item(*, item: BlueprintItem, actor: User, **fields: Any) -> BlueprintItem:
    """Change an item of a draft; the fields not given keep their value."""
    blueprint = _locked_draft(item.blueprint)
    item = BlueprintItem.objects.get(pk=item.pk, blueprint=blueprint)
    cleaned = _clean_item(fields)
    for name, value in cleaned.items():
        setattr(item, name, value)
    _check_dates(item.starts_on, item.ends_on)
    item.save(update_fields=list(cleaned))
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version}: item “{item.title}” edited",
    )
    return item


@transaction.atomic
def blueprint_remove_item(*, item: BlueprintItem, actor: User) -> None:
    """Take an item out of a draft."""
    blueprint = _locked_draft(item.blueprint)
    item = BlueprintItem.objects.get(pk=item.pk, blueprint=blueprint)
    title = item.title
    item.delete()
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version}: item “{title}” removed",
    )


@transaction.atomic
def blueprint_reorder(*, blueprint: Blueprint, actor: User, item_ids: list[int]) -> None:
    """Put a draft's items in the order of ``item_ids``, which must name each of its items once."""
    blueprint = _locked_draft(blueprint)
    items = {item.pk: item for item in blueprint.items.all()}
    if sorted(item_ids) != sorted(items):
        raise ValidationError("The plan changed while you were reordering it; reload the page.")
    for position, pk in enumerate(item_ids):
        items[pk].position = position
    BlueprintItem.objects.bulk_update(items.values(), ["position"])
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version}: items reordered",
    )


@transaction.atomic
def blueprint_discard_draft(*, blueprint: Blueprint, actor: User) -> None:
    """Throw a draft away; the published version stays the patient's plan."""
    blueprint = _locked_draft(blueprint)
    _audit(
        action=AccessEvent.Action.DELETE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version} draft discarded",
    )
    blueprint.delete()


@transaction.atomic
def blueprint_publish(*, blueprint: Blueprint, actor: User, reason: str = "") -> Blueprint:
    """Make a draft the patient's plan. A revision (any version after the first) records why it was
    revised, and the version it replaces becomes superseded and stays readable."""
    Journey.objects.select_for_update().get(pk=blueprint.journey_id)  # one publish per journey at a time
    blueprint = _locked_draft(blueprint)
    reason = reason.strip()
    if not blueprint.items.exists():
        raise ValidationError("Add at least one item before publishing the plan.", code="no_items")
    previous = Blueprint.objects.filter(journey_id=blueprint.journey_id, status=Blueprint.Status.PUBLISHED)
    if blueprint.version > 1 and not reason:
        raise ValidationError(
            {"reason": "Say why the plan is being revised; it stays on the record with this version."},
            code="reason_required",
        )
    now = timezone.now()
    superseded = list(previous.values_list("version", flat=True))
    previous.update(status=Blueprint.Status.SUPERSEDED)
    blueprint.status = Blueprint.Status.PUBLISHED
    blueprint.revision_reason = reason
    blueprint.published_at = now
    blueprint.published_by = actor
    blueprint.save(update_fields=["status", "revision_reason", "published_at", "published_by"])
    detail = f"blueprint v{blueprint.version} published"
    if superseded:
        detail += f", superseding v{superseded[0]}: {reason}"
    _audit(action=AccessEvent.Action.UPDATE, actor=actor, blueprint=blueprint, detail=detail)
    return blueprint


# From each status, where an item of the published plan may go. A stopped item stays stopped: to bring it
# back, add it again in a revision.
ITEM_MOVES: dict[str, set[str]] = {
    BlueprintItem.Status.ACTIVE: {BlueprintItem.Status.PAUSED, BlueprintItem.Status.STOPPED},
    BlueprintItem.Status.PAUSED: {BlueprintItem.Status.ACTIVE, BlueprintItem.Status.STOPPED},
    BlueprintItem.Status.STOPPED: set(),
}


@transaction.atomic
def blueprint_item_set_status(*, item: BlueprintItem, status: str, reason: str, actor: User) -> BlueprintItem:
    """Pause or stop an item of the published plan, with a reason, or resume a paused one — without
    a new version."""
    blueprint = _locked(item.blueprint)
    if blueprint.status == Blueprint.Status.DRAFT:
        raise ValidationError("This is a draft: edit or remove the item instead.")
    if blueprint.status != Blueprint.Status.PUBLISHED:
        _refuse_unless_draft(blueprint)
    item = BlueprintItem.objects.get(pk=item.pk, blueprint=blueprint)
    if status not in BlueprintItem.Status.values:
        raise ValidationError({"status": "Choose pause, stop or resume."})
    if status not in ITEM_MOVES[item.status]:
        if item.status == BlueprintItem.Status.STOPPED:
            message = "This item was stopped; to bring it back, add it again in a revision."
        elif status == item.status:
            message = f"This item is already {item.get_status_display().lower()}."
        else:
            message = "That change is not possible for this item."
        raise ValidationError({"status": message})
    reason = reason.strip()
    if status != BlueprintItem.Status.ACTIVE and not reason:
        raise ValidationError({"reason": "Say why, in a few words; it stays on the record."})
    if len(reason) > STATUS_REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason under {STATUS_REASON_MAX} characters."})
    before = item.get_status_display().lower()
    item.status = status
    item.status_reason = reason
    item.status_changed_at = timezone.now()
    item.save(update_fields=["status", "status_reason", "status_changed_at"])
    _audit(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        blueprint=blueprint,
        detail=f"blueprint v{blueprint.version}: item “{item.title}” {before} → "
        f"{item.get_status_display().lower()}" + (f": {reason}" if reason else ""),
    )
    return item
