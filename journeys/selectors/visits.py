"""Reads of visits and visit notes for pages. Opening a visit or a note's text is audited here, and so is
a refusal: staff may know a note exists (title, author, signed or not) but never read what it says."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.queries import Compiled, built_per_thread
from nudges.models import Nudge
from patients.models import Patient

from ..models import Journey, Visit, VisitNote

UPCOMING_LIMIT = 10
RECENT_LIMIT = 5
NOTE_LIST_FIELDS = ("id", "visit_id", "author", "title", "addendum_to_id", "created_at", "signed_at")


def visit_get_for(*, user: User, pk: int, action: str = AccessEvent.Action.VIEW) -> Visit:
    """One visit (404 if absent) with patient and practitioner. A view or an export is written to the
    audit trail here; any other ``action`` is left to the service that makes the change."""
    visit = get_object_or_404(
        Visit.objects.select_related("patient", "practitioner", "journey", "created_by"), pk=pk
    )
    if action in (AccessEvent.Action.VIEW, AccessEvent.Action.EXPORT):
        detail = "calendar file" if action == AccessEvent.Action.EXPORT else ""
        record_access(action=action, actor=user, patient_id=visit.patient_id, obj=visit, detail=detail)
    return visit


def patient_open_journey(patient: Patient) -> Journey | None:
    return Journey.objects.open().filter(patient=patient).first()


def visit_reminders(visit: Visit) -> list[Nudge]:
    """The reminders this visit caused, whatever became of them, soonest first."""
    return list(
        Nudge.objects.filter(patient_id=visit.patient_id, dedupe_key__startswith=f"visit:{visit.pk}:")
        .only("id", "kind", "channel", "send_at", "status", "status_reason", "sent_at")
        .order_by("send_at", "id")
    )


def visit_notes(visit: Visit) -> list[VisitNote]:
    """The visit's notes, addenda under the note they correct (``note.addenda_list``), never their text."""
    notes = list(
        VisitNote.objects.filter(visit=visit)
        .select_related("author")
        .only(*NOTE_LIST_FIELDS, "author__display_name", "author__username")
        .order_by("created_at", "id")
    )
    by_id: dict[int | None, VisitNote] = {note.pk: note for note in notes}
    roots: list[VisitNote] = []
    for note in notes:
        note.addenda_list = []
    for note in notes:
        parent = by_id.get(note.addendum_to_id)
        (parent.addenda_list if parent else roots).append(note)
    return roots


def note_get_for(*, user: User, pk: int, action: str = AccessEvent.Action.VIEW) -> VisitNote:
    """One note with its text, for practitioners and admins only (404 if absent).

    Anyone else is refused with PermissionDenied, and the refusal is written to the audit trail;
    a clinician's read (``action="view"``) is written there too.
    """
    if not user.can_read_clinical:
        note = get_object_or_404(
            VisitNote.objects.select_related("visit").only("id", "title", "visit__patient_id"), pk=pk
        )
        record_access(
            action=AccessEvent.Action.DENIED,
            actor=user,
            patient_id=note.visit.patient_id,
            obj=note,
            detail="note text refused to staff",
        )
        raise PermissionDenied("Visit notes are for practitioners and admins only.")
    note = get_object_or_404(
        VisitNote.objects.select_related("visit__patient", "visit__practitioner", "author", "addendum_to"),
        pk=pk,
    )
    if action == AccessEvent.Action.VIEW:
        record_access(action=action, actor=user, patient_id=note.visit.patient_id, obj=note)
    return note


def note_addenda(note: VisitNote) -> list[VisitNote]:
    """The addenda of a note, with their text: call only after ``note_get_for`` let the reader in."""
    return list(note.addenda.select_related("author").order_by("created_at", "id"))


_ID_MARKER = 918_273_645
_AT_MARKER = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)


def _patient_visits_queries(patient_id: int, now: datetime) -> tuple[QuerySet[Visit], QuerySet[Visit]]:
    base = (
        Visit.objects.filter(patient_id=patient_id)
        .select_related("practitioner")
        .annotate(
            note_count=Count("notes"), unsigned_count=Count("notes", filter=Q(notes__signed_at__isnull=True))
        )
    )
    upcoming = base.filter(status=Visit.Status.SCHEDULED, ends_at__gte=now).order_by("starts_at", "id")
    recent = base.exclude(status=Visit.Status.SCHEDULED, ends_at__gte=now).order_by("-starts_at", "-id")
    return upcoming[:UPCOMING_LIMIT], recent[:RECENT_LIMIT]


@built_per_thread
def _patient_visits_compiled() -> tuple[Compiled[Visit], Compiled[Visit]]:
    """``patient_visits``' two reads compiled once per thread (their annotations cost the ORM more to build
    and compile than the database takes to run them): every Visits tab runs them."""
    upcoming, recent = _patient_visits_queries(_ID_MARKER, _AT_MARKER)
    return Compiled(upcoming, _ID_MARKER, _AT_MARKER), Compiled(recent, _ID_MARKER, _AT_MARKER)


def patient_visits(patient: Patient) -> dict[str, list[Visit]]:
    """Upcoming booked visits (soonest first) and the most recent others, two queries whatever the history."""
    now = timezone.now()
    upcoming, recent = _patient_visits_compiled()
    return {"upcoming": upcoming.rows(patient.pk, now), "recent": recent.rows(patient.pk, now)}


@built_per_thread
def _next_visit_compiled() -> Compiled[Visit]:
    """``patient_next_visit``'s read (``.first()``'s) compiled once per thread: every patient page's header
    runs it."""
    return Compiled(
        Visit.objects.filter(patient_id=_ID_MARKER, status=Visit.Status.SCHEDULED, ends_at__gte=_AT_MARKER)
        .select_related("practitioner")
        .order_by("starts_at", "id")[:1],
        _ID_MARKER,
        _AT_MARKER,
    )


def patient_next_visit(patient: Patient) -> Visit | None:
    """The patient's next booked visit that has not ended, with its practitioner: one query."""
    found = _next_visit_compiled().rows(patient.pk, timezone.now())
    return found[0] if found else None


def visit_sequence(visit: Visit) -> int:
    """How many times the booking changed since it was made (the iCalendar SEQUENCE), from the audit trail."""
    return AccessEvent.objects.filter(
        object_type=ContentType.objects.get_for_model(Visit),
        object_id=str(visit.pk),
        action=AccessEvent.Action.UPDATE,
    ).count()


def visit_calendar(visit: Visit, *, sequence: int = 0) -> bytes:
    """The visit as an iCalendar file: when, with whom, where. Never a word of clinical detail."""
    host = urlsplit(settings.ALLIANCE_SITE_URL).hostname or "alliance.invalid"
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{settings.CLINIC_NAME}//Alliance CRM//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"visit-{visit.pk}@{host}")
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", visit.starts_at.astimezone(UTC))
    event.add("dtend", visit.ends_at.astimezone(UTC))
    event.add("summary", f"{visit.get_kind_display()} with {visit.practitioner}")
    if visit.location:
        event.add("location", visit.location)
    event.add("status", "CANCELLED" if visit.status == Visit.Status.CANCELLED else "CONFIRMED")
    event.add("sequence", sequence)
    calendar.add_component(event)
    return calendar.to_ical()
