"""Texts again only from the number's owner: a public inquiry asking for texts to a known patient whose SMS
consent is withdrawn sends that number one text asking for YES, and only that YES, from that number, while
the request is good, records consent. Everything else changes nothing."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import AccessEvent
from nudges import services
from nudges.models import InboundMessage, Nudge
from patients.models import ConsentEvent, ConsentRequest
from patients.selectors import patient_consent, patient_may_message
from patients.services import consent_record
from tests.factories import PatientFactory
from tests.nudges.test_sms_inbound import twilio_webhook_settings  # noqa: F401 — the fixture
from tests.nudges.test_sms_replies import (
    clinic,  # noqa: F401 — the fixture
    replies_in,
    text_in,
)

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)
NIGHT_NY = datetime(2027, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 in New York: quiet hours
PHONE = "+13125550147"
ASK_TEXT = {"first_name": "Renée", "last_name": "Côté", "phone": PHONE, "consent_sms": "on"}


@pytest.fixture
def stopped(db):
    """A patient who texted STOP a month ago, with no email address."""
    patient = PatientFactory(
        first_name="Renée", last_name="Côté", email="", phone=PHONE, preferred_channel="sms"
    )
    with time_machine.travel(NOON_NY - timedelta(days=40), tick=False):
        consent_record(patient=patient, channel="sms", granted=True, via="patient form")
    with time_machine.travel(NOON_NY - timedelta(days=30), tick=False):
        consent_record(patient=patient, channel="sms", granted=False, via="SMS STOP")
    return patient


def texts(sms_outbox) -> list[dict]:
    if not sms_outbox.exists():
        return []
    return [json.loads(line) for line in sms_outbox.read_text().splitlines()]


def inquire(client, django_capture_on_commit_callbacks, data=ASK_TEXT, address="203.0.113.7"):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inquire/", data, REMOTE_ADDR=address)
    assert response.status_code == 302
    return response


@time_machine.travel(NOON_NY, tick=False)
def test_an_inquiry_asks_the_number_by_one_text_and_grants_nothing(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, client_for, staff
):
    inquire(client, django_capture_on_commit_callbacks)

    (sent,) = texts(sms_outbox)
    assert sent["to"] == PHONE
    assert "Harbor Functional Medicine" in sent["body"] and "reply YES within 7 days" in sent["body"]
    assert "http" not in sent["body"] and "Renée" not in sent["body"] and len(sent["body"]) <= 160
    asked = ConsentRequest.objects.get()
    assert (asked.channel, asked.address, asked.confirmation_sent_at) == ("sms", PHONE, NOON_NY)
    assert sent["reference"] == f"consent-request-{asked.pk}"
    assert not patient_consent(stopped)["sms"].active
    assert not Nudge.objects.filter(patient=stopped).exists(), "not through the outbox"
    assert mail.outbox == []
    assert AccessEvent.objects.filter(detail__contains="asked the patient by text to reply YES").exists()
    page = client_for(staff).get(stopped.section_url("contact")).content.decode()
    assert "waiting for the patient to reply YES to the text we sent" in page


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("yes", ["YES", "yes", "Yes!", "Yes please", "yes, that was me", "Yes thank you"])
def test_a_yes_from_that_number_records_consent_and_is_thanked_briefly(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, yes
):
    inquire(client, django_capture_on_commit_callbacks)
    with time_machine.travel(NOON_NY + timedelta(days=6, hours=23), tick=False):
        (thanks,) = replies_in(text_in(client, yes))

    assert "Harbor Functional Medicine" in thanks and "STOP" in thanks and len(thanks) <= 160
    state = patient_consent(stopped)["sms"]
    assert state.active and state.address == PHONE and state.via == "SMS YES"
    assert ConsentRequest.objects.get().confirmed_at is not None
    (message,) = InboundMessage.objects.filter(patient=stopped)
    assert (message.action, message.body, message.auto_reply) == ("confirmed", yes, thanks)
    assert patient_may_message(stopped, "sms") == (True, "")
    assert len(texts(sms_outbox)) == 1, "the thanks is the TwiML reply, not another text"


@time_machine.travel(NOON_NY, tick=False)
def test_a_second_yes_confirms_nothing_more_and_a_webhook_delivered_twice_is_answered_once(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    first = text_in(client, "YES", sid="SM" + "5" * 32)
    again = text_in(client, "YES", sid="SM" + "5" * 32)
    later = text_in(client, "Yes")
    assert len(replies_in(first)) == 1 and replies_in(again) == [] and replies_in(later) == []
    assert ConsentEvent.objects.filter(patient=stopped, via="SMS YES").count() == 1
    assert InboundMessage.objects.get(body="Yes").action == "kept"


@time_machine.travel(NOON_NY, tick=False)
def test_a_yes_after_the_week_changes_nothing(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    with time_machine.travel(NOON_NY + timedelta(days=7, minutes=1), tick=False):
        assert replies_in(text_in(client, "YES")) == []
    assert not patient_consent(stopped)["sms"].active
    assert InboundMessage.objects.get().action == "kept"


@time_machine.travel(NOON_NY, tick=False)
def test_a_yes_with_nothing_asked_is_kept_as_before(client, stopped):
    assert replies_in(text_in(client, "YES")) == []
    assert not patient_consent(stopped)["sms"].active
    assert InboundMessage.objects.get().action == "kept"


@time_machine.travel(NOON_NY, tick=False)
def test_a_yes_from_another_number_confirms_nothing(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    assert replies_in(text_in(client, "YES", from_number="+13125550199")) == []
    assert not patient_consent(stopped)["sms"].active
    assert ConsentRequest.objects.get().confirmed_at is None


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("words", ["Yes, I took the magnesium", "yes no", "not yes", "Yes but not now"])
def test_a_yes_among_other_words_answers_a_question_and_confirms_nothing(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, words
):
    inquire(client, django_capture_on_commit_callbacks)
    assert replies_in(text_in(client, words)) == []
    assert not patient_consent(stopped)["sms"].active


@time_machine.travel(NOON_NY, tick=False)
def test_a_stop_after_the_ask_stands_against_a_later_yes(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    with time_machine.travel(NOON_NY + timedelta(minutes=5), tick=False):
        text_in(client, "STOP")
    with time_machine.travel(NOON_NY + timedelta(minutes=10), tick=False):
        assert replies_in(text_in(client, "YES")) == []
    assert not patient_consent(stopped)["sms"].active
    assert not ConsentEvent.objects.filter(via="SMS YES").exists()


@time_machine.travel(NOON_NY, tick=False)
def test_a_new_number_since_the_ask_is_not_covered_by_its_yes(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    stopped.phone = "+13125550100"
    stopped.save()
    assert replies_in(text_in(client, "YES")) == []
    assert not ConsentEvent.objects.filter(via="SMS YES").exists()


@time_machine.travel(NOON_NY, tick=False)
def test_a_number_is_asked_at_most_once_a_week_however_often_the_form_names_it(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    for n in range(3):
        inquire(client, django_capture_on_commit_callbacks, address=f"203.0.113.{n + 1}")
    with time_machine.travel(NOON_NY + timedelta(days=6), tick=False):
        inquire(client, django_capture_on_commit_callbacks, address="203.0.113.8")
    assert len(texts(sms_outbox)) == 1
    assert ConsentRequest.objects.count() == 4
    with time_machine.travel(NOON_NY + timedelta(days=7, hours=1), tick=False):
        inquire(client, django_capture_on_commit_callbacks, address="203.0.113.9")
    assert len(texts(sms_outbox)) == 2


@time_machine.travel(NIGHT_NY, tick=False)
def test_no_ask_goes_in_the_patients_quiet_hours_the_request_waits_for_the_team(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, client_for, staff
):
    inquire(client, django_capture_on_commit_callbacks)
    assert texts(sms_outbox) == []
    assert ConsentRequest.objects.get().confirmation_sent_at is None
    page = client_for(staff).get(stopped.section_url("contact")).content.decode()
    assert "not consent until the patient confirms it to you" in page
    assert replies_in(text_in(client, "YES")) == []
    assert not patient_consent(stopped)["sms"].active


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("state", ["archived", "unsubscribed"])
def test_no_ask_goes_to_an_archived_or_unsubscribed_patient(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, state
):
    if state == "archived":
        stopped.archived = True
    else:
        stopped.unsubscribed_at = timezone.now() - timedelta(days=2)
    stopped.save()
    inquire(client, django_capture_on_commit_callbacks)
    assert texts(sms_outbox) == []
    assert ConsentRequest.objects.get().confirmation_sent_at is None


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_and_a_text_request_each_ask_their_own_address(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks
):
    stopped.email = "renee@example.com"
    stopped.save()
    consent_record(patient=stopped, channel="email", granted=False, via="unsubscribe link")
    inquire(
        client,
        django_capture_on_commit_callbacks,
        data={**ASK_TEXT, "email": "renee@example.com", "consent_email": "on"},
    )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["renee@example.com"]
    assert [t["to"] for t in texts(sms_outbox)] == [PHONE]
    text_in(client, "YES")
    assert patient_consent(stopped)["sms"].active
    assert not patient_consent(stopped)["email"].active, "a YES by text confirms texts only"


@time_machine.travel(NOON_NY, tick=False)
def test_a_transport_failure_leaves_the_inquiry_and_the_request_in_place(
    client, stopped, settings, django_capture_on_commit_callbacks, caplog
):
    settings.SMS_BACKEND = "tests.nudges.test_sms_consent_yes.BrokenSms"
    inquire(client, django_capture_on_commit_callbacks)
    assert ConsentRequest.objects.get().confirmation_sent_at == NOON_NY
    assert "could not text the consent question" in caplog.text
    assert PHONE not in caplog.text


class BrokenSms:
    def send(self, *, to, body, reference):
        raise ConnectionError("provider down")


def test_only_a_request_for_texts_is_asked_by_text(stopped):
    request = ConsentRequest.objects.create(
        patient=stopped, channel="email", address="x@example.com", via="t"
    )
    with pytest.raises(Exception, match="Only a request for text messages"):
        services.consent_ask_by_text(request=request)


@time_machine.travel(NOON_NY, tick=False)
def test_a_clinic_that_wants_no_such_text_switches_it_off(
    client, stopped, sms_outbox, django_capture_on_commit_callbacks, settings
):
    settings.CONSENT_ASK_BY_TEXT = False
    inquire(client, django_capture_on_commit_callbacks)
    assert texts(sms_outbox) == []
    assert ConsentRequest.objects.get().confirmation_sent_at is None
    assert replies_in(text_in(client, "YES")) == []
    assert not patient_consent(stopped)["sms"].active
