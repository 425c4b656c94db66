"""The Journey and Timeline panels on the patient's page; each context runs a fixed number of queries,
whatever the patient's history holds.
"""

from collections.abc import Iterable

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month_year_time, iso
from accounts.markup import escaped

from ..selectors.timeline import (
    MAX_PAGES,
    PAGE_SIZE,
    TimelineEntry,
    TimelinePage,
    patient_journey,
    patient_timeline,
    startable_programs,
)

# ``?timeline=N`` on the patient's page shows the N newest pages: the "show older" link without htmx.
TIMELINE_PAGES_PARAM = "timeline"


def journey_panel_context(request, patient) -> dict:
    """One query with an open journey; two without (the programs a new one may start on)."""
    summary = patient_journey(patient)
    can_start = summary is None or not summary.journey.is_open
    return {
        "summary": summary,
        "can_start": can_start,
        "programs": list(startable_programs()) if can_start else [],
    }


def _pages_asked(request) -> int:
    try:
        pages = int(request.GET.get(TIMELINE_PAGES_PARAM, 1))
    except (TypeError, ValueError):
        pages = 1
    return min(max(pages, 1), MAX_PAGES)


def timeline_panel_context(request, patient) -> dict:
    """Six queries, however long the history (see ``patient_timeline``)."""
    limit = PAGE_SIZE * _pages_asked(request)
    return timeline_context(patient_timeline(patient=patient, user=request.user, limit=limit))


def timeline_context(page: TimelinePage) -> dict:
    """What ``journeys/_timeline.html`` needs for one page of entries: the page and its rows' markup."""
    return {"page": page, "rows": timeline_rows(page.entries)}


# One line of the timeline. Written in Python, not with a template loop: a page of 25 to 500 entries spent
# more time in the engine's lookups and date filters than its six queries take. Every text is escaped
# (``accounts.markup.escaped``, as the engine's autoescape does); ``kind``, ``tone`` and the badge are ours too,
# but escaped all the same.
ROW = (
    '<li class="border-bottom py-2" id="{anchor}" data-kind="{kind}">'
    '<div class="d-flex flex-wrap align-items-center gap-2">'
    '<span class="badge text-bg-{tone}{border}">{badge}</span> {title}{by}{at}'
    "</div>{detail}</li>"
)
LINK = '<a class="fw-semibold" href="{url}">{title}</a>'
PLAIN = '<span class="fw-semibold">{title}</span>'
BY = ' <span class="text-body-secondary">{by}</span>'
AT = ' <time class="ms-auto small text-body-secondary" datetime="{iso}">{at}</time>'
DETAIL = '<div class="small text-break">{detail}</div>'


def timeline_rows(entries: Iterable[TimelineEntry]) -> SafeString:
    """The ``<li>`` of each entry, as the timeline's template used to write them."""
    esc = escaped
    parts = []
    for entry in entries:
        title = esc(entry.title)
        parts.append(
            ROW.format(
                anchor=esc(entry.anchor),
                kind=esc(entry.kind),
                tone=esc(entry.tone),
                border=" border" if entry.tone == "light" else "",
                badge=esc(entry.badge),
                title=LINK.format(url=esc(entry.url), title=title)
                if entry.url
                else PLAIN.format(title=title),
                by=BY.format(by=esc(entry.by)) if entry.by else "",
                at=""
                if entry.date_only
                else AT.format(iso=esc(iso(entry.at)), at=esc(day_month_year_time(entry.at))),
                detail=DETAIL.format(detail=esc(entry.detail)) if entry.detail else "",
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped or our own constant
