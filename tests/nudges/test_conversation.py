"""A conversation per patient: what they text or email back lands in it, unread for their care team until read,
attached to the check-in it answers; a reply from the thread goes through the outbox, quiet hours and all."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.selectors import checkin_replies_for
from compliance.services import checkin_answer_record
from journeys.models import CheckIn, Journey, Stage
from nudges import services
from nudges.models import ConversationRead, InboundMessage, Nudge
from nudges.selectors import inbox, unread_conversation_count
from nudges.tokens import read_reply_address, reply_token
from patients.services import care_team_add, care_team_set_lead
from tests.factories import PatientFactory, UserFactory
from tests.nudges.test_sms_inbound import twilio_webhook_settings  # noqa: F401 — the fixture
from tests.nudges.test_sms_replies import text_in
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

SITE_URL = "https://crm.example.com"
SECRET = "mailgun-signing-key-for-tests"
DOMAIN = "reply.clinic.example"
MORNING_NY = datetime(2027, 6, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York
LATE_NY = datetime(2027, 6, 11, 3, 30, tzinfo=UTC)  # 23:30 in New York: quiet hours
STRUGGLING = "I'm struggling with the supplements"


@pytest.fixture(autouse=True)
def inbound_settings(settings):
    settings.ALLIANCE_SITE_URL = SITE_URL
    settings.INBOUND_EMAIL_SECRET = SECRET
    settings.INBOUND_EMAIL_DOMAIN = DOMAIN


@pytest.fixture
def led(consenting_patient, practitioner, staff):
    care_team_set_lead(patient=consenting_patient, user=practitioner, actor=staff)
    return consenting_patient


@pytest.fixture
def open_checkin(led, outbox):
    """A check-in whose request went out this morning, still open."""
    journey = Journey.objects.create(patient=led, stage=Stage.CHECK_INS)
    with time_machine.travel(MORNING_NY, tick=False):
        checkin = CheckIn.objects.create(
            journey=journey, due_on=timezone.localdate(), closes_at=timezone.now() + timedelta(days=2)
        )
        checkin.request_nudge = services.nudge_schedule(
            patient=led,
            kind="checkin_request",
            channel="sms",
            send_at=timezone.now(),
            dedupe_key=f"checkin:{checkin.pk}:request",
            context={"checkin_url": f"{SITE_URL}/c/x/"},
        )
        checkin.save()
        services.nudge_dispatch_due()
    checkin.request_nudge.refresh_from_db()
    assert checkin.request_nudge.status == Nudge.Status.SENT
    return checkin


def signed(fields: dict, *, secret: str = SECRET, at: float | None = None) -> dict:
    """Mailgun's recipe: HMAC-SHA256 of timestamp + token with the webhook signing key."""
    timestamp = str(int(at if at is not None else time.time()))
    token = hashlib.sha256(repr(fields).encode()).hexdigest()[:50]
    signature = hmac.new(secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": timestamp, "token": token, "signature": signature}


def email_in(client, fields: dict, **how):
    return client.post(reverse("email_inbound"), signed(fields, **how))


# --- An inbound SMS ---------------------------------------------------------------------------------


def test_an_inbound_sms_lands_in_the_conversation_unread_for_the_lead_and_on_the_open_checkin(
    client, client_for, practitioner, led, open_checkin
):
    with time_machine.travel(MORNING_NY + timedelta(hours=2), tick=False):
        text_in(client, STRUGGLING)

    message = InboundMessage.objects.get(patient=led)
    assert message.body == STRUGGLING and message.action == InboundMessage.Action.KEPT
    assert message.checkin_request_id == open_checkin.request_nudge_id
    assert checkin_replies_for(open_checkin) == [message]  # the patient's words about that check-in
    assert unread_conversation_count(practitioner) == 1
    [row] = inbox(user=practitioner)
    assert (row.patient.pk, row.unread, row.last_text) == (led.pk, 1, STRUGGLING)

    with time_machine.travel(MORNING_NY + timedelta(hours=3), tick=False):
        checkin_answer_record(
            checkin=open_checkin, items_status={}, where_it_failed="", barriers=[], ratings={}
        )
    body = client_for(practitioner).get(tab_url(led, "plan")).content.decode()
    answers = body[body.index('id="panel-adherence"') :]
    assert (
        "I&#x27;m struggling with the supplements" in answers
    )  # shown with the answers, to the practitioner
    with time_machine.travel(MORNING_NY + timedelta(hours=4), tick=False):
        conversation = client_for(practitioner).get(tab_url(led, "conversation")).content.decode()
    assert "I&#x27;m struggling with the supplements" in conversation
    assert unread_conversation_count(practitioner) == 0  # reading it marks it read


def test_a_reply_days_after_the_request_is_not_attached_to_it(client, led, open_checkin):
    with time_machine.travel(MORNING_NY + timedelta(days=4), tick=False):
        text_in(client, "Feeling better now")
    assert InboundMessage.objects.get(patient=led).checkin_request_id is None


def test_a_keyword_reply_is_kept_but_never_unread(client, practitioner, led):
    text_in(client, "STOP")
    assert InboundMessage.objects.filter(patient=led).count() == 1
    assert unread_conversation_count(practitioner) == 0


def test_the_lead_sees_the_unread_count_in_the_navigation(client, client_for, practitioner, led):
    text_in(client, STRUGGLING)
    client = client_for(practitioner)
    body = client.get(reverse("dashboard:today")).content.decode()
    assert (
        'id="nav-inbox">Inbox' in body and reverse("dashboard:inbox_unread") in body
    )  # loaded after the page
    badge = client.get(reverse("dashboard:inbox_unread")).content.decode()
    assert '<span class="badge rounded-pill text-bg-primary">1<span class="visually-hidden"> unread' in badge
    client.get(tab_url(led, "conversation"))
    assert "badge" not in client.get(reverse("dashboard:inbox_unread")).content.decode()


def test_reading_the_conversation_is_audited(client, client_for, practitioner, led):
    text_in(client, STRUGGLING)
    client_for(practitioner).get(tab_url(led, "conversation"))
    event = AccessEvent.objects.filter(detail="conversation read").get()
    assert (event.actor, event.patient_id, event.action) == (practitioner, led.pk, "view")
    assert ConversationRead.objects.filter(user=practitioner, patient=led).exists()


def test_a_staff_reply_goes_through_the_outbox_and_waits_for_quiet_hours(
    client, client_for, staff, practitioner, led, outbox, sms_outbox
):
    text_in(client, STRUGGLING)
    with time_machine.travel(LATE_NY, tick=False):
        page = client_for(staff).get(tab_url(led, "conversation")).content.decode()
        assert "It is quiet hours for Renée now: a reply written now will go at" in page
        response = client_for(staff).post(
            reverse("nudges:conversation_reply", args=[led.pk]),
            {"channel": "sms", "message": "We hear you. Dr. Rivera will call you tomorrow."},
        )
        assert response.status_code == 302
        nudge = Nudge.objects.get(patient=led, kind="one_off")
        assert nudge.created_by == staff
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.PENDING
    assert nudge.send_at == datetime(2027, 6, 11, 12, 0, tzinfo=UTC)  # 08:00 in New York
    assert not sms_outbox.exists()
    with time_machine.travel(datetime(2027, 6, 11, 12, 1, tzinfo=UTC), tick=False):
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.SENT
    assert "Dr. Rivera will call you tomorrow" in sms_outbox.read_text()


def test_a_reply_to_a_patient_without_consent_is_refused_keeping_its_words_and_nothing_is_scheduled(
    client_for, staff, practitioner
):
    patient = PatientFactory()
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    response = client_for(staff).post(
        reverse("nudges:conversation_reply", args=[patient.pk]),
        {"channel": "sms", "message": "Hello, how are the mornings going?"},
    )
    assert response.status_code == 200  # the form again, with what was typed and why it was refused
    page = response.content.decode()
    assert "Hello, how are the mornings going?" in page
    assert "The reply was not sent." in page
    assert not Nudge.objects.filter(patient=patient).exists()


def test_staff_off_the_care_team_see_that_a_message_came_but_not_its_words(client, client_for, led):
    text_in(client, STRUGGLING)
    outsider = UserFactory(role="staff")
    page = client_for(outsider).get(tab_url(led, "conversation")).content.decode()
    assert "struggling" not in page
    assert "for practitioners and their care team to read" in page
    coach = UserFactory(role="staff")
    care_team_add(patient=led, actor=coach, role="health_coach", user=coach)
    page = client_for(coach).get(tab_url(led, "conversation")).content.decode()
    assert "struggling" in page


# --- Email replies ----------------------------------------------------------------------------------


def test_each_email_carries_its_own_reply_to_address(led, outbox):
    # A morning in New York: never the patient's quiet hours, whatever the clock says when the suite runs.
    with time_machine.travel(MORNING_NY, tick=False):
        nudge = services.nudge_send_one_off(
            patient=led, actor=UserFactory(), channel="email", message="Hello"
        )
        services.nudge_dispatch_due()
    [mail] = outbox
    assert mail.reply_to == [f"reply+{reply_token(nudge_id=nudge.pk)}@{DOMAIN}"]
    assert read_reply_address(mail.reply_to[0]) == nudge.pk
    assert read_reply_address(f"reply+{nudge.pk}-0000000000000000@{DOMAIN}") is None


def test_a_reply_address_made_before_sha256_is_still_read():
    legacy = reply_token(nudge_id=41, algorithm="sha1")
    assert legacy != reply_token(nudge_id=41)
    assert read_reply_address(f"reply+{legacy}@{DOMAIN}") == 41
    assert read_reply_address(f"reply+{reply_token(nudge_id=41, algorithm='md5')}@{DOMAIN}") is None


def test_an_email_reply_lands_in_the_conversation_threaded_with_what_we_sent(
    client, practitioner, led, outbox
):
    with time_machine.travel(MORNING_NY, tick=False):
        nudge = services.nudge_send_one_off(
            patient=led, actor=practitioner, channel="email", message="How are you?"
        )
        services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.SENT
    response = email_in(
        client,
        {
            "recipient": f"reply+{reply_token(nudge_id=nudge.pk)}@{DOMAIN}",
            "sender": "someone.else@example.net",  # forwarded from another address: the reply-to decides
            "subject": "Re: A note from your care team",
            "stripped-text": "Much better this week, thank you",
            "Message-Id": "<abc@mail.example.net>",
        },
    )
    assert response.status_code == 200
    message = InboundMessage.objects.get()
    assert (message.patient, message.in_reply_to, message.channel) == (led, nudge, "email")
    assert message.body == "Much better this week, thank you"
    assert unread_conversation_count(practitioner) == 1


def test_an_email_reply_without_a_reply_address_is_matched_by_the_sender(client, led):
    email_in(
        client, {"recipient": f"care@{DOMAIN}", "sender": "Renée <RENEE@example.com>", "body-plain": "Hi"}
    )
    assert InboundMessage.objects.get().patient == led


def test_the_same_email_delivered_twice_is_kept_once(client, led):
    fields = {"recipient": f"care@{DOMAIN}", "sender": led.email, "body-plain": "Hi", "Message-Id": "<1@x>"}
    email_in(client, fields)
    email_in(client, fields)
    assert InboundMessage.objects.count() == 1


@pytest.mark.parametrize(
    "how",
    [
        {"secret": "not-the-signing-key"},
        {"at": time.time() - 3600},  # an old, replayed post
    ],
    ids=["wrong key", "stale timestamp"],
)
def test_an_inbound_email_with_a_bad_signature_is_refused_and_stores_nothing(client, led, how):
    before = AccessEvent.objects.count()
    response = email_in(
        client, {"recipient": f"care@{DOMAIN}", "sender": led.email, "body-plain": "Hi"}, **how
    )
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0
    assert AccessEvent.objects.count() == before


def test_an_inbound_email_with_no_signature_or_no_secret_configured_is_refused(client, settings, led):
    fields = {"recipient": f"care@{DOMAIN}", "sender": led.email, "body-plain": "Hi"}
    assert client.post(reverse("email_inbound"), fields).status_code == 403
    settings.INBOUND_EMAIL_SECRET = ""
    assert email_in(client, fields, secret="").status_code == 403
    assert InboundMessage.objects.count() == 0


# --- The inbox --------------------------------------------------------------------------------------


def test_the_inbox_lists_unread_conversations_first(client_for, practitioner, staff):
    patients = [PatientFactory() for _ in range(3)]
    for patient in patients:
        care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    with time_machine.travel(MORNING_NY, tick=False):
        services.sms_inbound(from_number=patients[0].phone, body="read already", provider_id="SM1")
        services.conversation_mark_read(patient=patients[0], user=practitioner)
    with time_machine.travel(MORNING_NY + timedelta(hours=1), tick=False):
        services.sms_inbound(from_number=patients[1].phone, body="older unread", provider_id="SM2")
    with time_machine.travel(MORNING_NY + timedelta(hours=2), tick=False):
        services.sms_inbound(from_number=patients[2].phone, body="newest but read", provider_id="SM3")
        services.conversation_mark_read(patient=patients[2], user=practitioner)
    order = [row.patient.pk for row in inbox(user=practitioner)]
    assert order == [patients[1].pk, patients[2].pk, patients[0].pk]
    other = UserFactory(role="practitioner")
    assert inbox(user=other) == []  # not their patients
    assert len(inbox(user=other, everyone=True)) == 3

    response = client_for(practitioner).get(reverse("dashboard:inbox"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("older unread") < body.index("newest but read") < body.index("read already")
    listed = AccessEvent.objects.filter(action="list", object_repr="inbox").get()
    assert listed.patient_ids == order


@pytest.mark.parametrize("count", [5, 50])
def test_the_inbox_has_a_query_budget_whatever_it_lists(
    client_for, practitioner, staff, count, django_assert_max_num_queries
):
    for n in range(count):
        patient = PatientFactory()
        care_team_set_lead(patient=patient, user=practitioner, actor=staff)
        services.sms_inbound(from_number=patient.phone, body=f"note {n}", provider_id=f"SM-{count}-{n}")
    client = client_for(practitioner)
    client.get(reverse("dashboard:today"))  # the session's first request does its own work
    with django_assert_max_num_queries(14 if connection.vendor == "postgresql" else 13):
        response = client.get(reverse("dashboard:inbox"))
    assert response.content.decode().count('class="list-group-item inbox-row') == count


@pytest.mark.parametrize("count", [5, 50])
def test_the_conversation_tab_has_a_query_budget_whatever_the_history(
    client, client_for, practitioner, led, count, django_assert_max_num_queries
):
    for n in range(count):
        services.sms_inbound(from_number=led.phone, body=f"note {n}", provider_id=f"SM-c-{count}-{n}")
        services.nudge_send_one_off(patient=led, actor=practitioner, channel="sms", message=f"answer {n}")
    client = client_for(practitioner)
    client.get(reverse("dashboard:today"))
    with django_assert_max_num_queries(32 if connection.vendor == "postgresql" else 31):
        response = client.get(tab_url(led, "conversation"))
    assert response.status_code == 200
