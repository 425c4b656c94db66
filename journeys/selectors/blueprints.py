"""Reads of care plans for the builder, the version pages, the patient's printable plan and the patient page."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.queries import Compiled, built_per_thread
from patients.models import Patient

from ..models import Blueprint, BlueprintItem, BlueprintTemplate, ItemKind, Journey

# Headings of the patient's printable plan, in the order they read it.
PLAN_HEADINGS = {
    ItemKind.DIET: "What you eat",
    ItemKind.SUPPLEMENT: "Your supplements",
    ItemKind.LIFESTYLE: "Your daily life",
    ItemKind.THERAPY: "Your therapies",
    ItemKind.LAB: "Your tests",
}


def journey_get_for(
    *, user: User, pk: int, action: str = AccessEvent.Action.VIEW, detail: str = ""
) -> Journey:
    """One journey with its patient and program (404 if absent); a view is written to the audit trail."""
    journey = get_object_or_404(Journey.objects.select_related("patient", "program"), pk=pk)
    if action == AccessEvent.Action.VIEW:
        record_access(
            action=action,
            actor=user,
            patient_id=journey.patient_id,
            obj=journey,
            detail=detail,
        )
    return journey


def _with_items(qs: QuerySet[Blueprint]) -> QuerySet[Blueprint]:
    return qs.select_related("created_by", "published_by").prefetch_related(
        Prefetch("items", queryset=BlueprintItem.objects.order_by("position", "id"))
    )


@dataclass
class BlueprintVersions:
    draft: Blueprint | None = None
    published: Blueprint | None = None
    history: list[Blueprint] = field(default_factory=list)  # every version, newest first

    @property
    def latest_version(self) -> int:
        return self.history[0].version if self.history else 0


def blueprint_versions(journey: Journey) -> BlueprintVersions:
    """The journey's draft, published version and every version, items loaded, in two queries."""
    versions = BlueprintVersions(history=list(_with_items(journey.blueprints.order_by("-version"))))
    for blueprint in versions.history:
        blueprint.journey = journey
        if blueprint.status == Blueprint.Status.DRAFT:
            versions.draft = blueprint
        elif blueprint.status == Blueprint.Status.PUBLISHED:
            versions.published = blueprint
    return versions


def blueprint_get_version(*, journey: Journey, version: int) -> Blueprint:
    blueprint = get_object_or_404(_with_items(journey.blueprints.all()), version=version)
    blueprint.journey = journey
    return blueprint


def blueprint_item_get(*, journey: Journey, pk: int) -> BlueprintItem:
    """An item of one of this journey's versions (404 otherwise). An item of another journey, asked for under
    this one, is refused exactly like an unknown one, and the refusal is written to the audit trail."""
    item = get_object_or_404(BlueprintItem.objects.select_related("blueprint__journey"), pk=pk)
    if item.blueprint.journey_id != journey.pk:
        record_access(
            action=AccessEvent.Action.DENIED,
            patient_id=item.blueprint.journey.patient_id,
            obj=item,
            detail=f"care plan item asked for under journey {journey.pk} of patient {journey.patient_id}",
        )
        raise Http404("No care plan item matches the given query.")
    return item


def blueprint_templates() -> QuerySet[BlueprintTemplate]:
    return BlueprintTemplate.objects.select_related("program").annotate(item_count=Count("items"))


@dataclass(frozen=True)
class PlanGroup:
    kind: str
    heading: str
    items: list[BlueprintItem]


@dataclass(frozen=True)
class PatientPlan:
    blueprint: Blueprint
    groups: list[PlanGroup]
    on_hold: list[BlueprintItem]


def patient_plan(journey: Journey) -> PatientPlan | None:
    """The published plan as the patient reads it: active items grouped by kind, paused ones apart,
    stopped ones left out. None until a version is published."""
    blueprint = _with_items(journey.blueprints.filter(status=Blueprint.Status.PUBLISHED)).first()
    if blueprint is None:
        return None
    items = list(blueprint.items.all())
    groups = [
        PlanGroup(
            kind=kind,
            heading=heading,
            items=[i for i in items if i.kind == kind and i.status == BlueprintItem.Status.ACTIVE],
        )
        for kind, heading in PLAN_HEADINGS.items()
    ]
    on_hold = [i for i in items if i.status == BlueprintItem.Status.PAUSED]
    return PatientPlan(blueprint=blueprint, groups=[g for g in groups if g.items], on_hold=on_hold)


_ID_MARKER = 918_273_645


def _summary_journey_query(patient_id: int) -> QuerySet[Journey]:
    return Journey.objects.filter(patient_id=patient_id).order_by(
        F("ended_at").asc(nulls_first=True), "-started_at", "-id"
    )[:1]


def _summary_blueprints_query(journey_id: int) -> QuerySet[Blueprint]:
    return (
        Blueprint.objects.filter(journey_id=journey_id)
        .exclude(status=Blueprint.Status.SUPERSEDED)
        .select_related("published_by")
        .annotate(item_count=Count("items"))
    )


@built_per_thread
def _summary_reads() -> tuple[Compiled[Journey], Compiled[Blueprint]]:
    """``patient_blueprint_summary``'s two reads compiled once per thread: every Plan tab runs them."""
    return (
        Compiled(_summary_journey_query(_ID_MARKER), _ID_MARKER),
        Compiled(_summary_blueprints_query(_ID_MARKER), _ID_MARKER),
    )


def patient_blueprint_summary(patient: Patient) -> dict:
    """For the patient page: the open (else latest) journey and its versions' statuses, in two queries."""
    journeys, versions = _summary_reads()
    found = journeys.rows(patient.pk)
    if not found:
        return {"journey": None, "published": None, "draft": None}
    journey = found[0]
    blueprints = versions.rows(journey.pk)
    for blueprint in blueprints:
        blueprint.journey = journey  # as ``journey.blueprints`` knows it
    by_status = {b.status: b for b in blueprints}
    return {
        "journey": journey,
        "published": by_status.get(Blueprint.Status.PUBLISHED),
        "draft": by_status.get(Blueprint.Status.DRAFT),
    }
