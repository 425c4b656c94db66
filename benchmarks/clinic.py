"""``python -m benchmarks.clinic``: a seeded clinic driven through the real services under a fake clock.

Not a test: it prints how the compliance loop and the outbox behave over simulated weeks. Patients of six
kinds, in five time zones, with their own check-in hours:

- *steady*: answer every request within a day, mostly done (about 85% of items done, 12% partly);
- *skipping*: steady, but let about one request in twelve go unanswered now and then — each such week is a
  silence the rule is meant to notice, so their alerts for it are counted apart from false alarms;
- *evening*: steady, asked at 18:00 and answering late in the evening (in their quiet hours);
- *pausing*: steady, but pause some items on purpose for a few weeks and their journey once for two weeks;
- *fading* (a lapse): from a chosen week, still answer, but the plan mostly fails them;
- *quiet* (a lapse): from a chosen week, stop answering;
- *silent* (a lapse): never answer at all.

A lapsing patient may recover after the practitioner's course correction. Practitioners answer each alert
after a delay (4–48 h), a third of them with a simpler plan version published from the alert.

The clock steps every ``--step-minutes`` (60 by default); each step runs beat's jobs that are due at their
real cadences — dispatch (every minute: due work is the same, at most one step late), reconcile (5 min),
mark-missed (15 min) and falter detection (hourly) — then the patients and practitioners act.

The database is a SQLite file in a temporary folder (``--database-url`` for another, e.g. PostgreSQL with its
own database ``alliance_sim``); it is migrated at start and thrown away at the end.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import statistics
import sys
import tempfile
import time as wall_clock
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

START = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)  # a Monday; US clocks change on 14 March, UK on 28 March
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo", "Australia/Sydney")
KINDS = {
    "steady": 0.32,
    "skipping": 0.08,
    "evening": 0.12,
    "pausing": 0.10,
    "fading": 0.16,
    "quiet": 0.14,
    "silent": 0.08,
}
LAPSES = ("fading", "quiet", "silent")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clinic", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-minutes", type=int, default=60, help="the fake clock's step (60)")
    parser.add_argument(
        "--detect-every",
        type=int,
        default=60,
        help="minutes between falter detection runs (60, beat's cadence; detection's cost grows with the "
        "number of patients, so a larger clinic may need a coarser cadence to finish quickly)",
    )
    parser.add_argument(
        "--database-url", default="", help="default: a SQLite file in a temporary folder, removed afterwards"
    )
    return parser.parse_args(argv)


def configure_environment(args: argparse.Namespace, folder: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
            "DATABASE_URL": args.database_url or f"sqlite:///{folder}/sim.sqlite3",
            "ALLIANCE_VAR_DIR": folder,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CELERY_TASK_ALWAYS_EAGER": "true",  # a nudge due now is delivered inline, as a worker would
            "CELERY_BROKER_URL": "memory://",
            "DJANGO_LOG_LEVEL": "ERROR",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "simulation-only-" + os.urandom(8).hex(),
            "DJANGO_ALLOWED_HOSTS": "localhost",
        }
    )


@dataclass(eq=False)
class Person:
    pk: int
    kind: str
    tz: ZoneInfo
    journey_id: int
    lead: object
    lapse_week: int | None = None  # the week (1-based check-in number) the lapse starts
    recovered: bool = False
    recovers: bool = False
    pause_week: int | None = None
    first_due: date | None = None
    told_side_effect: bool = False  # ticked "side effects" in some answer: an alert for it is no false alarm

    @staticmethod
    def resumed(person: Person) -> Person:
        person.pause_week = None  # one pause is enough
        return person


@dataclass
class Figures:
    detection_queries: list[int] = field(default_factory=list)
    detection_seconds: list[float] = field(default_factory=list)
    lapse_onset: dict[int, datetime] = field(default_factory=dict)


BARRIERS = ("time", "cost", "side_effects", "taste", "forgot", "life_event")
WORDS = (
    "Travel for work, no kitchen.",
    "The capsules upset my stomach.",
    "A hard week with the kids.",
    "I forgot most evenings.",
)


class Clinic:
    """The simulated clinic: its people, its agenda of their actions, and the figures gathered."""

    def __init__(self, args: argparse.Namespace):
        # Imported here: Django is set up by then.
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.connection, self.capture = connection, CaptureQueriesContext
        self.args = args
        self.rng = random.Random(args.seed)
        self.end = START + timedelta(weeks=args.weeks)
        self.people: dict[int, Person] = {}
        self.by_journey: dict[int, Person] = {}
        self.week_of: dict[int, int] = {}  # check-in id -> its week in the program (1-based)
        self.agenda: list[tuple[datetime, int, str, tuple]] = []
        self.sequence = 0
        self.figures = Figures()
        self.corrections_with_revision = 0

    def plan(self, moment: datetime, what: str, *payload) -> None:
        self.sequence += 1
        heapq.heappush(self.agenda, (moment, self.sequence, what, payload))

    # --- The clinic before the first week ---------------------------------------------------------------

    def seed(self) -> None:
        from accounts.models import User
        from journeys.models import Program, Stage
        from journeys.services.blueprints import blueprint_add_item, blueprint_publish, blueprint_start_draft
        from journeys.services.stages import journey_move, journey_start
        from patients.models import CheckinHour
        from patients.services import patient_create

        rng, weeks = self.rng, self.args.weeks
        self.practitioners = [
            User.objects.create_user(
                username=f"dr{n}", email=f"dr{n}@clinic.invalid", role="practitioner", display_name=f"Dr {n}"
            )
            for n in range(max(1, self.args.patients // 60))
        ]
        program = Program.objects.create(name="Simulated program", weeks=weeks, checkin_every_days=7)
        kinds = list(KINDS)
        for n in range(self.args.patients):
            kind = rng.choices(kinds, [KINDS[k] for k in kinds])[0]
            zone = rng.choice(ZONES)
            hour = (
                CheckinHour.EVENING
                if kind == "evening"
                else rng.choice([CheckinHour.MORNING, CheckinHour.MID_MORNING, CheckinHour.MIDDAY])
            )
            lead = self.practitioners[n % len(self.practitioners)]
            patient = patient_create(
                actor=None,
                actor_label="simulation",
                data={
                    "first_name": f"P{n}",
                    "last_name": kind.capitalize(),
                    "email": f"p{n}@example.com",
                    "time_zone": zone,
                    "checkin_hour": hour,
                },
                lead=lead,
                consent_email=True,
                consent_via="simulation",
            )
            journey = journey_start(patient=patient, actor=lead, program=program)
            for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT):
                journey_move(journey=journey, to_stage=stage, actor=lead)
            draft = blueprint_start_draft(journey=journey, actor=lead)
            for item_kind, title in (
                ("supplement", "Magnesium"),
                ("diet", "No gluten"),
                ("lifestyle", "Walk"),
            ):
                blueprint_add_item(blueprint=draft, actor=lead, kind=item_kind, title=title)
            blueprint_publish(blueprint=draft, actor=lead)
            person = Person(pk=patient.pk, kind=kind, tz=ZoneInfo(zone), journey_id=journey.pk, lead=lead)
            if kind in ("fading", "quiet"):
                person.lapse_week = rng.randint(3, max(3, weeks - 3))
                person.recovers = rng.random() < 0.5
            elif kind == "silent":
                person.lapse_week = 1
            elif kind == "pausing":
                person.pause_week = rng.randint(4, max(4, weeks - 4))
            self.people[patient.pk] = person
            self.by_journey[journey.pk] = person
            # Patients start their check-ins over the first week, as they would finish their consults.
            self.plan(START + timedelta(hours=rng.randint(0, 6 * 24)), "enter", person)
            # A follow-up visit mid-program: its reminders are exempt from the weekly budget.
            visit_at = START + timedelta(weeks=max(1, weeks // 2), hours=rng.randint(0, 96))
            self.plan(visit_at - timedelta(days=5), "book", person, visit_at)

    # --- What people do --------------------------------------------------------------------------------

    def act(self, what: str, payload: tuple, now: datetime) -> None:
        getattr(self, f"_{what}")(now, *payload)

    def _map_checkins(self, person: Person) -> None:
        from journeys.models import CheckIn

        rows = CheckIn.objects.filter(journey_id=person.journey_id).order_by("due_on")
        for checkin in rows.select_related("request_nudge"):
            week = (checkin.due_on - person.first_due).days // 7 + 1 if person.first_due else 1
            if person.first_due is None:
                person.first_due = checkin.due_on
                week = 1
            self.week_of[checkin.pk] = week
            if (
                week == person.lapse_week
                and person.pk not in self.figures.lapse_onset
                and checkin.request_nudge
            ):
                self.figures.lapse_onset[person.pk] = checkin.request_nudge.send_at

    def _enter(self, now: datetime, person: Person) -> None:
        from journeys.models import Journey, Stage
        from journeys.services.stages import journey_move

        journey_move(journey=Journey(pk=person.journey_id), to_stage=Stage.CHECK_INS, actor=person.lead)
        self._map_checkins(person)
        if person.pause_week:
            pause_at = START + timedelta(weeks=person.pause_week, hours=self.rng.randint(0, 72))
            self.plan(pause_at, "pause", person)

    def _pause(self, now: datetime, person: Person) -> None:
        from journeys.models import Journey, Stage
        from journeys.services.stages import journey_move

        journey_move(
            journey=Journey(pk=person.journey_id), to_stage=Stage.PAUSED, actor=person.lead,
            reason="moved", note="travelling for two weeks",
        )  # fmt: skip
        self.plan(now + timedelta(days=14), "enter", Person.resumed(person))

    def _book(self, now: datetime, person: Person, visit_at: datetime) -> None:
        from django.core.exceptions import ValidationError

        from journeys.services.visits import visit_schedule
        from patients.models import Patient

        patient = Patient.objects.get(pk=person.pk)
        for hours in range(0, 24 * 5, 1):
            try:
                visit_schedule(
                    patient=patient, practitioner=person.lead, kind="follow_up",
                    starts_at=visit_at + timedelta(hours=hours), actor=person.lead,
                )  # fmt: skip
                return
            except ValidationError:
                continue

    def _answer(self, now: datetime, person: Person, checkin_id: int) -> None:
        from django.core.exceptions import ValidationError

        from compliance.services import checkin_answer_record, checkin_answerable_items
        from journeys.models import CheckIn

        checkin = CheckIn.objects.filter(pk=checkin_id, status=CheckIn.Status.SCHEDULED).first()
        if checkin is None:
            return
        week = self.week_of.get(checkin_id, 1)
        items = checkin_answerable_items(checkin)
        fading = person.kind == "fading" and week >= (person.lapse_week or 99) and not person.recovered
        statuses = {}
        for n, item in enumerate(items):
            if person.kind == "pausing" and n == 0 and 2 <= week <= 4:
                statuses[item.pk] = ("paused", "travelling")
            elif fading:
                statuses[item.pk] = (
                    self.rng.choices(["missed", "partial", "done"], [0.65, 0.25, 0.10])[0],
                    "",
                )
            else:
                statuses[item.pk] = (
                    self.rng.choices(["done", "partial", "missed"], [0.85, 0.12, 0.03])[0],
                    "",
                )
        struggling = fading or self.rng.random() < 0.15
        barriers = [self.rng.choice(BARRIERS)] if struggling else []
        person.told_side_effect |= "side_effects" in barriers
        # Closed meanwhile: a late answer is for the phone, which the simulation does not model.
        with suppress(ValidationError):
            checkin_answer_record(
                checkin=checkin,
                items_status=statuses,
                where_it_failed=self.rng.choice(WORDS) if struggling else "",
                barriers=barriers,
                ratings={"energy": self.rng.randint(3, 9)},
            )

    def _correct(self, now: datetime, alert_id: int) -> None:
        from compliance.models import Alert, CourseCorrection
        from compliance.services import course_correct
        from journeys.models import Blueprint, Journey
        from journeys.services.blueprints import blueprint_add_item, blueprint_publish, blueprint_start_draft

        alert = Alert.objects.filter(pk=alert_id, resolved_at__isnull=True).first()
        if alert is None:
            return
        person = self.people[alert.patient_id]
        version = None
        journey = Journey.objects.filter(pk=person.journey_id).first()
        revise = self.rng.random() < 1 / 3 and journey is not None and journey.is_open
        if revise and not Blueprint.objects.filter(journey=journey, status=Blueprint.Status.DRAFT).exists():
            draft = blueprint_start_draft(journey=journey, actor=person.lead)
            blueprint_add_item(blueprint=draft, actor=person.lead, kind="lifestyle", title="A gentler walk")
            version = blueprint_publish(blueprint=draft, actor=person.lead, reason="A simpler plan.")
            self.corrections_with_revision += 1
        course_correct(
            alert=alert,
            actor=person.lead,
            change=CourseCorrection.Change.SIMPLIFIED if version else CourseCorrection.Change.CALL_BOOKED,
            note="Talked it through; the plan adapts.",
            blueprint=version,
        )
        if person.lapse_week and person.recovers:
            person.recovered = True

    # --- The patients read what reached them --------------------------------------------------------------

    def asked(self, since: datetime, now: datetime) -> None:
        """Plan an answer to every check-in request that went out in (since, now], as each patient would."""
        from journeys.models import CheckIn

        for checkin_id, journey_id, sent_at in CheckIn.objects.filter(
            status=CheckIn.Status.SCHEDULED,
            request_nudge__status="sent",
            request_nudge__sent_at__gt=since,
            request_nudge__sent_at__lte=now,
        ).values_list("pk", "journey_id", "request_nudge__sent_at"):
            person = self.by_journey[journey_id]
            week = self.week_of.get(checkin_id, 1)
            if person.kind == "silent":
                continue
            if person.kind == "quiet" and week >= person.lapse_week and not person.recovered:
                continue
            if person.kind == "evening":
                local = sent_at.astimezone(person.tz)
                late = datetime.combine(local.date(), time(21, 0), tzinfo=person.tz)
                moment = late.astimezone(UTC) + timedelta(minutes=self.rng.randint(0, 150))
            else:
                moment = sent_at + timedelta(minutes=self.rng.randint(20, 40 * 60))
            if person.kind == "skipping" and self.rng.random() < 1 / 12:
                continue  # a week let go now and then
            self.plan(moment, "answer", person, checkin_id)

    # --- Beat --------------------------------------------------------------------------------------------

    def beat(self, now: datetime, last: dict) -> None:
        from compliance import detection
        from nudges import services as outbox

        outbox.nudge_dispatch_due()
        for job, every in (("reconcile", 5), ("missed", 15), ("detect", self.args.detect_every)):
            if last.get(job) is not None and now - last[job] < timedelta(minutes=every):
                continue
            last[job] = now
            if job == "reconcile":
                outbox.nudge_reconcile_stuck()
            elif job == "missed":
                detection.checkins_mark_missed()
            else:
                self.connection.queries_log.clear()
                with self.capture(self.connection) as queries:
                    started = wall_clock.monotonic()
                    opened = detection.detect_faltering()
                    self.figures.detection_seconds.append(wall_clock.monotonic() - started)
                self.figures.detection_queries.append(len(queries))
                for alert in opened:
                    self.plan(now + timedelta(hours=self.rng.randint(4, 48)), "correct", alert.pk)


def run(args: argparse.Namespace, *, migrate: bool = True) -> dict:
    """Drive the clinic through ``args.weeks`` weeks and return the figures (``report`` words them)."""
    import time_machine
    from django.core.management import call_command

    from accounts.audit import system_context

    started = wall_clock.monotonic()
    if migrate:
        call_command("migrate", verbosity=0)
    clinic = Clinic(args)
    with time_machine.travel(START - timedelta(days=1), tick=False) as clock, system_context("simulation"):
        clinic.seed()
        seeded = wall_clock.monotonic()
        clock.move_to(START)
        now, step, last = START, timedelta(minutes=args.step_minutes), {}
        while now < clinic.end:
            while clinic.agenda and clinic.agenda[0][0] <= now:
                _, _, what, payload = heapq.heappop(clinic.agenda)
                clinic.act(what, payload, now)
            before = now - step
            clinic.beat(now, last)
            clinic.asked(before, now)
            clock.shift(step)
            now += step
    figures = measure(clinic)
    figures["seconds"] = {
        "setup": seeded - started,
        "simulation": wall_clock.monotonic() - seeded,
    }
    return figures


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"median {statistics.median(values):.1f}, max {max(values):.1f}"


def _noticed(alert) -> list[datetime]:
    """When the alert told of something: when it opened, and when each later reason joined it (a patient
    with an open alert is noticed again by a reason added to it, not by a second alert)."""
    return [alert.opened_at] + [
        datetime.fromisoformat(row["at"]) for row in (alert.reasons or [])[1:] if row.get("at")
    ]


def measure(clinic: Clinic) -> dict:
    from django.conf import settings

    from compliance.models import Alert
    from journeys.models import CheckIn
    from nudges.budget import EXEMPT
    from nudges.models import Nudge
    from patients.models import Patient

    people, end = clinic.people, clinic.end
    alerts = list(Alert.objects.order_by("opened_at", "pk").select_related("outreach_nudge"))
    by_patient: dict[int, list] = defaultdict(list)
    for alert in alerts:
        by_patient[alert.patient_id].append(alert)

    # Lapse → first alert after the onset, per lapse kind; recall among lapses with three weeks to be seen.
    delays: dict[str, list[float]] = defaultdict(list)
    seen: Counter = Counter()
    eligible: Counter = Counter()
    for pk, onset in clinic.figures.lapse_onset.items():
        person = people[pk]
        if onset > end - timedelta(weeks=3):
            continue
        eligible[person.kind] += 1
        noticed = [moment for alert in by_patient[pk] for moment in _noticed(alert) if moment >= onset]
        if noticed:
            seen[person.kind] += 1
            delays[person.kind].append(_hours(min(noticed) - onset))

    non_lapsing = {
        kind: [p for p in people.values() if p.kind == kind]
        for kind in ("steady", "evening", "pausing", "skipping")
    }

    def false_alarm(person: Person, alert) -> bool:
        """Any alert of a patient who never lapsed, except those the rules are meant to raise for them: a
        skipping patient's for the week they let go, and a side effect the patient reported."""
        if person.kind == "skipping" and alert.reason == "missed_checkins":
            return False
        return not (person.told_side_effect and alert.reason == "side_effect")

    false_positive = {
        kind: (sum(1 for p in group if any(false_alarm(p, a) for a in by_patient[p.pk])), len(group))
        for kind, group in non_lapsing.items()
    }
    skipped_seen = sum(
        1 for p in non_lapsing["skipping"] if any(a.reason == "missed_checkins" for a in by_patient[p.pk])
    )
    # Why the patients who never lapsed were falsely alerted: the first reason of each such alert.
    false_reasons = Counter(
        alert.reason
        for group in non_lapsing.values()
        for p in group
        for alert in by_patient[p.pk]
        if false_alarm(p, alert)
    )

    # A reopen is an alert after the same patient's answered one. It is "from old evidence" when too little
    # happened between the correction and it for its reason to hold on new evidence alone: no check-in
    # closed unanswered (silence), no answer (side effect), fewer than two answers (low adherence, drop).
    evidence: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for patient_id, status, answered_at, closes_at in CheckIn.objects.filter(
        status__in=[CheckIn.Status.ANSWERED, CheckIn.Status.MISSED]
    ).values_list("journey__patient_id", "status", "answered_at", "closes_at"):
        evidence[patient_id].append((status, answered_at or closes_at))
    needs = {"missed_checkins": ("missed", 1), "side_effect": ("answered", 1)}
    reopens = stale_reopens = duplicates = corrected = 0
    last_resolved: dict[int, datetime] = {}
    open_until: dict[int, datetime | None] = {}
    for alert in alerts:
        key = alert.patient_id
        if key in open_until and (open_until[key] is None or open_until[key] > alert.opened_at):
            duplicates += 1
        if key in last_resolved:
            reopens += 1
            status, count = needs.get(alert.reason, ("answered", 2))
            new = sum(
                1
                for seen, moment in evidence[key]
                if seen == status and last_resolved[key] < moment <= alert.opened_at
            )
            stale_reopens += new < count
        open_until[key] = alert.resolved_at
        if alert.resolved_at is not None:
            corrected += 1
            last_resolved[key] = alert.resolved_at

    outreach_hours, outreach_status = [], Counter()
    for alert in alerts:
        nudge = alert.outreach_nudge
        outreach_status[nudge.status if nudge else "none"] += 1
        if nudge is not None and nudge.sent_at is not None:
            outreach_hours.append(_hours(nudge.sent_at - alert.opened_at))

    zones = {pk: ZoneInfo(zone) for pk, zone in Patient.objects.values_list("pk", "time_zone")}
    quiet = dict(
        (pk, (start, stop))
        for pk, start, stop in Patient.objects.values_list("pk", "quiet_hours_start", "quiet_hours_end")
    )
    sent = list(
        Nudge.objects.filter(status__in=["sent", "unknown"]).values_list(
            "patient_id", "kind", "sent_at", "claimed_at"
        )
    )
    quiet_sends = Counter()
    automated: dict[int, list[datetime]] = defaultdict(list)
    every: dict[int, list[datetime]] = defaultdict(list)
    for patient_id, kind, sent_at, claimed_at in sent:
        moment = sent_at or claimed_at
        local = moment.astimezone(zones[patient_id]).time()
        start, stop = quiet[patient_id]
        if (start <= local < stop) if start < stop else (local >= start or local < stop):
            quiet_sends[kind] += 1
        every[patient_id].append(moment)
        if kind not in EXEMPT:
            automated[patient_id].append(moment)
    budget = settings.NUDGE_WEEKLY_BUDGET
    samples_auto, samples_all = [], []
    day = START + timedelta(days=7)
    while day <= end:
        for pk in people:
            samples_auto.append(sum(day - timedelta(days=7) < m <= day for m in automated[pk]))
            samples_all.append(sum(day - timedelta(days=7) < m <= day for m in every[pk]))
        day += timedelta(days=1)

    held = Counter(Nudge.objects.filter(status="suppressed").values_list("status_reason", flat=True))
    return {
        "patients": Counter(p.kind for p in people.values()),
        "lapse_delays": delays,
        "recall": (seen, eligible),
        "false_positive": false_positive,
        "alerts": len(alerts),
        "corrected": corrected,
        "with_revision": clinic.corrections_with_revision,
        "reopens": reopens,
        "stale_reopens": stale_reopens,
        "false_reasons": false_reasons,
        "skipped_seen": (skipped_seen, len(non_lapsing["skipping"])),
        "duplicates": duplicates,
        "outreach_hours": outreach_hours,
        "outreach_status": outreach_status,
        "samples_auto": samples_auto,
        "samples_all": samples_all,
        "budget": budget,
        "quiet_sends": quiet_sends,
        "sent": len(sent),
        "held": held,
        "detection_queries": clinic.figures.detection_queries,
        "detection_seconds": clinic.figures.detection_seconds,
    }


def report(args: argparse.Namespace, f: dict) -> str:
    lines = [
        f"Clinic simulation: {args.patients} patients × {args.weeks} weeks, seed {args.seed}, "
        f"clock step {args.step_minutes} min, detection every {args.detect_every} min",
        "patients: " + ", ".join(f"{kind} {f['patients'][kind]}" for kind in KINDS),
        "",
        f"{'figure':<46} value",
        f"{'-' * 46} {'-' * 40}",
    ]

    def row(name: str, value: str) -> None:
        lines.append(f"{name:<46} {value}")

    seen, eligible = f["recall"]
    for kind in LAPSES:
        row(f"lapse → alert, {kind} (hours)", _spread(f["lapse_delays"][kind]))
    total_seen, total = sum(seen.values()), sum(eligible.values())
    row(
        "recall (lapses ≥ 3 weeks before the end)",
        f"{total_seen}/{total} = {total_seen / total:.0%}" if total else "—",
    )
    for kind in LAPSES:
        row(f"  recall, {kind}", f"{seen[kind]}/{eligible[kind]}" if eligible[kind] else "—")
    for kind, (flagged, count) in f["false_positive"].items():
        row(
            f"false positives, {kind} patients",
            f"{flagged}/{count} = {flagged / count:.0%}" if count else "—",
        )
    seen_skips, skippers = f["skipped_seen"]
    row("skipping patients alerted for a week let go", f"{seen_skips}/{skippers}" if skippers else "—")
    row(
        "  false alarms, by first reason",
        ", ".join(f"{k} {v}" for k, v in f["false_reasons"].most_common()) or "none",
    )
    row(
        "alerts opened / answered", f"{f['alerts']} / {f['corrected']} ({f['with_revision']} with a new plan)"
    )
    row("reopens after a correction", f"{f['reopens']} (from evidence older than it: {f['stale_reopens']})")
    row("duplicate alerts (same patient, overlapping)", str(f["duplicates"]))
    row("alert → outreach sent (hours)", _spread(f["outreach_hours"]))
    row("  outreach status", ", ".join(f"{k} {v}" for k, v in sorted(f["outreach_status"].items())))
    auto, every = f["samples_auto"], f["samples_all"]
    if auto:
        over = sum(n > f["budget"] for n in auto)
        row(
            "automated messages per patient per 7 days",
            f"mean {statistics.mean(auto):.2f}, max {max(auto)}, over budget ({f['budget']}) {over / len(auto):.1%}",
        )
        row("all messages per patient per 7 days", f"mean {statistics.mean(every):.2f}, max {max(every)}")
    row("messages sent", str(f["sent"]))
    for reason, count in f["held"].most_common(4):
        row(f"  held back: {reason[:40]}", str(count))
    row(
        "quiet-hour sends",
        str(sum(f["quiet_sends"].values())) + (f" {dict(f['quiet_sends'])}" if f["quiet_sends"] else ""),
    )
    queries, seconds = f["detection_queries"], f["detection_seconds"]
    if queries:
        row("queries per detection run", f"median {statistics.median(queries):.0f}, max {max(queries)}")
        row("seconds per detection run", f"median {statistics.median(seconds):.3f}, max {max(seconds):.3f}")
    row("runtime (s)", f"setup {f['seconds']['setup']:.0f}, simulation {f['seconds']['simulation']:.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SQLite's every commit without a disk sync; TemporaryDirectory makes its own private folder there.
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
    with tempfile.TemporaryDirectory(prefix="alliance-sim-", dir=memory) as folder:
        configure_environment(args, folder)
        import django

        django.setup()
        figures = run(args)
        print(report(args, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
