"""The outbox's rows and the review queue's items, written in Python: a page shows 50 of them, and the template
engine's includes, lookups and ``date`` filters a row cost several times the database's whole read of the page
(see dashboard/pipeline_cards.py, the same way). The markup here is the rows' only copy: it is what
templates/nudges/_when.html, _status_badge.html, _reason.html and _message_preview.html write, every text in
it escaped (``html.escape``, as Django's ``escape`` does, or ``accounts.markup.escaped``: the same entities);
values common to every row are escaped once, links reversed once (accounts.links), times formatted with the
clinic's and the patient's time zones as the ``date`` filter does (``j M Y, H:i``; ``j M, H:i``; ``c`` in UTC)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from django.template.defaultfilters import linebreaksbr
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from accounts.links import url_for_id
from accounts.markup import escaped
from patients.models import Channel, display_name_of

from .models import InboundMessage, Kind, Nudge

# The ``date`` filter's ``M`` in English (LANGUAGE_CODE en-us): the first three letters, titled.
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_BADGE_CLASS = {
    Nudge.Status.SENT: "text-bg-success",
    Nudge.Status.PENDING: "text-bg-info",
    Nudge.Status.SENDING: "text-bg-info",
    Nudge.Status.FAILED: "text-bg-danger",
    Nudge.Status.UNKNOWN: "text-bg-warning",
    Nudge.Status.SUPPRESSED: "text-bg-secondary",
}
# Each status's badge, whole: the labels are the clinic's constants, so every badge is written once.
BADGES = {
    status: f'<span class="badge {_BADGE_CLASS.get(status, "text-bg-light border")}">{escape(label)}</span>'
    for status, label in Nudge.Status.choices
}
_KINDS = {kind: escape(label) for kind, label in Kind.choices}
_KINDS_LOWER = {kind: escape(label.lower()) for kind, label in Kind.choices}
_CHANNELS = {channel: escape(label) for channel, label in Channel.choices}


def badge(status: str) -> str:
    """_status_badge.html: the status's label in its colour (an unknown status in the light one, as its own text)."""
    found = BADGES.get(status)
    return found if found is not None else f'<span class="badge text-bg-light border">{escape(status)}</span>'


_MARKER = 987_654_321


def _links(name: str) -> Callable[[int], str]:
    """``pk -> escaped URL`` for the route ``name`` (one integer id): reversed and escaped once a page, not a row."""
    head, _, tail = escape(url_for_id(name, _MARKER)).partition(str(_MARKER))
    return lambda pk: f"{head}{int(pk)}{tail}"


def _label(labels: dict[str, str], value: str) -> str:
    found = labels.get(value)
    return found if found is not None else escape(value)


class Clock:
    """_when.html for many rows: the clinic's time zone read once, each patient's zone looked up once."""

    def __init__(self, clinic_time_zone: str) -> None:
        self.clinic_time_zone = clinic_time_zone
        self.here = timezone.get_current_timezone()
        self.zones: dict[str, ZoneInfo | None] = {}

    def _zone(self, name: str) -> ZoneInfo | None:
        try:
            return self.zones[name]
        except KeyError:
            try:
                zone: ZoneInfo | None = ZoneInfo(name)
            except (ValueError, OSError):  # the ``timezone`` filter shows nothing for a zone it cannot read
                zone = None
            self.zones[name] = zone
            return zone

    def when(self, moment: datetime | None, time_zone: str) -> str:
        if moment is None:  # the ``date`` filter of nothing is the empty string; ``utc`` of nothing too
            head = '<time datetime=""></time>'
        else:
            local = moment.astimezone(self.here)
            head = (
                f'<time datetime="{moment.astimezone(UTC).isoformat()}">'
                f"{local.day} {MONTHS[local.month]} {local.year:04d}, {local.hour:02d}:{local.minute:02d}</time>"
            )
        if not time_zone or time_zone == self.clinic_time_zone:
            return head
        zone = self._zone(time_zone)
        if moment is None or zone is None:
            theirs = ""
        else:
            there = moment.astimezone(zone)
            theirs = f"{there.day} {MONTHS[there.month]}, {there.hour:02d}:{there.minute:02d}"
        return f'{head} <span class="text-body-secondary">clinic time · {theirs} their time</span>'


def truncated(text: str, chars: int) -> str:
    """The ``truncatechars`` filter: ``Truncator(text).chars(chars)``, which, for a text no longer than ``chars``,
    is the text in its NFC form, without its walk over every character."""
    if len(text) <= chars:
        return unicodedata.normalize("NFC", text)
    return Truncator(text).chars(chars)


def reason(nudge: Any) -> str:
    """_reason.html: why a message that did not go (yet) did not, and its transport's last error (of a nudge, or
    an outbox row)."""
    if nudge.status == Nudge.Status.SENT:
        return ""
    parts = []
    if nudge.status_reason:
        parts.append(f"<div>{escape(nudge.status_reason)}</div>")
    if nudge.last_error:
        parts.append(f'<div class="text-danger-emphasis">{escape(truncated(nudge.last_error, 300))}</div>')
    return " ".join(parts)


OUTBOX_ROW = (
    '<tr id="nudge-{pk}">'
    ' <td class="small outbox-when" data-label="When"> {when} </td>'
    ' <td class="outbox-patient" data-label="Patient">'
    ' <a href="{patient_url}" class="fw-semibold">{name}</a> </td>'
    ' <td class="small text-break outbox-message" data-label="Message">'
    " <div> {kind} by {channel} {author}</div>"
    ' <a class="outbox-line" href="{detail_url}"> {line} </a> </td>'
    ' <td class="outbox-status" data-label="Status"> {badge} {attempts}</td>'
    ' <td class="small text-body-secondary text-break outbox-why" data-label="Why"> {reason} </td>'
    " </tr> "
)


def outbox_rows(rows: Sequence[Any], lines: Sequence[str], *, clinic_time_zone: str) -> SafeString:
    """The outbox table's rows: ``selectors.outbox_rows`` (named tuples of its columns) with each one's line
    (``selectors.outbox_lines``)."""
    clock = Clock(clinic_time_zone)
    patient_url, detail_url = _links("dashboard:patient"), _links("nudges:detail")
    parts = []
    for row, line in zip(rows, lines, strict=True):
        if row.created_by_id is not None:  # ``str(user)``: the display name, else the username
            written_by = escaped(row.created_by__display_name or row.created_by__username)
            author = f'<span class="text-body-secondary">· written by {written_by}</span> '
        else:
            author = ""
        name = display_name_of(row.patient__first_name, row.patient__last_name, row.patient__preferred_name)
        parts.append(
            OUTBOX_ROW.format(
                pk=row.pk,
                when=clock.when(row.sent_at or row.send_at, row.patient__time_zone),
                patient_url=patient_url(row.patient_id),
                name=escaped(name),
                kind=_label(_KINDS, row.kind),
                channel=_label(_CHANNELS, row.channel),
                author=author,
                detail_url=detail_url(row.pk),
                line=escape(line) if line else f"Open the {_label(_KINDS_LOWER, row.kind)}",
                badge=badge(row.status),
                attempts=f'<div class="small text-body-secondary">{row.attempts} attempts</div> '
                if row.attempts > 1
                else "",
                reason=reason(row),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, a constant or an integer


def preview(nudge: Nudge, chars: int) -> str:
    """_message_preview.html: what a message says, cut to ``chars``; or whose wording it will be."""
    if nudge.body_text:
        subject, text = nudge.subject, nudge.body_text
    elif isinstance(nudge.context, dict) and nudge.context.get("message"):
        subject, text = nudge.context.get("subject"), nudge.context["message"]
    else:
        return (
            '<span class="text-body-secondary">The clinic\'s '
            f"{_label(_KINDS_LOWER, nudge.kind)} wording, written when it goes.</span>"
        )
    text = escape(truncated(str(text), chars))
    if subject:
        return f'<span class="fw-semibold">{escape(str(subject))}</span> — {text}'
    return text


REVIEW_ITEM = (
    '<section class="card" id="nudge-{pk}" aria-labelledby="nudge-{pk}-heading">'
    ' <div class="card-body">'
    ' <div class="d-flex flex-wrap justify-content-between align-items-start gap-2">'
    " <div>"
    ' <h2 class="h6 mb-1" id="nudge-{pk}-heading"> {badge}'
    ' <a href="{detail_url}">{kind}</a> by {channel} to <a href="{patient_url}">{name}</a> </h2>'
    ' <div class="small text-body-secondary"> Due {when} · {attempts} attempt{plural} </div>'
    " </div>"
    ' <div class="d-flex gap-2">'
    ' <form method="post" action="{retry_url}" class="m-0"> {csrf}'
    ' <button type="submit" class="btn btn-primary btn-sm">Send again</button> </form>'
    ' <form method="post" action="{reviewed_url}" class="m-0"> {csrf}'
    ' <button type="submit" class="btn btn-outline-secondary btn-sm">Leave as is</button> </form>'
    " </div>"
    " </div>"
    ' <div class="mt-2 small"> <strong>What went wrong:</strong> {unknown}'
    '<div class="text-body-secondary text-break"> {error} {status_reason}</div> </div>'
    " {message}"
    " </div>"
    " </section> "
)
UNKNOWN = "It may or may not have reached the patient. Check with them before sending it again. "


def _review_message(nudge: Nudge) -> str:
    if nudge.body_text:
        subject = f'<div class="fw-semibold mt-2">{escape(nudge.subject)}</div> ' if nudge.subject else ""
        return (
            '<details class="mt-2 small"> <summary>The message</summary> '
            f'{subject}<pre class="mt-2 mb-0 p-2 bg-body-tertiary rounded text-wrap">{escape(nudge.body_text)}</pre>'
            " </details>"
        )
    return f'<div class="mt-2 small text-body-secondary"> {preview(nudge, 300)} </div>'


def review_items(nudges: Iterable[Nudge], *, clinic_time_zone: str, csrf_token: str) -> SafeString:
    """The review queue's cards (``selectors.review_list``: each nudge with its patient), each with its two
    forms carrying ``csrf_token``."""
    clock = Clock(clinic_time_zone)
    patient_url, detail_url = _links("dashboard:patient"), _links("nudges:detail")
    retry_url, reviewed_url = _links("nudges:retry"), _links("nudges:mark_reviewed")
    csrf = f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
    parts = []
    for nudge in nudges:
        patient = nudge.patient
        pk = nudge.pk
        parts.append(
            REVIEW_ITEM.format(
                pk=pk,
                badge=badge(nudge.status),
                detail_url=detail_url(pk),
                kind=_label(_KINDS, nudge.kind),
                channel=_label(_CHANNELS, nudge.channel),
                patient_url=patient_url(patient.pk),
                name=escape(patient.display_name),
                when=clock.when(nudge.send_at, patient.time_zone),
                attempts=nudge.attempts,
                plural="" if nudge.attempts == 1 else "s",
                retry_url=retry_url(pk),
                reviewed_url=reviewed_url(pk),
                csrf=csrf,
                unknown=UNKNOWN if nudge.status == Nudge.Status.UNKNOWN else "",
                error=escape(nudge.last_error) if nudge.last_error else "No error was recorded.",
                status_reason=f"<div>{escape(nudge.status_reason)}</div> " if nudge.status_reason else "",
                message=_review_message(nudge),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, a constant or an integer


_ACTIONS = {action: escape(label) for action, label in InboundMessage.Action.choices}
UNREAD_REPLY = (
    '<div class="small text-body-secondary">What the patient wrote is for practitioners and the patient’s care'
    " team to read.</div>"
)
PATIENT_REPLY = (
    '<li class="border-bottom py-2" id="reply-{pk}">'
    ' <div class="d-flex flex-wrap align-items-center gap-2">'
    ' <span class="badge {badge_class}">{action}</span>'
    ' <span class="text-body-secondary">by {channel}{after}</span>'
    ' <span class="small"> {when} </span>'
    " </div>"
    " {body}"
    " {auto_reply}</li> "
)


def _lower_kind(kind: str) -> str:
    """``get_kind_display|lower``, escaped."""
    found = _KINDS_LOWER.get(kind)
    return found if found is not None else escape(kind.lower())


def patient_reply_items(
    replies: Iterable[InboundMessage], *, time_zone: str, clinic_time_zone: str, reads_replies: bool
) -> SafeString:
    """The Messages tab's replies (``selectors.patient_replies``: each with the nudge it answered), their words
    only for ``reads_replies`` (never read otherwise: they are not even loaded)."""
    clock = Clock(clinic_time_zone)
    parts = []
    for reply in replies:
        answered = reply.in_reply_to
        body = (
            f'<div class="small text-break reply-body">{linebreaksbr(reply.body, autoescape=True)}</div>'
            if reads_replies
            else UNREAD_REPLY
        )
        parts.append(
            PATIENT_REPLY.format(
                pk=reply.pk,
                badge_class="text-bg-info"
                if reply.action == InboundMessage.Action.KEPT
                else "text-bg-secondary",
                action=_label(_ACTIONS, reply.action),
                channel=_label(_CHANNELS, reply.channel),
                after=f", after the {_lower_kind(answered.kind)}" if answered else "",
                when=clock.when(reply.received_at, time_zone),
                body=body,
                auto_reply=f'<div class="small text-body-secondary">Answered automatically: {escape(reply.auto_reply)}</div> '
                if reply.auto_reply
                else "",
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, a constant or an integer


PATIENT_MESSAGE = (
    '<li class="border-bottom py-2" id="nudge-{pk}">'
    ' <div class="d-flex flex-wrap align-items-center gap-2">'
    " {badge}"
    ' <a class="fw-semibold" href="{detail_url}">{kind}</a>'
    ' <span class="text-body-secondary">by {channel}</span>'
    " {author}"
    "</div>"
    ' <div class="small"> {when} </div>'
    ' <div class="small text-break">{preview}</div>'
    ' <div class="small text-body-secondary">{reason}</div>'
    " </li> "
)


def patient_message_items(nudges: Iterable[Nudge], *, time_zone: str, clinic_time_zone: str) -> SafeString:
    """The Messages tab's recent nudges of one patient (``selectors.patient_messages``: each with its author),
    in the patient's ``time_zone``."""
    clock = Clock(clinic_time_zone)
    detail_url = _links("nudges:detail")
    parts = []
    for nudge in nudges:
        author = nudge.created_by
        if nudge.sent_at:
            when = f"Sent {clock.when(nudge.sent_at, time_zone)}"
        else:
            due = "Due" if nudge.status == Nudge.Status.PENDING else "Was due"
            when = f"{due} {clock.when(nudge.send_at, time_zone)}"
        parts.append(
            PATIENT_MESSAGE.format(
                pk=nudge.pk,
                badge=badge(nudge.status),
                detail_url=detail_url(nudge.pk),
                kind=_label(_KINDS, nudge.kind),
                channel=_label(_CHANNELS, nudge.channel),
                author=f'<span class="text-body-secondary small">· written by {escape(str(author))}</span> '
                if author
                else "",
                when=when,
                preview=preview(nudge, 160),
                reason=reason(nudge),
            )
        )
    return mark_safe("".join(parts))  # noqa: S308 — every value above is escaped, a constant or an integer


__all__ = [
    "badge",
    "outbox_rows",
    "patient_message_items",
    "patient_reply_items",
    "preview",
    "reason",
    "review_items",
]
