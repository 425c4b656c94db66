"""Reads of the compliance app: adherence, the Insights page's figures, the patient page's Adherence and
Alerts panels, falter alerts and their course corrections.

Every function runs a fixed number of queries, whatever the history holds; what SQL cannot say portably
(the hour a nudge reached a patient in their own time zone, the barriers inside a JSON list) is worked
out in Python from one query's rows. How a report scores is ``compliance.scoring``'s rule.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from operator import itemgetter

from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.query import MAX_GET_RESULTS
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.audit import record_access
from accounts.models import AccessEvent, User
from accounts.paging import Cursor, KeysetPage, keyset_page
from accounts.queries import AnyOf, Compiled, built_per_thread
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey
from nudges.models import InboundMessage, Kind, Nudge
from patients.models import CareTeamMember, Patient

from .models import Alert, Barrier, CheckInAnswer, ComplianceLog, CourseCorrection
from .scoring import Adherence, score_of

BARRIER_LABELS = dict(Barrier.choices)
REQUEST_LATE_DAYS = 7  # the latest a check-in's request is sent after its due day (it has closed by then)
RECENTLY_RESOLVED = 10


def barrier_labels(values: Iterable) -> list[str]:
    """The clinic's words for the categories a patient chose, each once, in the order chosen."""
    labels: list[str] = []
    for value in values if isinstance(values, list) else []:
        label = BARRIER_LABELS.get(value, str(value))
        if label not in labels:
            labels.append(label)
    return labels


def _period(window_days: int) -> str:
    if 28 <= window_days <= 31:
        return "last month"
    if window_days % 7 == 0:
        weeks = window_days // 7
        return "the week before" if weeks == 1 else f"the {weeks} weeks before"
    return f"the {window_days} days before"


def describe_trend(trend: float | None, *, window_days: int) -> str:
    """The change from the window before, in words that notice without judging."""
    period = _period(window_days)
    if trend is None:
        return f"Nothing from {period} to compare with yet"
    if trend >= 5:
        return f"Steadier than {period} (+{trend:g} points)"
    if trend <= -5:
        return f"A harder stretch than {period} (−{abs(trend):g} points)"
    return f"About the same as {period} ({'+' if trend >= 0 else '−'}{abs(trend):g} points)"


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


# --- Adherence ----------------------------------------------------------------------------------------


# The patient page's reads for its header and its Adherence and Alerts panels, compiled once per thread with
# marker values and run with each patient's (``accounts.queries.Compiled``): every patient page runs them, and
# compiling them cost the ORM more than PostgreSQL took to run them.
_ID_MARKER = 918_273_645
_FROM_MARKER, _TO_MARKER = date(2001, 2, 3), date(2001, 3, 4)


def _logs_between(patient_id: int, start: date, end: date) -> QuerySet[ComplianceLog]:
    return ComplianceLog.objects.filter(
        answer__patient_id=patient_id, checkin__due_on__gte=start, checkin__due_on__lte=end
    )


def _plan_items_query(patient_id: int) -> QuerySet[BlueprintItem]:
    journey = (
        Journey.objects.filter(patient_id=patient_id)
        .order_by(F("ended_at").asc(nulls_first=True), "-started_at", "-id")
        .values("pk")[:1]
    )
    return (
        BlueprintItem.objects.filter(
            blueprint__journey=Subquery(journey), blueprint__status=Blueprint.Status.PUBLISHED
        )
        .exclude(status=BlueprintItem.Status.STOPPED)
        .select_related("blueprint")
        .order_by("position", "id")
    )


def _item_logs_query(journey_id: int, first: date, last: date) -> QuerySet:
    return ComplianceLog.objects.filter(
        checkin__journey_id=journey_id, checkin__due_on__gte=first, checkin__due_on__lte=last
    ).values_list("item_id", "item__kind", "item__title", "checkin__due_on", "status")


def _checkin_counts_query(patient_id: int, start: date, end: date) -> QuerySet:
    """The program's check-ins due from ``start`` to ``end``, answered and missed, counted: one row (none when
    no check-in fell due)."""
    return (
        CheckIn.objects.filter(
            journey__patient_id=patient_id, due_on__gte=start, due_on__lte=end, kind=CheckIn.Kind.PROGRAM
        )
        .order_by()
        .values("kind")
        .annotate(
            answered=Count("pk", filter=Q(status=CheckIn.Status.ANSWERED)),
            missed=Count("pk", filter=Q(status=CheckIn.Status.MISSED)),
        )
        .values_list("answered", "missed")
    )


def _replies_query(request_ids: list[int]) -> QuerySet[InboundMessage]:
    return (
        InboundMessage.objects.filter(AnyOf("checkin_request_id", request_ids))
        .only("pk", "checkin_request_id", "channel", "body", "received_at")
        .order_by("received_at", "pk")
    )


def _open_alerts_query(patient_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(patient_id=patient_id, resolved_at__isnull=True).order_by("opened_at", "pk")


@built_per_thread
def _patient_reads() -> dict[str, Compiled]:
    between = (_ID_MARKER, _FROM_MARKER, _TO_MARKER)
    return {
        "statuses": Compiled(_logs_between(*between).values_list("status", flat=True), *between),
        "weekly": Compiled(_logs_between(*between).values_list("checkin__due_on", "status"), *between),
        "item logs": Compiled(_item_logs_query(*between), *between),
        "plan items": Compiled(_plan_items_query(_ID_MARKER), _ID_MARKER),
        "plan item rows": Compiled(
            _plan_items_query(_ID_MARKER).values_list("pk", "kind", "title", "blueprint__journey_id"),
            _ID_MARKER,
        ),
        "open alerts": Compiled(_open_alerts_query(_ID_MARKER), _ID_MARKER),
        "checkin counts": Compiled(_checkin_counts_query(*between), *between),
        "replies": Compiled(_replies_query([_ID_MARKER]), [_ID_MARKER]),
    }


@built_per_thread
def _sized_reads() -> dict[tuple, Compiled]:
    """The reads whose size is a constant of the panel that asks (``LIMIT`` is written into the SQL): compiled
    the first time each size is asked for."""
    return {}


def _sized(key: tuple, build: Callable[[int], QuerySet]) -> Compiled:
    reads = _sized_reads()
    if key not in reads:
        reads[key] = Compiled(build(_ID_MARKER), _ID_MARKER)
    return reads[key]


def _statuses(patient_id: int, start: date, end: date) -> list[str]:
    return _patient_reads()["statuses"].rows(patient_id, start, end)


def patient_adherence(*, patient_id: int, today: date, window_days: int = 28) -> Adherence:
    """Adherence over the ``window_days`` ending ``today`` (check-ins by due date), with the trend."""
    start = today - timedelta(days=window_days - 1)
    previous_start, previous_end = start - timedelta(days=window_days), start - timedelta(days=1)
    score, reports = score_of(_statuses(patient_id, start, today))
    previous, _ = score_of(_statuses(patient_id, previous_start, previous_end))
    counted = _patient_reads()["checkin counts"].rows(patient_id, start, today)
    answered, missed = counted[0] if counted else (0, 0)
    return Adherence(
        window_start=start,
        window_end=today,
        score=score,
        reports=reports,
        answered=answered,
        missed=missed,
        previous_score=previous,
    )


def patient_adherence_of(patient: Patient, *, today: date, window_days: int) -> Adherence:
    """``patient_adherence`` for this patient object, counted once however many parts of a page ask (the
    patient page's header and its adherence panel both show it): kept on the object, which lives as long as
    the request that read it."""
    memo = patient.__dict__.setdefault("_adherence_of", {})
    if (today, window_days) not in memo:
        memo[today, window_days] = patient_adherence(
            patient_id=patient.pk, today=today, window_days=window_days
        )
    return memo[today, window_days]


def item_adherence(*, patient_id: int, today: date, window_days: int = 28) -> dict[int, float | None]:
    """Per plan item (by id): its score in the window, None when only paused or not reported."""
    start = today - timedelta(days=window_days - 1)
    by_item: dict[int, list[str]] = defaultdict(list)
    for item_id, status in ComplianceLog.objects.filter(
        answer__patient_id=patient_id, checkin__due_on__gte=start, checkin__due_on__lte=today
    ).values_list("item_id", "status"):
        by_item[item_id].append(status)
    return {item_id: score_of(statuses)[0] for item_id, statuses in by_item.items()}


def recent_answered_score(*, patient_id: int, count: int = 2) -> tuple[float | None, int]:
    """(score over the last ``count`` answered check-ins together, how many were found)."""
    checkin_ids = list(
        CheckIn.objects.filter(
            journey__patient_id=patient_id, status=CheckIn.Status.ANSWERED, kind=CheckIn.Kind.PROGRAM
        )
        .order_by("-due_on")
        .values_list("pk", flat=True)[:count]
    )
    statuses = ComplianceLog.objects.filter(checkin_id__in=checkin_ids).values_list("status", flat=True)
    return score_of(list(statuses))[0], len(checkin_ids)


def weekly_scores(*, patient_id: int, weeks: list[date]) -> dict[date, float | None]:
    """Score per week (keyed by the Monday that starts it) for charts; one query."""
    first, last = min(weeks), max(weeks) + timedelta(days=6)
    by_week: dict[date, list[str]] = defaultdict(list)
    for due_on, status in _patient_reads()["weekly"].rows(patient_id, first, last):
        by_week[due_on - timedelta(days=due_on.weekday())].append(status)
    return {week: score_of(by_week.get(week, []))[0] for week in weeks}


# --- Check-in answers -----------------------------------------------------------------------------------


def checkin_answer_of(checkin: CheckIn) -> CheckInAnswer | None:
    """The answer given to a check-in, with its item logs, or None."""
    return CheckInAnswer.objects.filter(checkin=checkin).prefetch_related("logs").first()


# --- Insights -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    key: str
    label: str
    sent: int = 0
    answered: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.answered / self.sent, 1) if self.sent else None


@dataclass(frozen=True)
class ResponseRates:
    since: datetime
    until: datetime
    by_channel: list[Rate]
    by_hour: list[Rate]  # only the local hours something was sent in, earliest first
    median_to_answer: timedelta | None
    sent: int = 0
    answered: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.answered / self.sent, 1) if self.sent else None

    @property
    def median_to_answer_display(self) -> str:
        return format_duration(self.median_to_answer)


def zone_of(name: str, cache: dict[str, zoneinfo.ZoneInfo]) -> zoneinfo.ZoneInfo:
    if name not in cache:
        try:
            cache[name] = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            cache[name] = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return cache[name]


def checkin_requests(*, since: datetime, until: datetime, closed_by: datetime) -> QuerySet[CheckIn]:
    """The check-ins whose request nudge was sent from ``since`` (inclusive) to ``until`` (exclusive) and that
    had closed by ``closed_by``: the requests Insights' response rates count, read by its daily roll-ups."""
    due = Q(
        due_on__gte=since.date() - timedelta(days=REQUEST_LATE_DAYS),
        due_on__lte=until.date() + timedelta(days=1),
    )
    return (
        CheckIn.objects.filter(due, request_nudge__sent_at__gte=since, request_nudge__sent_at__lt=until)
        .filter(kind=CheckIn.Kind.PROGRAM)
        .exclude(status=CheckIn.Status.SCHEDULED, closes_at__gt=closed_by)
        .order_by()
    )


class LocalHour(Func):
    """PostgreSQL: the hour of a moment on the clock of a time zone named by a column."""

    template = "EXTRACT(HOUR FROM %(expressions)s)"
    arg_joiner = " AT TIME ZONE "
    output_field = IntegerField()


@dataclass(frozen=True)
class ClinicAdherence:
    window_start: date
    window_end: date
    score: float | None
    previous_score: float | None
    reports: int
    patients: int

    @property
    def trend(self) -> float | None:
        if self.score is None or self.previous_score is None:
            return None
        return round(self.score - self.previous_score, 1)


TALLY = {
    "done": ComplianceLog.Status.DONE,
    "partly": ComplianceLog.Status.PARTIAL,
    "missed": ComplianceLog.Status.MISSED,
}


def tally_score(tally: Mapping[str, int | None]) -> tuple[float | None, int]:
    """(0–100, item reports) from an answer tally's sums: ``compliance.scoring``'s weights, paused left out."""
    counts = {name: tally.get(name) or 0 for name in TALLY}
    reports = sum(counts.values())
    if not reports:
        return None, 0
    points = sum(ComplianceLog.SCORES[status] * counts[name] for name, status in TALLY.items())
    return round(100 * points / reports, 1), reports


@dataclass(frozen=True)
class WeekAdherence:
    week: date  # the Monday that starts it
    score: float | None  # None: no item reported in check-ins due that week
    reports: int


def open_alerts() -> QuerySet[Alert]:
    return Alert.objects.filter(resolved_at__isnull=True)


def open_alert_count() -> int:
    return open_alerts().count()


# Every signed-in page's navigation runs it, and through the ORM (a sliced ``.count()``) it cost ~0.34 ms of
# Python against ~0.07 ms for the database: written once, the cap as its one parameter.
_OPEN_ALERTS = f'SELECT 1 FROM "{Alert._meta.db_table}" WHERE "resolved_at" IS NULL LIMIT %s'  # noqa: S608 — names from the model
_OPEN_ALERTS_CAPPED_SQL = f"SELECT COUNT(*) FROM ({_OPEN_ALERTS}) AS capped"  # noqa: S608 — the cap a parameter


def open_alert_count_capped(*, cap: int) -> int:
    """Open alerts, counted up to ``cap + 1`` (more than ``cap`` reads as "cap+"): one query over the
    open-alert index, cheap however many alerts the clinic has ever had."""
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_ALERTS_CAPPED_SQL, [cap + 1])
        return cursor.fetchone()[0]


# --- The Adherence panel --------------------------------------------------------------------------------


def current_plan_items(*, patient_id: int) -> list[BlueprintItem]:
    """The active and paused items of the published plan of the patient's open (else latest) journey.
    One query."""
    return _patient_reads()["plan items"].rows(patient_id)


def _item_key(kind: str, title: str) -> tuple[str, str]:
    return kind, " ".join(title.split()).casefold()


def current_plan_item_rows(*, patient_id: int) -> list[tuple[int, str, str, int]]:
    """``current_plan_items`` as (id, kind, title, journey id) rows, what the heat map needs: one query (the
    items as models, their plans with them, cost the panel more than the read)."""
    return _patient_reads()["plan item rows"].rows(patient_id)


def item_weekly_scores(
    *, items: list[BlueprintItem], weeks: list[date]
) -> list[tuple[str, list[tuple[date, float | None]]]]:
    """Each item's score per week (keyed by Monday). Reports on the same item in earlier versions of the
    plan (a revision copies items into new rows) count for it, matched by kind and title. One query, none
    without items."""
    return item_rows_weekly_scores(
        rows=[(item.pk, item.kind, item.title, item.blueprint.journey_id) for item in items], weeks=weeks
    )


def item_rows_weekly_scores(
    *, rows: list[tuple[int, str, str, int]], weeks: list[date]
) -> list[tuple[str, list[tuple[date, float | None]]]]:
    """``item_weekly_scores`` of ``current_plan_item_rows``' rows."""
    if not rows or not weeks:
        return []
    by_id = {pk: pk for pk, _, _, _ in rows}
    by_name: dict[tuple[str, str], int] = {}
    for pk, kind, title, _ in rows:
        by_name.setdefault(_item_key(kind, title), pk)
    # Each (item, Monday)'s points and reports, summed in the rows' order as ``score_of`` sums them: a heat
    # map's hundred-odd cells each made a list and scored it before.
    weights = ComplianceLog.SCORES
    tally: dict[tuple[int, date], list] = {}
    mondays: dict[date, date] = {}
    for item_id, kind, title, due_on, status in _patient_reads()["item logs"].rows(
        rows[0][3], weeks[0], weeks[-1] + timedelta(days=6)
    ):
        current = by_id.get(item_id) or by_name.get(_item_key(kind, title))
        weight = weights.get(status)
        if current is None or weight is None:
            continue
        monday = mondays.get(due_on)
        if monday is None:
            monday = mondays[due_on] = due_on - timedelta(days=due_on.weekday())
        counted = tally.get((current, monday))
        if counted is None:
            tally[current, monday] = [weight, 1]
        else:
            counted[0] += weight
            counted[1] += 1
    scored = []
    for pk, _, title, _ in rows:
        scores: list[tuple[date, float | None]] = []
        for week in weeks:
            counted = tally.get((pk, week))
            scores.append((week, None if counted is None else round(100 * counted[0] / counted[1], 1)))
        scored.append((title, scores))
    return scored


RATINGS = ("energy", "sleep", "mood", "digestion")


@dataclass(frozen=True)
class AnswerSummary:
    """One check-in answer as the panel shows it. ``words`` and ``ratings`` stay empty for a role that
    may not read them: they are never loaded."""

    pk: int
    answered_at: datetime
    amended_at: datetime | None
    due_on: date
    via: str
    barriers: list[str]
    words: str | None = None
    ratings: list[tuple[str, int]] = field(default_factory=list)
    replies: list[InboundMessage] = field(default_factory=list)  # what they wrote back about this check-in


def recent_answers(
    *, patient_id: int, clinical: bool, limit: int, replies: bool = True
) -> list[AnswerSummary]:
    """The patient's latest answers, newest first; their own words and self-ratings only when
    ``clinical``, and (with ``replies``) what they wrote back about each. One query, and one for the replies."""
    fields = ["pk", "answered_at", "amended_at", "checkin__due_on", "via", "barriers"]
    if clinical:
        fields += ["where_it_failed", "checkin__request_nudge_id", *RATINGS]
    via = dict(CheckInAnswer.Via.choices)
    answers = []
    rows = _sized(
        ("recent answers", clinical, limit),
        lambda patient: (
            CheckInAnswer.objects.filter(patient_id=patient)
            .order_by("-answered_at", "-checkin__due_on", "-pk")
            .values(*fields)[:limit]
        ),
    ).rows(patient_id)
    written = (
        checkin_replies(request_ids=[row["checkin__request_nudge_id"] for row in rows])
        if clinical and replies
        else {}
    )
    for row in rows:
        answers.append(
            AnswerSummary(
                pk=row["pk"],
                answered_at=row["answered_at"],
                amended_at=row["amended_at"],
                due_on=row["checkin__due_on"],
                via=via.get(row["via"], row["via"]),
                barriers=barrier_labels(row["barriers"]),
                words=row["where_it_failed"].strip() if clinical else None,
                ratings=[(name.capitalize(), row[name]) for name in RATINGS if row.get(name) is not None]
                if clinical
                else [],
                replies=written.get(row.get("checkin__request_nudge_id"), []),
            )
        )
    return answers


def checkin_replies(*, request_ids: Iterable[int | None]) -> dict[int, list[InboundMessage]]:
    """What the patient wrote back (by text or email) within a few days of each check-in request, oldest
    first, by request nudge id: their own words about that check-in. One query (none without ids)."""
    ids = [pk for pk in request_ids if pk]
    if not ids:
        return {}
    by_request: dict[int, list[InboundMessage]] = defaultdict(list)
    for message in _patient_reads()["replies"].rows(ids):
        by_request[message.checkin_request_id or 0].append(message)
    return by_request


def checkin_replies_for(checkin: CheckIn) -> list[InboundMessage]:
    """The patient's words attached to one check-in (see ``checkin_replies``)."""
    return checkin_replies(request_ids=[checkin.request_nudge_id]).get(checkin.request_nudge_id or 0, [])


# --- Falter alerts and course corrections ---------------------------------------------------------------


def _with_lead(alerts):
    # Unsorted: a patient has one current lead (``careteam_one_current_lead``), and the model's default order
    # made PostgreSQL sort each alert's lead, hashing every user of the clinic to join the one (a seq scan of
    # accounts_user an alert: 408 of the 614 buffers of a page at 100,000 patients).
    lead = (
        CareTeamMember.objects.current()
        .filter(patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD)
        .order_by()
    )
    return alerts.annotate(lead_name=Subquery(lead.values("user__display_name")[:1]))


# What the alerts list's rows show (``compliance.alert_rows``): a page of 50 made every patient's and outreach
# message's every field into models (the message's body and context among them) for a name and a status.
_OPEN_ROW_FIELDS = (
    "patient", "reason", "detail", "reasons", "opened_at", "resolved_at", "escalated_at", "outreach_nudge",
    "patient__first_name", "patient__last_name", "patient__preferred_name", "patient__archived",
    "outreach_nudge__status",
)  # fmt: skip


def alerts_open():
    """Open alerts, oldest first (the longest waiting at the top), with patient and lead in one query: the
    fields the list shows (``_OPEN_ROW_FIELDS``)."""
    return _with_lead(
        Alert.objects.filter(resolved_at__isnull=True)
        .select_related("patient", "outreach_nudge")
        .only(*_OPEN_ROW_FIELDS)
    ).order_by("opened_at", "pk")


# The columns of an open alert's row in the list, as ``alerts_open_page`` reads them: a tuple of these, where
# the page's 50 alerts were 50 alerts, 50 patients and their outreach messages made into models.
OPEN_ROW_COLUMNS = (
    "pk", "patient_id", "reason", "detail", "reasons", "opened_at", "escalated_at",
    "patient__first_name", "patient__last_name", "patient__preferred_name", "patient__archived",
    "outreach_nudge__status", "lead_name",
)  # fmt: skip


def alerts_open_rows() -> QuerySet:
    """``alerts_open()`` as tuples of ``OPEN_ROW_COLUMNS``."""
    return alerts_open().values_list(*OPEN_ROW_COLUMNS)


# Built once per thread and only ever cloned (a keyset page's reads are compiled from it), never evaluated.
_open_rows = built_per_thread(alerts_open_rows)


def alerts_open_page(cursor: Cursor, *, per_page: int, count: tuple[int, bool]) -> KeysetPage:
    """The keyset page of ``alerts_open_rows()`` that ``cursor`` names, read from the index of open alerts, each
    of its reads compiled once per thread (the same SQL every time: no filters)."""
    page = keyset_page(_open_rows(), cursor, per_page=per_page, count=count, compiled="open alert rows")
    return replace(page, key=itemgetter(0))  # a row's id is its first column


_RESOLVED_ROW_FIELDS = (
    "patient", "reason", "resolved_at", "resolved_by", "patient__first_name", "patient__last_name",
    "patient__preferred_name", "resolved_by__display_name", "resolved_by__username",
)  # fmt: skip


def alerts_recently_resolved(limit: int = RECENTLY_RESOLVED) -> QuerySet[Alert]:
    """The alerts answered last, the latest first, with the fields the list shows (``_RESOLVED_ROW_FIELDS``)."""
    return (
        Alert.objects.filter(resolved_at__isnull=False)
        .select_related("patient", "resolved_by")
        .only(*_RESOLVED_ROW_FIELDS)
        .order_by("-resolved_at", "-pk")[:limit]
    )


# The columns of a recently answered alert's row (``compliance.alert_rows.resolved_alert_rows``).
RESOLVED_ROW_COLUMNS = (
    "pk", "patient_id", "reason", "resolved_at", "patient__first_name", "patient__last_name",
    "patient__preferred_name", "resolved_by_id", "resolved_by__display_name", "resolved_by__username",
)  # fmt: skip


def alerts_recently_resolved_values() -> QuerySet:
    """``alerts_recently_resolved()`` as tuples of ``RESOLVED_ROW_COLUMNS``."""
    return (
        Alert.objects.filter(resolved_at__isnull=False)
        .order_by("-resolved_at", "-pk")
        .values_list(*RESOLVED_ROW_COLUMNS)[:RECENTLY_RESOLVED]
    )


@built_per_thread
def _recently_resolved_compiled() -> Compiled:
    return Compiled(alerts_recently_resolved_values())


def alerts_recently_resolved_rows() -> list[tuple]:
    """``alerts_recently_resolved_values()``'s rows, its SQL (fixed: no value of a request in it) compiled once
    per thread: the alerts list reads it on every request."""
    return _recently_resolved_compiled().rows()


def alerts_open_count(cap: int) -> tuple[int, bool]:
    """How many alerts are open, counting at most ``cap`` (``accounts.paging.capped_count``'s answer for
    ``alerts_open()``), and whether there are more: the navigation's query over the open-alert index."""
    seen = open_alert_count_capped(cap=cap)
    return (cap, True) if seen > cap else (seen, False)


def _alert_queryset() -> QuerySet[Alert]:
    return _with_lead(
        Alert.objects.select_related("patient", "journey", "resolved_by", "outreach_nudge", "answer")
    )


_ALERT_MARKER = 918_273_645  # an id the alert's query spells nowhere else


@built_per_thread
def _alert_compiled() -> Compiled[Alert]:
    """The alert's page's read compiled once per thread (five joins and the lead's subquery), run with each
    request's id: the SQL ``.get(pk=…)`` runs."""
    return Compiled(_alert_queryset().filter(pk=_ALERT_MARKER).order_by()[:MAX_GET_RESULTS], _ALERT_MARKER)


def alert_get_for(*, user: User, pk: int, audit: bool = True) -> Alert:
    """One alert (404 if absent) with what its page shows; the read lands in the audit trail."""
    if isinstance(pk, int):
        found = _alert_compiled().rows(pk)
        if not found:
            raise Http404("No Alert matches the given query.")
        alert = found[0]
    else:  # not an id: as the ORM answers it
        alert = get_object_or_404(_alert_queryset(), pk=pk)
    if audit:
        record_access(
            action=AccessEvent.Action.VIEW,
            actor=user,
            patient_id=alert.patient_id,
            obj=alert,
            detail="falter alert",
        )
    return alert


def alert_others_open(alert: Alert) -> list[Alert]:
    """The patient's other open alerts, while this one is open."""
    if not alert.is_open:
        return []
    return _alert_page_reads()["others open"].rows(alert.patient_id, alert.pk)


def patient_open_alerts(patient: Patient) -> list[Alert]:
    """The patient's open alerts, oldest first; read once per patient object (the patient page's header and
    its alerts panel both show them)."""
    if "_open_alerts" not in patient.__dict__:
        patient.__dict__["_open_alerts"] = _patient_reads()["open alerts"].rows(patient.pk)
    return patient.__dict__["_open_alerts"]


def _corrections(**alert_filter):
    return CourseCorrection.objects.filter(**alert_filter).select_related(
        "practitioner", "blueprint", "alert"
    )


def alert_corrections(alert: Alert) -> list[CourseCorrection]:
    return _alert_page_reads()["corrections"].rows(alert.pk)


def patient_corrections(patient: Patient, *, limit: int) -> list[CourseCorrection]:
    """The latest course corrections on any of the patient's alerts."""
    return _sized(
        ("corrections", limit), lambda patient_id: _corrections(alert__patient_id=patient_id)[:limit]
    ).rows(patient.pk)


def blueprints_since(alert: Alert) -> QuerySet[Blueprint]:
    """The versions of the alert's journey published since it opened, newest first: what a correction may link."""
    if alert.journey_id is None:
        return Blueprint.objects.none()
    return (
        Blueprint.objects.filter(journey_id=alert.journey_id, published_at__gte=alert.opened_at)
        .exclude(status=Blueprint.Status.DRAFT)
        .order_by("-version")
    )


def plan_draft(journey: Journey) -> Blueprint | None:
    """The open draft of the journey's plan, if a revision has been started."""
    return journey.blueprints.filter(status=Blueprint.Status.DRAFT).only("pk", "version").first()


# --- The evidence on an alert's page ---------------------------------------------------------------------

OUTREACH_KINDS = (Kind.ADHERENCE_OUTREACH, Kind.CHECKIN_MISSED)


def alert_evidence_weeks(alert: Alert, *, window_days: int, today: date, most: int = 12) -> list[date]:
    """The Mondays of the weeks the alert looked at (its window before it opened) up to ``today``."""
    opened = alert.opened_at.astimezone(alert.patient.tz).date()
    first = opened - timedelta(days=window_days)
    first -= timedelta(days=first.weekday())
    last = max(today, opened)
    last -= timedelta(days=last.weekday())
    weeks = []
    week = first
    while week <= last:
        weeks.append(week)
        week += timedelta(weeks=1)
    return weeks[-most:]


def alert_outreach(alert: Alert, *, window_days: int, limit: int = 10) -> list[Nudge]:
    """The outreach and missed-check-in notes scheduled for the patient from the alert's window on, newest
    first, whatever became of them (sent, waiting, held back and why). One query."""
    since = alert.opened_at - timedelta(days=window_days)
    if limit != ALERT_OUTREACH_LIMIT:
        return list(_outreach_query(alert.patient_id, since, limit))
    return _alert_page_reads()["outreach"].rows(alert.patient_id, since)


ALERT_OUTREACH_LIMIT = 10


def _outreach_query(patient_id: int, since: datetime, limit: int) -> QuerySet[Nudge]:
    return (
        Nudge.objects.filter(patient_id=patient_id, kind__in=OUTREACH_KINDS, send_at__gte=since)
        .only("kind", "channel", "status", "status_reason", "send_at", "sent_at", "last_error")
        .order_by("-send_at", "-pk")[:limit]
    )


_OTHER_ALERT_MARKER = 918_273_648  # the alert the patient's other open alerts leave out, spelled nowhere else
_SINCE_MARKER = datetime(2001, 2, 3, 4, 5, 6, tzinfo=zoneinfo.ZoneInfo("UTC"))


@built_per_thread
def _alert_page_reads() -> dict[str, Compiled]:
    """The alert page's reads by id, compiled once per thread and run with each request's values: the SQL the
    ORM writes for them (``tests/compliance``: rows and SQL equal)."""
    return {
        "others open": Compiled(
            Alert.objects.filter(patient_id=_ID_MARKER, resolved_at__isnull=True).exclude(
                pk=_OTHER_ALERT_MARKER
            ),
            _ID_MARKER,
            _OTHER_ALERT_MARKER,
        ),
        "corrections": Compiled(_corrections(alert_id=_ID_MARKER), _ID_MARKER),
        "outreach": Compiled(
            _outreach_query(_ID_MARKER, _SINCE_MARKER, ALERT_OUTREACH_LIMIT), _ID_MARKER, _SINCE_MARKER
        ),
        "plan": Compiled(_alert_plan_query(_ID_MARKER, _SINCE_MARKER), _ID_MARKER, _SINCE_MARKER),
    }


@dataclass(frozen=True)
class PlanVersion:
    """A version of the plan as the alert's page offers and names it."""

    pk: int
    version: int
    published_at: datetime | None
    revision_reason: str


@dataclass(frozen=True)
class AlertPlan:
    """The versions of the alert's journey's plan its page needs, read at once: the open draft
    (``plan_draft``) and the versions published since the alert opened, newest first (``blueprints_since``)."""

    draft: PlanVersion | None
    since: list[PlanVersion]

    def unlinked(self, corrections: Iterable[CourseCorrection]) -> PlanVersion | None:
        """``alert_unlinked_version``: the newest version since that none of the alert's corrections links."""
        linked = {correction.blueprint_id for correction in corrections}
        return next((version for version in self.since if version.pk not in linked), None)


def _alert_plan_query(journey_id: int, since: datetime) -> QuerySet:
    return (
        Blueprint.objects.filter(journey_id=journey_id)
        .filter(Q(status=Blueprint.Status.DRAFT) | Q(published_at__gte=since))
        .order_by("-version")
        .values_list("pk", "version", "status", "published_at", "revision_reason")
    )


def alert_plan(alert: Alert) -> AlertPlan:
    """The alert's journey's draft and the versions published since it opened (``AlertPlan``): one query
    (none without a journey) where ``plan_draft``, ``alert_unlinked_version`` and the correction form's
    ``blueprints_since`` (its first, then every one) took four."""
    if alert.journey_id is None:
        return AlertPlan(None, [])
    draft, since = None, []
    for pk, version, status, published_at, reason in _alert_page_reads()["plan"].rows(
        alert.journey_id, alert.opened_at
    ):
        if status == Blueprint.Status.DRAFT:
            draft = draft or PlanVersion(pk, version, published_at, reason)
        else:  # not a draft, and so published since the alert opened: ``blueprints_since``
            since.append(PlanVersion(pk, version, published_at, reason))
    return AlertPlan(draft, since)


def alert_unlinked_version(alert: Alert) -> Blueprint | None:
    """The newest plan version published since the alert opened that no correction of it links yet: what
    the practitioner has just published from the alert and is asked to confirm as the correction."""
    linked = CourseCorrection.objects.filter(alert=alert, blueprint__isnull=False).values("blueprint_id")
    return blueprints_since(alert).exclude(pk__in=linked).first()


# --- Graduation: then and now ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    due_on: date
    score: float | None
    ratings: list[tuple[str, int | None]]


@dataclass(frozen=True)
class ThenAndNow:
    then: Week
    now: Week
    follow_ups: list[tuple[date, str, list[tuple[str, int | None]]]]  # after graduation: due, status, ratings


_THEN_AND_NOW_FIELDS = ("checkin_id", "checkin__due_on", *RATINGS)
_THEN_MARKER, _NOW_MARKER = 918_273_646, 918_273_647  # the two check-ins' ids, spelled nowhere else


def _answered_weeks(patient_id: int) -> QuerySet:
    return CheckInAnswer.objects.filter(patient_id=patient_id, checkin__kind=CheckIn.Kind.PROGRAM)


def _ends_query(patient_id: int) -> QuerySet:
    """The first and the last answered week, in one query (one row when only one week was answered)."""
    answered = _answered_weeks(patient_id)
    first = answered.order_by("checkin__due_on", "pk").values("pk")[:1]
    last = answered.order_by("-checkin__due_on", "-pk").values("pk")[:1]
    return (
        answered.filter(Q(pk=Subquery(first)) | Q(pk=Subquery(last)))
        .order_by("checkin__due_on", "pk")
        .values(*_THEN_AND_NOW_FIELDS)
    )


def _week_statuses_query(checkin_ids: list[int]) -> QuerySet:
    return ComplianceLog.objects.filter(AnyOf("checkin_id", checkin_ids)).values_list("checkin_id", "status")


def _follow_ups_query(patient_id: int) -> QuerySet:
    return (
        CheckIn.objects.filter(journey__patient_id=patient_id, kind=CheckIn.Kind.FOLLOW_UP)
        .order_by("due_on")
        .values_list("due_on", "status", *(f"answer__{name}" for name in RATINGS))
    )


@built_per_thread
def _then_and_now_reads() -> dict[str, Compiled]:
    """``then_and_now``'s three reads compiled once per thread (the graduated patient's Journey tab runs them on
    every load), run with the patient's id and the two check-ins' (one ``AnyOf`` array)."""
    weeks = [_THEN_MARKER, _NOW_MARKER]
    return {
        "ends": Compiled(_ends_query(_ID_MARKER), _ID_MARKER),
        "statuses": Compiled(_week_statuses_query(weeks), weeks),
        "follow-ups": Compiled(_follow_ups_query(_ID_MARKER), _ID_MARKER),
    }


def then_and_now(*, patient_id: int) -> ThenAndNow | None:
    """The first and the last answered weekly check-in of the program — adherence and the 0–10 self-ratings —
    and the "how are you now?" follow-ups after it; None before two weeks were answered. Three queries (one
    before then), each compiled once per thread."""
    reads = _then_and_now_reads()
    ends = reads["ends"].rows(patient_id)
    if not ends or ends[0]["checkin_id"] == ends[-1]["checkin_id"]:
        return None
    first, last = ends[0], ends[-1]
    statuses: dict[int, list[str]] = defaultdict(list)
    for checkin_id, status in reads["statuses"].rows([first["checkin_id"], last["checkin_id"]]):
        statuses[checkin_id].append(status)

    def week(row: dict) -> Week:
        return Week(
            due_on=row["checkin__due_on"],
            score=score_of(statuses[row["checkin_id"]])[0],
            ratings=[(name.capitalize(), row[name]) for name in RATINGS],
        )

    follow_ups = [
        (
            due_on,
            CheckIn.Status(status).label,
            [(name.capitalize(), value) for name, value in zip(RATINGS, values, strict=True)],
        )
        for due_on, status, *values in reads["follow-ups"].rows(patient_id)
    ]
    return ThenAndNow(then=week(first), now=week(last), follow_ups=follow_ups)
