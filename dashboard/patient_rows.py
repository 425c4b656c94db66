"""The patient list's rows and column headers, written in Python: a page shows up to 100 patients, and the
template engine's two dozen lookups, filters and tags a row (a date filter, a phone filter, a choice's label)
cost more than the database's read of the page. The markup is the rows' only copy; every text in it is
escaped (``accounts.markup.escaped``, as the template engine's ``escape``), the values common to every row once.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe

from accounts.links import url_around_id
from accounts.markup import ENTITIES, escaped
from journeys.models import Stage
from journeys.selectors.patients import PatientRow
from patients.models import Patient
from patients.validation import format_phone

ROW = (
    "<tr>"
    '<td><a href="{head}{pk}{tail}" class="fw-semibold">{name}</a>{pronouns}{archived}{legal}</td>'
    '<td class="small text-nowrap">{stage}</td>'
    '<td class="small">{contact}</td>'
    "<td>{lead}</td>"
    '<td class="small text-nowrap">{added}</td>'
    '<td class="small">{consent}</td>'
    '<td class="small">{zone}</td>'
    '<td class="small">{source}</td>'
    "</tr>"
)
NO_JOURNEY = '<span class="text-body-secondary">No journey yet</span>'
NO_LEAD = '<span class="badge text-bg-warning">No lead yet</span>'
ARCHIVED = ' <span class="badge text-bg-secondary ms-1">Archived</span>'
UNSUBSCRIBED = '<span class="badge text-bg-secondary">Unsubscribed</span>'
EMAIL, SMS = '<span class="badge badge-soft">Email</span>', '<span class="badge badge-soft">SMS</span>'
STAGE_BADGES = {
    stage: f'<span class="badge badge-soft stage-{escape(stage)}">{escape(label)}</span>'
    for stage, label in Stage.choices
}
SOURCES = {source: escape(label) for source, label in Patient.Source.choices}
HEADER = (
    '<th scope="col" id="sort-{key}"{aria}><a class="sort-link" href="{url}">{label}{arrow}'
    ' <span class="visually-hidden">(sort {next})</span></a></th>'
)
ARROWS = {
    "ascending": ' <span aria-hidden="true">▲</span>',
    "descending": ' <span aria-hidden="true">▼</span>',
    "": "",
}


# The consent cell by (email consented to the address on file, SMS likewise), the badges joined by a space.
CONSENTS = {(False, False): "", (True, False): EMAIL, (False, True): SMS, (True, True): f"{EMAIL} {SMS}"}


def _consent(patient: Patient) -> str:
    if patient.unsubscribed_at:
        return UNSUBSCRIBED
    return CONSENTS[
        (
            bool(patient.email_consent_granted and patient.email_consent_address == patient.email),  # type: ignore[attr-defined]
            bool(patient.sms_consent_granted and patient.sms_consent_address == patient.phone),  # type: ignore[attr-defined]
        )
    ]


def patient_rows_html(rows: Iterable[PatientRow]) -> SafeString:
    """The ``<tr>`` of each patient: name (and pronouns, archived, legal name), stage, contact, lead, date
    added (on the clinic's clock, "4 Mar 2026"), consent, time zone and source."""
    head, tail = (escaped(part) for part in url_around_id("dashboard:patient"))
    zone = timezone.get_current_timezone()
    months = [""] + [str(MONTHS_3[month]).title() for month in range(1, 13)]  # the date filter's "M"
    parts = []
    text = ENTITIES  # each text below is a column that is never null (a str), or None-checked first
    for row in rows:
        patient = row.patient
        added = patient.created_at.astimezone(zone)
        email, phone, pronouns, lead = patient.email, patient.phone, patient.pronouns, patient.lead_name
        contact = f"<div>{email.translate(text)}</div>" if email else ""
        if phone:
            contact += f"<div>{format_phone(phone).translate(text)}</div>"
        parts.append(
            ROW.format(
                head=head,
                pk=int(patient.id),
                tail=tail,
                name=patient.display_name.translate(text),
                pronouns=(
                    f' <span class="text-body-secondary small">({pronouns.translate(text)})</span>'
                    if pronouns
                    else ""
                ),
                archived=ARCHIVED if patient.archived else "",
                legal=(
                    f'<div class="small text-body-secondary">{patient.legal_name.translate(text)}</div>'
                    if patient.preferred_name
                    else ""
                ),
                stage=STAGE_BADGES[row.stage] if row.stage else NO_JOURNEY,
                contact=contact,
                lead=escaped(lead) if lead else NO_LEAD,
                added=f"{added.day} {months[added.month]} {added.year:04d}",
                consent=_consent(patient),
                zone=patient.time_zone.translate(text),
                source=SOURCES[patient.source] if patient.source in SOURCES else escaped(patient.source),
            )
        )
    return mark_safe("\n".join(parts))  # noqa: S308 — every value above is escaped, an integer or a constant


def header_cells_html(headers: Iterable[dict]) -> SafeString:
    """The sortable column headings (``dashboard.patient_list._headers``), with Contact after Stage."""
    cells = []
    for header in headers:
        aria = header["aria_sort"]
        cells.append(
            HEADER.format(
                key=escaped(header["key"]),
                aria=f' aria-sort="{escaped(aria)}"' if aria else "",
                url=escaped(header["url"]),
                label=escaped(header["label"]),
                arrow=ARROWS[aria],
                next=escaped(header["next"]),
            )
        )
        if header["key"] == "stage":
            cells.append('<th scope="col">Contact</th>')
    return mark_safe("".join(cells))  # noqa: S308 — every value above is escaped or a constant
