"""Each demo patient's journey: planned as a story of moments, then put on the clock.

A story starts when the patient first gets in touch and holds everything since, each at its moment: the
stage moves, visits held (or missed), the notes written after them, a plan drafted and published,
check-ins answered or missed, a revision, a paused item, a course correction. Every action goes through
the public services of the floor it belongs to; the clock (``clock.py``) makes "now" the moment it
happened. What is still to come (visits in the next two weeks) is booked in the present, so its
reminders wait in the outbox.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.utils import timezone

from compliance.detection import detect_faltering
from compliance.models import Alert, CourseCorrection
from compliance.services import course_correct
from journeys.models import (
    CLOSING,
    OFF_PATH,
    Blueprint,
    BlueprintItem,
    BlueprintTemplate,
    Journey,
    Program,
    Stage,
    Visit,
    VisitNote,
)
from journeys.services.blueprints import (
    blueprint_add_item,
    blueprint_item_set_status,
    blueprint_publish,
    blueprint_start_draft,
    blueprint_update_item,
    blueprint_update_summary,
)
from journeys.services.checkins import checkin_dates, closing_moment, request_moment
from journeys.services.inquiries import HOW_HEARD_TO_SOURCE, JOURNEY_NOTE, inquiry_record
from journeys.services.notes import note_add_addendum, note_create
from journeys.services.stages import journey_move, journey_start
from journeys.services.visits import visit_complete, visit_no_show, visit_schedule
from nudges.models import Nudge
from patients.models import Patient
from patients.services import patient_set_archived

from .answers import Answers
from .clock import Clock
from .data import DemoData, DemoError, JourneyPlan, Person, ProgramOffer, Revision, Theme
from .people import PatientPlan, People
from .summary import Summary

INQUIRY_FORM = "public inquiry form"
DEMO_USER_AGENT = "Mozilla/5.0 (demo)"
SOURCE_TO_HOW_HEARD = {source: how for how, source in HOW_HEARD_TO_SOURCE.items()}
FROM_THE_FORM = (Stage.INQUIRY, Stage.DISCOVERY)  # journeys at these stages began with the inquiry form

# At one moment: who gets in touch first, then plans change, then patients answer, then detection notices.
BEGIN, PLAN, ANSWER, NOTICE = range(4)
BEFORE_THE_MOVE = timedelta(minutes=75)  # a visit that decides a move starts this long before it
DETECTION_EVERY = timedelta(hours=1)  # how soon after an answer the hourly falter detection notices it
DRAFTED_BEFORE_PUBLISHING = timedelta(minutes=45)  # a revision is written this long before it is published
ANSWERED_AFTER_REVISING = timedelta(minutes=20)  # the course correction is recorded after the revision
NOT_BEFORE_NOW = timedelta(minutes=5)  # what is written "after" a recent visit is written by now
ARCHIVED_AFTER = timedelta(days=1)  # a record set aside the day after the journey ended
REVISED_AFTER = timedelta(hours=20)  # the corrected patient's plan changes a day after the alert, at least


def weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def between(start: datetime, end: datetime, share: float) -> datetime:
    return start + (end - start) * share


def office_hours(moment: datetime, *, before: datetime) -> datetime:
    """A moment outside clinic hours (9:00–17:59) moved into them on the same day, if still ``before``."""
    local = timezone.localtime(moment)
    if 9 <= local.hour <= 17:
        return moment
    moved = local.replace(hour=9 + local.hour % 9)
    return moved if moved < before else moment


@dataclass
class Story:
    """One patient's journey, planned: where it has been, and the objects it makes on the clock."""

    index: int  # in patients.toml
    person: Person
    stages: list[str]
    entered: dict[str, datetime]
    program: ProgramOffer | None
    theme: Theme | None
    patient_plan: PatientPlan | None = None
    # Made on the clock:
    journey: Journey | None = field(default=None, repr=False)
    draft: Blueprint | None = field(default=None, repr=False)  # the version being written
    revision: Revision | None = field(default=None, repr=False)  # what version 2 changed
    alert: Alert | None = field(default=None, repr=False)

    @property
    def plan(self) -> JourneyPlan:
        return self.person.journey

    @property
    def begins(self) -> datetime:
        return self.entered[Stage.INQUIRY]

    @property
    def left(self) -> dict[str, datetime]:
        """When the journey left each stage it has left."""
        moments = [self.entered[stage] for stage in self.stages]
        return dict(zip(self.stages, moments[1:], strict=False))

    @property
    def went_to(self) -> dict[str, str]:
        return dict(pairwise(self.stages))

    @property
    def from_form(self) -> bool:
        return self.plan.stage in FROM_THE_FORM

    @property
    def lead(self):
        return self.patient_plan.lead

    @property
    def patient(self) -> Patient:
        return self.patient_plan.patient


@dataclass
class PastVisit:
    kind: str
    starts_at: datetime
    location: str
    no_show: bool = False
    visit: Visit | None = field(default=None, repr=False)
    note: VisitNote | None = field(default=None, repr=False)


def clinic_time(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_default_timezone())


def plan_stories(data: DemoData, *, now: datetime, rng: random.Random) -> list[Story]:
    """Every patient's journey, in the order of patients.toml: the stages it has been in and when it
    entered each, dated back from ``now``."""
    stories = []
    for index, person in enumerate(data.patients):
        plan = person.journey
        theme = data.themes[plan.theme] if plan.theme else None
        program = data.program(theme.program) if theme else None
        stages = plan.stages
        moments = timeline(data, stages, plan.days, program, today=timezone.localdate(now), rng=rng)
        stories.append(
            Story(
                index=index,
                person=person,
                stages=stages,
                entered=dict(zip(stages, moments, strict=True)),
                program=program,
                theme=theme,
            )
        )
    return stories


def timeline(
    data: DemoData, stages: list[str], days: int, program: ProgramOffer | None, *, today: date, rng
) -> list[datetime]:
    """When a journey entered each of ``stages``: the last ``days`` ago, the earlier ones a believable stay
    before the next, each on a weekday in clinic hours."""
    day = weekday_on_or_before(today - timedelta(days=days))
    days_entered = [day]
    for stage in reversed(stages[:-1]):
        if stage == Stage.CHECK_INS:
            stay = program.weeks * 7 + rng.randint(1, 4)
        else:
            stay = rng.randint(*data.clinic.stay_days[stage])
        day = weekday_on_or_before(day - timedelta(days=stay))
        days_entered.append(day)
    days_entered.reverse()
    return [clinic_time(day, rng.randint(10, 16), rng.choice([0, 15, 30, 45])) for day in days_entered]


class Journeys:
    """Puts each story on the clock, and does what it says when the clock gets there."""

    def __init__(
        self,
        *,
        data: DemoData,
        now: datetime,
        rng: random.Random,
        clock: Clock,
        people: People,
        answers: Answers,
        admin,  # who creates patients and archives them; may be None
        staff,  # who moves early journeys and books visits; may be None
        programs: dict[str, Program],
        template: BlueprintTemplate,
        summary: Summary,
    ):
        self.data, self.notes, self.plans = data, data.notes, data.plans
        self.now, self.today = now, timezone.localdate(now)
        self.rng = rng
        self.clock, self.people, self.answers = clock, people, answers
        self.admin, self.staff = admin, staff
        self.programs, self.template = programs, template
        self.summary = summary
        self.texts = Counter()  # cycles through the texts so neighbours read differently
        self.calendar = defaultdict(list)  # practitioner pk: [(start, end)] of the past visits planned

    def during(self, start: datetime, end: datetime | None, *, after_days: int, hour: int) -> datetime:
        """A weekday moment ``after_days`` into a stay, kept well before its end (or before now)."""
        end = end or self.now
        moment = clinic_time(
            weekday_on_or_after(timezone.localdate(start) + timedelta(days=after_days)), hour
        )
        if moment + timedelta(hours=2) > end:
            moment = end - timedelta(minutes=150)
        return moment

    def next_text(self, texts: tuple[str, ...], key: str) -> str:
        text = texts[self.texts[key] % len(texts)]
        self.texts[key] += 1
        return text

    def put_on_clock(self, story: Story) -> None:
        """Everything that happened on this journey, each at its moment."""
        clock, plan, entered = self.clock, story.plan, story.entered
        clock.at(story.begins, partial(self.begin, story), order=BEGIN)
        if self.people.takes_consent_back(story.patient_plan):
            clock.at(
                between(story.begins, self.now, 0.5),
                partial(self.people.take_consent_back, story.patient_plan),
            )
        for stage in story.stages[1:]:
            clock.at(entered[stage], partial(self.move, story, stage), order=PLAN)
        if Stage.BLUEPRINT in entered:
            self.plan_blueprint(story)
        if Stage.CHECK_INS in entered:
            self.plan_checkins(story)
        self.plan_visits(story)
        if story.person.archived:
            ended = entered[story.stages[-1]]
            clock.at(min(ended + ARCHIVED_AFTER, self.now - NOT_BEFORE_NOW), partial(self.archive, story))
        self.summary.stages[plan.stage] += 1
        self.summary.programs[story.program.name if story.program else "not chosen yet"] += 1

    # --- the journey ---

    def begin(self, story: Story) -> None:
        """The patient gets in touch: through the inquiry form, or by phone or in person."""
        plan_of_patient = story.patient_plan
        if story.from_form:
            patient = self.people.create(plan_of_patient, actor=None, actor_label=INQUIRY_FORM)
        else:
            patient = self.people.create(plan_of_patient, actor=self.admin)
        self.clock.patient_ids.add(patient.pk)
        story.journey = journey_start(
            patient=patient,
            actor=None if story.from_form else self.staff,
            program=self.programs[story.program.name] if story.program else None,
            note=JOURNEY_NOTE
            if story.from_form
            else self.data.clinic.sources.start_notes.get(patient.source, ""),
        )
        if story.from_form:
            inquiry_record(
                patient=patient,
                journey=story.journey,
                data={
                    "first_name": patient.first_name,
                    "last_name": patient.last_name,
                    "email": patient.email,
                    "phone": patient.phone,
                    "message": self.next_text(self.notes.inquiry_messages, "inquiry"),
                    "how_heard": SOURCE_TO_HOW_HEARD.get(patient.source, ""),
                    "consent_email": plan_of_patient.consent_email,
                    "consent_sms": plan_of_patient.consent_sms,
                },
                user_agent=DEMO_USER_AGENT,
            )
            self.summary.inquiries += 1

    def move(self, story: Story, stage: str) -> None:
        mover = self.staff if stage in (Stage.DISCOVERY, Stage.INTAKE) else story.lead
        plan = story.plan
        if stage in OFF_PATH:
            journey_move(
                journey=story.journey, to_stage=stage, actor=mover, reason=plan.reason, note=plan.note
            )
        else:
            journey_move(journey=story.journey, to_stage=stage, actor=mover)

    def archive(self, story: Story) -> None:
        patient_set_archived(actor=self.admin, patient=story.patient, archived=True)
        self.summary.archived += 1

    # --- the plan ---

    def plan_blueprint(self, story: Story) -> None:
        start, end = story.entered[Stage.BLUEPRINT], story.left.get(Stage.BLUEPRINT, self.now)
        drafted_at = office_hours(between(start, end, 0.2), before=end)
        self.clock.at(drafted_at, partial(self.draft_plan, story), order=PLAN)
        if not story.plan.draft_only:
            published_at = max(office_hours(between(start, end, 0.6), before=end), drafted_at)
            self.clock.at(published_at, partial(self.publish_plan, story), order=PLAN)

    def draft_plan(self, story: Story) -> None:
        lead = story.lead
        draft = blueprint_start_draft(journey=story.journey, actor=lead, from_template=self.template)
        blueprint_update_summary(blueprint=draft, actor=lead, summary=story.theme.summary)
        for item in story.theme.items:
            blueprint_add_item(blueprint=draft, actor=lead, **item)
        story.draft = draft
        if story.plan.draft_only:
            self.summary.blueprints["drafts"] += 1

    def publish_plan(self, story: Story) -> None:
        blueprint_publish(blueprint=story.draft, actor=story.lead)
        self.summary.blueprints["published"] += 1

    def plan_revision(
        self, story: Story, at: datetime, revision: Revision, *, corrects: bool = False
    ) -> None:
        self.clock.at(
            at - DRAFTED_BEFORE_PUBLISHING, partial(self.start_revision, story, revision), order=PLAN
        )
        self.clock.at(at, partial(self.publish_revision, story), order=PLAN)
        if corrects:
            self.clock.at(at + ANSWERED_AFTER_REVISING, partial(self.correct_course, story), order=PLAN)

    def start_revision(self, story: Story, revision: Revision) -> None:
        """Draft version 2 from the published plan, changing one item (or adding one)."""
        draft = blueprint_start_draft(journey=story.journey, actor=story.lead)
        item = draft.items.filter(title=revision.item).first() if revision.item else None
        if item is not None:
            blueprint_update_item(item=item, actor=story.lead, **revision.fields)
        else:  # an admin renamed the template's item, or this revision adds one
            revision = self.plans.added_revision
            blueprint_add_item(blueprint=draft, actor=story.lead, **revision.add)
        story.draft, story.revision = draft, revision

    def publish_revision(self, story: Story) -> None:
        blueprint_publish(blueprint=story.draft, actor=story.lead, reason=story.revision.reason)
        self.summary.blueprints["revised"] += 1

    def pause_item(self, story: Story) -> None:
        published = story.journey.blueprints.get(status=Blueprint.Status.PUBLISHED)
        item = published.items.filter(title=self.plans.paused_item).first()
        if item is None:
            return
        blueprint_item_set_status(
            item=item, status=BlueprintItem.Status.PAUSED, reason=self.plans.paused_reason, actor=story.lead
        )
        self.summary.blueprints["paused items"] += 1

    # --- check-ins ---

    def plan_checkins(self, story: Story) -> None:
        """The check-ins from the day the journey entered check-ins until now (or until it moved on): each
        answered or missed (the sweep notices), or still open; and what happened to the plan meanwhile.
        Entering check-ins scheduled them all, with their requests."""
        plan, answers, tz = story.plan, self.data.answers, ZoneInfo(story.person.time_zone)
        start, end = story.entered[Stage.CHECK_INS], story.left.get(Stage.CHECK_INS)
        dates = checkin_dates(
            first_day=start.astimezone(tz).date(),
            every_days=story.program.checkin_every_days,
            weeks=story.program.weeks,
        )
        until = min(end or self.now, self.now)
        past = [due for due in dates if request_moment(due, tz) < until]
        closed = [due for due in past if closing_moment(due, tz) <= self.now]
        missed_lately = set(closed[-2:] if plan.escalated else closed[-1:]) if plan.faltering else set()
        hard = set(closed[-2:]) if plan.struggling else set(closed[:2]) if plan.corrected else set()
        told = closed[-1] if plan.side_effect and closed else None
        answered, missed_before = [], False
        for n, due in enumerate(closed):
            # Only the patients meant to falter leave their latest check-in unanswered, or miss two in a row:
            # nobody else gives detection a reason.
            if due in hard or (
                due not in missed_lately
                and (n == 0 or missed_before or self.rng.random() < answers.share or due == closed[-1])
            ):
                after = timedelta(hours=self.rng.choice(answers.after_hours), minutes=self.rng.randrange(60))
                at = min(request_moment(due, tz) + after, until)
                answered.append((at, due in hard))
                answer = partial(self.answer, story, due, hard=due in hard, side_effect=due == told)
                self.clock.at(at, answer, order=ANSWER)
                missed_before = False
            else:
                missed_before = True
        if plan.escalated and len(closed) >= 2:
            # The hourly detection notices the first check-in left unanswered (its follow-up is the warm
            # note); the next one closing unanswered too escalates the alert when detection runs now.
            self.clock.at(
                closing_moment(closed[-2], tz) + DETECTION_EVERY, partial(self.notice, story), order=NOTICE
            )

        stay_end = end or self.now
        if plan.corrected:
            noticed = sorted(at for at, is_hard in answered if is_hard)[1] + DETECTION_EVERY
            self.clock.at(noticed, partial(self.notice, story), order=NOTICE)
            revised_at = office_hours(
                max(between(start, stay_end, 0.4), noticed + REVISED_AFTER), before=stay_end
            )
            revision = self.plans.revision_of(self.plans.correction_revision)
            self.plan_revision(story, revised_at, revision, corrects=True)
        elif plan.revised:
            revised_at = office_hours(between(start, stay_end, 0.4), before=stay_end)
            self.plan_revision(story, revised_at, self.next_text(self.plans.revisions, "revision"))
        if plan.item_paused:
            paused_at = office_hours(between(start, stay_end, 0.55), before=stay_end)
            self.clock.at(paused_at, partial(self.pause_item, story), order=PLAN)

    def answer(self, story: Story, due: date, *, hard: bool, side_effect: bool = False) -> None:
        self.answers.answer(story.journey.pk, due, story.plan, hard=hard, side_effect=side_effect)

    def notice(self, story: Story) -> None:
        """The hourly falter detection runs: an hour after the patient's second hard week (corrected), or
        after the first of their two check-ins left unanswered (escalated)."""
        opened = [alert for alert in detect_faltering() if alert.journey_id == story.journey.pk]
        if not opened:
            raise DemoError(f"Falter detection did not notice {story.person.legal_name} faltering.")
        story.alert = opened[0]

    def correct_course(self, story: Story) -> None:
        """The lead answers the alert with version 2 of the plan and a course correction."""
        revision = story.revision
        course_correct(
            alert=story.alert,
            actor=story.lead,
            change=self.plans.correction_changes.get(revision.item, CourseCorrection.Change.OTHER),
            note=self.plans.correction_note.format(name=story.person.name, reason=revision.reason),
            blueprint=story.draft,
        )
        self.summary.alerts_answered += 1

    # --- visits and their notes ---

    def location(self, person: Person, kind: str) -> str:
        if kind == Visit.Kind.DISCOVERY:
            return "Phone call"
        if person.time_zone in self.data.clinic.visits.far_away:
            return "Video call"
        return self.rng.choice(self.data.clinic.visits.rooms)

    def plan_visits(self, story: Story) -> None:
        notes, plan, name = self.notes, story.plan, story.person.name
        entered, left, went_to = story.entered, story.left, story.went_to
        if Stage.DISCOVERY in entered:
            start, end = entered[Stage.DISCOVERY], left.get(Stage.DISCOVERY)
            if plan.no_show:
                self.past_visit(
                    story,
                    Visit.Kind.DISCOVERY,
                    starts_at=self.during(start, end, after_days=2, hour=11),
                    no_show=True,
                )
            if end is not None and went_to[Stage.DISCOVERY] != Stage.WITHDRAWN:
                visit = self.past_visit(story, Visit.Kind.DISCOVERY, starts_at=end - BEFORE_THE_MOVE)
                if went_to[Stage.DISCOVERY] == Stage.INTAKE:
                    body = self.next_text(notes.discovery_notes, "discovery")
                else:
                    body = f"{notes.discovery_left} {plan.note}"
                self.write(story, visit, title=notes.discovery_title, body=body.format(name=name))
            elif end is None and plan.upcoming != Visit.Kind.DISCOVERY:
                visit = self.past_visit(
                    story,
                    Visit.Kind.DISCOVERY,
                    starts_at=self.during(start, None, after_days=2, hour=11),
                )
                self.write(
                    story, visit, title=notes.discovery_title, body=notes.discovery_deciding.format(name=name)
                )
        if Stage.INTAKE in entered:
            start, end = entered[Stage.INTAKE], left.get(Stage.INTAKE)
            took_place = went_to.get(Stage.INTAKE) != Stage.PAUSED and not (
                end is None and plan.upcoming == Visit.Kind.INTAKE
            )
            if took_place:
                visit = self.past_visit(
                    story,
                    Visit.Kind.INTAKE,
                    starts_at=self.during(start, end, after_days=2, hour=9),
                )
                self.intake_note(story, visit)
        if Stage.COMMITMENT in entered:
            start, end = entered[Stage.COMMITMENT], left.get(Stage.COMMITMENT)
            program = story.program.name if story.program else "the program"
            if end is not None:
                visit = self.past_visit(story, Visit.Kind.COMMITMENT, starts_at=end - BEFORE_THE_MOVE)
                if went_to[Stage.COMMITMENT] == Stage.BLUEPRINT:
                    body = self.next_text(notes.commitment_notes, "commitment")
                else:
                    body = f"{notes.commitment_left} {plan.note}"
                self.write(
                    story, visit, title=notes.commitment_title, body=body.format(name=name, program=program)
                )
            elif plan.upcoming != Visit.Kind.COMMITMENT:
                visit = self.past_visit(
                    story,
                    Visit.Kind.COMMITMENT,
                    starts_at=self.during(start, None, after_days=3, hour=14),
                )
                self.write(
                    story,
                    visit,
                    title=notes.commitment_title,
                    body=notes.commitment_thinking.format(name=name),
                )
        if Stage.CHECK_INS in entered:
            start, end = entered[Stage.CHECK_INS], left.get(Stage.CHECK_INS) or self.now
            if end - start >= timedelta(days=35):
                visit = self.past_visit(
                    story,
                    Visit.Kind.FOLLOW_UP,
                    starts_at=self.during(start, end, after_days=notes.follow_up_after_days, hour=14),
                )
                body = self.next_text(notes.follow_up_notes, "follow-up")
                self.write(story, visit, title=notes.follow_up_title, body=body.format(name=name))

    def free(self, practitioner, starts_at: datetime, minutes: int) -> datetime:
        """``starts_at``, or the nearest earlier time the practitioner is free for ``minutes``."""
        booked = self.calendar[practitioner.pk]
        step = timedelta(minutes=minutes + 15)
        while any(
            start < starts_at + timedelta(minutes=minutes) and starts_at < end for start, end in booked
        ):
            starts_at -= step
        booked.append((starts_at, starts_at + timedelta(minutes=minutes)))
        return starts_at

    def past_visit(self, story: Story, kind: str, *, starts_at: datetime, no_show=False) -> PastVisit:
        """A visit that has happened, through the visit services: entered as it begins, then held (or missed).

        Entered as it begins, not days ahead: a visit booked ahead has reminders, and reminders that fell
        due in the past would each be one more message for the outbox to send through history.
        """
        minutes = Visit.DEFAULT_MINUTES[kind]
        starts_at = self.free(story.lead, starts_at, minutes)
        visit = PastVisit(
            kind=kind, starts_at=starts_at, location=self.location(story.person, kind), no_show=no_show
        )
        self.clock.at(starts_at, partial(self.book_past, story, visit))
        closed_at = starts_at + (timedelta(minutes=15) if no_show else timedelta(minutes=minutes))
        self.clock.at(closed_at, partial(self.close, story, visit))
        return visit

    def book_past(self, story: Story, visit: PastVisit) -> None:
        visit.visit = visit_schedule(
            patient=story.patient,
            practitioner=story.lead,
            kind=visit.kind,
            starts_at=visit.starts_at,
            journey=story.journey,
            location=visit.location,
            actor=self.staff,
        )

    def close(self, story: Story, visit: PastVisit) -> None:
        if visit.no_show:
            visit_no_show(visit=visit.visit, actor=self.staff)
            self.summary.visits["no-show"] += 1
        else:
            visit_complete(visit=visit.visit, actor=story.lead)
            self.summary.visits["completed"] += 1

    def written_after(self, moment: datetime, delta: timedelta) -> datetime:
        return min(moment + delta, self.now - NOT_BEFORE_NOW)

    def write(
        self, story: Story, visit: PastVisit, *, title: str, body: str = "", sections=None, sign=True
    ) -> datetime:
        """The lead writes the visit's note (signed, unless ``sign`` is False) after it; return when."""
        ends_at = visit.starts_at + timedelta(minutes=Visit.DEFAULT_MINUTES[visit.kind])
        written_at = self.written_after(ends_at, timedelta(minutes=self.rng.randint(20, 180)))
        self.clock.at(written_at, partial(self.write_now, story, visit, title, body, sections, sign))
        return written_at

    def write_now(self, story: Story, visit: PastVisit, title: str, body: str, sections, sign: bool) -> None:
        visit.note = note_create(
            visit=visit.visit, author=story.lead, title=title, body=body, sections=sections, sign=sign
        )
        self.summary.notes["signed" if sign else "drafts"] += 1
        if sections and sign:
            self.summary.notes["intake"] += 1

    def intake_note(self, story: Story, visit: PastVisit) -> None:
        plan, name = story.plan, story.person.name
        years = self.rng.choice(["two", "three", "four", "five"])
        sections = {
            key: getattr(story.theme, key).format(name=name, years=years) for key in VisitNote.INTAKE_SECTIONS
        }
        written_at = self.write(
            story,
            visit,
            title=self.notes.intake_title,
            body=self.notes.intake_body.format(name=name),
            sections=sections,
            sign=not plan.unsigned,
        )
        if plan.addendum and not plan.unsigned:
            body = self.next_text(self.notes.intake_addenda, "addendum").format(name=name)
            added_at = self.written_after(written_at, timedelta(days=self.rng.randint(2, 5)))
            self.clock.at(added_at, partial(self.add_addendum, story, visit, body))

    def add_addendum(self, story: Story, visit: PastVisit, body: str) -> None:
        note_add_addendum(note=visit.note, author=story.lead, body=body, sign=True)
        self.summary.notes["addenda"] += 1

    # --- the present ---

    def book_upcoming(self, story: Story) -> None:
        """Book the visit the plan says is coming, in the next two weeks, through the service (its reminders
        join the outbox): the first weekday slot from a random one on where the practitioner is free."""
        kind, lead = story.plan.upcoming, story.lead
        if not kind or story.plan.stage in CLOSING:
            return
        minutes = Visit.DEFAULT_MINUTES[kind]
        slots = [
            clinic_time(day, hour)
            for offset in range(1, 15)
            if (day := self.today + timedelta(days=offset)).weekday() < 5
            for hour in self.data.clinic.visits.hours
        ]
        first = self.rng.randrange(len(slots))
        for starts_at in slots[first:] + slots[:first]:
            ends_at = starts_at + timedelta(minutes=minutes)
            busy = Visit.objects.filter(
                practitioner=lead, status=Visit.Status.SCHEDULED, starts_at__lt=ends_at, ends_at__gt=starts_at
            ).exists()
            if not busy:
                break
        else:
            raise DemoError(f"{lead} has no free slot in the next two weeks for the demo's visits.")
        visit = visit_schedule(
            patient=story.patient,
            practitioner=lead,
            kind=kind,
            starts_at=starts_at,
            journey=story.journey,
            location=self.location(story.person, kind),
            actor=self.staff,
        )
        self.summary.visits["upcoming"] += 1
        self.summary.reminders += Nudge.objects.filter(
            dedupe_key__startswith=f"visit:{visit.pk}:", status=Nudge.Status.PENDING
        ).count()
