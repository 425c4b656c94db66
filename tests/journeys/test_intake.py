"""The patient's intake questionnaire: sent by itself when an intake visit is booked, answered section by section
through a signed link, signed at the end, read beside the practitioner's intake note."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from accounts.models import AccessEvent
from journeys import intake_services as services
from journeys.intake_fhir import questionnaire_resource, response_resource
from journeys.models import (
    Agreement,
    AgreementSignature,
    Blueprint,
    Journey,
    Questionnaire,
    QuestionnaireAnswer,
    QuestionnaireQuestion,
    QuestionnaireResponse,
    QuestionnaireSection,
    Stage,
)
from journeys.services.stages import journey_move
from journeys.services.visits import visit_cancel, visit_reschedule, visit_schedule
from journeys.tokens import checkin_token, intake_token
from nudges.models import Kind, Nudge
from patients.services import care_team_set_lead, consent_record
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
VISIT_AT = datetime(2026, 4, 14, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient(staff, practitioner):
    patient = PatientFactory(
        first_name="Ana", last_name="Silva", email="ana@example.com", time_zone="Europe/London"
    )
    consent_record(patient=patient, channel="email", granted=True, actor=staff, via="test")
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    Journey.objects.create(patient=patient, stage=Stage.DISCOVERY)
    return patient


def book(patient, practitioner, staff, starts_at=VISIT_AT):
    return visit_schedule(
        patient=patient, practitioner=practitioner, kind="intake", starts_at=starts_at, actor=staff
    )


def links(patient):
    return list(Nudge.objects.filter(patient=patient, kind=Kind.INTAKE_QUESTIONNAIRE))


def reminders(patient, **filters):
    return list(Nudge.objects.filter(patient=patient, kind=Kind.INTAKE_REMINDER, **filters))


def path_of(nudge) -> str:
    return urlsplit(nudge.context["questionnaire_url"]).path


def section_url(response, number):
    return reverse("journeys:questionnaire_section", args=[intake_token(response.pk), number])


def sign_url(response):
    return reverse("journeys:questionnaire_sign", args=[intake_token(response.pk)])


def agreed():
    return {a.pk: a.version for a in services.agreements_to_sign()}


# --- Sent by itself -----------------------------------------------------------------------------------


def test_booking_an_intake_visit_schedules_exactly_one_questionnaire_nudge_with_a_working_link(
    client, patient, practitioner, staff
):
    visit = book(patient, practitioner, staff)

    [nudge] = links(patient)
    assert nudge.status == Nudge.Status.PENDING
    assert nudge.send_at == NOW
    assert nudge.dedupe_key.startswith("intake:") and nudge.dedupe_key.endswith(":link")
    assert nudge.context["visit_kind"] == "intake visit"
    response = QuestionnaireResponse.objects.get(patient=patient)
    assert (response.visit, response.questionnaire.slug, response.status) == (visit, "your-story", "sent")
    assert response.closes_at == VISIT_AT  # the link stops when the visit starts
    page = client.get(path_of(nudge))
    assert page.status_code == 200
    assert "Hi Ana, welcome" in page.content.decode()


def test_the_reminder_goes_48_hours_before_the_visit_while_unfinished_and_is_withdrawn_on_submit(
    patient, practitioner, staff
):
    book(patient, practitioner, staff)
    [reminder] = reminders(patient)
    assert reminder.send_at == VISIT_AT - timedelta(hours=48)
    assert reminder.expires_at == VISIT_AT

    services.intake_submit(
        response=QuestionnaireResponse.objects.get(), signed_name="Ana Silva", agreed=agreed()
    )

    assert [r.status for r in reminders(patient)] == [Nudge.Status.CANCELLED]


def test_rebooking_does_not_send_a_second_link_and_the_reminder_follows_the_new_time(
    patient, practitioner, staff
):
    visit = book(patient, practitioner, staff)
    later = VISIT_AT + timedelta(days=3)
    visit_reschedule(visit=visit, starts_at=later, actor=staff)
    visit_cancel(visit=visit_schedule(
        patient=patient, practitioner=practitioner, kind="intake", starts_at=later + timedelta(days=1), actor=staff
    ), actor=staff)  # fmt: skip

    assert len(links(patient)) == 1
    [pending] = reminders(patient, status=Nudge.Status.PENDING)
    assert pending.send_at == later - timedelta(hours=48)
    assert QuestionnaireResponse.objects.get(patient=patient).closes_at == later


def test_booking_again_while_one_is_under_way_sends_no_second_link(patient, practitioner, staff):
    book(patient, practitioner, staff)
    book(patient, practitioner, staff, starts_at=VISIT_AT + timedelta(days=7))

    assert len(links(patient)) == 1
    assert QuestionnaireResponse.objects.filter(patient=patient).count() == 1


def test_cancelling_the_visit_withdraws_the_link_and_the_reminder(client, patient, practitioner, staff):
    visit = book(patient, practitioner, staff)
    [link] = links(patient)

    visit_cancel(visit=visit, actor=staff)

    link.refresh_from_db()
    assert link.status == Nudge.Status.CANCELLED
    assert [r.status for r in reminders(patient)] == [Nudge.Status.CANCELLED]
    assert QuestionnaireResponse.objects.get().status == QuestionnaireResponse.Status.WITHDRAWN
    page = client.get(path_of(link))
    assert "This questionnaire link has closed" in page.content.decode()


def test_reaching_the_intake_stage_sends_it_once_and_booking_after_sends_no_second(
    patient, practitioner, staff
):
    journey = Journey.objects.get(patient=patient)
    journey_move(journey=journey, to_stage=Stage.INTAKE, actor=staff)
    [link] = links(patient)
    assert QuestionnaireResponse.objects.get().visit is None

    book(patient, practitioner, staff)

    assert links(patient) == [link]
    assert QuestionnaireResponse.objects.get().visit is not None
    assert len(reminders(patient)) == 1


def test_a_follow_up_visit_sends_no_questionnaire(patient, practitioner, staff):
    visit_schedule(
        patient=patient, practitioner=practitioner, kind="follow_up", starts_at=VISIT_AT, actor=staff
    )
    assert links(patient) == []


# --- Links that cannot be used ---------------------------------------------------------------------


def _answer_post():
    return {"q-main-concern": "Tired all the time", "q-how-long": "", "q-affects": "7", "go": "next"}


@pytest.fixture
def response(patient, practitioner, staff):
    book(patient, practitioner, staff)
    return QuestionnaireResponse.objects.get(patient=patient)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        # Named: the signature holds the second it was made, and every pytest-xdist worker must collect one id.
        pytest.param(intake_token(10**6)[:-3] + "xyz", id="tampered"),
    ],
)
def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(client, response, token):
    for url in (
        reverse("journeys:questionnaire", args=[token]),
        reverse("journeys:questionnaire_section", args=[token, 1]),
    ):
        page = client.post(url, _answer_post()) if url.endswith("/1/") else client.get(url)
        assert page.status_code == 400
        assert "This link is not valid" in page.content.decode()
    assert not QuestionnaireAnswer.objects.exists()


def test_a_foreign_link_of_another_purpose_is_refused(client, response):
    foreign = checkin_token(response.pk)  # a check-in link's token naming the same number
    page = client.post(reverse("journeys:questionnaire_section", args=[foreign, 1]), _answer_post())
    assert page.status_code == 400
    assert not QuestionnaireAnswer.objects.exists()


def test_a_link_for_a_response_that_does_not_exist_is_refused(client, response):
    page = client.get(reverse("journeys:questionnaire", args=[intake_token(response.pk + 1000)]))
    assert page.status_code == 404
    assert "This link is not valid" in page.content.decode()


def test_an_expired_link_gets_a_warm_closed_page_and_changes_nothing(client, response):
    with time_machine.travel(VISIT_AT + timedelta(minutes=1), tick=False):
        page = client.post(section_url(response, 1), _answer_post())
        assert "This questionnaire link has closed" in page.content.decode()
        with pytest.raises(ValidationError) as refused:
            services.intake_section_save(
                response=response,
                section=response.questionnaire.sections.first(),
                values={"main-concern": "x"},
            )
        assert refused.value.code == "closed"
    assert not QuestionnaireAnswer.objects.exists()
    response.refresh_from_db()
    assert response.status == QuestionnaireResponse.Status.SENT


def test_the_clinics_time_limit_closes_the_link_before_a_far_visit(patient, practitioner, staff):
    book(patient, practitioner, staff, starts_at=NOW + timedelta(days=60))
    response = QuestionnaireResponse.objects.get()
    assert response.closes_at == NOW + timedelta(days=response.questionnaire.link_valid_days)


def test_an_already_submitted_link_shows_it_was_received_and_changes_nothing(client, response):
    client.post(section_url(response, 1), _answer_post())
    services.intake_submit(response=response, signed_name="Ana Silva", agreed=agreed())
    before = list(QuestionnaireAnswer.objects.values_list("link_id", "value"))

    changed = client.post(section_url(response, 1), {**_answer_post(), "q-main-concern": "Something else"})
    signed_again = client.post(sign_url(response), {"signed_name": "Someone Else"})

    for page in (
        changed,
        signed_again,
        client.get(reverse("journeys:questionnaire", args=[intake_token(response.pk)])),
    ):
        assert "We already have your answers" in page.content.decode()
    assert list(QuestionnaireAnswer.objects.values_list("link_id", "value")) == before
    assert AgreementSignature.objects.filter(signed_name="Someone Else").count() == 0


# --- Saved section by section ----------------------------------------------------------------------


def test_answers_are_saved_section_by_section_and_come_back_on_another_device(client, response):
    first = client.post(section_url(response, 1), _answer_post())
    assert first.status_code == 302 and first["Location"] == section_url(response, 2)
    second = client.post(section_url(response, 2), {"q-tried-what": "Gluten-free for a month", "go": "stop"})
    assert "All saved, Ana" in second.content.decode()

    response.refresh_from_db()
    assert response.status == QuestionnaireResponse.Status.IN_PROGRESS
    assert response.sections_done == ["brings-you", "tried"]
    assert dict(QuestionnaireAnswer.objects.values_list("link_id", "value")) == {
        "main-concern": "Tired all the time",
        "affects": 7,
        "tried-what": "Gluten-free for a month",
    }
    client.cookies.clear()  # another phone: nothing but the link
    again = client.get(section_url(response, 1)).content.decode()
    assert "Tired all the time" in again
    start = client.get(reverse("journeys:questionnaire", args=[intake_token(response.pk)])).content.decode()
    assert "Carry on where I left off" in start


def test_a_number_off_the_scale_gets_a_gentle_message_and_saves_nothing(client, response):
    page = client.post(section_url(response, 1), {**_answer_post(), "q-affects": "11"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Please choose a number from 0 to 10." in body
    assert "Tired all the time" in body  # what they wrote is still there
    assert not QuestionnaireAnswer.objects.exists()


def test_a_date_still_to_come_gets_a_gentle_message(client, response):
    page = client.post(section_url(response, 3), {"q-last-felt-well": "2030-01-01", "go": "next"})
    assert "That date is still to come" in page.content.decode()
    assert not QuestionnaireAnswer.objects.exists()


def test_symptoms_and_medications_are_lists_of_rows_with_room_for_more(client, response):
    number = {s.link_id: n for n, s in enumerate(response.questionnaire.sections.order_by("position"), 1)}
    page = client.post(
        section_url(response, number["symptoms"]),
        {
            "q-symptom-list-rows": "2",
            "q-symptom-list-0-name": "Bloating",
            "q-symptom-list-0-severity": "6",
            "q-symptom-list-0-since": "last spring",
            "q-symptom-list-1-name": "",
            "go": "more",
        },
    )
    assert page.status_code == 302
    assert QuestionnaireAnswer.objects.get(link_id="symptom-list").value == [
        {"name": "Bloating", "severity": 6, "since": "last spring"}
    ]
    shown = client.get(page["Location"]).content.decode()
    assert shown.count('name="q-symptom-list-') == 3 * 3 + 1  # the saved row, two blank ones, their count
    orphan = client.post(
        section_url(response, number["medications"]),
        {"q-medication-list-rows": "1", "q-medication-list-0-dose": "200 mg", "go": "next"},
    )
    assert "Add a name to this row, or clear it." in orphan.content.decode()


def test_the_whole_form_works_without_javascript_only_plain_forms_and_links(client, response):
    body = client.get(section_url(response, 1)).content.decode()
    main = body[body.index("<main") : body.index("</main>")]
    assert '<form method="post"' in main and "hx-" not in main and "<script" not in main
    assert 'type="radio"' in main  # the 0–10 scale: plain radio buttons


# --- Signed at the end ----------------------------------------------------------------------------


def test_submitting_needs_each_agreement_ticked_and_a_typed_name_and_keeps_where_it_came_from(
    client, response
):
    refused = client.post(sign_url(response), {"signed_name": "Ana Silva"})
    assert "Please tick this to sign it." in refused.content.decode()
    data = {"signed_name": "  Ana   Silva "}
    for agreement in Agreement.objects.filter(active=True):
        data[f"agree-{agreement.pk}"] = "on"
        data[f"version-{agreement.pk}"] = str(agreement.version)

    done = client.post(
        sign_url(response), data, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="PhoneBrowser/1.0"
    )

    assert "Thank you, Ana" in done.content.decode()
    signatures = list(AgreementSignature.objects.filter(response=response))
    assert len(signatures) == Agreement.objects.filter(active=True).count() == 3
    assert {(s.signed_name, s.ip_address, s.user_agent) for s in signatures} == {
        ("Ana Silva", "203.0.113.9", "PhoneBrowser/1.0")
    }
    response.refresh_from_db()
    assert (response.status, response.submitted_at) == (QuestionnaireResponse.Status.COMPLETED, NOW)


def test_a_signed_agreement_keeps_the_exact_text_version_after_an_admin_edits_it(
    client_for, admin_user, response
):
    agreement = Agreement.objects.get(key="financial-policy")
    original = agreement.body
    services.intake_submit(response=response, signed_name="Ana Silva", agreed=agreed())

    admin = client_for(admin_user)
    edit = admin.post(
        reverse("admin:journeys_agreement_change", args=[agreement.pk]),
        {
            "key": agreement.key,
            "title": agreement.title,
            "body": "New fees from May.",
            "active": "on",
            "position": "0",
        },
    )
    assert edit.status_code == 302
    agreement.refresh_from_db()
    assert (agreement.version, agreement.body) == (2, "New fees from May.")

    signature = AgreementSignature.objects.get(response=response, agreement=agreement)
    assert (signature.agreement_version, signature.text) == (1, original)
    assert signature.text_sha256 == services.text_digest(agreement.title, original)
    copy = admin.get(reverse("journeys:intake_signature", args=[signature.pk]))
    assert copy["Content-Disposition"].startswith("attachment;")
    text = copy.content.decode()
    assert original in text and "New fees from May." not in text and "version 1" in text
    assert AccessEvent.objects.filter(action="export", object_id=str(signature.pk)).exists()


def test_an_agreement_edited_while_the_patient_reads_it_is_shown_again_not_signed(client, response):
    shown = agreed()
    agreement = Agreement.objects.get(key="consent-to-care")
    agreement.body += " Updated."
    services.agreement_save(agreement=agreement)

    with pytest.raises(ValidationError) as refused:
        services.intake_submit(response=response, signed_name="Ana Silva", agreed=shown)

    assert refused.value.code == "agreement_changed"
    assert not AgreementSignature.objects.exists()
    assert QuestionnaireResponse.objects.get().status == QuestionnaireResponse.Status.SENT


# --- Where the practitioner works ----------------------------------------------------------------


@pytest.fixture
def submitted(client, response):
    client.post(section_url(response, 1), _answer_post())
    number = {s.link_id: n for n, s in enumerate(response.questionnaire.sections.order_by("position"), 1)}
    client.post(
        section_url(response, number["medications"]),
        {
            "q-medication-list-rows": "2",
            "q-medication-list-0-name": "Magnesium glycinate",
            "q-medication-list-0-dose": "200 mg",
            "q-medication-list-0-frequency": "every evening",
            "q-medication-list-1-name": "Levothyroxine",
            "q-medication-list-1-dose": "50 mcg",
            "go": "next",
        },
    )
    services.intake_submit(response=response, signed_name="Ana Silva", agreed=agreed())
    response.refresh_from_db()
    return response


def test_a_submitted_intake_shows_beside_the_practitioners_intake_note_form(
    client_for, practitioner, submitted
):
    page = client_for(practitioner).get(reverse("journeys:note_create", args=[submitted.visit.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "The patient&#x27;s intake questionnaire" in body or "The patient's intake questionnaire" in body
    assert "Tired all the time" in body and "Magnesium glycinate, 200 mg, every evening" in body
    assert 'data-intake-copy="id_section_story"' in body  # "What brings you here" copies into the story
    assert "js/intake.js" in body
    assert AccessEvent.objects.filter(
        action="view", object_id=str(submitted.pk), detail="intake answers"
    ).exists()


def test_the_intake_answers_are_refused_to_staff_with_403_audited_as_denied(client_for, staff, submitted):
    page = client_for(staff).get(reverse("journeys:intake", args=[submitted.patient_id]))
    assert page.status_code == 403
    denied = AccessEvent.objects.filter(action="denied").order_by("-seq").first()
    assert (denied.actor, denied.patient_id, denied.object_id) == (
        staff,
        submitted.patient_id,
        str(submitted.pk),
    )
    assert "Tired all the time" not in page.content.decode()


def test_the_patient_page_shows_staff_the_state_and_practitioners_the_way_to_the_answers(
    client_for, staff, practitioner, submitted
):
    url = reverse("dashboard:patient_panel", args=[submitted.patient_id, "visits"])
    for_staff = client_for(staff).get(url).content.decode()
    assert (
        "Submitted" in for_staff
        and "Read the answers" not in for_staff
        and "Tired all the time" not in for_staff
    )
    for_practitioner = client_for(practitioner).get(url).content.decode()
    assert "Read the answers" in for_practitioner
    detail = client_for(practitioner).get(reverse("journeys:intake", args=[submitted.patient_id]))
    assert "Tired all the time" in detail.content.decode()


def test_medications_and_supplements_are_carried_into_the_first_blueprint_in_one_click(
    client_for, practitioner, submitted
):
    client = client_for(practitioner)
    url = reverse("journeys:intake_to_blueprint", args=[submitted.patient_id])
    first = client.post(url)
    client.post(url)  # twice: nothing doubles

    draft = Blueprint.objects.get(journey__patient=submitted.patient, status="draft")
    assert first["Location"] == reverse("journeys:blueprint", args=[draft.journey_id])
    assert [(i.kind, i.title, i.dose, i.frequency) for i in draft.items.all()] == [
        ("supplement", "Magnesium glycinate", "200 mg", "every evening"),
        ("supplement", "Levothyroxine", "50 mcg", ""),
    ]


def test_staff_cannot_carry_medications_into_the_plan(client_for, staff, submitted):
    page = client_for(staff).post(reverse("journeys:intake_to_blueprint", args=[submitted.patient_id]))
    assert page.status_code == 403
    assert not Blueprint.objects.exists()


# --- Versions that never change ------------------------------------------------------------------


def test_a_published_version_never_changes_in_admin_and_answers_keep_their_version(
    client_for, admin_user, submitted
):
    v1 = submitted.questionnaire
    admin = client_for(admin_user)
    change = admin.post(reverse("admin:journeys_questionnaire_change", args=[v1.pk]), {"title": "Changed"})
    assert change.status_code == 403
    v1.refresh_from_db()
    assert v1.title == "Your story"

    v2 = services.questionnaire_new_version(questionnaire=v1)
    assert (v2.version, v2.status, v2.sections.count()) == (2, "draft", v1.sections.count())
    services.questionnaire_publish(questionnaire=v2)

    v1.refresh_from_db()
    assert (v1.status, services.questionnaire_to_send()) == ("retired", v2)
    assert QuestionnaireResponse.objects.get(pk=submitted.pk).questionnaire == v1


def test_a_draft_with_a_link_id_used_twice_cannot_be_published():
    draft = Questionnaire.objects.create(slug="short", title="Short", version=1)
    section = QuestionnaireSection.objects.create(questionnaire=draft, link_id="one", title="One")
    QuestionnaireQuestion.objects.create(section=section, link_id="one", text="Twice?")
    with pytest.raises(ValidationError, match="used twice"):
        services.questionnaire_publish(questionnaire=draft)


# --- Shaped like FHIR ------------------------------------------------------------------------------


def test_the_questionnaire_and_its_answers_map_onto_fhir_questionnaire_and_response(submitted):
    questionnaire = questionnaire_resource(submitted.questionnaire)
    assert (questionnaire["resourceType"], questionnaire["status"], questionnaire["version"]) == (
        "Questionnaire",
        "active",
        "1",
    )
    items = {i["linkId"]: i for group in questionnaire["item"] for i in group["item"]}
    assert {group["type"] for group in questionnaire["item"]} == {"group"}
    assert items["affects"]["type"] == "integer"
    assert items["matters-most"]["type"] == "choice" and items["matters-most"]["repeats"] is True
    assert items["medication-list"]["type"] == "group" and items["medication-list"]["repeats"] is True
    assert items["hospital"]["type"] == "boolean"
    assert items["last-felt-well"]["type"] == "date"

    response = response_resource(submitted)
    assert response["status"] == "completed"
    assert response["questionnaire"].endswith("/fhir/Questionnaire/your-story|1")
    answered = {i["linkId"]: i for group in response["item"] for i in group["item"]}
    assert answered["affects"]["answer"] == [{"valueInteger": 7}]
    assert answered["main-concern"]["answer"] == [{"valueString": "Tired all the time"}]
    rows = [i for group in response["item"] for i in group["item"] if i["linkId"] == "medication-list"]
    assert rows[0]["item"][0] == {
        "linkId": "medication-list.name",
        "answer": [{"valueString": "Magnesium glycinate"}],
    }


def test_the_questionnaire_and_its_answers_validate_as_fhir_r4(submitted):
    """The shape is FHIR's own, checked by fhir.resources' R4B models (issue 17 exports them)."""
    from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse as FhirResponse

    FhirQuestionnaire.model_validate(questionnaire_resource(submitted.questionnaire))
    FhirResponse.model_validate(response_resource(submitted))


# --- Pages stay fast ------------------------------------------------------------------------------


def _questionnaire_with(count: int) -> Questionnaire:
    draft = Questionnaire.objects.create(slug=f"q{count}", title="Budget", version=1)
    section = QuestionnaireSection.objects.create(questionnaire=draft, link_id="s", title="S")
    QuestionnaireQuestion.objects.bulk_create(
        QuestionnaireQuestion(section=section, link_id=f"q{n}", text=f"Question {n}", kind=kind, position=n,
                              options="A\nB")
        for n, kind in zip(range(count), ["short_text", "scale", "yes_no", "symptoms", "multiple_choice"] * count,
                           strict=False)
    )  # fmt: skip
    return services.questionnaire_publish(questionnaire=draft)


@pytest.mark.parametrize("count", [5, 50])
def test_the_section_page_and_the_answers_page_cost_the_same_with_5_or_50_questions(
    client, client_for, practitioner, patient, count, django_assert_max_num_queries
):
    Questionnaire.objects.filter(slug="your-story").update(status="retired")
    questionnaire = _questionnaire_with(count)
    response = QuestionnaireResponse.objects.create(
        patient=patient, questionnaire=questionnaire, closes_at=NOW + timedelta(days=3)
    )
    section = questionnaire.sections.get()
    QuestionnaireAnswer.objects.bulk_create(
        QuestionnaireAnswer(
            response=response, question=q, link_id=q.link_id, value="x" if q.kind == "short_text" else None
        )
        for q in section.questions.all()
    )
    with django_assert_max_num_queries(5):
        assert client.get(section_url(response, 1)).status_code == 200
    services.intake_submit(response=response, signed_name="Ana Silva", agreed=agreed())
    signed_in = client_for(practitioner)
    extra = 2 if connection.vendor == "postgresql" else 0  # two audit rows (the patient, the answers)
    signed_in.get(reverse("journeys:intake", args=[patient.pk]))  # warm the caches the audit trail uses
    with django_assert_max_num_queries(14 + extra):
        assert signed_in.get(reverse("journeys:intake", args=[patient.pk])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_shipped_questionnaire_and_agreements_come_back_after_a_flush_without_overwriting_edits():
    from django.core.management import call_command

    call_command("flush", "--noinput", verbosity=0)
    assert Questionnaire.objects.get(slug="your-story").sections.count() == 10
    assert Agreement.objects.count() == 3
    Agreement.objects.filter(key="financial-policy").update(body="Our own policy")
    call_command("migrate", verbosity=0)
    assert Agreement.objects.get(key="financial-policy").body == "Our own policy"


def test_the_patient_page_says_when_an_unsubmitted_link_has_closed(client_for, staff, response):
    url = reverse("dashboard:patient_panel", args=[response.patient_id, "visits"])
    assert "Link open until" in client_for(staff).get(url).content.decode()
    with time_machine.travel(VISIT_AT + timedelta(hours=1), tick=False):
        assert "Not submitted; the link closed" in client_for(staff).get(url).content.decode()


def test_an_admin_edits_a_draft_version_and_its_sections_but_only_reads_a_published_one(
    client_for, admin_user
):
    admin = client_for(admin_user)
    published = Questionnaire.objects.get(slug="your-story")
    draft = services.questionnaire_new_version(questionnaire=published)
    section = draft.sections.first()
    for url in (
        reverse("admin:journeys_questionnaire_add"),
        reverse("admin:journeys_questionnaire_change", args=[draft.pk]),
        reverse("admin:journeys_questionnaire_change", args=[published.pk]),
        reverse("admin:journeys_questionnairesection_change", args=[section.pk]),
        reverse("admin:journeys_questionnairesection_change", args=[published.sections.first().pk]),
        reverse("admin:journeys_agreement_changelist"),
    ):
        assert admin.get(url).status_code == 200, url
    body = admin.get(reverse("admin:journeys_questionnaire_change", args=[published.pk])).content.decode()
    assert 'name="title"' not in body  # read-only
    body = admin.get(reverse("admin:journeys_questionnaire_change", args=[draft.pk])).content.decode()
    assert 'name="title"' in body
