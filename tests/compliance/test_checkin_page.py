"""The patient's check-in page at /c/<token>/ (public, proven by its signed link) and the clinic's phone entry."""

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.models import CheckInAnswer, ClinicSettings, ComplianceLog
from compliance.services import ITEMS_CHANGED_MESSAGE, Refusal
from journeys.models import BlueprintItem, CheckIn, Journey, Stage
from journeys.tokens import checkin_token
from nudges import tokens as nudge_tokens
from tests.compliance.conftest import MONDAY, week
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

INVALID = "This link is not valid"
CLOSED = "This check-in has closed"
CLOSED_KIND = "Your care team will be in touch"
RECEIVED = "we already have your answer"
UNKNOWN = "We couldn't find this check-in"
SCOLDING = ("non-compliant", "noncompliant", "failed to", "fail to comply", "failure", "you didn")


def url_for(checkin) -> str:
    return f"/c/{checkin_token(checkin.pk)}/"


def answers(items, *statuses, **extra) -> dict:
    """POST data: one status per item (a (status, reason) pair for a reason), then any other fields."""
    data = {"where_it_failed": "Mornings were rushed.", "barriers": ["time"], "energy": "6", "sleep": "5"}
    for item, status in zip(items, statuses, strict=True):
        status, reason = status if isinstance(status, tuple) else (status, "")
        data[f"item_{item.pk}"] = status
        data[f"item_{item.pk}_reason"] = reason
    return {**data, **extra}


def is_checked(body: str, name: str, value: str) -> bool:
    return re.search(rf'<input type="radio" name="{name}" value="{value}"[^>]* checked>', body) is not None


def written():
    return CheckInAnswer.objects.count(), ComplianceLog.objects.count(), AccessEvent.objects.count()


def assert_kind_and_private(body: str, patient) -> None:
    lowered = body.lower()
    for word in SCOLDING:
        assert word not in lowered, word
    for detail in (patient.last_name, patient.email, patient.phone, "Main navigation", "Traceback"):
        assert detail not in body, detail


@pytest.fixture
def checkin(plan):
    journey, _ = plan
    return week(journey, MONDAY)


@pytest.fixture
def other_checkin(practitioner):
    """Another patient's open check-in, on a plan of one item."""
    journey = Journey.objects.create(patient=PatientFactory(first_name="Ola"), stage=Stage.CHECK_INS)
    blueprint = journey.blueprints.create(version=1, status="published", created_by=practitioner)
    BlueprintItem.objects.create(blueprint=blueprint, kind="diet", title="Less sugar")
    return week(journey, MONDAY)


# --- opening the link ------------------------------------------------------------------------------


def test_the_page_asks_about_each_plan_item_and_writes_nothing(client, plan, checkin):
    journey, items = plan
    BlueprintItem.objects.filter(pk=items[0].pk).update(dose="200 mg", frequency="at bedtime")
    BlueprintItem.objects.filter(pk=items[2].pk).update(status=BlueprintItem.Status.STOPPED)
    before = written()

    response = client.get(url_for(checkin))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Hi Renée" in body
    assert "Magnesium" in body and "200 mg" in body and "at bedtime" in body and "No gluten" in body
    assert "Walk" not in body  # stopped: not asked about
    for choice in ("Done", "Partly", "Not this week", "Paused on purpose"):
        assert choice in body
    assert "Where did my plan fail you this week?" in body and "There are no wrong answers" in body
    assert "Instructions unclear" in body  # a barrier choice
    assert f'name="item_{items[0].pk}_reason"' in body  # the reason box is there without JavaScript
    assert body.count('type="radio" name="energy"') == 11
    assert "csrfmiddlewaretoken" in body
    assert_kind_and_private(body, journey.patient)
    assert "no-cache" in response["Cache-Control"]
    assert written() == before


def test_opening_the_page_never_creates_the_clinic_settings_row(client, checkin):
    ClinicSettings.objects.all().delete()  # as after a flush: the page reads the defaults

    response = client.get(url_for(checkin))

    assert response.status_code == 200
    assert not ClinicSettings.objects.exists()


def test_the_page_uses_the_preferred_name(client, plan, checkin):
    journey, _ = plan
    journey.patient.preferred_name = "Ren"
    journey.patient.save()
    body = client.get(url_for(checkin)).content.decode()
    assert "Hi Ren," in body and "Renée" not in body


def test_an_item_the_care_team_paused_starts_as_paused_on_purpose(client, plan, checkin):
    _, items = plan
    BlueprintItem.objects.filter(pk=items[1].pk).update(status=BlueprintItem.Status.PAUSED)
    body = client.get(url_for(checkin)).content.decode()
    assert is_checked(body, f"item_{items[1].pk}", "paused")
    assert 'value="Paused by my care team"' in body
    assert "Your care team has paused this one for now." in body


# --- answering -------------------------------------------------------------------------------------


def test_a_valid_answer_writes_a_log_per_item_and_marks_the_checkin_answered(client, plan, checkin):
    journey, items = plan

    url = url_for(checkin)  # once: each token carries the second it was signed in
    response = client.post(url, answers(items, "done", "partial", ("paused", "sprained ankle")))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Thank you, Renée" in body
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.ANSWERED and checkin.answered_at is not None
    answer = checkin.answer
    assert (answer.via, answer.entered_by, answer.where_it_failed) == ("link", None, "Mornings were rushed.")
    assert (answer.barriers, answer.energy, answer.sleep, answer.mood) == (["time"], 6, 5, None)
    assert {log.item_id: (log.status, log.paused_reason) for log in answer.logs.all()} == {
        items[0].pk: ("done", ""),
        items[1].pk: ("partial", ""),
        items[2].pk: ("paused", "sprained ankle"),
    }
    # They may change it for a day, told in their own time (New York), not the server's.
    until = timezone.localtime(answer.answered_at + timedelta(hours=24), journey.patient.tz)
    assert f"until {until:%A} {until.day} {until:%B} at {until:%H:%M} (your time)" in body
    event = AccessEvent.objects.get(object_id=str(answer.pk))
    assert event.actor_label == "patient via check-in link" and event.path == url
    assert_kind_and_private(body, journey.patient)


def test_revisiting_within_the_window_shows_the_answer_ready_to_change(client, plan, checkin):
    _, items = plan
    client.post(url_for(checkin), answers(items, "done", "missed", "done", mood="8"))

    body = client.get(url_for(checkin)).content.decode()

    assert "Change my answer" in body
    assert is_checked(body, f"item_{items[1].pk}", "missed")
    assert not is_checked(body, f"item_{items[1].pk}", "done")
    assert is_checked(body, "mood", "8") and is_checked(body, "energy", "6")
    assert "Mornings were rushed.</textarea>" in body


def test_changing_within_the_window_replaces_the_logs_and_sets_amended_at(client, plan, checkin):
    _, items = plan
    client.post(url_for(checkin), answers(items, "missed", "missed", "missed"))

    response = client.post(url_for(checkin), answers(items, "done", "done", "partial", barriers=[]))

    assert "Your changes are with your care team" in response.content.decode()
    answer = CheckInAnswer.objects.get(checkin=checkin)
    assert answer.amended_at is not None and answer.barriers == []
    assert sorted(answer.logs.values_list("status", flat=True)) == ["done", "done", "partial"]
    assert ComplianceLog.objects.filter(checkin=checkin).count() == 3


def test_after_the_window_the_answer_is_final_and_nothing_changes(client, plan, checkin):
    _, items = plan
    client.post(url_for(checkin), answers(items, "missed", "missed", "missed"))
    CheckInAnswer.objects.filter(checkin=checkin).update(answered_at=timezone.now() - timedelta(hours=24))
    before = written()

    for response in (
        client.get(url_for(checkin)),
        client.post(url_for(checkin), answers(items, "done", "done", "done")),
    ):
        body = response.content.decode()
        assert response.status_code == 200
        assert RECEIVED in body and "Renée" in body and "<form" not in body
        assert_kind_and_private(body, checkin.journey.patient)

    assert written() == before
    answer = CheckInAnswer.objects.get(checkin=checkin)
    assert answer.amended_at is None
    assert set(answer.logs.values_list("status", flat=True)) == {"missed"}


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    ("make_state", "expected"),
    [
        pytest.param(lambda c: c.save() or c, CLOSED, id="open-but-closed"),
        pytest.param(lambda c: setattr(c, "status", "missed") or c.save() or c, CLOSED, id="missed"),
        pytest.param(
            lambda c: setattr(c, "status", "answered") or c.save() or c, RECEIVED, id="answered-and-closed"
        ),
    ],
)
def test_a_closed_checkin_gets_its_clear_page_and_nothing_is_written(
    client, plan, checkin, method, make_state, expected
):
    _, items = plan
    checkin.closes_at = timezone.now() - timedelta(minutes=1)
    make_state(checkin)
    before = written()

    response = getattr(client, method)(url_for(checkin), answers(items, "done", "done", "done"))

    body = response.content.decode()
    assert response.status_code == 200
    assert expected in body and "<form" not in body
    if expected == CLOSED:
        assert CLOSED_KIND in body and "reply to their message" in body
    assert_kind_and_private(body, checkin.journey.patient)
    assert written() == before


# --- links that are not ours -----------------------------------------------------------------------


def tampered(token: str) -> str:
    position = len(token) // 2
    return token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda c: tampered(checkin_token(c.pk)), id="one-char-changed"),
        pytest.param(lambda c: checkin_token(c.pk)[:-1], id="cut-short"),
        pytest.param(lambda c: signing.dumps({"c": c.pk}, salt="other"), id="another-salt"),
        pytest.param(
            lambda c: signing.dumps({"c": c.pk}, salt="alliance.nudges.unsubscribe"), id="unsubscribe"
        ),
        pytest.param(
            lambda c: nudge_tokens.unsubscribe_token(patient_id=c.journey.patient_id),
            id="real-unsubscribe-link",
        ),
        pytest.param(
            lambda c: signing.dumps({"c": str(c.pk)}, salt="alliance.journeys.checkin"), id="odd-content"
        ),
        pytest.param(lambda c: "not-a-token", id="garbage"),
    ],
)
def test_a_link_that_is_not_ours_gets_the_clear_page_and_writes_nothing(
    client, plan, checkin, method, make_token
):
    _, items = plan
    before = written()

    response = getattr(client, method)(f"/c/{make_token(checkin)}/", answers(items, "done", "done", "done"))

    body = response.content.decode()
    assert response.status_code == 400
    assert INVALID in body and "Renée" not in body and "Signature" not in body and "<form" not in body
    assert written() == before
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.SCHEDULED


def test_a_token_for_one_checkin_never_writes_to_another(client, plan, checkin, other_checkin):
    _, items = plan
    other_item = other_checkin.journey.blueprints.get().items.get()
    token = checkin_token(checkin.pk)
    payload, signed = token.split(":", 1)
    assert signing.b64_decode(payload.lstrip(".").encode()) == f'{{"c":{checkin.pk}}}'.encode()

    # Putting B's id into A's link breaks its signature.
    edited = signing.b64_encode(f'{{"c":{other_checkin.pk}}}'.encode()).decode() + ":" + signed
    response = client.post(f"/c/{edited}/", answers(items, "done", "done", "done"))
    assert response.status_code == 400 and INVALID in response.content.decode()
    # A's link with B's item slipped into the form is refused, and writes nothing anywhere.
    sneaky = answers(items, "done", "done", "done", **{f"item_{other_item.pk}": "missed"})
    response = client.post(f"/c/{token}/", sneaky)
    assert "The plan was updated while this answer was being written" in response.content.decode()
    assert not CheckInAnswer.objects.exists()
    # A's link answers A, and only A.
    assert "Thank you" in client.post(f"/c/{token}/", answers(items, "done", "done", "done")).content.decode()

    other_checkin.refresh_from_db()
    assert other_checkin.status == CheckIn.Status.SCHEDULED and other_checkin.answered_at is None
    assert not CheckInAnswer.objects.filter(checkin=other_checkin).exists()
    assert not ComplianceLog.objects.filter(item=other_item).exists()
    assert set(ComplianceLog.objects.values_list("checkin_id", flat=True)) == {checkin.pk}


def test_a_link_to_a_checkin_that_no_longer_exists_gets_a_kind_not_found_page(client, checkin):
    url = url_for(checkin)
    checkin.delete()
    before = written()

    response = client.get(url)

    body = response.content.decode()
    assert response.status_code == 404
    assert UNKNOWN in body and "reply to their message" in body
    assert written() == before


# --- the form refuses what it cannot keep ----------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "extra", "message"),
    [
        (("done", ("paused", ""), "done"), {}, "Tell us in a few words why it is paused."),
        (("done", "done", "done"), {"energy": "11"}, "Choose a number from 0 to 10."),
        (("done", "done", "done"), {"barriers": ["time", "weather"]}, "Choose from the list shown."),
        (("done", "done", "sometimes"), {}, "Choose one of the answers shown."),
    ],
)
def test_bad_input_gets_a_clear_message_and_nothing_is_written(
    client, plan, checkin, statuses, extra, message
):
    _, items = plan
    before = written()

    response = client.post(url_for(checkin), answers(items, *statuses, **extra))

    body = response.content.decode()
    assert response.status_code == 200
    assert message in body and "need a second look" in body
    assert "Mornings were rushed.</textarea>" in body  # what they wrote is kept
    assert written() == before
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.SCHEDULED


def test_an_item_left_unanswered_is_asked_for_kindly(client, plan, checkin):
    _, items = plan
    data = answers(items, "done", "done", "done")
    del data[f"item_{items[2].pk}"]
    body = client.post(url_for(checkin), data).content.decode()
    assert "Choose how this one went; any answer is welcome." in body
    assert not CheckInAnswer.objects.exists()


def test_a_plan_revised_while_the_page_was_open_is_asked_about_again(client, plan, checkin):
    _, items = plan
    data = answers(items, "done", "done", "done")
    BlueprintItem.objects.filter(pk=items[2].pk).update(status=BlueprintItem.Status.STOPPED)
    new = BlueprintItem.objects.create(blueprint=items[0].blueprint, kind="therapy", title="Breathing")

    body = client.post(url_for(checkin), data).content.decode()

    assert "Breathing" in body and "Walk" not in body
    assert "The plan was updated while this answer was being written" in body
    assert not CheckInAnswer.objects.exists()
    data = answers([items[0], items[1], new], "done", "done", "partial")
    assert "Thank you" in client.post(url_for(checkin), data).content.decode()


def test_a_plan_revised_in_the_instant_of_sending_is_asked_about_again(client, plan, checkin, monkeypatch):
    _, items = plan

    def revised_meanwhile(**kwargs):
        raise ValidationError(ITEMS_CHANGED_MESSAGE, code=Refusal.ITEMS_CHANGED)

    monkeypatch.setattr("compliance.services.checkin_answer_record", revised_meanwhile)
    response = client.post(url_for(checkin), answers(items, "done", "done", "done"))

    assert response.status_code == 200 and ITEMS_CHANGED_MESSAGE in response.content.decode()
    assert not CheckInAnswer.objects.exists()


def test_the_public_form_is_protected_against_cross_site_posts(plan, checkin):
    _, items = plan
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post(url_for(checkin), answers(items, "done", "done", "done"))

    assert refused.status_code == 403
    assert not CheckInAnswer.objects.exists()
    browser.get(url_for(checkin))  # the page sets the cookie its form needs
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        url_for(checkin), answers(items, "done", "done", "done", csrfmiddlewaretoken=token)
    )
    assert accepted.status_code == 200 and CheckInAnswer.objects.count() == 1


# --- the clinic's phone entry ----------------------------------------------------------------------


def enter_url(checkin) -> str:
    return f"/checkins/{checkin.pk}/enter/"


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, plan, checkin, method):
    _, items = plan
    response = getattr(client, method)(enter_url(checkin), answers(items, "done", "done", "done"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")
    assert not CheckInAnswer.objects.exists()


def test_staff_see_the_same_questions_and_the_read_is_audited(client_for, staff, plan, checkin):
    journey, _ = plan
    response = client_for(staff).get(enter_url(checkin))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Enter Renée Côté's check-in from a call" in body
    assert "Where did my plan fail you this week?" in body and "Magnesium" in body
    assert AccessEvent.objects.filter(actor=staff, action="view", patient_id=journey.patient_id).exists()


@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
def test_the_clinic_enters_an_answer_taken_by_phone_even_after_it_closed(
    client_for, request, plan, checkin, role
):
    journey, items = plan
    user = request.getfixturevalue(role)
    CheckIn.objects.filter(pk=checkin.pk).update(closes_at=timezone.now() - timedelta(hours=3))

    response = client_for(user).post(
        enter_url(checkin), answers(items, "done", "partial", "missed"), follow=True
    )

    assert response.redirect_chain[0] == (journey.patient.section_url("plan", "adherence"), 302)
    assert "is recorded, taken by phone" in response.content.decode()
    answer = CheckInAnswer.objects.get(checkin=checkin)
    assert (answer.via, answer.entered_by) == ("phone", user)
    assert answer.logs.count() == 3
    checkin.refresh_from_db()
    assert checkin.status == CheckIn.Status.ANSWERED
    assert AccessEvent.objects.filter(actor=user, action="create", object_id=str(answer.pk)).exists()


def test_phone_entry_of_a_missed_checkin_is_refused_with_a_message(client_for, staff, plan):
    journey, items = plan
    missed = week(journey, MONDAY, missed=True)

    response = client_for(staff).post(enter_url(missed), answers(items, "done", "done", "done"), follow=True)

    assert response.redirect_chain[0] == (journey.patient.section_url("plan", "adherence"), 302)
    assert "can no longer be answered" in response.content.decode()
    assert not CheckInAnswer.objects.exists()


def test_phone_entry_with_bad_input_shows_the_form_again(client_for, staff, plan, checkin):
    _, items = plan
    response = client_for(staff).post(enter_url(checkin), answers(items, "done", ("paused", ""), "done"))
    assert response.status_code == 200
    assert "Tell us in a few words why it is paused." in response.content.decode()
    assert not CheckInAnswer.objects.exists()


def test_an_unknown_checkin_is_not_found_for_staff(client_for, staff, db):
    assert client_for(staff).get("/checkins/999999/enter/").status_code == 404


def test_staff_may_change_an_answer_given_by_link_while_it_may_change(
    client, client_for, staff, plan, checkin
):
    _, items = plan
    client.post(url_for(checkin), answers(items, "done", "done", "done"))
    staff_client = client_for(staff)

    page = staff_client.get(enter_url(checkin)).content.decode()
    assert "Answered by the patient through their link" in page and "Save the change" in page

    staff_client.post(enter_url(checkin), answers(items, "done", "missed", "done"))
    answer = CheckInAnswer.objects.get(checkin=checkin)
    assert (answer.via, answer.entered_by) == ("phone", staff) and answer.amended_at is not None
    assert sorted(answer.logs.values_list("status", flat=True)) == ["done", "done", "missed"]
