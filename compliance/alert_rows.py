"""The alerts list's rows, written in Python: a page of open alerts spent more in the template engine's lookups,
``timesince`` filters and one include a row than the database spends reading the page. The markup is the
rows' only copy, except the outreach's status badge, which stays ``nudges/_status_badge.html``'s own: it is
rendered by that template once for each status the page shows. Every text is escaped
(``conditional_escape``, as the template engine's autoescape does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from accounts.dates import day_month_year
from accounts.links import url_for_id

from .models import Alert

OPEN_ROW = (
    '<tr id="alert-{pk}">'
    '<td><a href="{url}">{name}</a>{archived}</td>'
    "<td>{reasons}{escalated}</td>"
    '<td class="text-break">{details}</td>'
    "<td>{lead}</td>"
    '<td class="text-nowrap">{open_for}</td>'
    "<td>{outreach}</td>"
    "</tr>"
)
ARCHIVED = ' <span class="badge text-bg-secondary">Archived</span>'
ESCALATED = ' <span class="badge text-bg-danger">Call the patient</span>'
NO_OUTREACH = '<span class="text-body-secondary">—</span>'
RESOLVED_ROW = (
    '<li class="list-group-item px-0 d-flex flex-wrap justify-content-between gap-2">'
    '<span><a href="{url}">{name}</a> <span class="small text-body-secondary">· {reason}</span></span>'
    ' <span class="small text-body-secondary">answered {day}{by}</span>'
    "</li>"
)


def open_alert_rows(alerts: Iterable[Alert], *, now: datetime | None = None) -> SafeString:
    """The open alerts' ``<tr>``: patient, reasons, what was seen, lead, how long open, the outreach's status."""
    esc = conditional_escape
    badges: dict[str, str] = {}  # status → the badge nudges/_status_badge.html writes for it
    parts = []
    for alert in alerts:
        reasons = alert.all_reasons
        nudge = alert.outreach_nudge
        if nudge is None:
            outreach = NO_OUTREACH
        else:
            if nudge.status not in badges:
                badges[nudge.status] = render_to_string("nudges/_status_badge.html", {"nudge": nudge}).strip()
            outreach = badges[nudge.status]
        lead = alert.lead_name  # type: ignore[attr-defined]
        parts.append(
            OPEN_ROW.format(
                pk=int(alert.pk),
                url=esc(url_for_id("compliance:alert", alert.pk)),
                name=esc(alert.patient.display_name),
                archived=ARCHIVED if alert.patient.archived else "",
                reasons="<br>".join(esc(row["label"]) for row in reasons),
                escalated=ESCALATED if alert.escalated_at else "",
                details="<br>".join(esc(row.get("detail", "")) for row in reasons),
                lead=esc(lead or "—"),
                open_for=esc(timesince(alert.opened_at, now) if alert.opened_at else ""),
                outreach=outreach,
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or a template's own


def resolved_alert_rows(alerts: Iterable[Alert]) -> SafeString:
    """The recently answered alerts' ``<li>``: patient, reason, the day answered and by whom."""
    esc = conditional_escape
    parts = []
    for alert in alerts:
        parts.append(
            RESOLVED_ROW.format(
                url=esc(url_for_id("compliance:alert", alert.pk)),
                name=esc(alert.patient.display_name),
                reason=esc(alert.get_reason_display()),
                day=esc(day_month_year(alert.resolved_at)) if alert.resolved_at else "",
                by=f" by {esc(alert.resolved_by)}" if alert.resolved_by else "",
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped
