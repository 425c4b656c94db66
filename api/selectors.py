"""Reads of the API floor: the API's lists and records, and the FHIR export's chunks.

Every read here is of a lower floor's tables, with its joins and prefetches done once per page or chunk.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.queries import Compiled, built_per_thread
from compliance.models import Alert, CheckInAnswer, ComplianceLog
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, StageChange, Visit, VisitNote
from journeys.selectors.schedule import clinic_zone
from nudges.models import Nudge
from patients.models import CareTeamMember, ConsentEvent, Patient

from .models import ApiKey, WebhookDelivery

# --- The API --------------------------------------------------------------------------------------------

_ID_MARKER = 918_273_645  # an id none of these reads spells otherwise
_AFTER_MARKER = 2**62 + 7_654_321  # an id past any a clinic reaches: where a compiled read's cursor goes


def api_patients(*, query: str = "", include_archived: bool = False) -> QuerySet[Patient]:
    """Patients in id order (the cursor's order: stable while rows are added), searched as the list is."""
    qs = Patient.objects.all() if include_archived else Patient.objects.active()
    if query.strip():
        qs = qs.matching(query)
    return qs.order_by("pk")


_patient_reads = threading.local()


def api_patients_after(*, include_archived: bool, after: int | None, limit: int) -> list[Patient]:
    """Up to ``limit`` of ``api_patients(include_archived=…)``'s patients (no search) after the id ``after``
    (from the first when None): its SQL compiled once per thread for each page size (the endpoint caps it at
    ``MAX_PAGE``), with or without the archived, for the first page or a later one."""
    reads = _patient_reads.__dict__.setdefault("reads", {})
    shape = (include_archived, after is None, limit)
    if shape not in reads:
        rows = api_patients(include_archived=include_archived)
        if after is None:
            reads[shape] = Compiled(rows[:limit])
        else:
            reads[shape] = Compiled(rows.filter(pk__gt=_AFTER_MARKER)[:limit], _AFTER_MARKER)
    return reads[shape].rows() if after is None else reads[shape].rows(after)


def api_patient(*, pk: int) -> Patient:
    """One patient with lead and consent annotated, for the patient's own endpoint (404 otherwise)."""
    return get_object_or_404(Patient.objects.with_lead().with_consent(), pk=pk)


def api_patient_record(*, pk: int) -> Patient:
    """One patient's row alone (404 otherwise): what booking needs, without the detail's eight subqueries."""
    return get_object_or_404(Patient, pk=pk)


@built_per_thread
def _patient_exists_compiled() -> Compiled:
    return Compiled(
        Patient.objects.filter(pk=_ID_MARKER).order_by().values_list("pk", flat=True)[:1], _ID_MARKER
    )


def api_patient_id(*, pk: int) -> int:
    """``pk`` when such a patient exists (404 otherwise): for the endpoints that list what belongs to a patient
    and need nothing of the patient's own row. Its read compiled once per thread."""
    if not _patient_exists_compiled().rows(pk):
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


def _visits_between(start: datetime, end: datetime) -> QuerySet[Visit]:
    return (
        Visit.objects.filter(starts_at__gte=start, starts_at__lt=end)
        .select_related("patient", "practitioner")
        .order_by("starts_at", "pk")
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = clinic_zone()
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=zone
    )


def api_visits_on(day: date) -> QuerySet[Visit]:
    """Visits starting on ``day`` in the clinic's time zone, in (start, id) order."""
    return _visits_between(*_day_bounds(day))


_visit_reads = threading.local()
_DAY_START = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)  # moments no other parameter spells
_DAY_END = datetime(2001, 2, 4, 4, 5, 6, 789_012, tzinfo=UTC)
_AFTER_MOMENT = datetime(2001, 2, 3, 16, 7, 8, 901_234, tzinfo=UTC)


def api_visits_page(day: date, *, after: tuple[datetime, int] | None, limit: int) -> list[Visit]:
    """Up to ``limit`` of ``api_visits_on(day)``'s visits, after the (start, id) ``after`` (from the first when
    None): its SQL compiled once per thread for each page size (the endpoint caps it at ``MAX_PAGE``) and for
    the first page or a later one, the day's bounds and the cursor put in."""
    reads = _visit_reads.__dict__.setdefault("reads", {})
    shape = (after is None, limit)
    if shape not in reads:
        rows = _visits_between(_DAY_START, _DAY_END)
        if after is None:
            reads[shape] = Compiled(rows[:limit], _DAY_START, _DAY_END)
        else:
            later = Q(starts_at__gt=_AFTER_MOMENT) | Q(starts_at=_AFTER_MOMENT, pk__gt=_AFTER_MARKER)
            reads[shape] = Compiled(
                rows.filter(later)[:limit], _DAY_START, _DAY_END, _AFTER_MOMENT, _AFTER_MARKER
            )
    start, end = _day_bounds(day)
    return reads[shape].rows(start, end) if after is None else reads[shape].rows(start, end, *after)


def api_nudge(*, pk: int) -> Nudge:
    return get_object_or_404(Nudge, pk=pk)


def api_checkins(*, patient_id: int) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(journey__patient_id=patient_id).select_related("answer").order_by("pk")


_checkin_reads = threading.local()


def api_checkins_after(*, patient_id: int, after: int | None, limit: int) -> list[CheckIn]:
    """Up to ``limit`` of a patient's check-ins with their answers, in id order, after the id ``after`` (from
    the first when None): ``api_checkins()``'s rows, its SQL compiled once per thread for each page size
    (the endpoint caps it at ``MAX_PAGE``) and for the first page or a later one."""
    reads = _checkin_reads.__dict__.setdefault("reads", {})
    shape = (after is None, limit)
    if shape not in reads:
        rows = api_checkins(patient_id=_ID_MARKER)
        if after is None:
            reads[shape] = Compiled(rows[:limit], _ID_MARKER)
        else:
            reads[shape] = Compiled(rows.filter(pk__gt=_AFTER_MARKER)[:limit], _ID_MARKER, _AFTER_MARKER)
    compiled = reads[shape]
    return compiled.rows(patient_id) if after is None else compiled.rows(patient_id, after)


def api_checkin(*, pk: int) -> CheckIn:
    return get_object_or_404(CheckIn.objects.select_related("answer", "journey"), pk=pk)


def api_practitioner(*, pk: int) -> User:
    return get_object_or_404(get_user_model(), pk=pk, is_active=True)


_PREFIX_MARKER = "prefix-marker-918273645"  # no key's prefix (those are 8 hex digits), no other parameter


@built_per_thread
def _usable_key_compiled() -> Compiled[ApiKey]:
    """The usable key with a prefix and its creator: ``.filter(prefix=…).first()``'s SQL (the newest, in the
    model's order; the prefix is unique), compiled once per
    thread (every API call reads it before anything else, and the ORM took longer to write it than
    PostgreSQL to run it)."""
    return Compiled(
        ApiKey.objects.usable().select_related("created_by").filter(prefix=_PREFIX_MARKER)[:1],
        _PREFIX_MARKER,
    )


def api_key_usable(prefix: str) -> ApiKey | None:
    """The key with this prefix, when it has not been revoked (None otherwise), with its creator."""
    found = _usable_key_compiled().rows(prefix)
    return found[0] if found else None


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
