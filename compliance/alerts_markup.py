"""The Alerts panel's markup on the patient page, written in Python from its context
(``panels.alerts_panel_context``): ``compliance/_alerts_panel.html``'s, byte for byte
(``tests/compliance/test_alerts_panel_markup.py`` holds it to the template). The first tab shows it on every
load. A course correction is still written by ``compliance/_alert_correction.html``, which the alert's own
page shares (the patient's words in its note only for a clinical role)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from accounts.links import url_around_id
from accounts.markup import escaped

_NO_ALERTS = '\n  <p class="text-body-secondary">No open alerts: the plan seems to fit.</p>\n'
_ALERT = (
    '\n      <li class="border-bottom py-2 d-flex flex-wrap justify-content-between gap-2">\n        <span>\n'
    '          <span class="badge text-bg-warning">Open</span>\n          {escalated}\n          {reasons}\n'
    '        </span>\n        <span class="small text-body-secondary text-nowrap">{open_for} ago</span>\n'
    "      </li>\n    "
)
_ESCALATED = '<span class="badge text-bg-danger">Call the patient</span>'
_REASON = (
    '\n            <a href="{url}">{label}</a>\n            <span class="small text-body-secondary">· {detail}'
    "</span>\n          "
)
_CORRECTIONS_HEADING = '\n<h3 class="h6 mt-3">Course corrections</h3>\n'
_NO_CORRECTIONS = '\n  <p class="small text-body-secondary mb-0">None yet.</p>\n'
_MOST_RECENT = '\n    <p class="small text-body-secondary mt-2 mb-0">The {} most recent.</p>\n  '


def _alerts(alerts) -> str:
    if not alerts:
        return _NO_ALERTS
    head, tail = (escaped(part) for part in url_around_id("compliance:alert"))
    rows = []
    for alert in alerts:
        url = f"{head}{int(alert.pk)}{tail}"
        rows.append(
            _ALERT.format(
                escalated=_ESCALATED if alert.escalated_at else "",
                reasons="".join(
                    _REASON.format(
                        url=url, label=escaped(row["label"]), detail=escaped(row.get("detail", ""))
                    )
                    for row in alert.all_reasons
                ),
                open_for=escaped(timesince(alert.opened_at)) if alert.opened_at else "",
            )
        )
    return f'\n  <ul class="list-unstyled mb-3" id="patient-alerts">\n    {"".join(rows)}\n  </ul>\n'


def alerts_panel_html(panel: dict) -> SafeString:
    """What ``compliance/_alerts_panel.html`` writes for ``panel`` (``alerts_panel_context``'s dict: its
    ``user`` decides whether a correction's note is shown)."""
    corrections = panel["corrections"]
    if corrections:
        written = "".join(
            "\n      "
            + render_to_string(
                "compliance/_alert_correction.html",
                {
                    "correction": correction,
                    "show_version_link": panel["can_correct"],
                    "show_alert": True,
                    "user": panel["user"],
                },
            )
            + "\n    "
            for correction in corrections
        )
        limit = panel["history_limit"]
        more = _MOST_RECENT.format(escaped(limit)) if len(corrections) >= limit else ""
        shown = f'\n  <ul class="list-unstyled mb-0" id="patient-corrections">\n    {written}\n  </ul>\n  {more}\n'
    else:
        shown = _NO_CORRECTIONS
    # Every text is escaped, a number, a constant, or the correction template's own output.
    return mark_safe(f"\n{_alerts(panel['open_alerts'])}{_CORRECTIONS_HEADING}{shown}\n")  # noqa: S308
