"""Reads of the outbox for pages and other apps. Each runs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.query import MAX_GET_RESULTS
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.permissions import CLINICAL
from accounts.queries import Compiled, built_per_thread
from patients.models import CareTeamMember, Channel, Patient
from patients.selectors import lead_names, patient_may_message, patients_with_lead

from . import rendering
from .models import ConversationRead, Heartbeat, InboundMessage, Kind, Nudge
from .services import message_context
from .timing import next_allowed_moment


class View:
    """The outbox's tabs, in the order a person works through them."""

    NEEDS = "needs"  # failed or unknown, nobody has looked yet: oldest first
    UPCOMING = "upcoming"  # still to go: soonest first
    HISTORY = "history"  # sent, held back, withdrawn, reviewed: newest first
    ALL = "all"  # everything: newest first

    choices = [
        (NEEDS, "Needs a person"),
        (UPCOMING, "Upcoming"),
        (HISTORY, "History"),
        (ALL, "All"),
    ]
    # Each view's statuses, for the status filter; every order below runs on an index of its own
    # (nudge_needs_review, nudge_upcoming, nudge_outbox_order).
    statuses = {
        NEEDS: [Nudge.Status.FAILED, Nudge.Status.UNKNOWN],
        UPCOMING: [Nudge.Status.PENDING, Nudge.Status.SENDING],
        HISTORY: [
            Nudge.Status.SENT,
            Nudge.Status.SUPPRESSED,
            Nudge.Status.CANCELLED,
            Nudge.Status.FAILED,
            Nudge.Status.UNKNOWN,
        ],
        ALL: list(Nudge.Status),
    }


# A row of the outbox reads the whole nudge but its HTML, and of its patient and author only what it names:
# a patient's whole record is 22 columns to convert and set, 50 times a page.
_ROW_FIELDS = (
    *(field.name for field in Nudge._meta.concrete_fields if field.name != "body_html"),
    "patient__first_name", "patient__last_name", "patient__preferred_name", "patient__time_zone",
)  # fmt: skip
OUTBOX_FIELDS = (*_ROW_FIELDS, "created_by__display_name", "created_by__username")


def outbox(
    *,
    view: str = View.ALL,
    status: str = "",
    kind: str = "",
    channel: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    patient_id: int | None = None,
) -> QuerySet[Nudge]:
    """Nudges for one tab of the outbox, in that tab's order, with patient and author joined in the same
    query (``OUTBOX_FIELDS`` of them). Dates are days in the clinic's time zone and count the moment the nudge is (or was) due."""
    qs = Nudge.objects.select_related("patient", "created_by").only(*OUTBOX_FIELDS)
    if view == View.NEEDS:
        qs, order = qs.needs_review(), ("send_at", "id")
    elif view == View.UPCOMING:
        qs, order = qs.upcoming(), ("send_at", "id")
    elif view == View.HISTORY:
        qs, order = qs.history(), ("-send_at", "-id")
    else:
        order = ("-send_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if channel:
        qs = qs.filter(channel=channel)
    if date_from:
        qs = qs.filter(send_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(send_at__date__lte=date_to)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    return qs.order_by(*order)


# What an outbox row shows and its line is written from, read as a tuple: making each row's nudge, patient
# and author into models cost a page of 50 more Python than the rest of its rows.
OUTBOX_COLUMNS = (
    "pk", "patient_id", "kind", "channel", "send_at", "sent_at", "status", "attempts", "last_error",
    "status_reason", "taken_at", "subject", "body_text", "context", "created_by_id",
    "patient__first_name", "patient__last_name", "patient__preferred_name", "patient__time_zone",
    "created_by__display_name", "created_by__username",
)  # fmt: skip


def outbox_rows(**filters: Any) -> QuerySet:
    """``outbox(**filters)``, the same rows in the same order, each a named tuple of ``OUTBOX_COLUMNS``
    (``row.patient__time_zone``): what the outbox page lists (``nudges.rows.outbox_rows``)."""
    return outbox(**filters).values_list(*OUTBOX_COLUMNS, named=True)


@built_per_thread
def _tab_rows() -> dict[str, QuerySet]:
    return {view: outbox_rows(view=view) for view, _ in View.choices}


def outbox_tab_rows(view: str) -> QuerySet:
    """``outbox_rows(view=view)``, a tab as it opens, built once per thread: only ever cloned (a keyset page's
    reads compiled from it), never evaluated."""
    return _tab_rows()[view]


@built_per_thread
def _tab_counts() -> dict[str, tuple[str, tuple]]:
    counted = {}
    for view, _ in View.choices:
        rows = outbox(view=view).order_by().values("pk")[: TAB_COUNT_CAP + 1]
        sql, params = rows.query.sql_with_params()
        counted[view] = (f'SELECT COUNT(*) FROM ({sql}) AS "counted"', params)  # noqa: S608 — the ORM's SQL
    return counted


TAB_COUNT_CAP = 1_000  # "more than 1,000 messages" says all a tab needs to; Next and Last reach every row


def tab_count(view: str) -> tuple[int, bool]:
    """``accounts.paging.capped_count(outbox(view=view), TAB_COUNT_CAP)`` of a tab without filters (how every
    tab opens): its SQL written once per thread."""
    sql, params = _tab_counts()[view]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        seen = cursor.fetchone()[0]
    return (TAB_COUNT_CAP, True) if seen > TAB_COUNT_CAP else (seen, False)


LINE_CHARS = 140


@dataclass(frozen=True)
class Message:
    """What a nudge says: as it was handed to its transport, or as its wording reads now."""

    subject: str
    text: str
    sent: bool  # taken for its send: these are the very words that went (or may have gone)
    error: str = ""  # the wording could not be rendered

    @property
    def line(self) -> str:
        """One line of it: the subject, else the first words of the text."""
        first = self.subject or " ".join(self.text.split())
        return first if len(first) <= LINE_CHARS else first[: LINE_CHARS - 1].rstrip() + "…"


def _as_sent(nudge: Any) -> Message | None:
    """The words handed over, for a nudge taken for its send and not back in the queue; else nothing."""
    # A take records the words it hands over; a nudge back in the queue (a retry) is written again when it goes.
    taken = nudge.taken_at is not None or bool(nudge.body_text)
    if taken and nudge.status != Nudge.Status.PENDING:
        return Message(subject=nudge.subject, text=nudge.body_text, sent=True)
    return None


def _message(nudge: Any, patient: Any, templates: dict, *, line: bool = False) -> Message:
    """The message as sent, or as it reads now; with ``line``, only what its one line needs (a list's row:
    the wording rendered without the email around it, the signed unsubscribe link only where it is shown).
    ``nudge`` a ``Nudge`` or an outbox row, ``patient`` a ``Patient`` or an ``Addressee``: what
    ``services.message_context`` reads of them."""
    as_sent = _as_sent(nudge)
    if as_sent is not None:
        return as_sent
    link = not line or rendering.wording_mentions(nudge.kind, nudge.channel, "unsubscribe_url", templates)
    try:
        context = message_context(nudge, patient, with_unsubscribe_url=link)
        if line:
            rendered = rendering.render_line(
                kind=nudge.kind, channel=nudge.channel, context=context, templates=templates
            )
        else:  # the subject and text the page shows; never the email's HTML around them
            rendered = rendering.render_message(
                kind=nudge.kind, channel=nudge.channel, context=context, templates=templates, with_html=False
            )
    except (rendering.WordingError, OSError) as error:
        return Message(subject="", text="", sent=False, error=str(error))
    return Message(subject=rendered.subject, text=rendered.text, sent=False)


def outbox_messages(nudges: list[Nudge]) -> None:
    """Give each nudge of a page its ``message``, enough for its one line: two queries for the page (the wording in force, the
    patients' lead practitioners), whatever it holds. Only the clinic's wording and the plain values a nudge
    carries are rendered: nothing a patient wrote is ever part of a message."""
    if not nudges:
        return
    templates = rendering.active_templates()
    leads = lead_names(nudge.patient_id for nudge in nudges)
    for nudge in nudges:
        nudge.patient.lead_name = leads.get(nudge.patient_id)
        nudge.message = _message(nudge, nudge.patient, templates, line=True)


class Addressee(NamedTuple):
    """Of an outbox row's patient, what its wording is rendered with (``services.message_context``)."""

    pk: int
    first_name: str
    preferred_name: str
    lead_name: str | None


def outbox_lines(rows: list) -> list[str]:
    """Each of a page of ``outbox_rows`` its one line, as ``outbox_messages`` gives a nudge's
    (``Message.line``: the words as sent, or as the wording in force reads them now; empty when the wording
    cannot be rendered): the same two queries for the page, whatever it holds."""
    if not rows:
        return []
    templates = rendering.active_templates()
    leads = lead_names(row.patient_id for row in rows)
    return [
        _message(
            row,
            Addressee(
                row.patient_id,
                row.patient__first_name,
                row.patient__preferred_name,
                leads.get(row.patient_id),
            ),
            templates,
            line=True,
        ).line
        for row in rows
    ]


_DETAIL_MARKER = 918_273_645  # an id the message page's reads spell nowhere else


def _detail_queryset() -> QuerySet[Nudge]:
    """The message page's nudge with its patient, authors and the patient's lead (``with_lead()``'s two
    annotations, written on the nudge's patient id): one query."""
    lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD
    )
    return Nudge.objects.select_related("patient", "created_by", "reviewed_by").annotate(
        patient_lead_user_id=Subquery(lead.values("user_id")[:1]),
        patient_lead_name=Subquery(lead.values("user__display_name")[:1]),
    )


@built_per_thread
def _detail_compiled() -> Compiled[Nudge]:
    """The message page's read compiled once per thread (three joins and the lead's two subqueries), run
    with each request's id: the SQL ``.get(pk=…)`` runs."""
    return Compiled(_detail_queryset().filter(pk=_DETAIL_MARKER).order_by()[:MAX_GET_RESULTS], _DETAIL_MARKER)


def nudge_get_for(*, user: User, pk: int) -> Nudge:
    """One nudge with its patient (and lead) and author, for its own page (404 if absent), in one query
    compiled once per thread; the read is audited here."""
    if isinstance(pk, int):
        found = _detail_compiled().rows(pk)
        if not found:
            raise Http404("No Nudge matches the given query.")
        nudge = found[0]
    else:  # not an id: as the ORM answers it
        nudge = get_object_or_404(_detail_queryset(), pk=pk)
    patient = nudge.patient
    patient.lead_user_id = nudge.patient_lead_user_id  # type: ignore[attr-defined]  # as with_lead() names them
    patient.lead_name = nudge.patient_lead_name  # type: ignore[attr-defined]
    record_access(
        action=AccessEvent.Action.VIEW, actor=user, patient_id=nudge.patient_id, obj=nudge, detail="message"
    )
    return nudge


def nudge_message(nudge: Nudge) -> Message:
    """What the nudge said, or will say if it goes now (the wording in force for its kind and channel: one
    query, none for the words already handed over)."""
    as_sent = _as_sent(nudge)
    if as_sent is not None:
        return as_sent
    return _message(nudge, nudge.patient, rendering.active_templates_for(nudge.kind, nudge.channel))


def _replies_query(nudge_id: int, *, clinical: bool) -> QuerySet[InboundMessage]:
    replies = (
        InboundMessage.objects.filter(in_reply_to=nudge_id)
        .only(*REPLY_FIELDS, "body")
        .order_by("received_at", "id")
    )
    if not clinical:
        replies = replies.defer("body")
    return replies[:20]


@built_per_thread
def _replies_compiled() -> dict[bool, Compiled[InboundMessage]]:
    """``_replies_query`` of each shape (the words read, or not), compiled once per thread."""
    return {
        clinical: Compiled(_replies_query(_DETAIL_MARKER, clinical=clinical), _DETAIL_MARKER)
        for clinical in (True, False)
    }


def nudge_replies(nudge: Nudge, *, clinical: bool) -> list[InboundMessage]:
    """What the patient wrote back after this message, oldest first, in one query compiled once per thread;
    like everywhere, the words themselves are loaded for clinical roles only."""
    return _replies_compiled()[bool(clinical)].rows(nudge.pk)


OUTBOX_CSV_HEADER = (
    "due (clinic time)", "status", "kind", "channel", "patient id", "patient", "subject", "sent (clinic time)",
    "attempts", "why", "written by",
)  # fmt: skip
EXPORT_CHUNK = 2_000


def _clinic_time(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def outbox_export(**filters: Any) -> tuple[list[int], Iterator[list]]:
    """The outbox as ``outbox(**filters)`` lists it, for a CSV: the patients it names (one query, for the audit
    trail before anything leaves) and its rows as they are read, ``EXPORT_CHUNK`` at a time. What was said and
    its links stay out: a message's body holds the patient's own check-in and unsubscribe links."""
    nudges = outbox(**filters).only(
        "send_at", "status", "kind", "channel", "patient_id", "subject", "sent_at", "attempts", "status_reason",
        "last_error", "patient__first_name", "patient__last_name", "patient__preferred_name",
        "created_by__display_name", "created_by__username",
    )  # fmt: skip
    patient_ids = list(nudges.order_by().values_list("patient_id", flat=True).distinct())

    def rows() -> Iterator[list]:
        yield list(OUTBOX_CSV_HEADER)
        for nudge in nudges.iterator(chunk_size=EXPORT_CHUNK):
            yield [
                _clinic_time(nudge.send_at),
                nudge.get_status_display(),
                nudge.get_kind_display(),
                nudge.get_channel_display(),
                nudge.patient_id,
                nudge.patient.display_name,
                nudge.subject,
                _clinic_time(nudge.sent_at),
                nudge.attempts,
                nudge.status_reason or nudge.last_error,
                str(nudge.created_by) if nudge.created_by else "",
            ]

    return patient_ids, rows()


def review_list() -> QuerySet[Nudge]:
    """Failed and unknown nudges nobody has looked at yet, oldest first (of their patients, what a card names)."""
    return Nudge.objects.needs_review().select_related("patient").only(*_ROW_FIELDS).order_by("send_at", "id")


REVIEW_LIMIT = 50  # the review queue's page: the oldest first, a screenful to work through


@built_per_thread
def _review_oldest() -> Compiled[Nudge]:
    return Compiled(review_list()[: REVIEW_LIMIT + 1])


def review_oldest() -> list[Nudge]:
    """The first ``REVIEW_LIMIT`` of ``review_list()`` and one more (there are more): one query, its SQL
    compiled once per thread."""
    return _review_oldest().rows()


REVIEW_COUNT_CAP = 1_000


@dataclass(frozen=True)
class ReviewCounts:
    failed: int
    unknown: int
    cap: int = REVIEW_COUNT_CAP

    @property
    def total(self) -> int:
        return self.failed + self.unknown

    @property
    def capped(self) -> bool:
        """More than ``cap`` wait: the counts are of the first ``cap + 1`` only, so the page says "more than"."""
        return self.total > self.cap


def _review_counts_sql(cap: int) -> tuple[str, tuple]:
    waiting = Nudge.objects.needs_review().order_by("send_at", "id").values("status")[: cap + 1]
    sql, params = waiting.query.sql_with_params()
    counts = 'SELECT COUNT(*) FILTER (WHERE "status" = %s), COUNT(*) FILTER (WHERE "status" = %s)'
    # The ORM's own SQL of the waiting rows; the statuses stay parameters.
    return f'{counts} FROM ({sql}) AS "waiting"', (
        Nudge.Status.FAILED.value,
        Nudge.Status.UNKNOWN.value,
        *params,
    )


_review_counts_usual = built_per_thread(lambda: _review_counts_sql(REVIEW_COUNT_CAP))


def review_counts(cap: int = REVIEW_COUNT_CAP) -> ReviewCounts:
    """How many failed and unknown nudges wait for a person, counting at most ``cap + 1`` of them: one query
    over the oldest of them in the review index, whatever the size of the outbox (its SQL written once per
    thread for the usual cap)."""
    sql, params = _review_counts_usual() if cap == REVIEW_COUNT_CAP else _review_counts_sql(cap)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        failed, unknown = cursor.fetchone()
    return ReviewCounts(failed=failed, unknown=unknown, cap=cap)


def nudge_for_review(*, pk: int) -> Nudge:
    """One nudge a person is about to send again or leave as it is (404 if absent)."""
    return get_object_or_404(Nudge.objects.only("pk", "patient_id", "status", "kind", "channel"), pk=pk)


def _future_requests(patient_id: int, now: datetime) -> QuerySet[Nudge]:
    return Nudge.objects.filter(
        patient_id=patient_id, kind=Kind.CHECKIN_REQUEST, status=Nudge.Status.PENDING, send_at__gt=now
    )


# The Messages tab's three reads, compiled once per thread (for each size asked for: ``LIMIT`` is written in
# the SQL) with a marker id and moment and run with each patient's (``accounts.queries.Compiled``): compiling
# them cost the ORM more than PostgreSQL took to run them.
_ID_MARKER = 918_273_645
_AT_MARKER = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)


@built_per_thread
def _tab_reads() -> dict[tuple, Compiled]:
    return {}


def _compiled(key: tuple, build: Callable[..., QuerySet], *markers: int | datetime) -> Compiled:
    """``build(*markers)`` compiled the first time ``key`` is asked for in this thread."""
    reads = _tab_reads()
    if key not in reads:
        reads[key] = Compiled(build(*markers), *markers)
    return reads[key]


def _messages_query(patient_id: int, now: datetime, limit: int) -> QuerySet[Nudge]:
    future = _future_requests(patient_id, now)
    return (
        Nudge.objects.filter(patient_id=patient_id)
        .exclude(pk__in=future.values("pk"))
        .select_related("created_by")
        .defer("body_html")
        .order_by("-send_at", "-id")[:limit]
    )


def patient_messages(patient: Patient, *, limit: int = 20, now: datetime | None = None) -> list[Nudge]:
    """The patient's most recent nudges, newest first, in one query whatever their history holds; the
    check-in requests still to come are left to ``patient_scheduled_requests``, which sums them up."""
    read = _compiled(
        ("messages", limit),
        lambda patient_id, at: _messages_query(patient_id, at, limit),
        _ID_MARKER,
        _AT_MARKER,
    )
    return read.rows(patient.pk, now or timezone.now())


def _scheduled_query(patient_id: int, now: datetime) -> QuerySet:
    return (
        _future_requests(patient_id, now)
        .annotate(total=Window(Count("*")))
        .order_by("send_at", "id")
        .values_list("send_at", "total")[:2]
    )


@dataclass(frozen=True)
class ScheduledRequests:
    """The check-in requests waiting to go to one patient, summed up: how many, the next, how often."""

    count: int
    next_at: datetime | None
    every_days: int | None  # days between the first two, when there are two

    @property
    def cadence(self) -> str:
        """“weekly”, “fortnightly”, “daily”, “every 10 days”, or nothing when it cannot be told."""
        if not self.every_days:
            return ""
        return {1: "daily", 7: "weekly", 14: "fortnightly"}.get(
            self.every_days, f"every {self.every_days} days"
        )


def patient_scheduled_requests(patient: Patient, *, now: datetime | None = None) -> ScheduledRequests:
    """The check-in requests still to be sent to the patient, soonest first: one query, the first two with the
    count of them all beside them (``COUNT(*) OVER ()``, taken before the LIMIT), however many there are."""
    read = _compiled(("scheduled requests",), _scheduled_query, _ID_MARKER, _AT_MARKER)
    rows = read.rows(patient.pk, now or timezone.now())
    if not rows:
        return ScheduledRequests(count=0, next_at=None, every_days=None)
    every = round((rows[1][0] - rows[0][0]) / timedelta(days=1)) if len(rows) == 2 else None
    return ScheduledRequests(count=rows[0][1], next_at=rows[0][0], every_days=every or None)


REPLY_FIELDS = ("pk", "patient_id", "channel", "received_at", "action", "auto_reply", "in_reply_to")


def patient_replies(patient: Patient, *, clinical: bool, limit: int = 20) -> list[InboundMessage]:
    """What the patient wrote back, newest first, in one query. Like their check-in words, the text itself
    is for clinical roles: for anyone else it is not even loaded (``body`` stays deferred and unread)."""

    def build(patient_id: int) -> QuerySet[InboundMessage]:
        replies = (
            InboundMessage.objects.filter(patient_id=patient_id)
            .select_related("in_reply_to")
            .only(*REPLY_FIELDS, "body", "in_reply_to__kind", "in_reply_to__sent_at")
            .order_by("-received_at", "-id")
        )
        return (replies if clinical else replies.defer("body"))[:limit]

    return _compiled(("replies", clinical, limit), build, _ID_MARKER).rows(patient.pk)


@dataclass(frozen=True)
class Reach:
    channel: str
    label: str
    allowed: bool
    reason: str


def patient_reach(patient: Patient) -> list[Reach]:
    """Whether each channel can reach the patient now, and why not (no query for a patient loaded
    ``with_consent()``)."""
    result = []
    for channel in Channel:
        allowed, reason = patient_may_message(patient, channel.value)
        result.append(Reach(channel=channel.value, label=channel.label, allowed=allowed, reason=reason))
    return result


def quiet_hours_delay(patient: Patient, moment: datetime) -> datetime | None:
    """When a nudge due at ``moment`` will really go if it falls in the patient's quiet hours, else None."""
    later = next_allowed_moment(
        moment, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end
    )
    return later if later > moment else None


def heartbeats_fresh(*, now: datetime, stale_after: timedelta) -> dict[str, bool]:
    """For the worker and for beat: was it seen within ``stale_after`` of ``now``? One query."""
    seen = dict(Heartbeat.objects.values_list("component", "last_seen"))
    return {
        component: component in seen and now - seen[component] <= stale_after
        for component in Heartbeat.Component.values
    }


# --- The conversation and the inbox ---------------------------------------------------------------

CONVERSATION_SHOWN = 60
INBOX_PAGE = 50
NAV_CAP = 99


@dataclass(frozen=True)
class Entry:
    """One message in a patient's conversation: what we sent (``out``) or what they wrote (``in``)."""

    at: datetime
    direction: str  # "in" or "out"
    channel: str
    text: str
    subject: str
    label: str  # what kind of message it was, or what the reply did
    status: str = ""
    author: str = ""
    unread: bool = False
    pk: int = 0

    @property
    def incoming(self) -> bool:
        return self.direction == "in"


def _outgoing_text(nudge: Nudge) -> str:
    if nudge.body_text:
        return nudge.body_text
    if nudge.kind == Kind.ONE_OFF:
        return str(nudge.context.get("message", ""))
    return ""


def conversation_read_at(patient: Patient, user: User) -> datetime | None:
    return (
        ConversationRead.objects.filter(patient=patient, user=user).values_list("read_at", flat=True).first()
    )


def conversation(
    patient: Patient,
    *,
    user: User,
    reads_words: bool,
    limit: int = CONVERSATION_SHOWN,
    now: datetime | None = None,
) -> list[Entry]:
    """The patient's conversation, oldest first: the last ``limit`` of what they wrote and what we sent
    them (not the check-in requests still to come), with ``unread`` set for ``user``. What the patient wrote
    is loaded only with ``reads_words`` (``reads_patient_words``). Three queries."""
    now = now or timezone.now()
    read_at = conversation_read_at(patient, user)
    inbound_rows = (
        InboundMessage.objects.filter(patient=patient)
        .only("pk", "channel", "body", "subject", "received_at", "action", "auto_reply")
        .order_by("-received_at", "-id")
    )
    if not reads_words:
        inbound_rows = inbound_rows.defer("body", "subject")
    inbound = list(inbound_rows[:limit])
    future = _future_requests(patient.pk, now)
    outbound = list(
        Nudge.objects.filter(patient=patient)
        .exclude(status=Nudge.Status.CANCELLED)
        .exclude(pk__in=future.values("pk"))
        .select_related("created_by")
        .only(
            "pk",
            "kind",
            "channel",
            "status",
            "send_at",
            "sent_at",
            "subject",
            "body_text",
            "context",
            "created_by__display_name",
            "created_by__username",
        )
        .order_by("-send_at", "-id")[:limit]
    )
    entries = [
        Entry(
            at=m.received_at,
            direction="in",
            channel=m.channel,
            text=m.body if reads_words else "",
            subject=m.subject if reads_words else "",
            label="" if m.action == InboundMessage.Action.KEPT else m.get_action_display(),
            unread=m.action == InboundMessage.Action.KEPT and (read_at is None or m.received_at > read_at),
            pk=m.pk,
        )
        for m in inbound
    ] + [
        Entry(
            at=n.sent_at or n.send_at,
            direction="out",
            channel=n.channel,
            text=_outgoing_text(n),
            subject=n.subject,
            label=n.get_kind_display(),
            status=n.get_status_display(),
            author=str(n.created_by) if n.created_by else "",
            pk=n.pk,
        )
        for n in outbound
    ]
    entries.sort(key=lambda e: (e.at, e.direction == "in", e.pk))
    return entries[-limit:]


def _unread_for(user: User | int) -> Q:
    """Kept replies that arrived after ``user`` last read the conversation (or that they never read)."""
    read = ConversationRead.objects.filter(
        user=user, patient_id=OuterRef("patient_id"), read_at__gte=OuterRef("received_at")
    )
    return Q(action=InboundMessage.Action.KEPT) & ~Q(Exists(read))


def reads_patient_words(user: User, patient: Patient) -> bool:
    """Whether ``user`` reads what the patient wrote to the clinic: clinical roles always, anyone else on the
    patient's current care team (one query for them); others see that a message came, not its words."""
    if user.role in CLINICAL:
        return True
    return CareTeamMember.objects.current().filter(user=user, patient=patient).exists()


def _my_patients(user: User | int) -> QuerySet:
    return CareTeamMember.objects.current().filter(user=user).values("patient_id")


def unread_conversation_count(user: User, *, cap: int = NAV_CAP) -> int:
    """How many of ``user``'s patients (on whose care team they are) wrote something ``user`` has not read;
    one query, counting at most ``cap + 1``."""
    patients = (
        InboundMessage.objects.filter(patient_id__in=_my_patients(user))
        .filter(_unread_for(user))
        .order_by()
        .values("patient_id")
        .distinct()
    )
    return patients[: cap + 1].count()


def _inbox_summary(*, user: User | int, everyone: bool, limit: int) -> QuerySet:
    """Each conversation's patient, last message and unread count, unread first: ``limit`` of them."""
    kept = InboundMessage.objects.filter(action=InboundMessage.Action.KEPT, patient__isnull=False)
    if not everyone:
        kept = kept.filter(patient_id__in=_my_patients(user))
    return (
        kept.order_by()
        .values("patient_id")
        .annotate(
            last_at=Max("received_at"),
            unread=Count("pk", filter=_unread_for(user)),
        )
        .order_by(F("unread").desc(nulls_last=True), "-last_at", "-patient_id")[:limit]
    )


# A user id no one has (past any sequence a clinic reaches): where the reader's id goes in the compiled SQL.
_READER_MARKER = 2**62 + 7_654_321


@built_per_thread
def _inbox_summaries() -> dict[bool, Compiled]:
    """The inbox's first page of summaries, one's own patients' and everyone's, compiled with a marker reader."""
    return {
        everyone: Compiled(
            _inbox_summary(user=_READER_MARKER, everyone=everyone, limit=INBOX_PAGE), _READER_MARKER
        )
        for everyone in (False, True)
    }


@dataclass(frozen=True)
class InboxRow:
    patient: Patient
    last_at: datetime
    last_text: str | None  # None: not for this reader (``reads_patient_words``)
    last_channel: str
    unread: int


def inbox(*, user: User, everyone: bool = False, limit: int = INBOX_PAGE) -> list[InboxRow]:
    """Conversations with something the patient wrote, unread ones first, then the most recent: ``user``'s own
    patients (care team), or every patient with ``everyone`` (then the words only of those ``user`` reads).
    At most ``limit`` rows, in three queries (four for staff asking for everyone's); the first, the
    conversations' summary, compiled once per thread for the usual page."""
    if limit == INBOX_PAGE:
        summary = _inbox_summaries()[everyone].rows(user.pk)
    else:
        summary = list(_inbox_summary(user=user, everyone=everyone, limit=limit))
    if not summary:
        return []
    ids = [row["patient_id"] for row in summary]
    patients = patients_with_lead().in_bulk(ids)
    readable = (
        set(ids)
        if user.role in CLINICAL or not everyone
        else set(_my_patients(user).filter(patient_id__in=ids).values_list("patient_id", flat=True))
    )
    last: dict[int, InboundMessage] = {}
    for message in (
        InboundMessage.objects.filter(patient_id__in=ids, action=InboundMessage.Action.KEPT)
        .order_by("patient_id", "-received_at", "-id")
        .only("patient_id", "body", "channel", "received_at")
    ):
        last.setdefault(message.patient_id or 0, message)
    rows = []
    for row in summary:
        message = last[row["patient_id"]]
        rows.append(
            InboxRow(
                patient=patients[row["patient_id"]],
                last_at=row["last_at"],
                last_text=message.body if row["patient_id"] in readable else None,
                last_channel=message.get_channel_display(),
                unread=row["unread"],
            )
        )
    return rows
