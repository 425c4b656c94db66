"""The Journey and Timeline panels on the patient's page; each context runs a fixed number of queries,
whatever the patient's history holds.
"""

from collections.abc import Iterable

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month_year, day_month_year_time, iso
from accounts.links import url_for
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


_STAGE = (
    '\n  \n    <div class="d-flex flex-wrap justify-content-between align-items-start gap-2 mb-2"\n'
    '         id="journey-stage">\n      <div>\n        <span class="fs-5 fw-semibold">{label}</span>\n'
    "        {badge}\n        {ended}\n      </div>\n"
    '      <a class="btn btn-sm btn-outline-primary"\n         href="{pipeline}#journey-{pk}">Open the pipeline</a>\n'
    "    </div>\n    {note}\n"
    '    <div class="progress progress-thin mb-2"\n         role="progressbar"\n'
    '         aria-label="Progress along the path"\n         aria-valuenow="{percent}"\n'
    '         aria-valuemin="0"\n         aria-valuemax="100">\n'
    '      <div class="progress-bar pct-{percent} {bar}"></div>\n    </div>\n'
    '    <ol class="list-unstyled d-flex flex-wrap gap-1 small mb-3" id="journey-steps">\n      {steps}\n'
    '    </ol>\n    <dl class="row small mb-0">\n      <dt class="col-sm-4">Program</dt>\n'
    '      <dd class="col-sm-8">\n        {program}\n      </dd>\n'
    '      <dt class="col-sm-4">In this stage</dt>\n      <dd class="col-sm-8" id="journey-days">\n'
    "        {days} day{days_s}, since {entered}\n      </dd>\n"
    '      <dt class="col-sm-4">Started</dt>\n      <dd class="col-sm-8">\n        {started}\n      </dd>\n'
    "    </dl>\n  \n\n\n"
)
_STEP = (
    '\n        <li {current}\n            data-stage="{stage}"\n            data-state="{state}"\n'
    '            title="{tagline}">\n          {badge}\n        </li>\n      '
)
_STEP_BADGES = {
    "current": '\n            <span class="badge text-bg-success">{}. {}</span>\n          ',
    "left": '\n            <span class="badge text-bg-secondary">{}. {} (left here)</span>\n          ',
    "done": '\n            <span class="badge badge-soft">{}. {}</span>\n          ',
}
_STEP_TODO = (
    '\n            <span class="badge text-bg-light border text-body-secondary">{}. {}</span>\n          '
)


def journey_panel_html(panel: dict) -> SafeString | None:
    """What ``journeys/_journey_panel.html`` writes for ``panel`` (``journey_panel_context``'s dict) when the
    journey is open, written in Python; ``None`` when a new one may start (its form, the programs, the CSRF
    token: the template writes those)."""
    summary = panel["summary"]
    if panel["can_start"] or summary is None:
        return None
    journey = summary.journey
    label = escaped(summary.stage_label)
    if summary.off_path:
        badge = (
            '\n          <span class="badge text-bg-warning align-middle" id="journey-exit">'
            f"{label}{f' · {escaped(summary.exit_reason)}' if summary.exit_reason else ''}</span>\n        "
        )
    elif summary.tagline:
        badge = f'\n          <span class="text-body-secondary">— {escaped(summary.tagline)}</span>\n        '
    else:
        badge = ""
    steps = "".join(
        _STEP.format(
            current='aria-current="step"' if step.state == "current" else "",
            stage=escaped(step.stage),
            state=escaped(step.state),
            tagline=escaped(step.tagline),
            badge=_STEP_BADGES.get(step.state, _STEP_TODO).format(n, escaped(step.label)),
        )
        for n, step in enumerate(summary.steps, 1)
    )
    days = journey.days_in_stage
    html = _STAGE.format(
        label=label,
        badge=badge,
        ended=""
        if journey.is_open
        else f'<span class="badge text-bg-secondary align-middle">Ended {day_month_year(journey.ended_at)}</span>',
        pipeline=escaped(url_for("dashboard:pipeline")),
        pk=int(journey.pk),
        note=f'\n      <p class="small text-break mb-2" id="journey-exit-note">{escaped(summary.exit_note)}</p>\n    '
        if summary.off_path and summary.exit_note
        else "",
        percent=escaped(summary.percent),
        bar="bg-secondary" if summary.off_path else "bg-success",
        steps=steps,
        program=escaped(str(journey.program)) if journey.program else "Not chosen yet",
        days=escaped(days),
        days_s="" if days == 1 else "s",
        entered=day_month_year(journey.stage_entered_at),
        started=day_month_year(journey.started_at),
    )
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a number or a constant


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
