"""Today's list of the day's visits, written in Python: up to fifty rows, each two links, a time and three
names, cost the template engine more than every query of the page (its lookups, ``time`` filter and two
``get_*_display`` calls a row). The markup is the loop's that ``dashboard/today.html`` ran before; every text is
escaped (``accounts.markup.escaped``, as the engine's autoescape does).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import hour_minute
from accounts.links import url_around_id
from accounts.markup import escaped
from journeys.models import Visit

VISIT_ROW = (
    '<li class="list-group-item px-0 d-flex justify-content-between gap-2">'
    '<span><strong>{at}</strong> <a href="{visit_url}">{kind}</a> with <a href="{patient_url}">{patient}</a></span>'
    ' <span class="small text-body-secondary text-nowrap">{practitioner}{status}</span>'
    "</li>"
)

_KINDS = {value: str(label) for value, label in Visit.Kind.choices}
_STATUSES = {value: str(label) for value, label in Visit.Status.choices}


def visit_rows(visits: Iterable[Visit], *, mine: bool) -> SafeString:
    """The ``<li>`` of each of the day's visits (with its practitioner on the practice's day, not on one's own)."""
    esc = escaped
    visit_head, visit_tail = (esc(part) for part in url_around_id("journeys:visit_detail"))
    patient_head, patient_tail = (esc(part) for part in url_around_id("dashboard:patient"))
    parts = []
    for visit in visits:
        patient = visit.patient
        parts.append(
            VISIT_ROW.format(
                at=esc(hour_minute(visit.starts_at)),
                visit_url=f"{visit_head}{int(visit.pk)}{visit_tail}",
                kind=esc(_KINDS.get(visit.kind, visit.kind)),
                patient_url=f"{patient_head}{int(patient.pk)}{patient_tail}",
                patient=esc(patient.display_name),
                practitioner="" if mine else f"{esc(str(visit.practitioner))} · ",
                status=esc(_STATUSES.get(visit.status, visit.status)),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our constant
