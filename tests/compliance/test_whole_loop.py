"""The whole loop in one test, through the services and the patient's public page, on the real database:
a plan is published, check-ins begin, the request goes out by email, the patient answers by its link — badly,
two weeks running — the falter is noticed once, met with a warm note and an email to the lead, and answered
by a simpler plan. Time walks week by week with ``time_machine``."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from compliance.detection import checkins_mark_missed, detect_faltering
from compliance.models import Alert, CheckInAnswer, ComplianceLog, CourseCorrection
from compliance.services import checkin_answerable_items, course_correct
from journeys.models import Blueprint, CheckIn, Stage
from journeys.services.blueprints import (
    blueprint_add_item,
    blueprint_publish,
    blueprint_remove_item,
    blueprint_start_draft,
)
from journeys.services.stages import journey_move, journey_start
from journeys.tokens import read_checkin_token
from nudges.models import Kind, Nudge
from nudges.services import nudge_dispatch_due
from patients.services import patient_create
from tests.test_tone import blaming_words

pytestmark = pytest.mark.django_db

# Monday 2 November 2026, 9:00 in New York (standard time, UTC−5): the plan is agreed and check-ins begin.
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
FIRST_REQUEST = datetime(2026, 11, 9, 15, 0, tzinfo=UTC)  # 10:00 on the first due day, the patient's time
WEEK = timedelta(days=7)
CHECKIN_LINK = re.compile(r"https?://\S+(?P<path>/c/(?P<token>[^/\s]+)/)")
PLAN = [
    {"kind": "supplement", "title": "Magnesium glycinate", "dose": "200 mg", "frequency": "with dinner"},
    {"kind": "diet", "title": "Gluten-free kitchen", "frequency": "every meal"},
    {"kind": "lifestyle", "title": "Morning light walk", "frequency": "daily"},
]


def walk_the_path(journey, *, staff, lead) -> None:
    for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT):
        journey_move(journey=journey, to_stage=stage, actor=lead if stage == Stage.BLUEPRINT else staff)


def publish_first_plan(journey, lead) -> Blueprint:
    draft = blueprint_start_draft(journey=journey, actor=lead)
    for item in PLAN:
        blueprint_add_item(blueprint=draft, actor=lead, **item)
    return blueprint_publish(blueprint=draft, actor=lead)


def the_one_email(outbox, *, to: str):
    mine = [message for message in outbox if message.to == [to]]
    assert len(mine) == 1, [m.subject for m in mine]
    outbox.remove(mine[0])
    return mine[0]


def link_in(message) -> re.Match:
    found = CHECKIN_LINK.search(message.body)
    assert found, message.body
    return found


def answer_badly(client, path: str, *, statuses: dict[str, str], words: str, barriers: list[str]) -> str:
    """Answer the check-in page as the patient would, with the plan items by title."""
    page = client.get(path)
    assert page.status_code == 200
    for title in statuses:
        assert title in page.content.decode()
    items = {
        item.title: item.pk for item in checkin_answerable_items(CheckIn.objects.get(pk=read_from(path)))
    }
    data = {f"item_{items[title]}": status for title, status in statuses.items()}
    data |= {"where_it_failed": words, "barriers": barriers, "energy": "3", "sleep": "4", "mood": "5"}
    response = client.post(path, data)
    assert response.status_code == 200
    return response.content.decode()


def read_from(path: str) -> int:
    return read_checkin_token(path.strip("/").split("/")[-1])


def test_a_faltering_patient_is_noticed_once_reached_warmly_and_met_with_a_simpler_plan(
    time_machine, client, mailoutbox, staff, practitioner
):
    time_machine.move_to(START, tick=False)
    patient = patient_create(
        actor=staff,
        data={
            "first_name": "Renée",
            "last_name": "Côté",
            "email": "renee@example.com",
            "time_zone": "America/New_York",
        },
        lead=practitioner,
        consent_email=True,
        consent_via="intake form",
    )
    journey = journey_start(patient=patient, actor=staff)
    walk_the_path(journey, staff=staff, lead=practitioner)
    v1 = publish_first_plan(journey, practitioner)

    journey_move(journey=journey, to_stage=Stage.CHECK_INS, actor=practitioner)

    checkins = list(
        CheckIn.objects.filter(journey=journey).select_related("request_nudge").order_by("due_on")
    )
    assert len(checkins) == 12  # weekly for twelve weeks, without a program
    assert all(c.request_nudge.kind == Kind.CHECKIN_REQUEST for c in checkins)
    assert checkins[0].request_nudge.send_at == FIRST_REQUEST
    # Walking through intake sent the intake questionnaire; nothing else is due yet.
    assert nudge_dispatch_due().sent == 1
    assert [m.subject for m in mailoutbox] == ["Your story, before we meet, Renée"]
    mailoutbox.clear()
    assert nudge_dispatch_due().sent == 0

    # Week 1: the request goes out on its morning, with the patient's own link.
    time_machine.move_to(FIRST_REQUEST, tick=False)
    assert nudge_dispatch_due().sent == 1
    request = the_one_email(mailoutbox, to="renee@example.com")
    assert "Where did my plan fail you this week?" in request.body
    first_link = link_in(request)
    assert read_checkin_token(first_link["token"]) == checkins[0].pk
    sent_request = Nudge.objects.get(pk=int(request.extra_headers["X-Alliance-Nudge"]))

    time_machine.move_to(FIRST_REQUEST + timedelta(hours=9), tick=False)  # that evening
    thanks = answer_badly(
        client,
        first_link["path"],
        statuses={
            "Magnesium glycinate": "missed",
            "Gluten-free kitchen": "missed",
            "Morning light walk": "partial",
        },
        words="Travelled for work, the powders didn't fit in my bag.",
        barriers=["life_event", "time"],
    )
    assert "Thank you, Renée" in thanks

    first = CheckIn.objects.get(pk=checkins[0].pk)
    assert first.status == CheckIn.Status.ANSWERED
    assert first.answered_at == FIRST_REQUEST + timedelta(hours=9)
    # Attribution: the answered check-in names the very nudge that asked for it, and that nudge went out.
    assert first.request_nudge_id == sent_request.pk
    assert (
        sent_request.status == Nudge.Status.SENT and sent_request.dedupe_key == f"checkin:{first.pk}:request"
    )
    answer = CheckInAnswer.objects.get(checkin=first)
    assert (answer.via, answer.where_it_failed, answer.barriers) == (
        "link",
        "Travelled for work, the powders didn't fit in my bag.",
        ["life_event", "time"],
    )
    assert (answer.energy, answer.sleep, answer.mood, answer.digestion) == (3, 4, 5, None)
    assert sorted(answer.logs.values_list("item__title", "status")) == [
        ("Gluten-free kitchen", "missed"),
        ("Magnesium glycinate", "missed"),
        ("Morning light walk", "partial"),
    ]

    # Week 2: likewise.
    time_machine.move_to(FIRST_REQUEST + WEEK, tick=False)
    assert nudge_dispatch_due().sent == 1
    second_link = link_in(the_one_email(mailoutbox, to="renee@example.com"))
    assert second_link["token"] != first_link["token"]
    time_machine.move_to(FIRST_REQUEST + WEEK + timedelta(hours=2), tick=False)
    answer_badly(
        client,
        second_link["path"],
        statuses={
            "Magnesium glycinate": "missed",
            "Gluten-free kitchen": "missed",
            "Morning light walk": "done",
        },
        words="Work ate the week. The gluten-free cooking takes more evenings than I have.",
        barriers=["time"],
    )
    assert CheckIn.objects.get(pk=checkins[1].pk).status == CheckIn.Status.ANSWERED
    assert ComplianceLog.objects.filter(answer__patient=patient).count() == 6
    assert checkins_mark_missed() == 0  # both were answered: nothing to chase

    # The falter is noticed: one alert, one warm note to the patient, one email to the lead.
    noticed = FIRST_REQUEST + WEEK + timedelta(hours=3)
    time_machine.move_to(noticed, tick=False)
    opened = detect_faltering()

    assert [(a.reason, a.detail) for a in opened] == [("low_adherence", "25% over the last two check-ins")]
    alert = Alert.objects.get()
    assert (alert.patient, alert.journey, alert.opened_at, alert.is_open) == (patient, journey, noticed, True)
    outreach = alert.outreach_nudge
    assert (outreach.kind, outreach.status, outreach.dedupe_key) == (
        Kind.ADHERENCE_OUTREACH,
        Nudge.Status.PENDING,
        f"alert:{alert.pk}:outreach",
    )
    to_lead = the_one_email(mailoutbox, to=practitioner.email)
    assert "Renée" not in to_lead.subject and "Côté" not in to_lead.subject
    assert "Renée Côté may need a hand" in to_lead.body
    assert "Low adherence: 25% over the last two check-ins." in to_lead.body
    assert reverse("compliance:alert", args=[alert.pk]) in to_lead.body
    assert mailoutbox == []

    time_machine.move_to(max(noticed, outreach.send_at), tick=False)
    assert nudge_dispatch_due().sent == 1
    note = the_one_email(mailoutbox, to="renee@example.com")
    outreach.refresh_from_db()
    assert outreach.status == Nudge.Status.SENT
    assert note.extra_headers["X-Alliance-Nudge"] == str(outreach.pk)
    assert "Renée" in note.body and "not about you" in note.body
    for words in (note.subject, note.body, note.alternatives[0].content):
        assert blaming_words(words) == []

    # Detection runs again (beat fires every hour): still the one alert, no second note, no second email.
    time_machine.move_to(noticed + timedelta(hours=1), tick=False)
    assert detect_faltering() == []
    assert Alert.objects.count() == 1
    assert Nudge.objects.filter(kind=Kind.ADHERENCE_OUTREACH).count() == 1
    assert mailoutbox == []

    # The next morning the lead simplifies the plan: the gluten-free kitchen waits; v2 is published.
    time_machine.move_to(noticed + timedelta(hours=21), tick=False)
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    assert draft.version == 2
    blueprint_remove_item(item=draft.items.get(title="Gluten-free kitchen"), actor=practitioner)
    v2 = blueprint_publish(
        blueprint=draft,
        actor=practitioner,
        reason="Three changes at once was too much on travel weeks; gluten-free waits until the rest is easy.",
    )
    correction = course_correct(
        alert=alert,
        actor=practitioner,
        change=CourseCorrection.Change.SIMPLIFIED,
        note="Took gluten-free out for now; magnesium as capsules, which travel.",
        blueprint=v2,
        resolve=True,
    )

    alert.refresh_from_db()
    assert not alert.is_open
    assert (alert.resolved_by, alert.resolved_at) == (practitioner, noticed + timedelta(hours=21))
    assert "Plan revised to version 2." in alert.resolution
    assert (correction.alert, correction.blueprint, correction.practitioner) == (alert, v2, practitioner)
    v1.refresh_from_db()
    assert v1.status == Blueprint.Status.SUPERSEDED
    assert v2.status == Blueprint.Status.PUBLISHED and v2.revision_reason.startswith("Three changes")
    assert sorted(v1.items.values_list("title", flat=True)) == sorted(item["title"] for item in PLAN)
    client.force_login(practitioner)
    old_plan = client.get(reverse("journeys:blueprint_version", args=[journey.pk, 1]))
    assert old_plan.status_code == 200
    assert "Gluten-free kitchen" in old_plan.content.decode()
    # The logs keep pointing at v1's items, and the next check-in asks only about the simpler plan.
    assert ComplianceLog.objects.filter(answer__patient=patient, item__blueprint=v1).count() == 6
    assert [item.title for item in checkin_answerable_items(checkins[2])] == [
        "Magnesium glycinate",
        "Morning light walk",
    ]
    # Answered with the newer evidence still to come, the alert stays answered.
    assert detect_faltering() == []
