"""The REST API under /api/v1/ (django-ninja): scoped keys, cursor pages, every call on the audit trail.

A key is sent as ``Authorization: Bearer ak_…``. Unknown or revoked: 401. Without the scope an endpoint
needs: 403 (audited as refused). Past its rate: 429. Clinical text needs ``clinical:read`` as well.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, NinjaAPI, Path, Query, Schema, Status
from ninja.errors import HttpError
from ninja.security import HttpBearer

from accounts.audit import client_address, record_access
from accounts.models import AccessEvent
from accounts.refusals import validation_message
from journeys.forms.inquiry import InquiryForm
from journeys.models import Visit
from journeys.selectors.schedule import clinic_zone
from journeys.services.inquiries import inquiry_receive
from journeys.services.visits import visit_schedule

from . import selectors
from .models import ApiKey, Scope
from .services import api_key_authenticate, api_key_rate_limited

MAX_PAGE = 100
MAX_ID = 2**63 - 1  # a bigger id is no row's: refused as bad input, never sent to the database


class KeyAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = api_key_authenticate(token)
        if key is None:
            return None
        if api_key_rate_limited(key):
            raise HttpError(429, "Too many calls with this key this minute: wait and try again.")
        request.api_key = key  # type: ignore[attr-defined]
        return key


api = NinjaAPI(
    title="Alliance CRM API",
    version="1",
    description=__doc__,
    auth=KeyAuth(),
    urls_namespace="api",
    openapi_url="/schema/",
    docs_url="/docs/",
)


@api.exception_handler(DjangoValidationError)
def _refused(request: HttpRequest, error: DjangoValidationError):
    return api.create_response(request, {"detail": validation_message(error)}, status=400)


@api.exception_handler(OverflowError)
def _overflow(request: HttpRequest, error: OverflowError):
    return api.create_response(request, {"detail": "A value is out of range."}, status=400)


def _key(request: HttpRequest) -> ApiKey:
    return request.api_key  # type: ignore[attr-defined]


def _label(key: ApiKey) -> str:
    return f"API key “{key.name}” ({key.prefix})"


def need(request: HttpRequest, scope: str) -> ApiKey:
    """The request's key, when it has ``scope``; else the refusal is audited and answered 403."""
    key = _key(request)
    if not key.allows(scope):
        record_access(
            action=AccessEvent.Action.DENIED, actor_label=_label(key), detail=f"API call needs scope {scope}"
        )
        raise HttpError(403, f"This key may not do this: it needs the “{scope}” scope.")
    return key


def audit(key: ApiKey, action: str, *, what: str, patient_id: int | None = None, patient_ids=(), obj=None):
    record_access(
        action=action,
        actor_label=_label(key),
        patient_id=patient_id,
        patient_ids=patient_ids,
        obj=obj,
        object_repr=what,
    )


def _no_nul(*values: str | None) -> None:
    if any(v and "\x00" in v for v in values):
        raise HttpError(400, "Text may not contain NUL characters.")


# --- Cursor pages -----------------------------------------------------------------------------------


class Page(Schema):
    next: str | None = None


def _encode(position: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise HttpError(400, "That cursor is not one this API gave out.") from None
    if not isinstance(position, list) or len(position) != size:
        raise HttpError(400, "That cursor is not one this API gave out.")
    return position


def _after_id(cursor: str | None) -> int | None:
    """The id a page in id order starts after (None for the first page)."""
    if not cursor:
        return None
    (after,) = _decode(cursor, 1)
    if not isinstance(after, int) or isinstance(after, bool):
        raise HttpError(400, "That cursor is not one this API gave out.")
    return after


def _page_of(rows: list, limit: int) -> tuple[list, str | None]:
    """``rows`` read one past the page (``limit + 1``): the page, and the cursor of the next when there is one."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _encode([rows[-1].pk]) if more else None


def page_by_id(qs: QuerySet, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Keyset page in id order: rows added while a client pages never shift what it has not seen."""
    after = _after_id(cursor)
    if after is not None:
        qs = qs.filter(pk__gt=after)
    return _page_of(list(qs[: limit + 1]), limit)


# --- Schemas ----------------------------------------------------------------------------------------


class PatientOut(Schema):
    id: int
    first_name: str
    last_name: str
    preferred_name: str
    display_name: str
    email: str
    phone: str
    date_of_birth: date | None
    time_zone: str
    preferred_channel: str
    archived: bool


class PatientDetailOut(PatientOut):
    lead_practitioner_id: int | None
    email_consent: bool
    sms_consent: bool
    stage: str | None
    unsubscribed: bool


class PatientPage(Page):
    items: list[PatientOut]


class StageChangeOut(Schema):
    from_stage: str
    to_stage: str
    at: datetime
    reason: str
    note: str | None = None


class JourneyOut(Schema):
    id: int
    program: str | None
    stage: str
    stage_entered_at: datetime
    started_at: datetime
    ended_at: datetime | None
    history: list[StageChangeOut]


class CheckInOut(Schema):
    id: int
    journey_id: int
    due_on: date
    status: str
    answered_at: datetime | None
    ratings: dict[str, int | None] | None = None
    barriers: list[str] | None = None
    where_it_failed: str | None = None


class CheckInPage(Page):
    items: list[CheckInOut]


class VisitOut(Schema):
    id: int
    patient_id: int
    patient_name: str
    practitioner_id: int
    practitioner_name: str
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    location: str


class VisitPage(Page):
    items: list[VisitOut]


class VisitIn(Schema):
    patient_id: int = Field(..., ge=1, le=MAX_ID)
    practitioner_id: int = Field(..., ge=1, le=MAX_ID)
    kind: str
    starts_at: datetime
    duration_minutes: int | None = Field(None, ge=5, le=600)
    location: str = ""


class InquiryIn(Schema):
    first_name: str
    last_name: str
    email: str = ""
    phone: str = ""
    message: str = ""
    how_heard: str = ""
    consent_email: bool = False
    consent_sms: bool = False


class InquiryOut(Schema):
    id: int
    patient_id: int
    journey_id: int | None
    matched_existing: bool


class NudgeOut(Schema):
    id: int
    patient_id: int
    kind: str
    channel: str
    status: str
    send_at: datetime
    sent_at: datetime | None
    attempts: int
    status_reason: str


class Error(Schema):
    detail: Any


def _patient(p) -> dict:
    return {name: getattr(p, name) for name in PatientOut.model_fields if name != "display_name"} | {
        "display_name": p.display_name
    }


def _checkin(c, *, clinical: bool) -> dict:
    row: dict = {
        "id": c.pk,
        "journey_id": c.journey_id,
        "due_on": c.due_on,
        "status": c.status,
        "answered_at": c.answered_at,
    }
    answer = getattr(c, "answer", None) if c.status == c.Status.ANSWERED else None
    if answer is not None:
        row["ratings"] = {r: getattr(answer, r) for r in ("energy", "sleep", "mood", "digestion")}
        row["barriers"] = answer.barriers
        if clinical:
            row["where_it_failed"] = answer.where_it_failed
    return row


def _visit(v) -> dict:
    return {
        "id": v.pk,
        "patient_id": v.patient_id,
        "patient_name": v.patient.display_name,
        "practitioner_id": v.practitioner_id,
        "practitioner_name": str(v.practitioner),
        "kind": v.kind,
        "status": v.status,
        "starts_at": v.starts_at,
        "ends_at": v.ends_at,
        "duration_minutes": v.duration_minutes,
        "location": v.location,
    }


REFUSALS = {400: Error, 401: Error, 403: Error, 404: Error, 429: Error}

# --- Patients, journeys, check-ins --------------------------------------------------------------------


@api.get("/patients/", response={200: PatientPage, **REFUSALS}, tags=["patients"], url_name="patients")
def patients(
    request: HttpRequest,
    q: str = "",
    include_archived: bool = False,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """Patients in id order, searched by name, email or phone (``q``), a cursor page at a time."""
    key = need(request, Scope.PATIENTS_READ)
    _no_nul(q, cursor)
    if q.strip():
        rows, next_cursor = page_by_id(
            selectors.api_patients(query=q, include_archived=include_archived), cursor, limit
        )
    else:
        rows, next_cursor = _page_of(
            selectors.api_patients_after(
                include_archived=include_archived, after=_after_id(cursor), limit=limit + 1
            ),
            limit,
        )
    audit(key, AccessEvent.Action.LIST, what="API: patients", patient_ids=[p.pk for p in rows])
    return {"items": [_patient(p) for p in rows], "next": next_cursor}


@api.get(
    "/patients/{patient_id}/",
    response={200: PatientDetailOut, **REFUSALS},
    tags=["patients"],
    url_name="patient",
)
def patient(request: HttpRequest, patient_id: int = Path(..., ge=1, le=MAX_ID)):
    """One patient: details, consent, lead practitioner and current stage."""
    key = need(request, Scope.PATIENTS_READ)
    p = selectors.api_patient(pk=patient_id)
    journey = selectors.api_open_journey(p)
    audit(key, AccessEvent.Action.VIEW, what="API: patient", patient_id=p.pk, obj=p)
    return {
        **_patient(p),
        "lead_practitioner_id": p.lead_user_id,
        "email_consent": bool(p.email_consent_granted),
        "sms_consent": bool(p.sms_consent_granted),
        "stage": journey.stage if journey else None,
        "unsubscribed": p.unsubscribed_at is not None,
    }


@api.get(
    "/patients/{patient_id}/journeys/",
    response={200: list[JourneyOut], **REFUSALS},
    tags=["journeys"],
    url_name="journeys",
)
def journeys(request: HttpRequest, patient_id: int = Path(..., ge=1, le=MAX_ID)):
    """A patient's journeys, oldest first, each with its stage and every move it made."""
    key = need(request, Scope.PATIENTS_READ)
    patient_id = selectors.api_patient_id(pk=patient_id)
    clinical = key.allows(Scope.CLINICAL_READ)
    rows = selectors.api_journeys(patient_id=patient_id)
    audit(key, AccessEvent.Action.VIEW, what="API: journeys", patient_id=patient_id)
    return [
        {
            "id": j.pk,
            "program": j.program.name if j.program_id else None,
            "stage": j.stage,
            "stage_entered_at": j.stage_entered_at,
            "started_at": j.started_at,
            "ended_at": j.ended_at,
            "history": [
                {
                    "from_stage": c.from_stage,
                    "to_stage": c.to_stage,
                    "at": c.at,
                    "reason": c.reason,
                    "note": c.note if clinical else None,
                }
                for c in j.stage_changes.all()
            ],
        }
        for j in rows
    ]


@api.get(
    "/patients/{patient_id}/checkins/",
    response={200: CheckInPage, **REFUSALS},
    tags=["check-ins"],
    url_name="checkins",
)
def checkins(
    request: HttpRequest,
    patient_id: int = Path(..., ge=1, le=MAX_ID),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """A patient's check-ins and their status; the patient's own words only with ``clinical:read``."""
    key = need(request, Scope.PATIENTS_READ)
    _no_nul(cursor)
    patient_id = selectors.api_patient_id(pk=patient_id)
    after = _after_id(cursor)
    rows, next_cursor = _page_of(
        selectors.api_checkins_after(patient_id=patient_id, after=after, limit=limit + 1), limit
    )
    audit(key, AccessEvent.Action.LIST, what="API: check-ins", patient_id=patient_id)
    clinical = key.allows(Scope.CLINICAL_READ)
    return {"items": [_checkin(c, clinical=clinical) for c in rows], "next": next_cursor}


@api.get(
    "/checkins/{checkin_id}/", response={200: CheckInOut, **REFUSALS}, tags=["check-ins"], url_name="checkin"
)
def checkin(request: HttpRequest, checkin_id: int = Path(..., ge=1, le=MAX_ID)):
    """One check-in's status."""
    key = need(request, Scope.PATIENTS_READ)
    c = selectors.api_checkin(pk=checkin_id)
    audit(key, AccessEvent.Action.VIEW, what="API: check-in", patient_id=c.journey.patient_id)
    return _checkin(c, clinical=key.allows(Scope.CLINICAL_READ))


# --- The schedule -------------------------------------------------------------------------------------


@api.get("/visits/", response={200: VisitPage, **REFUSALS}, tags=["visits"], url_name="visits")
def visits(
    request: HttpRequest, day: date, cursor: str | None = None, limit: int = Query(50, ge=1, le=MAX_PAGE)
):
    """The visits starting on ``day`` (clinic time), by start time."""
    key = need(request, Scope.SCHEDULE_READ)
    _no_nul(cursor)
    if not date.min < day < date.max:
        raise HttpError(400, "Choose a day between the years 1 and 9999.")
    position = None
    if cursor:
        starts, after = _decode(cursor, 2)
        try:
            moment = datetime.fromisoformat(starts)
        except (TypeError, ValueError):
            raise HttpError(400, "That cursor is not one this API gave out.") from None
        if not isinstance(after, int) or isinstance(after, bool) or moment.tzinfo is None:
            raise HttpError(400, "That cursor is not one this API gave out.")
        position = (moment, after)
    rows = selectors.api_visits_page(day, after=position, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    audit(
        key, AccessEvent.Action.LIST, what=f"API: visits on {day}", patient_ids=[v.patient_id for v in rows]
    )
    next_cursor = _encode([rows[-1].starts_at.isoformat(), rows[-1].pk]) if more else None
    return {"items": [_visit(v) for v in rows], "next": next_cursor}


@api.post("/visits/", response={201: VisitOut, **REFUSALS}, tags=["visits"], url_name="visit_create")
def visit_create(request: HttpRequest, payload: VisitIn):
    """Book a visit, as the schedule does: the practitioner must be free; reminders follow. Recorded as
    booked by the admin who created the key."""
    key = need(request, Scope.SCHEDULE_WRITE)
    _no_nul(payload.kind, payload.location)
    p = selectors.api_patient_record(pk=payload.patient_id)
    practitioner = selectors.api_practitioner(pk=payload.practitioner_id)
    starts_at = payload.starts_at
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at, clinic_zone())
    visit = visit_schedule(
        patient=p,
        practitioner=practitioner,
        kind=payload.kind,
        starts_at=starts_at,
        duration_minutes=payload.duration_minutes,
        location=payload.location,
        actor=key.created_by,
    )
    audit(key, AccessEvent.Action.CREATE, what="API: visit booked", patient_id=p.pk, obj=visit)
    visit = Visit.objects.select_related("patient", "practitioner").get(pk=visit.pk)
    return Status(201, _visit(visit))


# --- Inquiries ----------------------------------------------------------------------------------------


@api.post(
    "/inquiries/",
    response={201: InquiryOut, 400: Error, 401: Error, 403: Error, 429: Error},
    tags=["inquiries"],
    url_name="inquiry_create",
)
def inquiry_create(request: HttpRequest, payload: InquiryIn):
    """The website form's twin: the same validation, the same patient matching and welcome message."""
    key = need(request, Scope.INQUIRIES_WRITE)
    data = payload.model_dump()
    data = {
        **{k: v for k, v in data.items() if not k.startswith("consent_")},
        "consent_email": "true" if payload.consent_email else "",
        "consent_sms": "true" if payload.consent_sms else "",
    }
    form = InquiryForm(data)
    if not form.is_valid():
        raise HttpError(400, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    inquiry = inquiry_receive(
        data=form.inquiry_data(),
        ip_address=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        limit_by_address=False,
    )
    audit(key, AccessEvent.Action.CREATE, what="API: inquiry", patient_id=inquiry.patient_id, obj=inquiry)
    return Status(
        201,
        {
            "id": inquiry.pk,
            "patient_id": inquiry.patient_id,
            "journey_id": inquiry.journey_id,
            "matched_existing": inquiry.matched_existing,
        },
    )


# --- The outbox ---------------------------------------------------------------------------------------


@api.get("/outbox/{nudge_id}/", response={200: NudgeOut, **REFUSALS}, tags=["outbox"], url_name="nudge")
def nudge(request: HttpRequest, nudge_id: int = Path(..., ge=1, le=MAX_ID)):
    """Where one message stands: scheduled, sent, held back…; never its words."""
    key = need(request, Scope.OUTBOX_READ)
    n = selectors.api_nudge(pk=nudge_id)
    audit(key, AccessEvent.Action.VIEW, what="API: message status", patient_id=n.patient_id)
    return {name: getattr(n, name) for name in NudgeOut.model_fields}
