import html

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import AccessEvent
from journeys.models import Inquiry, Journey, Stage, StageChange
from journeys.services.inquiries import InquiryRateLimited, inquiry_receive
from journeys.services.stages import journey_move, journey_start
from nudges.models import Nudge
from patients.models import ConsentEvent, Patient
from tests.factories import ConsentEventFactory, PatientFactory

pytestmark = pytest.mark.django_db

URL = "/inquire/"
THANKS = "/inquire/thanks/"
PUBLIC_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "message",
    "how_heard",
    "consent_email",
    "consent_sms",
    "website",
)
VALID = {
    "first_name": "Renée",
    "last_name": "Côté",
    "email": "Renee.Cote@Example.com",
    "phone": "(312) 555-0147",
    "message": "Ten years of fatigue and nobody has listened.",
    "how_heard": "event",
    "consent_email": "on",
    "consent_sms": "1",
}

ONE_EMAIL = {**VALID, "phone": "", "consent_sms": ""}


def written() -> dict:
    """How many rows the inquiry form can write, per table."""
    return {
        "inquiries": Inquiry.objects.count(),
        "patients": Patient.objects.count(),
        "journeys": Journey.objects.count(),
        "stage_changes": StageChange.objects.count(),
        "consent": ConsentEvent.objects.count(),
        "nudges": Nudge.objects.count(),
        "audit": AccessEvent.objects.count(),
    }


NOTHING = dict.fromkeys(
    ("inquiries", "patients", "journeys", "stage_changes", "consent", "nudges", "audit"), 0
)


def tag(body: str, name: str) -> str:
    """The whole <input …> tag of the field called ``name``."""
    before, after = body.split(f'name="{name}"', 1)
    return before.rsplit("<", 1)[1] + f'name="{name}"' + after.split(">", 1)[0]


def post(client, data=None, address="203.0.113.7", **extra):
    return client.post(URL, data or VALID, REMOTE_ADDR=address, **extra)


def test_a_valid_inquiry_opens_a_patient_and_a_journey_and_schedules_the_welcome(client):
    response = post(client, HTTP_USER_AGENT="Mozilla/5.0 (iPhone)")

    assert response.status_code == 302 and response["Location"] == THANKS
    inquiry = Inquiry.objects.get()
    patient = inquiry.patient
    assert (patient.first_name, patient.last_name) == ("Renée", "Côté")
    assert (patient.email, patient.phone) == ("renee.cote@example.com", "+13125550147")
    assert patient.source == Patient.Source.EVENT
    assert patient.created_by is None
    assert inquiry.email == "Renee.Cote@Example.com"  # kept as they wrote it
    assert inquiry.phone == "+13125550147"
    assert inquiry.message == VALID["message"]
    assert (inquiry.consent_email, inquiry.consent_sms, inquiry.matched_existing) == (True, True, False)
    assert (inquiry.ip_address, inquiry.user_agent) == ("203.0.113.7", "Mozilla/5.0 (iPhone)")
    journey = Journey.objects.open().get(patient=patient)
    assert inquiry.journey == journey and journey.stage == Stage.INQUIRY
    change = StageChange.objects.get(journey=journey)
    assert (change.from_stage, change.to_stage, change.by, change.note) == (
        "",
        Stage.INQUIRY,
        None,
        "from the inquiry form",
    )
    consents = ConsentEvent.objects.filter(patient=patient).order_by("channel")
    assert [(c.channel, c.granted, c.address, c.via) for c in consents] == [
        ("email", True, "renee.cote@example.com", "inquiry form"),
        ("sms", True, "+13125550147", "inquiry form"),
    ]
    nudge = Nudge.objects.get()
    assert (nudge.patient, nudge.kind, nudge.status) == (patient, "inquiry_welcome", Nudge.Status.PENDING)
    assert nudge.dedupe_key == f"inquiry-welcome:{inquiry.pk}"
    assert nudge.send_at <= timezone.now()


def test_the_thanks_page_tells_them_what_happens_next(client):
    response = client.get(THANKS)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Thank you for reaching out" in body and "What happens next" in body
    assert "Sign out" not in body


def test_an_inquiry_without_any_consent_schedules_no_welcome(client):
    data = {k: v for k, v in VALID.items() if not k.startswith("consent_")}
    assert post(client, data).status_code == 302
    assert Inquiry.objects.count() == 1
    assert not ConsentEvent.objects.exists()
    assert not Nudge.objects.exists()


def test_a_phone_only_inquiry_prefers_text_messages(client):
    data = {"first_name": "Ana", "last_name": "Lima", "phone": "+44 7911 123456", "consent_sms": "true"}
    assert post(client, data).status_code == 302
    patient = Patient.objects.get()
    assert (patient.email, patient.phone, patient.preferred_channel) == ("", "+447911123456", "sms")
    assert Nudge.objects.get().channel == "sms"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Please tell us your first name."),
        ({"first_name": "   "}, "first_name", "Please tell us your first name."),
        ({"last_name": ""}, "last_name", "Please tell us your last name."),
        (
            {"email": "", "phone": "", "consent_email": "", "consent_sms": ""},
            None,
            "Please give us an email address or a phone number, so that we can get back to you.",
        ),
        ({"email": "renee@", "consent_email": ""}, "email", "look like an email address"),
        ({"phone": "call me", "consent_sms": ""}, "phone", "“call me” is not a phone number"),
        ({"phone": "555 000", "consent_sms": ""}, "phone", "is not a valid number for US"),
        ({"message": "x" * 5001}, "message", "Please keep your message under 5,000 characters"),
        ({"phone": "", "consent_sms": "on"}, "consent_sms", "please add your mobile number"),
        ({"email": "", "consent_email": "on"}, "consent_email", "please add your email address"),
        ({"how_heard": "tv"}, "how_heard", "Please choose one of the options"),
    ],
    ids=[
        "missing first name",
        "blank first name",
        "missing last name",
        "neither email nor phone",
        "bad email",
        "bad phone",
        "invalid phone",
        "message too long",
        "consent_sms without phone",
        "consent_email without email",
        "unknown how_heard",
    ],
)
def test_each_invalid_field_gets_its_message_and_nothing_is_written(client, change, field, message):
    response = post(client, {**VALID, **change})

    assert response.status_code == 200
    form = response.context["form"]
    errors = form.errors.get(field if field else "__all__", [])
    assert any(message in e for e in errors), form.errors
    assert message in html.unescape(response.content.decode())
    assert written() == NOTHING


def test_an_invalid_form_keeps_what_they_typed(client):
    body = post(client, {**VALID, "email": "renee@"}).content.decode()
    assert 'value="Renée"' in body and 'value="Côté"' in body and 'value="renee@"' in body
    assert VALID["message"] in body
    assert 'value="event" selected' in body
    assert "checked" in tag(body, "consent_sms")


@pytest.mark.parametrize("value", ["0", "no", "off", "false", "maybe"])
def test_only_a_plain_yes_counts_as_consent(client, value):
    assert post(client, {**VALID, "consent_email": value, "consent_sms": value}).status_code == 302
    inquiry = Inquiry.objects.get()
    assert (inquiry.consent_email, inquiry.consent_sms) == (False, False)
    assert not ConsentEvent.objects.exists()


def test_a_filled_honeypot_is_thanked_and_nothing_is_written(client):
    response = post(client, {**VALID, "website": "http://spam.example"})
    assert response.status_code == 302 and response["Location"] == THANKS
    assert written() == NOTHING


def test_the_sixth_inquiry_from_one_address_within_an_hour_is_refused_kindly(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for n in range(5):
            data = {**ONE_EMAIL, "email": f"person{n}@example.com"}
            assert post(client, data, address="198.51.100.9").status_code == 302
            traveller.shift(60)
        before = written()

        response = post(client, {**ONE_EMAIL, "email": "sixth@example.com"}, address="198.51.100.9")

        assert response.status_code == 429
        assert "please call us" in response.content.decode()
        assert written() == before
        assert (
            post(client, {**ONE_EMAIL, "email": "other@example.com"}, address="192.0.2.1").status_code == 302
        )
        assert Inquiry.objects.filter(ip_address="192.0.2.1").count() == 1

        traveller.shift(60 * 60)  # an hour after the first: that one no longer counts
        assert (
            post(client, {**ONE_EMAIL, "email": "later@example.com"}, address="198.51.100.9").status_code
            == 302
        )


def test_the_service_refuses_past_the_limit_too():
    for n in range(5):
        inquiry_receive(
            data={"first_name": "A", "last_name": f"B{n}", "email": f"a{n}@example.com"},
            ip_address="2001:db8::1",
            user_agent="",
        )
    with pytest.raises(InquiryRateLimited, match="2001:db8::1"):
        inquiry_receive(
            data={"first_name": "A", "last_name": "B6", "email": "a6@example.com"},
            ip_address="2001:db8::1",
            user_agent="",
        )
    assert Inquiry.objects.count() == 5


def test_an_existing_patients_email_joins_them_and_changes_nothing_of_theirs(client):
    patient = PatientFactory(
        first_name="Renée", last_name="Tremblay", email="renee.cote@example.com", phone=""
    )

    post(client, {**VALID, "first_name": "René", "phone": "", "consent_sms": ""})

    assert Patient.objects.count() == 1
    inquiry = Inquiry.objects.get()
    assert inquiry.patient == patient and inquiry.matched_existing is True
    assert (inquiry.first_name, inquiry.last_name) == ("René", "Côté")  # the inquiry keeps what they wrote
    patient.refresh_from_db()
    assert (patient.first_name, patient.last_name, patient.phone) == ("Renée", "Tremblay", "")
    journey = Journey.objects.open().get(patient=patient)
    assert inquiry.journey == journey
    consent = ConsentEvent.objects.get(patient=patient)
    assert (consent.channel, consent.address, consent.via) == (
        "email",
        "renee.cote@example.com",
        "inquiry form",
    )
    assert Nudge.objects.filter(patient=patient, kind="inquiry_welcome").count() == 1


def test_an_existing_patient_with_an_open_journey_gets_no_second_one(client, practitioner):
    patient = PatientFactory(email="renee.cote@example.com")
    journey = journey_start(patient=patient, actor=practitioner)
    journey_move(journey=journey, to_stage=Stage.DISCOVERY, actor=practitioner)
    changes = StageChange.objects.count()

    post(client)

    assert Journey.objects.filter(patient=patient).count() == 1
    assert StageChange.objects.count() == changes
    inquiry = Inquiry.objects.get()
    assert inquiry.journey == journey and inquiry.matched_existing
    assert not Nudge.objects.exists(), "the welcome speaks of a first call: not for someone past it"


def test_consent_the_patient_already_gave_is_not_recorded_twice(client):
    patient = PatientFactory(email="renee.cote@example.com", phone="+13125550147")
    ConsentEventFactory(patient=patient, channel="email")

    post(client)

    assert ConsentEvent.objects.filter(patient=patient, channel="email").count() == 1
    assert ConsentEvent.objects.filter(patient=patient, channel="sms", via="inquiry form").count() == 1


def test_consent_for_an_address_not_on_the_record_is_kept_only_on_the_inquiry(client):
    patient = PatientFactory(email="old@example.com", phone="+13125550147")
    ConsentEventFactory(patient=patient, channel="email")

    post(client, {**VALID, "consent_sms": ""})  # matched by phone, with a new email address

    inquiry = Inquiry.objects.get()
    assert inquiry.patient == patient and inquiry.consent_email
    assert list(ConsentEvent.objects.filter(patient=patient).values_list("address", flat=True)) == [
        "old@example.com"
    ]


def test_a_non_archived_match_is_preferred(client):
    PatientFactory(email="renee.cote@example.com", phone="", archived=True)
    active = PatientFactory(email="", phone="+13125550147")

    post(client)

    assert Inquiry.objects.get().patient == active


def test_a_cross_origin_post_without_a_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    response = client.post(URL, VALID, REMOTE_ADDR="203.0.113.50", HTTP_ORIGIN="https://www.clinic.example")
    assert response.status_code == 302 and response["Location"] == THANKS
    assert Inquiry.objects.count() == 1


def test_the_page_renders_for_an_anonymous_visitor_with_every_public_field(client):
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    for name in PUBLIC_FIELDS:
        assert f'name="{name}"' in body, name
    for value, _ in Inquiry.HowHeard.choices:
        assert f'value="{value}"' in body
    assert "Get in touch" in body
    assert "Sign out" not in body and "/patients/" not in body
    honeypot = tag(body, "website")
    assert 'tabindex="-1"' in honeypot and 'autocomplete="off"' in honeypot
    assert 'aria-hidden="true"' in body


def test_the_page_stays_standalone_for_a_signed_in_colleague(client_for, staff):
    body = client_for(staff).get(URL).content.decode()
    assert "Sign out" not in body


def test_a_message_with_markup_is_stored_as_written_and_shown_escaped(client):
    script = "<script>alert('hi')</script> my gut"
    post(client, {**VALID, "message": script})
    assert Inquiry.objects.get().message == script

    body = post(
        client, {**VALID, "message": script, "first_name": "<script>x</script>", "email": "bad"}
    ).content
    body = body.decode()
    assert "<script>alert" not in body and "<script>x</script>" not in body
    assert "&lt;script&gt;alert(&#x27;hi&#x27;)&lt;/script&gt; my gut" in body
    assert "<script>alert" not in client.get(THANKS).content.decode()


def test_other_methods_are_refused(client):
    assert client.put(URL).status_code == 405
    assert client.post(THANKS).status_code == 405
