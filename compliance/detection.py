"""Noticing faltering early, without blame.

Two periodic jobs (Celery beat, or ``manage.py detect_faltering``), both safe to run twice:

``checkins_mark_missed``
    A scheduled check-in whose window has closed becomes *missed* (a conditional UPDATE, so a second run
    changes nothing) and the patient gets one gentle "tell us what got in the way" follow-up
    (``checkin:<pk>:missed``) — unless a person is calling them instead: their alert is escalated, or they
    were reached and this check-in closed unanswered after that (detection escalates it). It goes out as the admin's *missed check-in* rule says (by default a day after
    the window closed) and links to the patient's next check-in of the same journey: a missed check-in can
    never be answered, and the next one takes an answer even before its due day. With no check-in left the
    link is left out; the wording reads well without it.

``detect_faltering``
    For every patient whose open journey is at check-ins, plain rules with the thresholds of
    ``ClinicSettings``, reading only what came after the patient's latest course correction (a new plan is
    judged on its own evidence):

    * side effect — an answer names the side-effects barrier or plainly tells of one in the patient's words
      (``reports_side_effect``; ``checkin_answer_record`` already calls ``side_effect_heard`` at answer time);
    * missed check-ins — the last ``missed_in_a_row`` closed check-ins (default one) closed unanswered, or,
      with ``answer_wait_days``, a request has waited that long without an answer;
    * low adherence — the recent check-ins (the last two, up to four until ``min_reports`` item reports
      count) score below ``adherence_threshold − low_margin_points``;
    * adherence dropped — the recent score is ``drop_points`` or more below the check-ins due in the
      ``window_days`` before them (also needing ``min_reports``).
      Or a hard week, told: the newest answer alone scores ``hard_week_points`` or more below the
      patient's usual and names a barrier or says in words what got in the way — noticed the day it is
      told, not a week later at the next check-in.

    One stretch of faltering is one conversation: a patient has at most one open alert, carrying every
    reason (``Alert.reasons``; the partial unique constraint makes a second impossible even for two
    concurrent runs). Opening it schedules one warm outreach — none for a side effect alone, the missed
    check-in's own follow-up for silence, and never more than one outreach per patient in
    ``outreach_every_days`` — and emails the lead practitioner once. A later reason joins the open alert
    (a side effect also emails the lead); a patient who lets a check-in close unanswered after being reached
    is escalated (``escalated_at``: a person calls them) instead of alerted and written to again.

Queries: a fixed handful for the whole run, whatever the number of patients, and a few more only for each
alert opened or changed.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.audit import record_access_many
from accounts.events import domain_events_record_many
from accounts.links import url_for_id, url_for_token
from accounts.models import AccessEvent
from journeys.models import CheckIn, Journey, Stage
from journeys.tokens import checkin_token
from nudges.models import Kind, Nudge, NudgeRule
from nudges.services import NudgeRequest, nudge_schedule_many
from patients.models import CareTeamMember

from .emails import render_email
from .models import Alert, Barrier, CheckInAnswer, ClinicSettings, ComplianceLog
from .scoring import RECENT_AT_MOST, latest_against_usual, recent_and_baseline

logger = logging.getLogger(__name__)

DETECTION_LABEL = "falter detection"
MISSED_LABEL = "missed check-in sweep"
# Used when the clinic has no rule for the kind (normally the shipped rules exist).
DEFAULT_OFFSET_MINUTES = {Kind.CHECKIN_MISSED: 24 * 60, Kind.ADHERENCE_OUTREACH: 0}
# A follow-up to a missed check-in stops mattering once the next week's check-in has come and gone.
MISSED_FOLLOW_UP_USEFUL_FOR = timedelta(days=7)
# The periodic jobs work through this many journeys (check-ins for the sweep) at a time, each chunk read,
# judged and committed on its own: memory stays bounded, and a run cut short at Celery's time limit keeps
# every alert and follow-up of the chunks it finished.
DETECTION_CHUNK = 1_000
SWEEP_CHUNK = 1_000


def missed_key(checkin_id: int) -> str:
    return f"checkin:{checkin_id}:missed"


def outreach_key(alert_id: int) -> str:
    return f"alert:{alert_id}:outreach"


def checkin_url(checkin_id: int) -> str:
    return settings.ALLIANCE_SITE_URL + url_for_token("compliance:checkin_answer", checkin_token(checkin_id))


def _rule_offset(kind: str) -> timedelta | None:
    """The delay the admin's rule sets for a once-only nudge; None when the rule is off or empty."""
    rule = NudgeRule.objects.filter(kind=kind).first()
    if rule is None:
        return timedelta(minutes=DEFAULT_OFFSET_MINUTES[kind])
    if not rule.enabled or not rule.offsets_minutes:
        return None
    return timedelta(minutes=max(0, int(rule.offsets_minutes[0])))


# --- Missed check-ins -----------------------------------------------------------------------------


def _claim_closed(now: datetime) -> list[int]:
    """Mark every scheduled check-in whose window has closed as missed; return the ids this call marked."""
    with transaction.atomic():
        candidates = CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED, closes_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True))
        if not ids:
            return []
        CheckIn.objects.filter(pk__in=ids, status=CheckIn.Status.SCHEDULED).update(
            status=CheckIn.Status.MISSED
        )
        # Under SKIP LOCKED (or SQLite's single writer) each id above was ours to mark.
        return list(
            CheckIn.objects.filter(pk__in=ids, status=CheckIn.Status.MISSED).values_list("pk", flat=True)
        )


def _next_checkins(journey_ids: set[int], now: datetime) -> dict[int, int]:
    """Per journey, the id of its next check-in still open for an answer."""
    upcoming = (
        CheckIn.objects.filter(journey_id__in=journey_ids, status=CheckIn.Status.SCHEDULED, closes_at__gt=now)
        .order_by("journey_id", "due_on")
        .values_list("journey_id", "pk")
    )
    next_by_journey: dict[int, int] = {}
    for journey_id, pk in upcoming:
        next_by_journey.setdefault(journey_id, pk)
    return next_by_journey


def _calling_from() -> dict[int, datetime]:
    """Per patient with an open alert, from when a check-in they leave unanswered gets no automatic
    follow-up, because a person calls them instead: always once the alert is escalated; otherwise from when
    they were reached (its outreach sent, or the alert opened), as a check-in closing unanswered after that
    escalates the alert. One query."""
    return {
        patient_id: datetime.min.replace(tzinfo=UTC) if escalated_at else (sent_at or opened_at)
        for patient_id, escalated_at, sent_at, opened_at in Alert.objects.filter(
            resolved_at__isnull=True
        ).values_list("patient_id", "escalated_at", "outreach_nudge__sent_at", "opened_at")
    }


def checkins_mark_missed(*, now: datetime | None = None) -> int:
    """Mark closed, unanswered check-ins missed, each once, and schedule one gentle follow-up for each
    (only while its journey is still at check-ins). Return how many were marked.

    Set-based: a fixed number of statements per ``SWEEP_CHUNK`` check-ins marked (the claim, then per chunk
    the check-ins, their next ones, the follow-ups in bulk and the audit rows in one chained insert), each
    chunk committed on its own."""
    now = now or timezone.now()
    marked = _claim_closed(now)
    if not marked:
        return 0
    calling_from = _calling_from()
    offset = _rule_offset(Kind.CHECKIN_MISSED)
    for start in range(0, len(marked), SWEEP_CHUNK):
        with transaction.atomic():
            _follow_up_missed(marked[start : start + SWEEP_CHUNK], now, calling_from, offset)
    return len(marked)


def _follow_up_missed(
    ids: list[int], now: datetime, calling_from: dict[int, datetime], offset: timedelta | None
) -> None:
    missed = list(CheckIn.objects.filter(pk__in=ids).select_related("journey__patient").order_by("pk"))
    following = {
        c.pk
        for c in missed
        if offset is not None
        and c.journey.is_open
        and c.journey.stage == Stage.CHECK_INS
        and not c.closes_at > calling_from.get(c.journey.patient_id, c.closes_at)
    }
    next_by_journey = (
        _next_checkins({c.journey_id for c in missed if c.pk in following}, now) if following else {}
    )
    requests = []
    for checkin in missed:
        if checkin.pk in following and offset is not None:
            next_id = next_by_journey.get(checkin.journey_id)
            requests.append(
                NudgeRequest(
                    patient=checkin.journey.patient,
                    kind=Kind.CHECKIN_MISSED,
                    send_at=max(now, checkin.closes_at + offset),
                    expires_at=checkin.closes_at + MISSED_FOLLOW_UP_USEFUL_FOR,
                    dedupe_key=missed_key(checkin.pk),
                    context={"checkin_url": checkin_url(next_id)} if next_id else {},
                )
            )
    nudge_schedule_many(requests)
    record_access_many(
        {
            "action": AccessEvent.Action.UPDATE,
            "actor_label": MISSED_LABEL,
            "patient_id": checkin.journey.patient_id,
            "obj": checkin,
            "detail": f"check-in due {checkin.due_on:%Y-%m-%d} closed unanswered"
            + ("; a gentle follow-up is scheduled" if checkin.pk in following else ""),
        }
        for checkin in missed
    )


# --- Faltering ------------------------------------------------------------------------------------

# Words that tell of a side effect in the patient's own answer; conservative on purpose (tests keep it so).
SIDE_EFFECT_WORDS = re.compile(
    r"\b(side[- ]effects?|rash(es)?|hives|nausea|nauseous|vomit(ing|ed)?|threw up|throwing up|"
    r"headaches? since|made me (feel )?sick|makes me (feel )?sick|allergic reaction)\b",
    re.IGNORECASE,
)
NOT_A_SIDE_EFFECT = re.compile(
    r"\b(no|not any|without|zero|never had|haven't had|hasn't had|didn't have|no more)\s+(\w+\s+)?$",
    re.IGNORECASE,
)
# The order reasons are named in: the most urgent first.
PRIORITY = [
    Alert.Reason.SIDE_EFFECT,
    Alert.Reason.MISSED_CHECKINS,
    Alert.Reason.LOW_ADHERENCE,
    Alert.Reason.ADHERENCE_DROP,
]
COUNT_WORDS = {2: "two", 3: "three", 4: "four"}


def reports_side_effect(*, barriers, words: str) -> bool:
    """True when an answer names the side-effects barrier, or its words plainly tell of one ("a rash",
    "made me sick"), unless they say there was none ("no side effects")."""
    if isinstance(barriers, list) and Barrier.SIDE_EFFECTS in barriers:
        return True
    for found in SIDE_EFFECT_WORDS.finditer(words or ""):
        if not NOT_A_SIDE_EFFECT.search(words[max(0, found.start() - 30) : found.start()]):
            return True
    return False


@dataclass(frozen=True)
class Finding:
    journey: Journey
    reason: str
    detail: str
    answer_id: int | None = None

    @property
    def patient(self):
        return self.journey.patient

    @property
    def reason_label(self) -> str:
        return Alert.Reason(self.reason).label

    def as_row(self, now: datetime) -> dict:
        return {"reason": self.reason, "detail": self.detail, "at": now.isoformat()}


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _percent(value: float) -> str:
    return f"{value:g}%"


def _journeys_at_checkins():
    lead = CareTeamMember.objects.current().filter(
        patient=OuterRef("patient_id"), role=CareTeamMember.Role.LEAD, user__isnull=False
    )
    return (
        Journey.objects.open()
        .filter(stage=Stage.CHECK_INS, patient__archived=False)
        .select_related("patient")
        .annotate(
            lead_name=Subquery(lead.values("user__display_name")[:1]),
            lead_email=Subquery(lead.values("user__email")[:1]),
        )
        .order_by("pk")
    )


@dataclass
class _Seen:
    """One check-in as the rules read it."""

    pk: int
    due_on: date
    status: str  # answered, missed (closed unanswered), or waiting (asked, still open)
    moment: datetime  # answered: when; missed: when it closed; waiting: when it was asked
    answer_id: int | None = None
    side_effect: bool = False
    told: bool = False  # the answer named a barrier or said in words what got in the way
    statuses: list[str] = field(default_factory=list)


def _history(journey_ids: list[int], now: datetime, window_days: int) -> dict[int, list[_Seen]]:
    """Per journey, its check-ins that are answered, closed, or asked and waiting, newest first, with the
    item reports of the answered ones. Two queries. A check-in still marked scheduled after its window closed
    counts as missed, so detection never waits for the missed-check-in sweep.

    Only the rules' window is kept: once a journey has ``RECENT_AT_MOST`` answered check-ins, nothing due more
    than ``window_days`` before the oldest of them can change a finding (the recent sample is at most those
    answers, the baseline reaches ``window_days`` before it, the silence rules read the newest closed ones),
    so older check-ins are dropped and their item reports never read."""
    rows = _history_rows(journey_ids, now, window_days)
    history: dict[int, list[_Seen]] = defaultdict(list)
    answered: dict[int, _Seen] = {}
    answers_seen: dict[int, int] = defaultdict(int)
    cutoff: dict[int, date] = {}
    for journey_id, pk, due_on, status, answered_at, closes_at, asked_at, answer_id, barriers, words in rows:
        if journey_id in cutoff and due_on < cutoff[journey_id]:
            continue  # older than anything the rules read
        if status == CheckIn.Status.ANSWERED:
            seen = _Seen(pk, due_on, "answered", answered_at or closes_at, answer_id)
            seen.side_effect = answer_id is not None and reports_side_effect(barriers=barriers, words=words)
            seen.told = bool(barriers) or bool((words or "").strip())
            answered[pk] = seen
            answers_seen[journey_id] += 1
            if answers_seen[journey_id] == RECENT_AT_MOST:
                cutoff[journey_id] = due_on - timedelta(days=window_days)
        elif status == CheckIn.Status.MISSED or closes_at <= now:
            seen = _Seen(pk, due_on, "missed", closes_at)
        else:
            seen = _Seen(pk, due_on, "waiting", asked_at)
        history[journey_id].append(seen)
    for checkin_id, status in _item_reports(list(answered)):
        answered[checkin_id].statuses.append(status)
    return history


def _history_rows(journey_ids: list[int], now: datetime, window_days: int):
    """The check-in rows ``_history`` reads. On PostgreSQL the rules' window is cut in the database (per
    journey, nothing due more than ``window_days`` before its ``RECENT_AT_MOST``-th newest answer, found by
    one index probe per journey), so a year of weekly check-ins costs what a few weeks cost; elsewhere
    ``_history`` cuts it in Python."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_HISTORY_SQL, {"ids": journey_ids, "now": now, "window": window_days})
            # Django has psycopg hand JSON back as text (the field decodes it): decode the barriers here.
            return [
                (*row[:8], json.loads(row[8]) if isinstance(row[8], str) else row[8], row[9])
                for row in cursor.fetchall()
            ]
    return (
        CheckIn.objects.filter(journey_id__in=journey_ids)
        .filter(
            Q(status__in=[CheckIn.Status.ANSWERED, CheckIn.Status.MISSED])
            | Q(closes_at__lte=now)
            | Q(request_nudge__sent_at__isnull=False)
        )
        .order_by("journey_id", "-due_on")
        .values_list(
            "journey_id", "pk", "due_on", "status", "answered_at", "closes_at", "request_nudge__sent_at",
            "answer__pk", "answer__barriers", "answer__where_it_failed",
        )
    )  # fmt: skip


# The same rows as the ORM query in ``_history_rows``, with the window cut per journey. ``cut`` is
# materialised so its one probe per journey is not re-run for every check-in row.
_HISTORY_SQL = f"""
WITH cut AS MATERIALIZED (
    SELECT j.id AS journey_id,
           (SELECT a.due_on FROM journeys_checkin a
             WHERE a.journey_id = j.id AND a.status = 'answered'
             ORDER BY a.due_on DESC OFFSET {RECENT_AT_MOST - 1} LIMIT 1) - %(window)s AS since
      FROM unnest(%(ids)s::bigint[]) AS j(id)
)
SELECT c.journey_id, c.id, c.due_on, c.status, c.answered_at, c.closes_at, n.sent_at,
       ans.id, ans.barriers, ans.where_it_failed
  FROM cut
  JOIN journeys_checkin c ON c.journey_id = cut.journey_id AND (cut.since IS NULL OR c.due_on >= cut.since)
  LEFT JOIN nudges_nudge n ON n.id = c.request_nudge_id
  LEFT JOIN compliance_checkinanswer ans ON ans.checkin_id = c.id
 WHERE c.status IN ('answered', 'missed') OR c.closes_at <= %(now)s OR n.sent_at IS NOT NULL
 ORDER BY c.journey_id, c.due_on DESC
"""  # noqa: S608  (only a constant is interpolated)


def _item_reports(checkin_ids: list[int]):
    """(check-in id, status) of every item report of these check-ins: one query, its ids one parameter."""
    if not checkin_ids:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT checkin_id, status FROM compliance_compliancelog WHERE checkin_id = ANY(%s)",
                [checkin_ids],
            )
            return cursor.fetchall()
    return ComplianceLog.objects.filter(checkin_id__in=checkin_ids).values_list("checkin_id", "status")


def _last_corrected(patient_ids: list[int] | None = None) -> dict[int, datetime]:
    """Per patient (of ``patient_ids``, else all), when their latest alert was answered: the rules read only
    what came after. One query."""
    answered = Alert.objects.filter(resolved_at__isnull=False)
    if patient_ids is not None:
        answered = answered.filter(patient_id__in=patient_ids)
    return dict(
        answered.values("patient_id").annotate(last=Max("resolved_at")).values_list("patient_id", "last")
    )


def _findings_for(
    journey: Journey, seen: list[_Seen], rules: ClinicSettings, now: datetime, since: datetime | None
) -> list[Finding]:
    """Every rule that holds for the journey's patient now, reading only check-ins answered, missed or asked
    after ``since`` (the latest course correction): a new plan is judged on its own evidence."""
    after = [s for s in seen if since is None or s.moment > since]
    found = []
    said = next((s for s in after if s.status == "answered" and s.side_effect), None)
    if said is not None:
        found.append(
            Finding(
                journey,
                Alert.Reason.SIDE_EFFECT,
                f"Reported in the check-in due {_day(said.due_on)}",
                answer_id=said.answer_id,
            )
        )
    closed = [s.status for s in after if s.status != "waiting"]
    recent = closed[: rules.missed_in_a_row]
    if len(recent) == rules.missed_in_a_row and all(status == "missed" for status in recent):
        detail = (
            "The last check-in was missed"
            if rules.missed_in_a_row == 1
            else f"{rules.missed_in_a_row} check-ins missed in a row"
        )
        found.append(Finding(journey, Alert.Reason.MISSED_CHECKINS, detail))
    elif rules.answer_wait_days and after and after[0].status == "waiting" and after[0].moment is not None:
        waited = now - after[0].moment
        if waited >= timedelta(days=rules.answer_wait_days):
            found.append(
                Finding(
                    journey,
                    Alert.Reason.MISSED_CHECKINS,
                    f"No answer yet, {waited.days} days after the check-in request",
                )
            )
    answered = [(s.due_on, s.statuses) for s in after if s.status == "answered"]
    reading = recent_and_baseline(answered, min_reports=rules.min_reports, baseline_days=rules.window_days)
    over = f"over the last {COUNT_WORDS.get(reading.checkins, reading.checkins)} check-ins"
    if reading.score is not None and reading.score < rules.adherence_threshold - rules.low_margin_points:
        found.append(Finding(journey, Alert.Reason.LOW_ADHERENCE, f"{_percent(reading.score)} {over}"))
    if reading.drop is not None and reading.drop >= rules.drop_points:
        found.append(
            Finding(
                journey,
                Alert.Reason.ADHERENCE_DROP,
                f"Down {reading.drop:g} points, from {_percent(reading.baseline)} to "
                f"{_percent(reading.score)}, {over}",
            )
        )
    elif rules.hard_week_points and after and after[0].status == "answered" and after[0].told:
        latest = latest_against_usual(
            answered, min_reports=rules.min_reports, baseline_days=rules.window_days
        )
        if latest.drop is not None and latest.drop >= rules.hard_week_points:
            found.append(
                Finding(
                    journey,
                    Alert.Reason.ADHERENCE_DROP,
                    f"A hard week: {_percent(latest.score)} in the check-in due {_day(after[0].due_on)}, "
                    f"down {latest.drop:g} points from their usual {_percent(latest.usual)}, "
                    "and they told us what got in the way",
                )
            )
    return found


@dataclass
class _Open:
    """A patient's open alert, as detection needs it."""

    pk: int
    reasons: list[dict]
    reached_at: datetime  # when the outreach went, else when the alert opened
    escalated: bool

    @property
    def reason_values(self) -> set[str]:
        return {row["reason"] for row in self.reasons}


def _open_alerts(patient_ids: list[int] | None = None) -> dict[int, _Open]:
    """Per patient (of ``patient_ids``, else all), their open alert. One query."""
    open_ = Alert.objects.filter(resolved_at__isnull=True)
    if patient_ids is not None:
        open_ = open_.filter(patient_id__in=patient_ids)
    return {
        patient_id: _Open(
            pk, reasons or [{"reason": reason, "detail": detail}], sent_at or opened_at, bool(up)
        )
        for pk, patient_id, reason, detail, reasons, sent_at, opened_at, up in open_.values_list(
            "pk",
            "patient_id",
            "reason",
            "detail",
            "reasons",
            "outreach_nudge__sent_at",
            "opened_at",
            "escalated_at",
        )
    }


@dataclass
class _Plan:
    """What one run does for one patient: a new alert with its reasons, or reasons added to the open one,
    and whether the patient stayed silent after being reached (escalate: a person calls)."""

    journey: Journey
    findings: list[Finding]
    open: _Open | None = None
    escalate: bool = False
    last_missed_id: int | None = None


def _journey_chunks() -> Iterator[list[Journey]]:
    """The journeys at check-ins, ``DETECTION_CHUNK`` at a time in id order (keyset: each chunk one query
    starting after the last id, so nothing is held open between chunks and commits)."""
    after = 0
    while True:
        chunk = list(_journeys_at_checkins().filter(pk__gt=after)[:DETECTION_CHUNK])
        if not chunk:
            return
        yield chunk
        if len(chunk) < DETECTION_CHUNK:
            return
        after = chunk[-1].pk


def _plans_for(
    journeys: list[Journey], rules: ClinicSettings, now: datetime, open_alerts: dict[int, _Open]
) -> list[_Plan]:
    """What one run does for these journeys' patients. Three queries whatever their number."""
    history = _history([j.pk for j in journeys], now, rules.window_days)
    corrected = _last_corrected([j.patient_id for j in journeys])
    plans = []
    for journey in journeys:
        seen = history.get(journey.pk, [])
        findings = _findings_for(journey, seen, rules, now, corrected.get(journey.patient_id))
        findings.sort(key=lambda f: PRIORITY.index(f.reason))
        current = open_alerts.get(journey.patient_id)
        last_missed = next((s for s in seen if s.status == "missed"), None)
        if current is None:
            if findings:
                plans.append(_Plan(journey, findings, last_missed_id=last_missed and last_missed.pk))
            continue
        new = [f for f in findings if f.reason not in current.reason_values]
        silent = not current.escalated and last_missed is not None and last_missed.moment > current.reached_at
        if new or silent:
            plans.append(_Plan(journey, new, open=current, escalate=silent))
    return plans


def _plans(now: datetime) -> Iterator[list[_Plan]]:
    """Chunk after chunk, what one run does: read, judge and (in ``detect_faltering``) act on one chunk of
    journeys before the next is read."""
    rules = ClinicSettings.load()
    open_alerts = _open_alerts()
    for journeys in _journey_chunks():
        yield _plans_for(journeys, rules, now, open_alerts)


def falter_findings(*, now: datetime | None = None) -> list[Finding]:
    """What the rules see now that the patient's open alert does not carry yet (nor an answered one, whose
    evidence the rules no longer read). Reads only: ``--dry-run`` shows this."""
    now = now or timezone.now()
    return [finding for plans in _plans(now) for plan in plans for finding in plan.findings]


def _recently_reached(now: datetime, days: int) -> set[int]:
    """Patients an automatic outreach was scheduled for in the last ``days`` (and not withdrawn). One query."""
    return set(
        Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH, send_at__gte=now - timedelta(days=days))
        .exclude(status__in=[Nudge.Status.CANCELLED, Nudge.Status.SUPPRESSED])
        .values_list("patient_id", flat=True)
    )


def _outreach_many(pairs: list[tuple[_Plan, Alert]], *, now, outreach_after, reached: set[int]) -> set[int]:
    """The warm note for each new alert (set on ``alert.outreach_nudge``): none for a side effect alone (it is
    for the practitioner); for a check-in left unanswered, the gentle follow-up the sweep sends for it;
    otherwise one outreach, at most once per patient in the clinic's ``outreach_every_days``. A fixed
    handful of queries whatever the number of alerts. Return the patients an outreach was scheduled for."""
    silent = {
        alert.pk: missed_key(plan.last_missed_id)
        for plan, alert in pairs
        if plan.findings[0].reason == Alert.Reason.MISSED_CHECKINS and plan.last_missed_id is not None
    }
    follow_ups = (
        {n.dedupe_key: n for n in Nudge.objects.filter(dedupe_key__in=list(silent.values()))}
        if silent
        else {}
    )
    sweep_follows_up = silent and _rule_offset(Kind.CHECKIN_MISSED) is not None
    requests = []
    reaching: set[int] = set()
    for plan, alert in pairs:
        if {f.reason for f in plan.findings} == {Alert.Reason.SIDE_EFFECT}:
            continue
        if alert.pk in silent:
            follow_up = follow_ups.get(silent[alert.pk])
            if follow_up is not None or sweep_follows_up:
                alert.outreach_nudge = follow_up
                continue
        if outreach_after is None or alert.patient_id in reached or alert.patient_id in reaching:
            continue
        reaching.add(alert.patient_id)
        requests.append(
            NudgeRequest(
                patient=plan.journey.patient,
                kind=Kind.ADHERENCE_OUTREACH,
                send_at=now + outreach_after,
                dedupe_key=outreach_key(alert.pk),
            )
        )
    made = nudge_schedule_many(requests)
    for _plan, alert in pairs:
        if alert.outreach_nudge_id is None and outreach_key(alert.pk) in made:
            alert.outreach_nudge = made[outreach_key(alert.pk)]
    return reaching


def _labels(findings: list[Finding]) -> str:
    return ", ".join(f.reason_label.lower() for f in findings)


def _open_many(
    plans: list[_Plan], *, now: datetime, outreach_after, reached: set[int]
) -> list[tuple[_Plan, Alert]]:
    """Open one alert per plan, with its outreach and its audit row, in a fixed number of statements; return
    the alerts opened. When another run opened one of these patients' alerts a moment ago (the partial unique
    constraint refuses a second), the plans are opened one by one and that patient's is left out."""
    if not plans:
        return []
    try:
        with transaction.atomic():
            return _open_all(plans, now=now, outreach_after=outreach_after, reached=reached)
    except IntegrityError:
        if len(plans) == 1:
            return []  # another run opened this patient's alert a moment ago
    return [
        pair
        for plan in plans
        for pair in _open_many([plan], now=now, outreach_after=outreach_after, reached=reached)
    ]


def _open_all(
    plans: list[_Plan], *, now: datetime, outreach_after, reached: set[int]
) -> list[tuple[_Plan, Alert]]:
    alerts = Alert.objects.bulk_create(
        [
            Alert(
                patient=plan.journey.patient, journey=plan.journey, reason=plan.findings[0].reason,
                detail=plan.findings[0].detail, opened_at=now, reasons=[f.as_row(now) for f in plan.findings],
                answer_id=next((f.answer_id for f in plan.findings if f.answer_id), None),
            )
            for plan in plans
        ]
    )  # fmt: skip
    pairs = list(zip(plans, alerts, strict=True))
    reaching = _outreach_many(pairs, now=now, outreach_after=outreach_after, reached=reached)
    with_note = [alert for alert in alerts if alert.outreach_nudge_id is not None]
    if with_note:
        Alert.objects.bulk_update(with_note, ["outreach_nudge"], batch_size=1_000)
    record_access_many(
        {
            "action": AccessEvent.Action.CREATE,
            "actor_label": DETECTION_LABEL,
            "patient_id": alert.patient_id,
            "obj": alert,
            "detail": f"alert opened: {_labels(plan.findings)}",
        }
        for plan, alert in pairs
    )
    domain_events_record_many(
        [
            {
                "name": "alert.opened",
                "patient_id": alert.patient_id,
                "object_id": alert.pk,
                "data": {"alert_id": alert.pk, "reason": alert.reason},
            }
            for alert in alerts
        ]
    )
    reached |= reaching  # only once this chunk's alerts stand (a refused bulk insert reached nobody)
    return pairs


def _open_one(plan: _Plan, *, now: datetime, outreach_after, reached: set[int]) -> Alert | None:
    opened = _open_many([plan], now=now, outreach_after=outreach_after, reached=reached)
    return opened[0][1] if opened else None


def _carry_on_many(plans: list[_Plan], *, now: datetime) -> list[tuple[_Plan, Alert]]:
    """Add the new reasons to each patient's open alert, and escalate it when they stayed silent after
    outreach; no second alert, no second note. The alert rows are locked and read again (one statement), so
    two runs adding reasons at once keep both; the changed rows are written and audited in bulk. Return the
    alerts a side effect joined (the lead is told at once)."""
    if not plans:
        return []
    heard = []
    with transaction.atomic():
        locked = {
            alert.pk: alert
            for alert in Alert.objects.select_for_update()
            .filter(
                pk__in={plan.open.pk for plan in plans if plan.open is not None}, resolved_at__isnull=True
            )
            .order_by("pk")
        }
        changed: dict[int, tuple[Alert, list[str]]] = {}
        fields: set[str] = set()
        for plan in plans:
            alert = locked.get(plan.open.pk) if plan.open is not None else None
            if alert is None:
                continue  # answered a moment ago: its evidence is no longer read
            rows = alert.reasons or [{"reason": alert.reason, "detail": alert.detail}]
            have = {row["reason"] for row in rows}
            added = [f for f in plan.findings if f.reason not in have]
            escalate = plan.escalate and alert.escalated_at is None
            if not added and not escalate:
                continue
            said = changed.setdefault(alert.pk, (alert, []))[1]
            if added:
                alert.reasons = rows + [f.as_row(now) for f in added]
                fields.add("reasons")
                answer_id = next((f.answer_id for f in added if f.answer_id), None)
                if answer_id:
                    alert.answer_id = answer_id
                    fields.add("answer")
                said.append(f"reasons added: {_labels(added)}")
            if escalate:
                alert.escalated_at = now
                fields.add("escalated_at")
                said.append("no answer since the patient was reached: call the patient")
            plan.open.reasons, plan.open.escalated = alert.reasons, alert.escalated_at is not None
            if any(f.reason == Alert.Reason.SIDE_EFFECT for f in added):
                heard.append((plan, alert))
        if not changed:
            return heard
        Alert.objects.bulk_update([alert for alert, _ in changed.values()], sorted(fields), batch_size=1_000)
        record_access_many(
            {
                "action": AccessEvent.Action.UPDATE,
                "actor_label": DETECTION_LABEL,
                "patient_id": alert.patient_id,
                "obj": alert,
                "detail": "; ".join(said),
            }
            for alert, said in changed.values()
        )
    return heard


def _carry_on(plan: _Plan, *, now: datetime) -> Alert | None:
    """``_carry_on_many`` for one plan: the alert when a side effect joined it, else None."""
    heard = _carry_on_many([plan], now=now)
    return heard[0][1] if heard else None


def _lowered(text: str) -> str:
    return text[:1].lower() + text[1:]


def _lead_email(journey: Journey, alert: Alert, findings: list[Finding]) -> EmailMultiAlternatives | None:
    """The email telling the lead practitioner why, once per alert opened (or side effect heard): the reasons
    only, the rest is behind their sign-in. The subject never names the patient. None without a lead."""
    email = getattr(journey, "lead_email", None)
    if not email or not findings:
        return None
    patient = journey.patient
    site = settings.ALLIANCE_SITE_URL
    rendered = render_email(
        "alert_lead",
        {
            "lead_name": journey.lead_name,
            "patient_name": patient.display_name,
            "reasons": [{"label": f.reason_label, "detail": _lowered(f.detail)} for f in findings],
            "outreach": alert.outreach_nudge_id is not None
            and any(f.reason != Alert.Reason.SIDE_EFFECT for f in findings),
            "patient_url": site + url_for_id("dashboard:patient", patient.pk),
            "alert_urls": [site + url_for_id("compliance:alert", alert.pk)],
        },
    )
    message = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email]
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def _email_lead(journey: Journey, alert: Alert, findings: list[Finding]) -> None:
    _email_leads([(journey, alert, findings)])


def _email_leads(emails: list[tuple[Journey, Alert, list[Finding]]]) -> None:
    """Send the leads' emails (a chunk's) over one connection to the mail server; one that fails is logged
    and the rest still go — the alerts are open and on the alerts page either way."""
    messages = [(journey, _lead_email(journey, alert, findings)) for journey, alert, findings in emails]
    ready = [(journey, message) for journey, message in messages if message is not None]
    if not ready:
        return
    backend = mailers.default
    try:
        opened = backend.open()
    except Exception:
        logger.warning("could not reach the mail server for the leads' emails", exc_info=True)
        return
    try:
        for journey, message in ready:
            try:
                backend.send_messages([message])
            except Exception:
                logger.warning(
                    "could not email the lead practitioner about patient %s",
                    journey.patient_id,
                    exc_info=True,
                )
    finally:
        if opened:
            try:
                backend.close()
            except Exception:
                logger.warning("could not close the mail connection", exc_info=True)


def detect_faltering(*, now: datetime | None = None) -> list[Alert]:
    """Open at most one alert per patient, carrying every reason that holds, with at most one outreach per
    patient in the clinic's ``outreach_every_days`` and one email to the lead practitioner; add later reasons
    to the open alert and escalate it when the patient stays silent after outreach. Return the alerts opened.

    Chunk by chunk of ``DETECTION_CHUNK`` journeys: read, judge, then open and change alerts in bulk and
    commit, before the next chunk is read — a fixed number of queries per chunk, and a run cut short at the
    time limit keeps what the chunks before it found. The leads' emails of a chunk go after its commit."""
    now = now or timezone.now()
    rules = ClinicSettings.load()
    open_alerts = _open_alerts()
    outreach_after: timedelta | None = None
    reached: set[int] | None = None
    opened: list[Alert] = []
    for journeys in _journey_chunks():
        plans = _plans_for(journeys, rules, now, open_alerts)
        if not plans:
            continue
        if reached is None:  # read once, when the first chunk has something to do
            outreach_after = _rule_offset(Kind.ADHERENCE_OUTREACH)
            reached = _recently_reached(now, rules.outreach_every_days)
        with transaction.atomic():
            heard = _carry_on_many([plan for plan in plans if plan.open is not None], now=now)
            new = _open_many(
                [plan for plan in plans if plan.open is None],
                now=now,
                outreach_after=outreach_after,
                reached=reached,
            )
        _email_leads(
            [
                (plan.journey, alert, [f for f in plan.findings if f.reason == Alert.Reason.SIDE_EFFECT])
                for plan, alert in heard
            ]
            + [(plan.journey, alert, plan.findings) for plan, alert in new]
        )
        opened += [alert for _plan, alert in new]
    return opened


def side_effect_heard(*, answer: CheckInAnswer, now: datetime | None = None) -> Alert | None:
    """At answer time (``checkin_answer_record`` calls this): an answer that tells of a side effect opens an
    alert of that reason for the lead practitioner at once — or joins the patient's open alert — and the
    lead is emailed when the transaction commits. Once per answer: answering again, or the next detection
    run, adds nothing. Return the alert when it was opened or joined."""
    now = now or timezone.now()
    if not reports_side_effect(barriers=answer.barriers, words=answer.where_it_failed):
        return None
    journey = _journeys_at_checkins().filter(
        pk=answer.checkin.journey_id
    ).first() or Journey.objects.select_related("patient").get(pk=answer.checkin.journey_id)
    corrected = _last_corrected([answer.patient_id]).get(answer.patient_id)
    if corrected is not None and answer.answered_at <= corrected:
        return None
    finding = Finding(
        journey,
        Alert.Reason.SIDE_EFFECT,
        f"Reported in the check-in due {_day(answer.checkin.due_on)}",
        answer_id=answer.pk,
    )
    current = _open_alerts([answer.patient_id]).get(answer.patient_id)
    if current is not None:
        if Alert.Reason.SIDE_EFFECT in current.reason_values:
            return None
        alert = _carry_on(_Plan(journey, [finding], open=current), now=now)
    else:
        with transaction.atomic():
            alert = _open_one(_Plan(journey, [finding]), now=now, outreach_after=None, reached=set())
    if alert is not None:
        transaction.on_commit(lambda: _email_lead(journey, alert, [finding]))
    return alert
