"""Consent comes only from its owner: a public inquiry about a known patient is a request, and only the
patient's own confirmation from the link emailed to that address records consent."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import AccessEvent
from patients.models import ConsentEvent, ConsentRequest
from patients.selectors import patient_consent
from patients.services import consent_record
from patients.tokens import consent_confirm_token
from tests.factories import ConsentEventFactory, PatientFactory

pytestmark = pytest.mark.django_db

INQUIRY = {"first_name": "Renée", "last_name": "Côté", "email": "renee@example.com", "consent_email": "on"}


@pytest.fixture
def withdrawn():
    patient = PatientFactory(first_name="Renée", email="renee@example.com", phone="+13125550147")
    ConsentEventFactory(
        patient=patient, channel="email", granted=True, at=timezone.now() - timedelta(days=30)
    )
    consent_record(patient=patient, channel="email", granted=False, via="unsubscribe link")
    return patient


def inquire(client, django_capture_on_commit_callbacks, data=INQUIRY, address="203.0.113.7"):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inquire/", data, REMOTE_ADDR=address)
    assert response.status_code == 302
    return response


def link_in(message) -> str:
    return re.search(r"http://\S+/consent/confirm/[^/\s]+/", message.body).group(0)


def test_an_inquiry_never_turns_a_withdrawn_consent_back_on(
    client, withdrawn, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)

    assert not patient_consent(withdrawn)["email"].active
    assert ConsentRequest.objects.get().channel == "email"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["renee@example.com"]
    assert "/consent/confirm/" in message.body and "Renée" in message.body


def test_following_the_link_and_saying_yes_grants_consent(
    client, withdrawn, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    url = "/" + link_in(mail.outbox[0]).split("/", 3)[3]

    page = client.get(url)
    assert page.status_code == 200 and "Yes, you may email me" in page.content.decode()
    assert not patient_consent(withdrawn)["email"].active, "opening the link (a mail scanner) records nothing"
    assert "no-store" in page["Cache-Control"]

    done = client.post(url)
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    state = patient_consent(withdrawn)["email"]
    assert state.active
    assert ConsentEvent.objects.filter(patient=withdrawn, via="confirmation link", granted=True).count() == 1
    assert AccessEvent.objects.filter(detail__contains="via confirmation link").exists()

    again = client.post(url)
    assert "all set" in again.content.decode()
    assert ConsentEvent.objects.filter(patient=withdrawn, via="confirmation link").count() == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "Mg:" + t.split(":", 1)[1],  # another request's id with this signature
        lambda t: "x",
        lambda t: t + "extra",
    ],
)
def test_a_tampered_link_changes_nothing(client, withdrawn, django_capture_on_commit_callbacks, tamper):
    inquire(client, django_capture_on_commit_callbacks)
    token = link_in(mail.outbox[0]).rstrip("/").rsplit("/", 1)[1]
    before = ConsentEvent.objects.count()
    for method in (client.get, client.post):
        response = method(f"/consent/confirm/{tamper(token)}/")
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    assert ConsentEvent.objects.count() == before
    assert not patient_consent(withdrawn)["email"].active


def test_a_link_older_than_a_week_changes_nothing(client, withdrawn, django_capture_on_commit_callbacks):
    inquire(client, django_capture_on_commit_callbacks)
    url = "/" + link_in(mail.outbox[0]).split("/", 3)[3]
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert client.post(url).status_code == 400
    assert not patient_consent(withdrawn)["email"].active


def test_a_withdrawal_after_the_request_stands(client, withdrawn, django_capture_on_commit_callbacks):
    inquire(client, django_capture_on_commit_callbacks)
    url = "/" + link_in(mail.outbox[0]).split("/", 3)[3]
    consent_record(patient=withdrawn, channel="email", granted=False, via="clinic")
    assert "Nothing has changed" in client.post(url).content.decode()
    assert not patient_consent(withdrawn)["email"].active


def test_a_changed_address_is_not_covered_by_an_old_link(
    client, withdrawn, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    url = "/" + link_in(mail.outbox[0]).split("/", 3)[3]
    withdrawn.email = "someone.else@example.com"
    withdrawn.save()
    assert "Nothing has changed" in client.post(url).content.decode()
    assert not ConsentEvent.objects.filter(via="confirmation link").exists()


def test_repeated_inquiries_send_one_confirmation_a_day(
    client, withdrawn, django_capture_on_commit_callbacks
):
    for n in range(3):
        inquire(client, django_capture_on_commit_callbacks, address=f"203.0.113.{n + 1}")
    assert len(mail.outbox) == 1
    assert ConsentRequest.objects.count() == 3
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        inquire(client, django_capture_on_commit_callbacks, address="203.0.113.9")
    assert len(mail.outbox) == 2


@time_machine.travel(datetime(2027, 6, 10, 16, 0, tzinfo=UTC), tick=False)  # noon in New York
def test_a_text_message_request_is_asked_by_text_and_grants_nothing(
    client, withdrawn, django_capture_on_commit_callbacks, client_for, staff, settings, tmp_path
):
    """The text and the YES that answers it: tests/nudges/test_sms_consent_yes.py."""
    settings.SMS_FILE_PATH = str(tmp_path)
    consent_record(patient=withdrawn, channel="sms", granted=False, via="SMS STOP")
    inquire(
        client,
        django_capture_on_commit_callbacks,
        data={"first_name": "R", "last_name": "C", "phone": "+13125550147", "consent_sms": "on"},
    )
    asked = ConsentRequest.objects.get()
    assert asked.channel == "sms" and asked.confirmation_sent_at is not None
    assert "reply YES" in (tmp_path / "outbox.jsonl").read_text()
    assert not patient_consent(withdrawn)["sms"].active
    assert mail.outbox == []
    body = client_for(staff).get(withdrawn.section_url("contact")).content.decode()
    assert "asked for via inquiry form" in body and "reply YES to the text we sent" in body


def test_a_new_patients_first_consent_from_the_form_is_recorded_as_before(
    client, django_capture_on_commit_callbacks
):
    inquire(client, django_capture_on_commit_callbacks)
    event = ConsentEvent.objects.get()
    assert (event.channel, event.granted, event.via) == ("email", True, "inquiry form")
    assert not ConsentRequest.objects.exists()
    assert all("/consent/confirm/" not in m.body for m in mail.outbox)


def test_a_token_for_a_missing_request_is_refused(client):
    assert client.post(f"/consent/confirm/{consent_confirm_token(999999)}/").status_code == 400
