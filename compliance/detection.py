"""Noticing faltering early, without blame.

Two periodic jobs (Celery beat, or ``manage.py detect_faltering``), both safe to run twice:

``checkins_mark_missed``
    A scheduled check-in whose window has closed becomes *missed* (a conditional UPDATE, so a second run
    changes nothing) and the patient gets one gentle "tell us what got in the way" follow-up
    (``checkin:<pk>:missed``). It goes out as the admin's *missed check-in* rule says (by default a day after
    the window closed) and links to the patient's next check-in of the same journey: a missed check-in can
    never be answered, and the next one takes an answer even before its due day. With no check-in left the
    link is left out; the wording reads well without it.

``detect_faltering``
    For every patient whose open journey is at check-ins, three plain rules, with the thresholds of
    ``ClinicSettings``:

    * low adherence — the last two answered check-ins together score below the threshold;
    * missed check-ins — the most recent ``missed_in_a_row`` closed check-ins were all missed;
    * adherence dropped — the score fell by ``drop_points`` or more from the window before.

    Each reason that holds and has no open alert opens one (the partial unique constraint makes a
    duplicate impossible even for two concurrent runs), schedules one warm outreach nudge to the patient
    and emails the lead practitioner (one email per patient and run, naming each new reason). A patient who
    already has an open alert with an outreach message is not written to again for a second reason: one
    message per stretch of faltering, until a practitioner answers it with a course correction.

    Once an alert is answered, the same reason opens again only on newer evidence — an answer given (low
    adherence, drop) or a check-in missed (missed check-ins) after the answer — so the data a practitioner
    has just answered does not reopen the alert an hour later.

Queries: six for the whole run plus at most five per patient at check-ins (the two scoring reads),
and a few more only for each alert opened — comfortable at clinic scale (hundreds of patients).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent
from journeys.models import CheckIn, Journey, Stage
from journeys.tokens import checkin_token
from nudges.models import Kind, NudgeRule
from nudges.services import nudge_schedule
from patients.models import CareTeamMember

from .emails import render_email
from .models import Alert, ClinicSettings
from .selectors import patient_adherence, recent_answered_score

logger = logging.getLogger(__name__)

DETECTION_LABEL = "falter detection"
MISSED_LABEL = "missed check-in sweep"
# Used when the clinic has no rule for the kind (normally the shipped rules exist).
DEFAULT_OFFSET_MINUTES = {Kind.CHECKIN_MISSED: 24 * 60, Kind.ADHERENCE_OUTREACH: 0}
# A follow-up to a missed check-in stops mattering once the next week's check-in has come and gone.
MISSED_FOLLOW_UP_USEFUL_FOR = timedelta(days=7)
RECENT_ANSWERED = 2


def missed_key(checkin_id: int) -> str:
    return f"checkin:{checkin_id}:missed"


def outreach_key(alert_id: int) -> str:
    return f"alert:{alert_id}:outreach"


def checkin_url(checkin_id: int) -> str:
    return settings.ALLIANCE_SITE_URL + reverse("compliance:checkin_answer", args=[checkin_token(checkin_id)])


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


def checkins_mark_missed(*, now: datetime | None = None) -> int:
    """Mark closed, unanswered check-ins missed, each once, and schedule one gentle follow-up for each
    (only while its journey is still at check-ins). Return how many were marked."""
    now = now or timezone.now()
    marked = _claim_closed(now)
    if not marked:
        return 0
    missed = list(CheckIn.objects.filter(pk__in=marked).select_related("journey__patient").order_by("pk"))
    following = [c for c in missed if c.journey.is_open and c.journey.stage == Stage.CHECK_INS]
    offset = _rule_offset(Kind.CHECKIN_MISSED) if following else None
    next_by_journey = _next_checkins({c.journey_id for c in following}, now)
    for checkin in missed:
        patient = checkin.journey.patient
        detail = f"check-in due {checkin.due_on:%Y-%m-%d} closed unanswered"
        if checkin in following and offset is not None:
            next_id = next_by_journey.get(checkin.journey_id)
            nudge_schedule(
                patient=patient,
                kind=Kind.CHECKIN_MISSED,
                send_at=max(now, checkin.closes_at + offset),
                expires_at=checkin.closes_at + MISSED_FOLLOW_UP_USEFUL_FOR,
                dedupe_key=missed_key(checkin.pk),
                context={"checkin_url": checkin_url(next_id)} if next_id else {},
            )
            detail += "; a gentle follow-up is scheduled"
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor_label=MISSED_LABEL,
            patient_id=patient.pk,
            obj=checkin,
            detail=detail,
        )
    return len(marked)


# --- Faltering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    journey: Journey
    reason: str
    detail: str

    @property
    def patient(self):
        return self.journey.patient

    @property
    def reason_label(self) -> str:
        return Alert.Reason(self.reason).label


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
class _History:
    """A journey's closed check-ins: their statuses newest first, and when the latest answer and the latest
    miss happened (the evidence a new alert needs after an earlier one was answered)."""

    statuses: list[str] = field(default_factory=list)
    last_answered: datetime | None = None
    last_missed: datetime | None = None


def _closed_history(journey_ids: list[int], now: datetime) -> dict[int, _History]:
    """Per journey, its closed check-ins. A check-in still marked scheduled after its window closed counts as
    missed, so detection never waits for the missed-check-in sweep."""
    rows = (
        CheckIn.objects.filter(journey_id__in=journey_ids)
        .filter(Q(status__in=[CheckIn.Status.ANSWERED, CheckIn.Status.MISSED]) | Q(closes_at__lte=now))
        .order_by("journey_id", "-due_on")
        .values_list("journey_id", "status", "answered_at", "closes_at")
    )
    history: dict[int, _History] = defaultdict(_History)
    for journey_id, status, answered_at, closes_at in rows:
        seen = history[journey_id]
        if status == CheckIn.Status.ANSWERED:
            seen.statuses.append(status)
            moment = answered_at or closes_at
            seen.last_answered = max(filter(None, (seen.last_answered, moment)))
        else:
            seen.statuses.append(CheckIn.Status.MISSED)
            seen.last_missed = max(filter(None, (seen.last_missed, closes_at)))
    return history


def _last_resolved() -> dict[tuple[int, str], datetime]:
    return {
        (row["patient_id"], row["reason"]): row["last"]
        for row in Alert.objects.filter(resolved_at__isnull=False)
        .values("patient_id", "reason")
        .annotate(last=Max("resolved_at"))
    }


def _newer_evidence(finding: Finding, history: _History, resolved_at: datetime | None) -> bool:
    """True unless an alert for this reason was answered and nothing was heard or missed since: a
    practitioner's answer is not undone by the very data it answered."""
    if resolved_at is None:
        return True
    evidence = (
        history.last_missed if finding.reason == Alert.Reason.MISSED_CHECKINS else history.last_answered
    )
    return evidence is not None and evidence > resolved_at


def _findings_for(journey: Journey, closed: list[str], rules: ClinicSettings, now: datetime) -> list[Finding]:
    """Every rule that holds for the journey's patient now."""
    patient = journey.patient
    found = []
    score, answered = recent_answered_score(patient_id=patient.pk, count=RECENT_ANSWERED)
    if answered == RECENT_ANSWERED and score is not None and score < rules.adherence_threshold:
        found.append(
            Finding(journey, Alert.Reason.LOW_ADHERENCE, f"{_percent(score)} over the last two check-ins")
        )
    in_a_row = rules.missed_in_a_row
    recent = closed[:in_a_row]
    if len(recent) == in_a_row and all(status == CheckIn.Status.MISSED for status in recent):
        detail = "The last check-in was missed" if in_a_row == 1 else f"{in_a_row} check-ins missed in a row"
        found.append(Finding(journey, Alert.Reason.MISSED_CHECKINS, detail))
    adherence = patient_adherence(
        patient_id=patient.pk, today=now.astimezone(patient.tz).date(), window_days=rules.window_days
    )
    if adherence.trend is not None and adherence.trend <= -rules.drop_points:
        found.append(
            Finding(
                journey,
                Alert.Reason.ADHERENCE_DROP,
                f"Down {-adherence.trend:g} points, from {_percent(adherence.previous_score)} to "
                f"{_percent(adherence.score)}, over the last {rules.window_days} days",
            )
        )
    return found


def _open_alerts() -> tuple[set[tuple[int, str]], dict[int, int]]:
    """(patient id, reason) of every open alert, and per patient an outreach nudge already made for one."""
    open_pairs, outreach = set(), {}
    for patient_id, reason, nudge_id in Alert.objects.filter(resolved_at__isnull=True).values_list(
        "patient_id", "reason", "outreach_nudge_id"
    ):
        open_pairs.add((patient_id, reason))
        if nudge_id is not None:
            outreach.setdefault(patient_id, nudge_id)
    return open_pairs, outreach


def falter_findings(*, now: datetime | None = None) -> list[Finding]:
    """What the rules see now that has no open alert yet (nor an answered one with nothing new since).
    Reads only: ``--dry-run`` shows this."""
    now = now or timezone.now()
    rules = ClinicSettings.load()
    journeys = list(_journeys_at_checkins())
    if not journeys:
        return []
    history = _closed_history([j.pk for j in journeys], now)
    open_pairs, _ = _open_alerts()
    last_resolved = _last_resolved()
    findings = []
    for journey in journeys:
        seen = history.get(journey.pk) or _History()
        for finding in _findings_for(journey, seen.statuses, rules, now):
            key = (journey.patient_id, finding.reason)
            if key not in open_pairs and _newer_evidence(finding, seen, last_resolved.get(key)):
                findings.append(finding)
    return findings


def _open_one(finding: Finding, *, now: datetime, outreach: dict[int, int], outreach_after) -> Alert | None:
    patient = finding.patient
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                patient=patient, journey=finding.journey, reason=finding.reason, detail=finding.detail,
                opened_at=now,
            )  # fmt: skip
            if patient.pk in outreach:
                alert.outreach_nudge_id = outreach[patient.pk]
            elif outreach_after is not None:
                nudge = nudge_schedule(
                    patient=patient,
                    kind=Kind.ADHERENCE_OUTREACH,
                    send_at=now + outreach_after,
                    dedupe_key=outreach_key(alert.pk),
                )
                alert.outreach_nudge = nudge
                outreach[patient.pk] = nudge.pk
            if alert.outreach_nudge_id is not None:
                alert.save(update_fields=["outreach_nudge"])
            record_access(
                action=AccessEvent.Action.CREATE,
                actor_label=DETECTION_LABEL,
                patient_id=patient.pk,
                obj=alert,
                detail=f"alert opened: {alert.get_reason_display().lower()}",
            )
    except IntegrityError:
        return None  # another run opened this alert a moment ago
    return alert


def _lowered(text: str) -> str:
    return text[:1].lower() + text[1:]


def _email_lead(journey: Journey, alerts: list[Alert]) -> None:
    """Tell the lead practitioner why, once per patient and run: the reason only, the rest is behind their
    sign-in. The subject never names the patient."""
    email = getattr(journey, "lead_email", None)
    if not email or not alerts:
        return
    patient = journey.patient
    site = settings.ALLIANCE_SITE_URL
    rendered = render_email(
        "alert_lead",
        {
            "lead_name": journey.lead_name,
            "patient_name": patient.display_name,
            "reasons": [
                {"label": alert.get_reason_display(), "detail": _lowered(alert.detail)} for alert in alerts
            ],
            "outreach": any(alert.outreach_nudge_id for alert in alerts),
            "patient_url": site + reverse("dashboard:patient", args=[patient.pk]),
            "alert_urls": [site + reverse("compliance:alert", args=[alert.pk]) for alert in alerts],
        },
    )
    message = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email]
    )
    message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except Exception:  # the alerts are open and on the alerts page either way
        logger.warning("could not email the lead practitioner about patient %s", patient.pk, exc_info=True)


def detect_faltering(*, now: datetime | None = None) -> list[Alert]:
    """Open one alert per patient and reason that now holds (never a second open one), with one outreach
    nudge per patient and one email to the lead practitioner. Return the alerts opened."""
    now = now or timezone.now()
    findings = falter_findings(now=now)
    if not findings:
        return []
    _, outreach = _open_alerts()
    outreach_after = _rule_offset(Kind.ADHERENCE_OUTREACH)
    opened: list[Alert] = []
    by_journey: dict[int, list[Alert]] = defaultdict(list)
    journeys = {}
    for finding in findings:
        alert = _open_one(finding, now=now, outreach=outreach, outreach_after=outreach_after)
        if alert is not None:
            opened.append(alert)
            by_journey[finding.journey.pk].append(alert)
            journeys[finding.journey.pk] = finding.journey
    for journey_id, alerts in by_journey.items():
        _email_lead(journeys[journey_id], alerts)
    return opened
