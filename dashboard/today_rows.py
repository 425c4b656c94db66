"""Today's lists, written in Python: the day's visits (up to fifty rows, each two links, a time and three names)
cost the template engine more than every query of the page (its lookups, ``time`` filter and two
``get_*_display`` calls a row), and the page's six shorter lists a loop each besides. Each list's markup is the
loop's that ``dashboard/today.html`` ran before, as a browser reads it; every text is escaped
(``accounts.markup.escaped``, as the engine's autoescape does). The rows are ``dashboard.selectors``' plain
values, with the patient's names.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import dateformat, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from accounts.dates import day_month, hour_minute
from accounts.links import url_around_id
from accounts.markup import escaped
from compliance.models import Alert
from journeys.models import Visit

from .selectors import AlertRow, AnsweredRow, InquiryRow, NoteRow, PatientRow, VisitRow

VISIT_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><strong>{at}</strong> <a href="{visit_url}">{kind}</a> with <a href="{patient_url}">{patient}</a></span>'
    ' <span class="small text-body-secondary text-nowrap">{practitioner}{status}</span>'
    "</li>"
)
NEXT_VISIT_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><strong>{at}</strong> <a href="{visit_url}">{kind}</a> with <a href="{patient_url}">{patient}</a></span>'
    "{practitioner}"
    "</li>"
)
NEXT_PRACTITIONER = ' <span class="small text-body-secondary text-nowrap">{}</span>'
NOTE_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><a href="{note_url}">{title}</a> · <a href="{patient_url}">{patient}</a></span>'
    ' <span class="small text-body-secondary text-nowrap">visit {day}</span>'
    "</li>"
)
ALERT_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><a href="{alert_url}">{patient}</a>{escalated}{reasons}</span>'
    ' <span class="small text-body-secondary text-nowrap">{ago} ago</span>'
    "</li>"
)
ESCALATED = ' <span class="badge text-bg-danger">Call the patient</span>'
REASON = ' <span class="small text-body-secondary">· {label}: {detail}</span>'
WITHOUT_LEAD_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between">'
    '<a href="{patient_url}">{patient}</a>'
    ' <span class="small text-body-secondary">since {day}</span>'
    "</li>"
)
ANSWERED_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<a href="{patient_url}">{patient}</a>'
    ' <span class="small text-body-secondary text-nowrap">{ago} ago</span>'
    "</li>"
)
INQUIRY_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><a href="{patient_url}">{patient}</a>{booked}</span>'
    ' <span class="small text-body-secondary text-nowrap">waiting {waiting}</span>'
    "</li>"
)
CALL_BOOKED = ' <span class="badge badge-soft">Call booked</span>'

_KINDS = {value: str(label) for value, label in Visit.Kind.choices}
_STATUSES = {value: str(label) for value, label in Visit.Status.choices}
_REASONS = {value: str(label) for value, label in Alert.Reason.choices}


def _link(name: str):
    """A function of an id giving the escaped URL of ``name`` (reversed once)."""
    head, tail = (escaped(part) for part in url_around_id(name))
    return lambda pk: f"{head}{int(pk)}{tail}"


def visit_rows(visits: Iterable[VisitRow], *, mine: bool) -> SafeString:
    """The ``<li>`` of each of the day's visits (with its practitioner on the practice's day, not on one's own)."""
    esc = escaped
    visit_url, patient_url = _link("journeys:visit_detail"), _link("dashboard:patient")
    parts = [
        VISIT_ROW.format(
            at=esc(hour_minute(visit.starts_at)),
            visit_url=visit_url(visit.pk),
            kind=esc(_KINDS.get(visit.kind, visit.kind)),
            patient_url=patient_url(visit.patient_id),
            patient=esc(visit.patient_name),
            practitioner="" if mine else f"{esc(visit.practitioner)} · ",
            status=esc(_STATUSES.get(visit.status, visit.status)),
        )
        for visit in visits
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def next_visit_rows(visits: Iterable[VisitRow], *, mine: bool) -> SafeString:
    """The next booked visits, for a day with none: when (``D j M, H:i``), what, with whom (and whose)."""
    esc = escaped
    visit_url, patient_url = _link("journeys:visit_detail"), _link("dashboard:patient")
    parts = [
        NEXT_VISIT_ROW.format(
            at=esc(dateformat.format(timezone.localtime(visit.starts_at), "D j M, H:i")),
            visit_url=visit_url(visit.pk),
            kind=esc(_KINDS.get(visit.kind, visit.kind)),
            patient_url=patient_url(visit.patient_id),
            patient=esc(visit.patient_name),
            practitioner="" if mine else NEXT_PRACTITIONER.format(esc(visit.practitioner)),
        )
        for visit in visits
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def note_rows(notes: Iterable[NoteRow]) -> SafeString:
    """The notes still to sign: the note, its patient and its visit's day."""
    esc = escaped
    note_url, patient_url = _link("journeys:note_detail"), _link("dashboard:patient")
    parts = [
        NOTE_ROW.format(
            note_url=note_url(note.pk),
            title=esc(note.title),
            patient_url=patient_url(note.patient_id),
            patient=esc(note.patient_name),
            day=esc(day_month(note.visit_starts_at)),
        )
        for note in notes
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def _reasons(alert: AlertRow) -> str:
    """``Alert.all_reasons`` of the row, each as its ``<span>``: the kept reasons, or the first alone for an
    alert from before they were kept."""
    rows = alert.reasons or [{"reason": alert.reason, "detail": alert.detail}]
    return "".join(
        REASON.format(
            label=escaped(_REASONS.get(row["reason"], row["reason"])), detail=escaped(row["detail"])
        )
        for row in rows
    )


def alert_rows(alerts: Iterable[AlertRow]) -> SafeString:
    """The open alerts: the patient, "Call the patient" when escalated, every reason, and how long open."""
    esc = escaped
    alert_url = _link("compliance:alert")
    parts = [
        ALERT_ROW.format(
            alert_url=alert_url(alert.pk),
            patient=esc(alert.patient_name),
            escalated=ESCALATED if alert.escalated_at else "",
            reasons=_reasons(alert),
            ago=esc(timesince(alert.opened_at)),
        )
        for alert in alerts
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def without_lead_rows(patients: Iterable[PatientRow]) -> SafeString:
    """The patients waiting for a lead practitioner, and since when."""
    esc = escaped
    patient_url = _link("dashboard:patient")
    parts = [
        WITHOUT_LEAD_ROW.format(
            patient_url=patient_url(patient.pk),
            patient=esc(patient.patient_name),
            day=esc(day_month(patient.created_at)),
        )
        for patient in patients
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def answered_rows(answered: Iterable[AnsweredRow]) -> SafeString:
    """The check-ins my patients answered since yesterday: who, and how long ago."""
    esc = escaped
    patient_url = _link("dashboard:patient")
    parts = [
        ANSWERED_ROW.format(
            patient_url=patient_url(checkin.patient_id),
            patient=esc(checkin.patient_name),
            ago=esc(timesince(checkin.answered_at)),
        )
        for checkin in answered
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def inquiry_rows(inquiries: Iterable[InquiryRow]) -> SafeString:
    """The inquiries waiting for a first call, the longest first: who, whether the call is booked, how long."""
    esc = escaped
    patient_url = _link("dashboard:patient")
    parts = [
        INQUIRY_ROW.format(
            patient_url=patient_url(journey.patient_id),
            patient=esc(journey.patient_name),
            booked=CALL_BOOKED if journey.call_booked else "",
            waiting=esc(timesince(journey.stage_entered_at)),
        )
        for journey in inquiries
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant


def today_rows(today) -> dict[str, SafeString]:
    """Each of the page's lists as markup, for ``dashboard/today.html``: only those the page shows."""
    rows = {
        "visits": visit_rows(today.visits, mine=today.mine),
        "next_visits": next_visit_rows(today.next_visits, mine=today.mine) if not today.visits else "",
        "alerts": alert_rows(today.alerts),
    }
    if today.practises:
        rows["notes_to_sign"] = note_rows(today.notes_to_sign)
    if today.mine:
        rows["answered"] = answered_rows(today.answered)
    else:
        rows["without_lead"] = without_lead_rows(today.without_lead)
        rows["inquiries"] = inquiry_rows(today.inquiries)
    return {name: mark_safe(html) for name, html in rows.items()}  # noqa: S308 — each written escaped above
