"""Reads of the API floor: the API's lists and records, and the FHIR export's chunks.

Every read here is of a lower floor's tables, with its joins and prefetches done once per page or chunk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from compliance.models import Alert, CheckInAnswer, ComplianceLog
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, StageChange, Visit, VisitNote
from journeys.selectors.schedule import clinic_zone
from nudges.models import Nudge
from patients.models import CareTeamMember, ConsentEvent, Patient

from .models import ApiKey, WebhookDelivery

# --- The API --------------------------------------------------------------------------------------------


def api_patients(*, query: str = "", include_archived: bool = False) -> QuerySet[Patient]:
    """Patients in id order (the cursor's order: stable while rows are added), searched as the list is."""
    qs = Patient.objects.all() if include_archived else Patient.objects.active()
    if query.strip():
        qs = qs.matching(query)
    return qs.order_by("pk")


def api_patient(*, pk: int) -> Patient:
    """One patient with lead and consent annotated, for the patient's own endpoint (404 otherwise)."""
    return get_object_or_404(Patient.objects.with_lead().with_consent(), pk=pk)


def api_patient_record(*, pk: int) -> Patient:
    """One patient's row alone (404 otherwise): what booking needs, without the detail's eight subqueries."""
    return get_object_or_404(Patient, pk=pk)


def api_patient_id(*, pk: int) -> int:
    """``pk`` when such a patient exists (404 otherwise): for the endpoints that list what belongs to a patient
    and need nothing of the patient's own row."""
    if not Patient.objects.filter(pk=pk).exists():
        raise Http404("No patient matches the given query.")
    return pk


def api_open_journey(patient: Patient) -> Journey | None:
    return Journey.objects.open().filter(patient=patient).select_related("program").first()


def api_journeys(*, patient_id: int) -> list[Journey]:
    return list(
        Journey.objects.filter(patient_id=patient_id)
        .select_related("program")
        .prefetch_related(Prefetch("stage_changes", queryset=StageChange.objects.order_by("at", "pk")))
        .order_by("started_at", "pk")
    )


def api_visits_on(day: date) -> QuerySet[Visit]:
    """Visits starting on ``day`` in the clinic's time zone, in (start, id) order."""
    zone = clinic_zone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return (
        Visit.objects.filter(starts_at__gte=start, starts_at__lt=end)
        .select_related("patient", "practitioner")
        .order_by("starts_at", "pk")
    )


def api_nudge(*, pk: int) -> Nudge:
    return get_object_or_404(Nudge, pk=pk)


def api_checkins(*, patient_id: int) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(journey__patient_id=patient_id).select_related("answer").order_by("pk")


def api_checkin(*, pk: int) -> CheckIn:
    return get_object_or_404(CheckIn.objects.select_related("answer", "journey"), pk=pk)


def api_practitioner(*, pk: int) -> User:
    return get_object_or_404(get_user_model(), pk=pk, is_active=True)


def api_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by", "revoked_by")


def webhook_delivery_log(delivery: WebhookDelivery) -> list:
    return list(delivery.tries.order_by("at", "pk"))


# --- The FHIR export ------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """What one chunk of patients holds, read in one query per table (``selectors.fhir_chunk``)."""

    patients: list
    care_team: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    journeys: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    stage_changes: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    visits: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    blueprints: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    answers: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    logs: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    alerts: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    nudges: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    consents: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    notes: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    user_ids: set[int] = field(default_factory=set)


def fhir_patient_id_chunks(size: int, *, only: Iterable[int] | None = None) -> Iterator[list[int]]:
    """Every patient id (or those of ``only``), ascending, ``size`` at a time, read by keyset."""
    qs = Patient.objects.order_by("pk")
    if only is not None:
        qs = qs.filter(pk__in=list(only))
    last = 0
    while True:
        ids = list(qs.filter(pk__gt=last).values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def fhir_chunk(ids: list[int], *, clinical: bool) -> Chunk:
    """One query per table for these patients: what ``api.fhir.chunk_resources`` turns into resources."""
    chunk = Chunk(patients=list(Patient.objects.filter(pk__in=ids).order_by("pk")))
    for m in (
        CareTeamMember.objects.filter(patient_id__in=ids).select_related("user").order_by("started_at", "pk")
    ):
        chunk.care_team[m.patient_id].append(m)
        if m.user_id:
            chunk.user_ids.add(m.user_id)
    for j in (
        Journey.objects.filter(patient_id__in=ids).select_related("program").order_by("started_at", "pk")
    ):
        chunk.journeys[j.patient_id].append(j)
    for c in StageChange.objects.filter(journey__patient_id__in=ids).order_by("at", "pk"):
        chunk.stage_changes[c.journey_id].append(c)
    for v in Visit.objects.filter(patient_id__in=ids).order_by("starts_at", "pk"):
        chunk.visits[v.patient_id].append(v)
        chunk.user_ids.add(v.practitioner_id)
    blueprints = (
        Blueprint.objects.filter(journey__patient_id__in=ids)
        .select_related("journey")
        .prefetch_related(Prefetch("items", queryset=BlueprintItem.objects.order_by("position", "pk")))
        .order_by("journey_id", "version")
    )
    for b in blueprints:
        chunk.blueprints[b.journey.patient_id].append(b)
    for a in (
        CheckInAnswer.objects.filter(patient_id__in=ids)
        .select_related("checkin")
        .order_by("answered_at", "pk")
    ):
        chunk.answers[a.patient_id].append(a)
    logs = ComplianceLog.objects.filter(answer__patient_id__in=ids).select_related("item")
    for log in logs.only("answer_id", "item_id", "status", "item__title").order_by("pk"):
        chunk.logs[log.answer_id].append(log)
    for alert in Alert.objects.filter(patient_id__in=ids).order_by("opened_at", "pk"):
        chunk.alerts[alert.patient_id].append(alert)
    sent = Nudge.objects.filter(patient_id__in=ids, status=Nudge.Status.SENT).defer(
        "body_html", "context", "last_error"
    )
    for n in sent.order_by("sent_at", "pk"):
        chunk.nudges[n.patient_id].append(n)
    for e in ConsentEvent.objects.filter(patient_id__in=ids).order_by("at", "pk"):
        chunk.consents[e.patient_id].append(e)
    if clinical:
        notes = VisitNote.objects.filter(visit__patient_id__in=ids, signed_at__isnull=False).select_related(
            "visit"
        )
        for note in notes.order_by("signed_at", "pk"):
            chunk.notes[note.visit.patient_id].append(note)
            chunk.user_ids.add(note.author_id)
    return chunk


def fhir_users(ids: Iterable[int]) -> list:
    return list(get_user_model().objects.filter(pk__in=set(ids)).order_by("pk"))
