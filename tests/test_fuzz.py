"""Bad input never breaks anything: hostile values posted to every form and public endpoint.

Property-based (hypothesis): huge fields, NUL, lone surrogates, right-to-left and zero-width marks, emoji,
numbers where text goes and text where numbers go, missing and repeated fields, unknown fields. Every
answer is below 500; text that is accepted is stored as written (less the surrounding whitespace forms
trim). Bounded: a few dozen examples per endpoint, so the file runs in well under a minute.
"""

import itertools
import re
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings as django_settings
from django.http import QueryDict
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.models import CheckIn, Inquiry, Visit
from journeys.services.stages import journey_start
from journeys.tokens import checkin_token
from nudges.tokens import unsubscribe_token
from nudges.twilio import twilio_signature
from patients.models import ConsentRequest
from patients.tokens import consent_confirm_token
from tests.factories import CareTeamMemberFactory, PatientFactory

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
MEGABYTE = "x" * 1_000_000
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: arrives as invalid UTF-8
    "x\udfffy",
    "\u202egnp.exe",  # right-to-left override
    "\u200b\u200c\u200d\ufeff",  # zero-width marks
    "👩‍⚕️🩺💊" * 5,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{ 7*7 }}{% debug %}",
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "2026-13-45 25:61",
    "../../etc/passwd",
    "\r\nSet-Cookie: a=1",
    "on",
    "yes",
    "email",
    "sms",
    "+13125550147",
    "a@b.co",
    "STOP",
    "start.",
]
# A huge value now and then (one field in ~40), not in every example: the whole file stays under a minute.
TEXT = st.one_of(st.sampled_from([*NASTY, MEGABYTE, "é" * 6000]), st.text(max_size=40))
VALUE = st.one_of(TEXT, st.lists(TEXT, min_size=2, max_size=3))  # a list: the field repeated
# Header values as a WSGI server hands them over (latin-1), NUL and control characters included.
HEADER = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=300), st.sampled_from(["\x00", "a" * 10_000])
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_USER_AGENT": HEADER,
        "HTTP_ACCEPT": HEADER,
        "HTTP_REFERER": HEADER,
        "HTTP_X_FORWARDED_FOR": HEADER,
        "HTTP_HX_REQUEST": st.just("true"),
    },
)
ADDRESSES = (f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}" for n in itertools.count(1))


def form_data(names):
    """Any subset of the form's fields (missing ones left out), each with a hostile or repeated value,
    sometimes with a field nobody asked for."""
    return st.fixed_dictionaries(
        {}, optional={**{name: VALUE for name in names}, "unexpected": VALUE, "csrfmiddlewaretoken": TEXT}
    )


def encoded(data: dict) -> bytes:
    pairs = [
        (name, v) for name, value in data.items() for v in (value if isinstance(value, list) else [value])
    ]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


def post(client, url, data, **extra):
    response = client.post(
        url,
        encoded(data),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=next(ADDRESSES),
        **extra,
    )
    assert response.status_code < 500, (url, response.status_code)
    return response


def as_received(value: str) -> str:
    """What a server reads from the wire for ``value``: invalid UTF-8 becomes U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def names_in(client, url) -> list[str]:
    body = client.get(url).content.decode()
    names = set(re.findall(r'name="([^"]+)"', body)) - {"csrfmiddlewaretoken", "viewport", "htmx-config"}
    assert names, url
    return sorted(names)


@pytest.fixture
def clinic(practitioner):
    patient = PatientFactory(email="renee@example.com", phone="+13125550147")
    CareTeamMemberFactory(patient=patient, user=practitioner, role="lead")
    journey = journey_start(patient=patient, actor=practitioner)
    start = timezone.now() + timedelta(days=2)
    visit = Visit.objects.create(
        patient=patient,
        journey=journey,
        practitioner=practitioner,
        kind="intake",
        starts_at=start,
        duration_minutes=60,
        ends_at=start + timedelta(minutes=60),
    )
    return patient, journey, visit


# --- public -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@FUZZ
@given(
    data=form_data(
        [
            "first_name",
            "last_name",
            "email",
            "phone",
            "message",
            "how_heard",
            "consent_email",
            "consent_sms",
            "website",
        ]
    )
)
def test_the_inquiry_form_never_breaks_and_keeps_text_as_written(client, data):
    before = Inquiry.objects.count()
    response = post(client, "/inquire/", data)
    if Inquiry.objects.count() > before:
        assert response.status_code == 302
        inquiry = Inquiry.objects.latest("pk")
        if isinstance(data.get("message"), str):
            assert inquiry.message == as_received(data["message"]).strip()
        assert inquiry.first_name == as_received(data["first_name"]).strip()
    elif response.status_code == 200:
        assert "needs a second look" in response.content.decode() or "Please" in response.content.decode()


@pytest.mark.django_db
@FUZZ
@given(data=form_data(["username", "password", "next"]), headers=HEADERS)
def test_sign_in_never_breaks(client, data, headers):
    response = post(client, "/accounts/sign-in/", data, **headers)
    assert response.status_code in (200, 302, 400, 403, 429)
    assert "_auth_user_id" not in client.session


@FUZZ
@given(data=form_data(["From", "To", "Body", "MessageSid", "AccountSid"]))
def test_the_twilio_webhook_never_breaks_signed_or_not(client, clinic, data):
    django_settings.TWILIO_AUTH_TOKEN = "fuzz-auth-token"
    path = "/hooks/sms/twilio/"
    unsigned = post(client, path, data)
    assert unsigned.status_code in (400, 403)  # 400: a body over DATA_UPLOAD_MAX_MEMORY_SIZE
    body = encoded(data)
    signature = twilio_signature(
        url=django_settings.ALLIANCE_SITE_URL + path, params=QueryDict(body), auth_token="fuzz-auth-token"
    )
    if len(body) < django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        post(client, path, data, HTTP_X_TWILIO_SIGNATURE=signature)


@FUZZ
@given(token=TEXT, data=form_data(["status", "note"]))
def test_patient_link_pages_never_break_on_any_token(client, db, token, data):
    for prefix in ("c", "u", "consent/confirm"):
        url = f"/{prefix}/" + quote(token[:2000] or "x", safe="", errors="surrogatepass") + "/"
        assert client.get(url).status_code < 500
        post(client, url, data)


@FUZZ
@given(data=st.data())
def test_the_checkin_page_never_breaks_and_keeps_the_patients_words(client, clinic, practitioner, data):
    from compliance.models import CheckInAnswer
    from journeys.models import Blueprint, BlueprintItem, Stage

    _, journey, _ = clinic
    if not hasattr(journey, "_fuzz_checkin"):
        journey.stage = Stage.CHECK_INS
        journey.save()
        blueprint = Blueprint.objects.create(
            journey=journey,
            version=1,
            status="published",
            created_by=practitioner,
            published_at=timezone.now(),
        )
        BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title="Magnesium", position=0)
        journey._fuzz_checkin = CheckIn.objects.create(
            journey=journey, due_on=timezone.localdate(), closes_at=timezone.now() + timedelta(days=2)
        )
    url = f"/c/{checkin_token(journey._fuzz_checkin.pk)}/"
    names = names_in(client, url)
    values = data.draw(form_data(names))
    response = post(client, url, values)
    answer = CheckInAnswer.objects.filter(checkin=journey._fuzz_checkin).first()
    if response.status_code == 302 and answer is not None and isinstance(values.get("where_it_failed"), str):
        assert answer.where_it_failed == as_received(values["where_it_failed"]).strip()


@FUZZ
@given(words=st.one_of(st.sampled_from(NASTY), st.text(max_size=200)))
def test_the_patients_own_words_are_kept_exactly_or_refused_with_a_message(
    client, clinic, practitioner, words
):
    from compliance.models import CheckInAnswer
    from journeys.models import Blueprint, BlueprintItem, Stage

    _, journey, _ = clinic
    if not hasattr(journey, "_fuzz_item"):
        journey.stage = Stage.CHECK_INS
        journey.save()
        blueprint = Blueprint.objects.create(
            journey=journey,
            version=1,
            status="published",
            created_by=practitioner,
            published_at=timezone.now(),
        )
        journey._fuzz_item = BlueprintItem.objects.create(
            blueprint=blueprint, kind="supplement", title="Magnesium", position=0
        )
    journey._fuzz_day = getattr(journey, "_fuzz_day", 0) + 1
    checkin = CheckIn.objects.create(
        journey=journey,
        due_on=timezone.localdate() - timedelta(days=journey._fuzz_day),
        closes_at=timezone.now() + timedelta(days=2),
    )
    data = {f"item_{journey._fuzz_item.pk}": "done", "where_it_failed": words, "energy": "6"}
    response = post(client, f"/c/{checkin_token(checkin.pk)}/", data)
    answer = CheckInAnswer.objects.filter(checkin=checkin).first()
    if answer is None:
        assert response.status_code == 200 and "invalid-feedback" in response.content.decode()
    else:
        assert answer.where_it_failed == as_received(words).strip()


@FUZZ
@given(data=form_data(["confirm"]))
def test_valid_unsubscribe_and_consent_links_never_break(client, clinic, data):
    patient, _, _ = clinic
    post(client, f"/u/{unsubscribe_token(patient_id=patient.pk)}/", data)
    asked = ConsentRequest.objects.create(patient=patient, channel="email", address=patient.email, via="fuzz")
    post(client, f"/consent/confirm/{consent_confirm_token(asked.pk)}/", data)


# --- signed-in staff forms ----------------------------------------------------------------------------------


STAFF_FORMS = [
    ("patient create", lambda p, j, v: "/patients/new/", True),
    ("patient edit", lambda p, j, v: f"/patients/{p.pk}/edit/", True),
    ("visit booking", lambda p, j, v: f"/patients/{p.pk}/visits/new/", True),
    ("visit note", lambda p, j, v: f"/visits/{v.pk}/notes/new/", True),
    ("one-off message", lambda p, j, v: f"/nudges/patient/{p.pk}/send/", False),
]
POST_ONLY_FIELDS = {"one-off message": ["channel", "subject", "message", "send_at"]}


@pytest.mark.parametrize(("name", "url_for", "has_page"), STAFF_FORMS, ids=[f[0] for f in STAFF_FORMS])
def test_staff_forms_never_break_on_hostile_input(client_for, practitioner, clinic, name, url_for, has_page):
    client = client_for(practitioner)
    url = url_for(*clinic)
    names = names_in(client, url) if has_page else POST_ONLY_FIELDS[name]

    @FUZZ
    @given(data=form_data(names))
    def run(data):
        post(client, url, data)

    run()


def test_the_consent_form_never_breaks(client_for, practitioner, clinic):
    client = client_for(practitioner)
    patient, _, _ = clinic

    @FUZZ
    @given(data=form_data(["channel", "granted", "note"]))
    def run(data):
        post(client, f"/patients/{patient.pk}/consent/", data)

    run()


def test_the_journey_move_never_breaks(client_for, practitioner, clinic):
    client = client_for(practitioner)
    _, journey, _ = clinic

    @FUZZ
    @given(data=form_data(["to_stage", "reason", "note", "next"]), htmx=st.booleans())
    def run(data, htmx):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = post(client, f"/journeys/{journey.pk}/move/", data, **extra)
        if response.status_code == 302:
            assert response["Location"].startswith("/")

    run()


# --- what the fuzzing found (each answered 500 on PostgreSQL) ----------------------------------------------


@pytest.mark.django_db
def test_a_nul_in_the_user_agent_is_stored_without_it(client):
    data = {"first_name": "Ana", "last_name": "Lima", "email": "ana@example.com"}
    response = client.post("/inquire/", data, HTTP_USER_AGENT="Mozilla\x00/5.0", REMOTE_ADDR="10.200.0.1")
    assert response.status_code == 302
    assert Inquiry.objects.get().user_agent == "Mozilla/5.0"
    signing_in = client.post(
        "/accounts/sign-in/", {"username": "x", "password": "y"}, HTTP_USER_AGENT="a\x00b", HTTP_ACCEPT="\x00"
    )
    assert signing_in.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("sender", ["+1312\x00", "\ud800", "x" * 300, "", "3125550147"])
def test_a_signed_text_from_a_sender_that_is_no_phone_number_is_ignored(client, sender):
    django_settings.TWILIO_AUTH_TOKEN = "fuzz-auth-token"
    path = "/hooks/sms/twilio/"
    body = encoded({"From": sender, "Body": "STOP"})
    signature = twilio_signature(
        url=django_settings.ALLIANCE_SITE_URL + path, params=QueryDict(body), auth_token="fuzz-auth-token"
    )
    response = client.post(
        path, body, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 200
