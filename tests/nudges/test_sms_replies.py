"""What patients text back: each revocation wording opts them out with exactly one confirmation, HELP and
START are answered, and every other reply is kept for the care team and shown on the Messages panel."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nudges import services
from nudges.keywords import SHORT_REPLY_WORDS, Meaning, meaning_of, words_of
from nudges.models import InboundMessage, Nudge
from patients.models import ConsentEvent
from patients.selectors import patient_consent
from patients.services import care_team_set_lead
from tests.nudges.test_sms_inbound import SITE_URL, sign, twilio_webhook_settings  # noqa: F401 — the fixture
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)
PHONE = "+13125550147"
CLINIC_PHONE = "(312) 555-0100"

OPT_OUTS = [
    "stop",
    "STOP",
    "Stop.",
    "quit",
    "END",
    "revoke",
    "Opt out",
    "opt-out",
    "OPTOUT",
    "opt me out",
    "cancel",
    "Unsubscribe",
    "STOP ALL",
    "stopall",
    "please stop texting me",
    "unsubscribe me",
    "Stop!!! 😡",
    "STOP sending me these messages please",
    "No more texts, STOP",
    "stop appointment reminders",
    "I want to unsubscribe",
    "Cancel texts",
    "  end  ",
    "Stop, wrong number",
]
KEPT = [
    "the weekend was hard",
    "Should I stop the magnesium?",
    "cancel my appointment",
    "Can we end the session early on Friday?",
    "don't stop",
    "I need help with my plan",
    "Please stop by on Tuesday",
    "Quit coffee this week and I feel better",
    "Yes",
    "Thanks! See you soon",
    "",
]


@pytest.fixture(autouse=True)
def clinic(settings):
    settings.CLINIC_NAME = "Harbor Functional Medicine"
    settings.CLINIC_PHONE = CLINIC_PHONE


def text_in(client, body: str, *, from_number: str = PHONE, sid: str | None = None):
    path = reverse("twilio_inbound_sms")
    params = {
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "AccountSid": "AC00000000000000000000000000000001",
        "From": from_number,
        "To": "+15005550006",
        "Body": body,
    }
    response = client.post(path, params, headers={"X-Twilio-Signature": sign(SITE_URL + path, params)})
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    return response


def replies_in(response) -> list[str]:
    return [unescape(text) for text in re.findall(r"<Message>(.*?)</Message>", response.content.decode())]


def sms_consent_events(patient):
    return list(ConsentEvent.objects.filter(patient=patient, channel="sms").order_by("at", "id"))


# --- The rule itself -------------------------------------------------------------------------------


def test_replies_are_normalised_into_words():
    assert words_of("  Opt-Out!! ") == ["optout"]
    assert words_of("Please STOP  texting me.") == ["please", "stop", "texting", "me"]
    assert words_of("don’t stop") == ["don't", "stop"]
    assert words_of("stop all") == ["stopall"]
    assert words_of("the weekend") == ["the", "weekend"]  # "end" is a word of its own, or nothing


def test_a_short_reply_has_at_most_eight_words():
    assert SHORT_REPLY_WORDS == 8
    assert meaning_of(" ".join(["please"] * 7 + ["stop"])) == Meaning.OPT_OUT
    assert meaning_of(" ".join(["please"] * 8 + ["stop"])) == Meaning.WORDS


@pytest.mark.parametrize("body", OPT_OUTS)
def test_each_revocation_wording_means_an_opt_out(body):
    assert meaning_of(body) == Meaning.OPT_OUT


@pytest.mark.parametrize("body", [body for body in KEPT if body != "Yes"])
def test_other_replies_mean_words_for_the_care_team(body):
    assert meaning_of(body) == Meaning.WORDS


@pytest.mark.parametrize(
    ("body", "meaning"),
    [
        ("START", Meaning.RESTART),
        ("unstop", Meaning.RESTART),
        ("Start again please", Meaning.RESTART),
        ("start the magnesium again?", Meaning.WORDS),
        ("stop start", Meaning.OPT_OUT),  # both: the opt-out wins
        ("HELP", Meaning.HELP),
        ("help?", Meaning.HELP),
        ("info", Meaning.HELP),
        ("help me please", Meaning.HELP),
        # a yes: kept for the care team unless it confirms a request we asked about (test_sms_consent_yes)
        ("Yes", Meaning.YES),
        ("YES!", Meaning.YES),
        ("yes please", Meaning.YES),
        ("Yes, that was me", Meaning.YES),
        ("yes no", Meaning.WORDS),
        ("not yes", Meaning.WORDS),
        ("Yes I took it", Meaning.WORDS),
        ("yes stop", Meaning.WORDS),
    ],
)
def test_start_help_and_yes_are_recognised_only_alone_or_with_plain_companions(body, meaning):
    assert meaning_of(body) == meaning


# --- Through the webhook ---------------------------------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("body", OPT_OUTS)
def test_each_revocation_wording_opts_out_with_exactly_one_confirmation(client, consenting_patient, body):
    response = text_in(client, body)

    (confirmation,) = replies_in(response)
    assert "Harbor Functional Medicine" in confirmation
    assert "START" in confirmation  # how to restart
    assert "http" not in confirmation and len(confirmation) <= 160  # one plain segment, nothing to sell
    (event,) = [e for e in sms_consent_events(consenting_patient) if not e.granted]
    assert (event.via, event.address) == ("SMS STOP", PHONE)
    assert not patient_consent(consenting_patient)["sms"].active
    assert patient_consent(consenting_patient)["email"].active
    (message,) = InboundMessage.objects.filter(patient=consenting_patient)
    assert (message.action, message.body, message.auto_reply) == ("opted_out", body, confirmation)


@time_machine.travel(NOON_NY, tick=False)
def test_the_confirmation_is_the_last_text_they_get(client, consenting_patient, sms_outbox):
    text_in(client, "please stop texting me")
    nudge = services.nudge_schedule(
        patient=consenting_patient,
        kind="checkin_request",
        channel="sms",
        send_at=timezone.now(),
        dedupe_key="after-opt-out",
        context={"checkin_url": "https://crm.example.com/c/x/"},
    )
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    assert nudge.status == Nudge.Status.SUPPRESSED
    assert not sms_outbox.exists()  # the confirmation went back as the TwiML reply, not through the outbox


@time_machine.travel(NOON_NY, tick=False)
def test_the_same_text_delivered_twice_is_kept_and_answered_once(client, consenting_patient):
    first = text_in(client, "STOP", sid="SM" + "7" * 32)
    again = text_in(client, "STOP", sid="SM" + "7" * 32)
    assert len(replies_in(first)) == 1
    assert replies_in(again) == []
    assert InboundMessage.objects.count() == 1
    assert len([e for e in sms_consent_events(consenting_patient) if not e.granted]) == 1


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("body", ["HELP", "help?", "Info"])
def test_help_gets_the_clinics_name_and_phone_and_how_to_stop(client, consenting_patient, body):
    before = sms_consent_events(consenting_patient)
    (answer,) = replies_in(text_in(client, body))
    assert "Harbor Functional Medicine" in answer and CLINIC_PHONE in answer and "STOP" in answer
    assert sms_consent_events(consenting_patient) == before
    assert InboundMessage.objects.get().action == "help"


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("body", ["START", "Unstop", "start again please"])
def test_start_or_unstop_restarts_texts(client, consenting_patient, body):
    text_in(client, "STOP")
    with time_machine.travel(NOON_NY + timedelta(minutes=5), tick=False):
        (answer,) = replies_in(text_in(client, body))
    assert "Harbor Functional Medicine" in answer and "STOP" in answer
    assert patient_consent(consenting_patient)["sms"].active
    assert sms_consent_events(consenting_patient)[-1].via == "SMS START"


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("body", KEPT)
def test_every_other_reply_is_kept_unanswered_and_changes_no_consent(client, consenting_patient, body):
    before = sms_consent_events(consenting_patient)
    assert replies_in(text_in(client, body)) == []
    assert sms_consent_events(consenting_patient) == before
    assert patient_consent(consenting_patient)["sms"].active
    (message,) = InboundMessage.objects.filter(patient=consenting_patient)
    assert (message.action, message.body, message.channel, message.from_address) == (
        "kept",
        body,
        "sms",
        PHONE,
    )
    assert message.received_at == NOON_NY


@time_machine.travel(NOON_NY, tick=False)
def test_a_reply_is_threaded_with_the_last_text_sent_to_them(client, consenting_patient):
    _older, latest = (
        Nudge.objects.create(
            patient=consenting_patient,
            kind=kind,
            channel="sms",
            send_at=NOON_NY - timedelta(hours=hours),
            sent_at=NOON_NY - timedelta(hours=hours),
            status="sent",
            dedupe_key=f"threaded-{kind}",
        )
        for kind, hours in (("visit_reminder", 30), ("checkin_request", 2))
    )
    text_in(client, "the weekend was hard")
    assert InboundMessage.objects.get().in_reply_to == latest


@time_machine.travel(NOON_NY, tick=False)
def test_a_text_from_an_unknown_number_is_kept_without_a_patient(client, consenting_patient):
    text_in(client, "Who is this?", from_number="+13125550999")
    message = InboundMessage.objects.get()
    assert message.patient is None and message.from_address == "+13125550999"


# --- On the patient's Messages panel -------------------------------------------------------------


@pytest.fixture
def replied(client, consenting_patient, practitioner, staff):
    care_team_set_lead(patient=consenting_patient, user=practitioner, actor=staff)
    with time_machine.travel(NOON_NY, tick=False):
        text_in(client, "the weekend was hard")
    return consenting_patient


def messages_panel(client, patient) -> str:
    body = client.get(tab_url(patient, "messages")).content.decode()
    start = body.index('id="panel-messages"')
    return body[start : body.index("</section>", start)]


def test_an_unrecognised_reply_shows_on_the_messages_panel(client_for, practitioner, replied):
    panel = messages_panel(client_for(practitioner), replied)
    assert "What Renée wrote back" in panel
    assert "the weekend was hard" in panel
    assert "Kept for the care team" in panel


def test_staff_see_that_a_reply_came_but_not_its_words(client_for, staff, replied):
    panel = messages_panel(client_for(staff), replied)
    assert "Kept for the care team" in panel
    assert "the weekend was hard" not in panel


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_the_panel_costs_the_same_queries_for_one_reply_or_many(client_for, request, replied, role):
    client = client_for(request.getfixturevalue(role))
    with CaptureQueriesContext(connection) as one:
        client.get(tab_url(replied, "messages"))
    with time_machine.travel(NOON_NY + timedelta(hours=1), tick=False):
        for n in range(6):
            services.sms_inbound(
                from_number=PHONE, body=f"note {n} about my week", provider_id=f"SM-many-{n}"
            )
    with CaptureQueriesContext(connection) as many:
        client.get(tab_url(replied, "messages"))
    assert len(many) == len(one)
