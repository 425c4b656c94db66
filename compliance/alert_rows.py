"""The alerts list's rows, written in Python from tuples (``selectors.OPEN_ROW_COLUMNS``,
``selectors.RESOLVED_ROW_COLUMNS``): a page of open alerts spent more in the template engine's lookups,
``timesince`` filters and one include a row than the database spends reading the page, and then more in making
each row's alert, patient and outreach message into models than in writing it. The markup is the rows' only
copy, except the outreach's status badge, which is ``nudges.rows.badge``'s (``nudges/_status_badge.html``'s
markup), and "how long open", which is ``timesince``'s words (``accounts.dates.time_since``). Every text is
escaped (``accounts.markup.escaped``, as the template engine's autoescape does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month_year, time_since
from accounts.links import url_around_id
from accounts.markup import escaped
from nudges.rows import badge
from patients.models import display_name_of

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
NO_LEAD = escaped("—")
REASON_LABELS = dict(Alert.Reason.choices)
RESOLVED_ROW = (
    '<li class="list-group-item px-0 d-flex flex-wrap justify-content-between gap-2">'
    '<span><a href="{url}">{name}</a> <span class="small text-body-secondary">· {reason}</span></span>'
    ' <span class="small text-body-secondary">answered {day}{by}</span>'
    "</li>"
)


def _alert_link() -> tuple[str, str]:
    """The alert page's URL around its id, escaped once: ``head``, the id, ``tail``."""
    head, tail = url_around_id("compliance:alert")
    return escaped(head), escaped(tail)


def open_alert_rows(rows: Iterable[tuple], *, now: datetime | None = None) -> SafeString:
    """The open alerts' ``<tr>``: patient, reasons, what was seen, lead, how long open (at ``now``, by default
    this moment), the outreach's status."""
    now = timezone.now() if now is None else now
    language = translation.get_language()
    head, tail = _alert_link()
    labels = REASON_LABELS
    parts = []
    for (
        pk, _, reason, detail, reasons, opened_at, escalated_at, first_name, last_name, preferred_name, archived,
        outreach_status, lead,
    ) in rows:  # fmt: skip
        # ``Alert.all_reasons``: every reason seen, or (an alert from before they were kept) the first.
        if not reasons:
            reasons_html, details_html = escaped(labels.get(reason, reason)), escaped(detail)
        elif len(reasons) == 1:  # most alerts: written without a loop
            seen = reasons[0]
            reasons_html = escaped(labels.get(seen["reason"], seen["reason"]))
            details_html = escaped(seen.get("detail", ""))
        else:
            reasons_html = "<br>".join([escaped(labels.get(row["reason"], row["reason"])) for row in reasons])
            details_html = "<br>".join([escaped(row.get("detail", "")) for row in reasons])
        parts.append(
            OPEN_ROW.format(
                pk=pk,
                url=f"{head}{pk}{tail}",
                name=escaped(display_name_of(first_name, last_name, preferred_name)),
                archived=ARCHIVED if archived else "",
                reasons=reasons_html,
                escalated=ESCALATED if escalated_at else "",
                details=details_html,
                lead=escaped(lead) if lead else NO_LEAD,
                open_for=escaped(time_since(opened_at, now, language=language)) if opened_at else "",
                outreach=NO_OUTREACH if outreach_status is None else badge(outreach_status),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, an integer or our own markup


def resolved_alert_rows(rows: Iterable[tuple]) -> SafeString:
    """The recently answered alerts' ``<li>``: patient, reason, the day answered and by whom."""
    head, tail = _alert_link()
    parts = []
    for (
        pk,
        _,
        reason,
        resolved_at,
        first_name,
        last_name,
        preferred_name,
        by_id,
        by_name,
        by_username,
    ) in rows:
        parts.append(
            RESOLVED_ROW.format(
                url=f"{head}{int(pk)}{tail}",
                name=escaped(display_name_of(first_name, last_name, preferred_name)),
                reason=escaped(REASON_LABELS.get(reason, reason)),
                day=escaped(day_month_year(resolved_at)) if resolved_at else "",
                # ``str(user)``: the display name, else the username.
                by=f" by {escaped(by_name or by_username)}" if by_id is not None else "",
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped
