"""The patient page's header at a glance, written in Python: ``dashboard/_patient_summary.html`` with the
``_stage_move.html`` and ``journeys/_visit_when.html`` it includes, byte for byte (whitespace included;
``tests/dashboard/test_summary_markup.py`` holds it to those templates). Their lookups, filters, URL tags and
includes cost every patient page more than the header's seven queries. Every text is escaped
(``accounts.markup.escaped``); the move form's fields are ``move_form_html``'s (crispy's, rendered once).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC

from django.middleware.csrf import get_token
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from accounts.dates import day_month_year, hour_minute, weekday_day_month_time, weekday_day_month_year_time
from accounts.links import url_for_id
from accounts.markup import escaped
from compliance.adherence_markup import whole
from patients.models import Patient

_OPEN = (
    '\n<section class="card mb-3 patient-summary"\n         id="patient-summary"\n         aria-label="{name}'
    ' at a glance">\n  <div class="card-body">\n    <dl class="summary-grid mb-0">\n'
    '      <div class="summary-item summary-stage" id="summary-stage">\n        <dt>Stage</dt>\n        <dd>\n'
    "          {stage}\n        </dd>\n      </div>\n"
)
_NO_JOURNEY = (
    '\n            <span class="text-body-secondary">No journey yet</span> ·\n            <a href="{url}'
    '?tab=journey#panel-journey">start one</a>\n          '
)
_JOURNEY = (
    '\n            \n              <div class="d-flex flex-wrap align-items-baseline gap-2">\n'
    '                <span class="fs-5 fw-semibold" id="summary-stage-name">{label}</span>\n                {badge}\n'
    "                {ended}\n              </div>\n"
    '              <div class="progress progress-thin my-1"\n                   role="progressbar"\n'
    '                   aria-label="Progress along the path"\n                   aria-valuenow="{percent}"\n'
    '                   aria-valuemin="0"\n                   aria-valuemax="100"\n'
    '                   aria-valuetext="Step {step} of {steps}">\n'
    '                <div class="progress-bar pct-{percent} {bar}"></div>\n              </div>\n'
    '              <div class="small text-body-secondary">\n                Step {step} of {steps} ·\n'
    "                \n                  {days} day{days_s} in this stage\n                \n"
    "                {program}\n              </div>\n              {move}\n            \n          "
)
_OFF_PATH = '\n                  <span class="badge text-bg-warning">{label}{reason}</span>\n                '
_TAGLINE = '\n                  <span class="small text-body-secondary">{}</span>\n                '
_MOVE = (
    '\n                \n<details class="stage-move mt-2" id="stage-move">\n'
    '  <summary class="btn btn-outline-primary btn-sm">Move stage…</summary>\n  <form method="post"\n'
    '        action="{action}"\n        class="mt-2 small"\n        aria-label="Move {name}">\n'
    '    <input type="hidden" name="csrfmiddlewaretoken" value="{token}">\n'
    '    <input type="hidden" name="next" value="{next}">\n    {fields}\n    {exit}\n'
    '    <button type="submit" class="btn btn-primary btn-sm">Move</button>\n  </form>\n</details>\n'
    "\n              "
)
_EXIT_NOTE = '\n      <p class="form-text mt-0">Paused, declined and withdrawn need a reason and a few words.</p>\n    '
_LEAD = (
    '      <div class="summary-item" id="summary-lead">\n        <dt>Lead</dt>\n        <dd>\n          {}\n'
    "        </dd>\n      </div>\n"
)
_NO_LEAD = (
    '\n            <a class="badge text-bg-warning"\n               href="{}?tab=contact#panel-team">No lead yet</a>'
    "\n          "
)
_ADHERENCE = (
    '      <div class="summary-item" id="summary-adherence">\n        <dt>Adherence</dt>\n        <dd>\n'
    "          {}\n        </dd>\n      </div>\n"
)
_NO_ADHERENCE = (
    '\n            <span class="text-body-secondary">No plan items reported in the last {} days</span>\n'
    "          "
)
_SCORE = (
    '\n            <span class="fs-5 fw-semibold{warn}">{score}%</span>\n'
    '            <span class="small text-body-secondary">last {days} days</span>\n'
    '            <div class="small">{trend}</div>\n          '
)
_VISIT = (
    '      <div class="summary-item" id="summary-next-visit">\n        <dt>Next visit</dt>\n        <dd>\n'
    "          \n            {}\n          \n        </dd>\n      </div>\n"
)
_BOOKED = (
    '\n              <a href="{url}">{kind}</a>\n'
    '              <span class="small text-body-secondary">with {practitioner}</span>\n'
    '              <div class="small">\n                \n<time datetime="{iso}">{starts}–{ends}</time>\n'
    "{theirs}\n\n              </div>\n            "
)
_THEIR_TIME = '\n  <span class="text-body-secondary">clinic time · {} their time</span>\n'
_NONE_BOOKED = (
    '\n              <span class="text-body-secondary">None booked</span> ·\n'
    '              <a href="{}">book one</a>\n            '
)
_ALERT = (
    '      <div class="summary-item" id="summary-alert">\n        <dt>Alert</dt>\n        <dd>\n'
    "          \n            {}\n          \n        </dd>\n      </div>\n"
)
_OPEN_ALERT = (
    '\n              <a class="badge text-bg-warning text-wrap"\n                 href="{url}">{reasons}</a>\n'
    "              {escalated}\n"
    '              <div class="small text-body-secondary">\n                open for {open_for}\n'
    "                {more}\n              </div>\n            "
)
_ESCALATED = '<span class="badge text-bg-danger">Call the patient</span>'
_NO_ALERT = '\n              <span class="text-body-secondary">None open</span>\n            '
_REACH = (
    '      <div class="summary-item" id="summary-reach">\n        <dt>Can we reach them?</dt>\n'
    '        <dd class="d-flex flex-wrap gap-1">\n          {}\n        </dd>\n      </div>\n'
    "    </dl>\n  </div>\n</section>\n"
)
_REACHED = (
    '\n            \n              <span class="badge text-bg-success" id="summary-reach-{channel}">{label}: yes'
    "</span>\n            \n          "
)
_UNREACHED = (
    '\n            \n              <span class="badge text-bg-secondary"\n'
    '                    id="summary-reach-{channel}"\n                    title="{reason}">{label}: no</span>\n'
    '              <span class="visually-hidden">({reason})</span>\n            \n          '
)


def _their_time(visit, time_zone: str, clinic_time_zone: str) -> str:
    """``_visit_when.html``'s "their time", when the patient's zone is not the clinic's (nothing for a zone
    the ``timezone`` filter would not know, as it writes nothing then)."""
    if not time_zone or time_zone == clinic_time_zone:
        return ""
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except zoneinfo.ZoneInfoNotFoundError:
        return _THEIR_TIME.format("")
    return _THEIR_TIME.format(escaped(weekday_day_month_time(visit.starts_at.astimezone(zone))))


def _stage(request, patient: Patient, summary, csrf_token: str) -> str:
    js = summary.journey
    if js is None:
        return _NO_JOURNEY.format(url=escaped(url_for_id("dashboard:patient", patient.pk)))
    journey = js.journey
    label = escaped(js.stage_label)
    if js.off_path:
        badge = _OFF_PATH.format(
            label=label, reason=f" · {escaped(js.exit_reason)}" if js.exit_reason else ""
        )
    elif js.tagline:
        badge = _TAGLINE.format(escaped(js.tagline))
    else:
        badge = ""
    move = ""
    if summary.moves:
        move = _MOVE.format(
            action=escaped(url_for_id("journeys:move", journey.pk)),
            name=escaped(patient.display_name),
            token=escaped(csrf_token),
            next=escaped(request.get_full_path()),
            fields=summary.move_form_html,
            exit=_EXIT_NOTE if summary.offers_exit else "",
        )
    days = journey.days_in_stage
    step, steps = summary.step, summary.steps
    return _JOURNEY.format(
        label=label,
        badge=badge,
        ended=""
        if journey.is_open
        else f'<span class="badge text-bg-secondary">Ended {escaped(day_month_year(journey.ended_at))}</span>',
        percent=escaped(js.percent),
        step=step,
        steps=steps,
        bar="bg-secondary" if js.off_path else "bg-success",
        days=escaped(days),
        days_s="" if days == 1 else "s",
        program=f"· {escaped(journey.program.name)}" if journey.program else "",
        move=move,
    )


def _visit(patient: Patient, summary) -> str:
    visit = summary.next_visit
    if not visit:
        return _NONE_BOOKED.format(escaped(url_for_id("journeys:visit_create", patient.pk)))
    return _BOOKED.format(
        url=escaped(url_for_id("journeys:visit_detail", visit.pk)),
        kind=escaped(visit.get_kind_display()),
        practitioner=escaped(str(visit.practitioner)),
        iso=escaped(visit.starts_at.astimezone(UTC).isoformat()),
        starts=escaped(weekday_day_month_year_time(visit.starts_at)),
        ends=escaped(hour_minute(visit.ends_at)),
        theirs=_their_time(visit, patient.time_zone, summary.clinic_time_zone),
    )


def _alert(summary) -> str:
    alert = summary.open_alert
    if not alert:
        return _NO_ALERT
    return _OPEN_ALERT.format(
        url=escaped(url_for_id("compliance:alert", alert.pk)),
        reasons=", ".join(escaped(row["label"]) for row in alert.all_reasons),
        escalated=_ESCALATED if alert.escalated_at else "",
        open_for=escaped(timesince(alert.opened_at)) if alert.opened_at else "",
        more=f"· {summary.open_alerts - 1} more" if summary.open_alerts > 1 else "",
    )


def summary_html(request, patient: Patient, summary, *, csrf_token: str | None = None) -> SafeString:
    """What ``dashboard/_patient_summary.html`` wrote for ``summary`` (``patient_page.PatientSummary``);
    ``csrf_token``: the page's (its forms share one), else this request's own."""
    if csrf_token is None:
        csrf_token = get_token(request)
    lead = patient.lead_name
    if summary.adherence_score is None:
        adherence = _NO_ADHERENCE.format(escaped(summary.adherence_window_days))
    else:
        adherence = _SCORE.format(
            warn=" text-warning-emphasis" if summary.below_threshold else "",
            score=whole(summary.adherence_score),
            days=escaped(summary.adherence_window_days),
            trend=escaped(summary.adherence_trend),
        )
    reach = "".join(
        (_REACHED if channel.allowed else _UNREACHED).format(
            channel=escaped(channel.channel), label=escaped(channel.label), reason=escaped(channel.reason)
        )
        for channel in summary.reach
    )
    parts = (
        _OPEN.format(name=escaped(patient.display_name), stage=_stage(request, patient, summary, csrf_token)),
        _LEAD.format(
            f"\n            {escaped(lead)}\n          "
            if lead
            else _NO_LEAD.format(escaped(url_for_id("dashboard:patient", patient.pk)))
        ),
        _ADHERENCE.format(adherence),
        _VISIT.format(_visit(patient, summary)),
        _ALERT.format(_alert(summary)),
        _REACH.format(reach),
    )
    # Every text above is escaped, a number, a constant or the move form's crispy markup.
    return mark_safe("".join(parts))  # noqa: S308
