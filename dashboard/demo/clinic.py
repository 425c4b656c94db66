"""The demo clinic, built: plan every story, live them on the clock, then stand in the present.

1. Each patient's journey is planned from the data (``journeys.py``): when it entered each stage, dated back
   from now. Patients are planned in the order their journeys began, so a referral points at someone
   who came earlier (``people.py``).
2. The clock starts a week before the first journey: the colleagues, programs and plan template exist
   from then on. Every story is put on the clock and the clock runs to now (``clock.py``).
3. In the present: the visits of the next two weeks are booked, and falter detection runs as the hourly
   job does, so the alerts page and Today open on real alerts (it emails the leads and schedules its
   warm outreach). A dry run only counts what detection would open. (A few alerts opened in history: a
   side effect is heard at answer time, and the hourly job noticed some moments as they happened.)
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Role
from compliance.detection import detect_faltering, falter_findings
from compliance.models import Alert
from journeys.models import BlueprintTemplate, BlueprintTemplateItem, CheckIn, Program, WorkingHours
from journeys.services.checkins import request_moment
from nudges.models import Kind, Nudge

from .answers import Answers
from .clock import Clock
from .conversations import plan_advocate, plan_conversations
from .data import DemoData, DemoError, demo_data
from .journeys import Journeys, plan_stories
from .people import People
from .summary import Summary

CLINIC_OPENS_BEFORE = timedelta(days=7)  # before the first journey began
JOURNEY_SEED_OFFSET = 1  # journeys draw from a generator of their own, so the patients stay as they are


def build_demo_clinic(*, dry_run: bool = False, now: datetime | None = None) -> Summary:
    """Build the demo clinic through the services; return what was made."""
    data = demo_data()
    now = now or timezone.now()
    summary = Summary()
    rng = random.Random(data.clinic.seed + JOURNEY_SEED_OFFSET)
    stories = plan_stories(data, now=now, rng=rng)
    in_order = sorted(stories, key=lambda story: (story.begins, story.index))

    with Clock(start=in_order[0].begins - CLINIC_OPENS_BEFORE, end=now) as clock:
        people = People(data=data, summary=summary)
        people.add_colleagues()
        User = get_user_model()
        admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
        leads = list(
            User.objects.filter(role=Role.PRACTITIONER, is_active=True)
            .exclude(username=data.clinic.team.coach)
            .order_by("pk")
        )
        if not leads:
            raise DemoError("The demo needs at least one active practitioner to lead care teams.")
        staff = people.user(data.clinic.team.coordinator) or admin
        add_working_hours(
            User.objects.filter(role=Role.PRACTITIONER, is_active=True), data.clinic.visits.hours
        )

        programs = add_programs(data)
        journeys = Journeys(
            data=data,
            now=now,
            rng=rng,
            clock=clock,
            people=people,
            answers=Answers(data=data, clock=clock, staff=staff, summary=summary),
            admin=admin,
            staff=staff,
            programs=programs,
            template=add_template(data, programs),
            summary=summary,
        )

        planned = []
        for story in in_order:
            story.patient_plan = people.plan(
                story.person, index=story.index, leads=leads, earlier=planned, from_form=story.from_form
            )
            planned.append(story.patient_plan)
        for story in in_order:
            journeys.put_on_clock(story)
        plan_conversations(in_order, clock=clock, now=now)
        plan_advocate(in_order, clock=clock, now=now, staff=staff)
        clock.run()

        for story in stories:
            journeys.book_upcoming(story)
        # Some alerts opened in history (a side effect is heard at answer time; the hourly detection noticed
        # a patient's silence): the summary counts every open alert by its first reason.
        open_alerts = Alert.objects.filter(resolved_at__isnull=True)
        reasons = list(open_alerts.values_list("reason", flat=True))
        if dry_run:  # detection emails the leads: a dry run only counts what it would open
            alerted = set(open_alerts.values_list("patient_id", flat=True))
            first: dict[int, str] = {}
            for finding in falter_findings():  # most urgent first, per patient
                first.setdefault(finding.journey.patient_id, finding.reason)
            reasons += [reason for patient_id, reason in first.items() if patient_id not in alerted]
        else:
            reasons += [alert.reason for alert in detect_faltering()]
        for reason in reasons:
            summary.alerts[Alert.Reason(reason).label.lower()] += 1
        count_checkins(summary, [story.journey.pk for story in stories], now=now)
    return summary


def add_working_hours(practitioners, hours: tuple[int, ...]) -> None:
    """Weekday working hours for each practitioner who has none yet, from the hours the demo books visits
    at (9, 10, 11, 13, … → 09:00–12:00 and 13:00–17:00): the schedule shows their free times."""
    stretches: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if stretches and stretches[-1][1] == hour:
            stretches[-1] = (stretches[-1][0], hour + 1)
        else:
            stretches.append((hour, hour + 1))
    for person in practitioners:
        if WorkingHours.objects.filter(practitioner=person).exists():
            continue
        WorkingHours.objects.bulk_create(
            WorkingHours(practitioner=person, weekday=weekday, starts=time(start), ends=time(end))
            for weekday in range(5)
            for start, end in stretches
        )


def add_programs(data: DemoData) -> dict[str, Program]:
    """The clinic's programs (admin-owned configuration, which no service writes), unless they exist."""
    return {
        offer.name: Program.objects.get_or_create(
            name=offer.name,
            defaults={
                "weeks": offer.weeks,
                "checkin_every_days": offer.checkin_every_days,
                "fee": Decimal(offer.fee),
                "description": offer.description,
            },
        )[0]
        for offer in data.clinic.programs
    }


def add_template(data: DemoData, programs: dict[str, Program]) -> BlueprintTemplate:
    """The plan template every first plan starts from (admin-owned configuration), unless it exists."""
    plans = data.plans
    template, created = BlueprintTemplate.objects.get_or_create(
        name=plans.template_name,
        defaults={"program": programs[plans.template_program], "summary": plans.template_summary},
    )
    if created:
        BlueprintTemplateItem.objects.bulk_create(
            BlueprintTemplateItem(template=template, position=position, **item)
            for position, item in enumerate(plans.template_items)
        )
    return template


def count_checkins(summary: Summary, journey_ids: list[int], *, now: datetime) -> None:
    """Where the demo's check-ins stand now: answered, missed, open (asked, not yet closed), to come."""
    upcoming = []
    checkins = CheckIn.objects.filter(journey_id__in=journey_ids).select_related("journey__patient")
    for checkin in checkins:
        if checkin.status != CheckIn.Status.SCHEDULED:
            summary.checkins[checkin.status] += 1
        elif request_moment(checkin.due_on, ZoneInfo(checkin.journey.patient.time_zone)) <= now:
            summary.checkins["open"] += 1
        else:
            summary.checkins["upcoming"] += 1
            upcoming.append(checkin.request_nudge_id)
    summary.requests = Nudge.objects.filter(
        pk__in=upcoming, kind=Kind.CHECKIN_REQUEST, status=Nudge.Status.PENDING
    ).count()
