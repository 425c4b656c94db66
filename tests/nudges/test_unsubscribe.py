"""The public unsubscribe page: reached from a patient's message, proven by a signed token only."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import signing
from django.test import Client

from accounts.models import AccessEvent
from nudges import services, tokens
from nudges.models import Nudge

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)
INVALID = "This link is not valid or has been changed"


def url_for(patient, nudge_id=None):
    return f"/u/{tokens.unsubscribe_token(patient_id=patient.pk, nudge_id=nudge_id)}/"


def assert_private(body, patient):
    """A stranger holding the link learns the first name at most."""
    for detail in (patient.last_name, patient.email, patient.phone, "312", "Main navigation"):
        assert detail not in body, detail


def test_opening_the_link_asks_to_confirm_and_changes_nothing(client, consenting_patient):
    events = AccessEvent.objects.count()

    response = client.get(url_for(consenting_patient))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Stop messages from" in body and "Hi Renée." in body
    assert ">Unsubscribe me</button>" in body and 'method="post"' in body
    assert_private(body, consenting_patient)
    consenting_patient.refresh_from_db()
    assert consenting_patient.unsubscribed_at is None
    assert AccessEvent.objects.count() == events
    assert "no-cache" in response["Cache-Control"]


def test_the_page_uses_the_preferred_name_when_there_is_one(client, consenting_patient):
    consenting_patient.preferred_name = "Ren"
    consenting_patient.save()
    body = client.get(url_for(consenting_patient)).content.decode()
    assert "Hi Ren." in body and "Renée" not in body


@time_machine.travel(NOON_NY, tick=False)
def test_confirming_unsubscribes_and_a_later_dispatch_holds_pending_nudges_back(
    client, consenting_patient, outbox
):
    events = AccessEvent.objects.count()
    pending = services.nudge_schedule(
        patient=consenting_patient, kind="checkin_request", send_at=NOON_NY, dedupe_key="k", channel="email"
    )

    response = client.post(url_for(consenting_patient, pending.pk))

    body = response.content.decode()
    assert response.status_code == 200 and "You're unsubscribed" in body
    assert_private(body, consenting_patient)
    consenting_patient.refresh_from_db()
    assert consenting_patient.unsubscribed_at == NOON_NY
    assert AccessEvent.objects.count() == events + 1
    event = AccessEvent.objects.latest("pk")
    assert (event.action, event.patient_id, event.detail) == (
        "update",
        consenting_patient.pk,
        "unsubscribed via unsubscribe link",
    )

    services.nudge_dispatch_due()

    pending.refresh_from_db()
    assert (pending.status, pending.status_reason) == ("suppressed", "patient unsubscribed")
    assert outbox == []


def test_a_mail_clients_one_click_post_works_without_a_csrf_token(consenting_patient):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        url_for(consenting_patient),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    consenting_patient.refresh_from_db()
    assert consenting_patient.unsubscribed_at is not None


def test_opening_the_link_again_says_they_are_already_unsubscribed(client, consenting_patient):
    url = url_for(consenting_patient)
    events = AccessEvent.objects.count()
    client.post(url)
    first = consenting_patient.__class__.objects.get(pk=consenting_patient.pk).unsubscribed_at

    body = client.get(url).content.decode()
    client.post(url)

    assert "You are already unsubscribed" in body and "Unsubscribe me" not in body
    consenting_patient.refresh_from_db()
    assert consenting_patient.unsubscribed_at == first
    assert AccessEvent.objects.count() == events + 1


def tampered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda p: tampered(tokens.unsubscribe_token(patient_id=p.pk)), id="one-char-changed"),
        pytest.param(lambda p: signing.dumps({"p": p.pk}, salt="something-else"), id="another-salt"),
        pytest.param(
            lambda p: signing.dumps({"p": str(p.pk)}, salt=tokens.UNSUBSCRIBE_SALT), id="odd-content"
        ),
        pytest.param(lambda p: "not-a-token", id="garbage"),
    ],
)
def test_a_link_that_is_not_ours_gets_the_clear_page_and_changes_nothing(
    client, consenting_patient, method, make_token
):
    events = AccessEvent.objects.count()

    response = getattr(client, method)(f"/u/{make_token(consenting_patient)}/")

    body = response.content.decode()
    assert response.status_code == 400
    assert INVALID in body
    assert "Signature" not in body and "Traceback" not in body and "Renée" not in body
    consenting_patient.refresh_from_db()
    assert consenting_patient.unsubscribed_at is None
    assert AccessEvent.objects.count() == events


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_link_for_a_deleted_patient_gets_the_clear_page(client, consenting_patient, method):
    url = url_for(consenting_patient)
    Nudge.objects.all().delete()
    consenting_patient.delete()
    events = AccessEvent.objects.count()

    response = getattr(client, method)(url)

    assert response.status_code == 400 and INVALID in response.content.decode()
    assert AccessEvent.objects.count() == events


def test_the_invalid_page_shows_no_internals_outside_debug(client, settings):
    settings.DEBUG = False
    response = client.get("/u/%2E%2E%2Fetc/")
    assert response.status_code in (400, 404)
    assert "Traceback" not in response.content.decode()
