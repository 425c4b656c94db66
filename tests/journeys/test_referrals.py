"""Advocates' referrals: a personal, signed link on the public form links the referred person to the advocate and
thanks the advocate once — only with their marketing consent, and never at night."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from journeys.models import Inquiry, Stage
from journeys.services.graduation import advocacy_ask_key
from journeys.services.stages import journey_move
from nudges import services as nudge_services
from nudges.models import Kind, Nudge
from nudges.services import NO_MARKETING_CONSENT
from patients.models import AdvocateLink, Patient
from patients.services import advocate_link_for, consent_record, marketing_consent_record
from tests.factories import PatientFactory
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

FRIEND = {
    "first_name": "Maya",
    "last_name": "Lind",
    "email": "maya@example.com",
    "message": "Hannah told me about you.",
    "consent_email": "on",
}


@pytest.fixture
def advocate(staff):
    patient = PatientFactory(first_name="Hannah", last_name="Kim", email="hannah@example.com")
    consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    marketing_consent_record(patient=patient, granted=True, via="in person", actor=staff)
    return patient


def inquire(data: dict, *, ref: str = "") -> None:
    client = Client(REMOTE_ADDR="203.0.113.9")
    response = client.post(reverse("journeys:inquire"), {**data, "ref": ref})
    assert response.status_code == 302, response.content.decode()[:2000]


def thanks(advocate) -> list[Nudge]:
    return list(Nudge.objects.filter(patient=advocate, kind=Kind.REFERRAL_THANKS))


def test_an_inquiry_through_a_referral_link_sets_referred_by_and_thanks_the_advocate_once(advocate):
    token = advocate_link_for(patient=advocate)
    page = Client().get(f"{reverse('journeys:inquire')}?ref={token}").content.decode()
    assert f'value="{token}"' in page  # the link's code rides along, hidden
    assert "Who referred you?" in page

    inquire(FRIEND, ref=token)
    friend = Patient.objects.get(email="maya@example.com")
    assert friend.referred_by == advocate and friend.source == Patient.Source.REFERRAL
    assert Inquiry.objects.get(patient=friend).referred_by == advocate
    assert len(thanks(advocate)) == 1

    inquire({**FRIEND, "message": "Me again"}, ref=token)  # the same person writes in again
    assert Inquiry.objects.filter(patient=friend).count() == 2
    assert len(thanks(advocate)) == 1


def test_the_referral_link_holds_nothing_about_the_advocate(advocate):
    token = advocate_link_for(patient=advocate)
    code = token.split(":")[0]
    # The code is the random one stored for the advocate (a digit of their id may turn up in it by chance):
    # the token carries that code and its signature, no id and no name.
    assert code == AdvocateLink.objects.get(patient=advocate).code and len(code) == 12
    assert len(token.split(":")) == 2 and "hannah" not in token.lower() and "kim" not in token.lower()
    assert advocate_link_for(patient=advocate) == token  # one link per advocate


@pytest.mark.parametrize("ref", ["", "made-up", "abc:def"])
def test_a_missing_or_altered_code_links_nobody_and_thanks_nobody(advocate, ref):
    token = advocate_link_for(patient=advocate)
    inquire(FRIEND, ref=ref or token[:-1] + ("x" if token[-1] != "x" else "y"))
    assert Patient.objects.get(email="maya@example.com").referred_by is None
    assert thanks(advocate) == []


def test_without_marketing_consent_the_advocate_is_linked_but_not_thanked(advocate, staff):
    marketing_consent_record(patient=advocate, granted=False, via="phone call", actor=staff)
    inquire(FRIEND, ref=advocate_link_for(patient=advocate))
    assert Patient.objects.get(email="maya@example.com").referred_by == advocate
    assert thanks(advocate) == []


def test_who_referred_you_is_kept_as_written_and_links_nobody(advocate):
    inquire({**FRIEND, "referred_by_name": "Hannah from my yoga class"})
    inquiry = Inquiry.objects.get()
    assert inquiry.referred_by_name == "Hannah from my yoga class"
    assert inquiry.referred_by is None and thanks(advocate) == []


def test_someone_already_referred_by_another_keeps_that_referrer(advocate):
    other = PatientFactory()
    PatientFactory(email="maya@example.com", referred_by=other)
    inquire(FRIEND, ref=advocate_link_for(patient=advocate))
    assert Patient.objects.get(email="maya@example.com").referred_by == other
    assert thanks(advocate) == []


# --- Marketing-type messages: consent and 09:00–20:00 ------------------------------------------------


def test_a_referral_thanks_never_goes_outside_nine_to_eight_whatever_the_quiet_hours(advocate, mailoutbox):
    advocate.quiet_hours_start, advocate.quiet_hours_end = time(23, 0), time(6, 0)
    advocate.save()
    with time_machine.travel(datetime(2027, 6, 11, 1, 30, tzinfo=UTC), tick=False):  # 21:30 in New York
        inquire(FRIEND, ref=advocate_link_for(patient=advocate))
        nudge_services.nudge_dispatch_due()
    [nudge] = thanks(advocate)
    assert nudge.status == Nudge.Status.PENDING
    assert nudge.send_at == datetime(2027, 6, 11, 13, 0, tzinfo=UTC)  # 09:00 in New York, not 06:00
    with time_machine.travel(
        datetime(2027, 6, 11, 10, 30, tzinfo=UTC), tick=False
    ):  # 06:30: their own hours allow
        nudge_services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.PENDING
    with time_machine.travel(datetime(2027, 6, 11, 13, 1, tzinfo=UTC), tick=False):
        nudge_services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.SENT


def test_a_marketing_message_is_held_back_when_consent_was_withdrawn_before_it_went(advocate, staff):
    with time_machine.travel(datetime(2027, 6, 10, 15, 0, tzinfo=UTC), tick=False):  # 11:00 in New York
        inquire(FRIEND, ref=advocate_link_for(patient=advocate))
        marketing_consent_record(patient=advocate, granted=False, via="email", actor=staff)
        nudge_services.nudge_dispatch_due()
    [nudge] = thanks(advocate)
    assert (nudge.status, nudge.status_reason) == (Nudge.Status.SUPPRESSED, NO_MARKETING_CONSENT)


def test_reaching_advocate_makes_the_link_and_asks_once_with_consent(practitioner, staff):
    journey = journey_at(Stage.GRADUATED, practitioner)
    patient = journey.patient
    marketing_consent_record(patient=patient, granted=True, via="in person", actor=staff)
    journey_move(journey=journey, to_stage=Stage.ADVOCATE, actor=practitioner)
    ask = Nudge.objects.get(patient=patient, kind=Kind.ADVOCACY_ASK)
    assert ask.dedupe_key == advocacy_ask_key(journey.pk)
    assert "/inquire/?ref=" in ask.context["referral_url"]


def test_reaching_advocate_without_consent_asks_nothing(practitioner):
    journey = journey_at(Stage.GRADUATED, practitioner)
    journey_move(journey=journey, to_stage=Stage.ADVOCATE, actor=practitioner)
    assert not Nudge.objects.filter(kind=Kind.ADVOCACY_ASK).exists()
    assert hasattr(journey.patient, "advocate_link")
