"""The evidence on an alert's page, its latest answers and its outreach, written in Python, and the moments its
facts show, formatted: the template's loops (a nested loop over each answer's barriers, the ``date`` and
``linebreaksbr`` filters, a tag or two a message) and its ``date`` and ``timesince`` filters cost the page more
than its queries. The markup is what ``compliance/alert_detail.html``'s loops wrote, byte for byte, their
indentation and blank lines included (``tests/compliance/test_alert_evidence.py`` holds them to it); the status
badge and the reason are ``nudges.rows``' (``{% nudge_badge %}``, ``{% nudge_reason %}``). Every text is escaped
(``accounts.markup.escaped``, as the template engine's autoescape does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month, day_month_time, day_month_year_time, time_since
from accounts.markup import escaped
from nudges.models import Nudge
from nudges.rows import badge, reason

from .models import Alert
from .selectors import AnswerSummary

ANSWER = (
    '\n                <li class="border-top py-2">'
    '\n                  <span class="fw-semibold">{answered}</span>'
    '\n                  <span class="text-body-secondary">check-in due {due} · {via}</span>'
    "\n                  <div>"
    "\n                    {barriers}"
    "\n                  </div>"
    "\n                  {words}"
    "\n                </li>"
    "\n              "
)
BARRIER = '\n                      <span class="badge badge-soft">{}</span>\n                    '
NO_BARRIER = '\n                      <span class="text-body-secondary">No barriers chosen</span>\n                    '
WORDS = (
    '\n                    <blockquote class="border-start border-3 ps-2 my-1 text-break answer-words">'
    "\n                      {}"
    "\n                    </blockquote>"
    "\n                  "
)
OUTREACH = (
    '\n                <li class="border-top py-2">'
    "\n                  {badge}"
    "\n                  {kind} by {channel},"
    "\n                  {when}"
    '\n                  <div class="text-body-secondary">{reason}</div>'
    "\n                </li>"
    "\n              "
)
SENT = "\n                    sent {}\n                  "
DUE = "\n                    due {}\n                  "
_KINDS = {kind: escaped(label) for kind, label in Nudge._meta.get_field("kind").flatchoices}
_CHANNELS = {channel: escaped(label) for channel, label in Nudge._meta.get_field("channel").flatchoices}


def _lines(text: str) -> str:
    """``{{ text|linebreaksbr }}``: its line breaks (CR LF, CR or LF) made ``<br>``, the text escaped."""
    return escaped(text.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "<br>")


def answers_html(answers: Iterable[AnswerSummary], *, clinical: bool) -> SafeString:
    """``{% for answer in evidence_answers %}…{% endfor %}``: each answer's day, its check-in's, how it came,
    the barriers chosen and (for clinical roles) the patient's own words."""
    parts = []
    for answer in answers:
        barriers = "".join(BARRIER.format(escaped(barrier)) for barrier in answer.barriers) or NO_BARRIER
        parts.append(
            ANSWER.format(
                answered=day_month(answer.answered_at),
                due=day_month(answer.due_on),
                via=escaped(answer.via),
                barriers=barriers,
                words=WORDS.format(_lines(answer.words)) if clinical and answer.words else "",
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped or our own markup


def _label(labels: dict[str, str], value: str) -> str:
    found = labels.get(value)
    return found if found is not None else escaped(value)


def outreach_html(nudges: Iterable[Nudge]) -> SafeString:
    """``{% for nudge in evidence_outreach %}…{% endfor %}``: each message's status, kind and channel, when it
    went (or is due) and why it did not."""
    parts = []
    for nudge in nudges:
        parts.append(
            OUTREACH.format(
                badge=badge(nudge.status),
                kind=_label(_KINDS, nudge.kind),
                channel=_label(_CHANNELS, nudge.channel),
                when=SENT.format(day_month_time(nudge.sent_at))
                if nudge.sent_at
                else DUE.format(day_month_time(nudge.send_at)),
                reason=reason(nudge),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped or nudges.rows' markup


def alert_moments(alert: Alert, *, now: datetime) -> dict[str, str]:
    """The moments the alert's facts show, as the page's ``date`` and ``timesince`` filters wrote them: when it
    opened ("4 Dec 2026, 09:05 (2 weeks, 3 days ago)"), when its outreach went or is due, when it was answered."""
    nudge = alert.outreach_nudge
    return {
        "opened": f"{day_month_year_time(alert.opened_at)} ({time_since(alert.opened_at, now)} ago)",
        "outreach_at": day_month_time(nudge.sent_at or nudge.send_at) if nudge is not None else "",
        "answered_at": day_month_year_time(alert.resolved_at) if alert.resolved_at else "",
    }
