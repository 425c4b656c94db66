"""Texts patients send back, through Twilio's webhook: STOP and START change SMS consent, nothing else does.
Every wording, the confirmation and the Messages panel are in ``test_sms_replies``."""

import base64
import hashlib
import hmac
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessEvent
from nudges import services
from nudges.models import Nudge
from patients.models import ConsentEvent
from patients.selectors import patient_consent

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York: outside quiet hours
SITE_URL = "https://crm.example.com"
AUTH_TOKEN = "inbound-test-token"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
REPLY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response><Message>'


@pytest.fixture(autouse=True)
def twilio_webhook_settings(settings):
    settings.ALLIANCE_SITE_URL = SITE_URL
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """Twilio's recipe, written out here: HMAC-SHA1 over the URL then each name+value sorted by name."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def text_in(client, from_number: str, body: str, *, signature: str | None = None):
    path = reverse("twilio_inbound_sms")
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",  # every text Twilio delivers has its own
        "AccountSid": "AC00000000000000000000000000000001",
        "From": from_number,
        "To": "+15005550006",
        "Body": body,
    }
    if signature is None:
        signature = sign(SITE_URL + path, params)  # the public URL, not the test client's host
    return client.post(path, params, headers={"X-Twilio-Signature": signature})


def assert_empty_twiml(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content == EMPTY_TWIML


def assert_one_reply(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.startswith(REPLY_TWIML) and response.content.count(b"<Message>") == 1


def latest_sms_consent(patient) -> ConsentEvent:
    return ConsentEvent.objects.filter(patient=patient, channel="sms").order_by("-at", "-id").first()


@time_machine.travel(NOON_NY, tick=False)
def test_a_signed_stop_withdraws_sms_consent_and_start_grants_it_again(client, consenting_patient):
    assert_one_reply(text_in(client, "+13125550147", "Stop"))  # the opt-out confirmation
    stop = latest_sms_consent(consenting_patient)
    assert (stop.granted, stop.via, stop.address) == (False, "SMS STOP", "+13125550147")
    assert not patient_consent(consenting_patient)["sms"].active
    assert patient_consent(consenting_patient)["email"].active

    with time_machine.travel(NOON_NY + timedelta(minutes=5), tick=False):
        assert_one_reply(text_in(client, "+13125550147", " start "))
    start = latest_sms_consent(consenting_patient)
    assert (start.granted, start.via) == (True, "SMS START")
    assert patient_consent(consenting_patient)["sms"].active


@time_machine.travel(NOON_NY, tick=False)
def test_an_sms_nudge_due_after_a_stop_is_held_back_at_dispatch(client, consenting_patient, sms_outbox):
    nudge = services.nudge_schedule(
        patient=consenting_patient,
        kind="checkin_request",
        channel="sms",
        send_at=timezone.now(),
        dedupe_key="after-stop",
    )
    text_in(client, "+13125550147", "STOP")
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert (nudge.status, nudge.status_reason) == ("suppressed", "no SMS consent")
    assert not sms_outbox.exists()
    assert Nudge.objects.filter(status="sent").count() == 0


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not-a-signature",
        "wrong token",
        "the request's own host",
    ],
)
def test_an_unsigned_or_wrongly_signed_text_is_refused_and_changes_nothing(
    client, consenting_patient, caplog, signature
):
    path = reverse("twilio_inbound_sms")
    params = {"From": "+13125550147", "Body": "STOP"}
    if signature == "wrong token":
        signature = sign(SITE_URL + path, params, token="someone-elses-token")
    elif signature == "the request's own host":
        signature = sign("http://testserver" + path, params)
    consents, accesses = ConsentEvent.objects.count(), AccessEvent.objects.count()

    with caplog.at_level(logging.WARNING, logger="nudges.webhooks"):
        response = client.post(path, params, headers={"X-Twilio-Signature": signature})

    assert response.status_code == 403
    assert response.content == b""
    assert (ConsentEvent.objects.count(), AccessEvent.objects.count()) == (consents, accesses)
    assert patient_consent(consenting_patient)["sms"].active
    assert "Twilio signature" in caplog.text


def test_a_signed_text_is_refused_while_no_auth_token_is_configured(client, consenting_patient, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    path = reverse("twilio_inbound_sms")
    params = {"From": "+13125550147", "Body": "STOP"}
    response = client.post(path, params, headers={"X-Twilio-Signature": sign(SITE_URL + path, params, "")})
    assert response.status_code == 403
    assert patient_consent(consenting_patient)["sms"].active


def test_a_text_that_is_neither_stop_nor_start_changes_nothing(client, consenting_patient):
    before = ConsentEvent.objects.count()
    assert_empty_twiml(text_in(client, "+13125550147", "Please stop by on Tuesday"))
    assert ConsentEvent.objects.count() == before
    assert patient_consent(consenting_patient)["sms"].active


def test_a_stop_from_an_unknown_number_answers_and_changes_nothing(client, consenting_patient):
    before = ConsentEvent.objects.count()
    assert_one_reply(text_in(client, "+13125550999", "STOP"))
    assert ConsentEvent.objects.count() == before


def test_a_get_is_not_allowed(client):
    assert client.get(reverse("twilio_inbound_sms")).status_code == 405
