"""The words a patient reads are warm and never scold: no template, no admin wording, no page of the check-in
blames the patient. "Where did my plan fail you this week?" is welcome — there the plan failed, not them."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage
from journeys.tokens import checkin_token
from nudges.models import Kind, MessageTemplate
from nudges.rendering import SAMPLE_CONTEXT, render_message
from patients.models import Channel
from tests.factories import PatientFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"
PATIENT_FACING_GLOBS = [
    "nudges/*.txt",
    "nudges/email.html",
    "nudges/unsubscribe_*.html",
    "nudges/link_invalid.html",
    "nudges/_public_card_top.html",
    "compliance/checkin_*.html",
    "compliance/_checkin_fields.html",
    "journeys/inquire*.html",
    "journeys/your_plan.html",
    "journeys/questionnaire_*.html",  # the patient's intake questionnaire
    "journeys/_questionnaire_*.html",
]
BLAME = [
    "non-compliant",
    "noncompliant",
    "non-compliance",
    "failed to",
    "you failed",
    "failure",
    "lazy",
    "disappoint",
    "should have",
    "must comply",
    "violation",
]
THE_PLAN_FAILED = "Where did my plan fail you this week?"


def blaming_words(text: str) -> list[str]:
    """The blaming phrases in ``text``, case-insensitively and across line breaks and indentation."""
    flat = re.sub(r"\s+", " ", text).casefold()
    return [phrase for phrase in BLAME if phrase in flat]


def patient_facing_templates() -> list[Path]:
    return sorted({path for pattern in PATIENT_FACING_GLOBS for path in TEMPLATES.glob(pattern)})


def test_the_checker_lets_the_plan_fail_but_never_the_patient():
    assert blaming_words(THE_PLAN_FAILED) == []
    assert blaming_words("What did not work is exactly what we want to hear.") == []
    assert blaming_words("You FAILED\n   to take your magnesium") == ["failed to", "you failed"]
    assert blaming_words("Non-compliant with the plan") == ["non-compliant"]
    assert blaming_words("We are disappointed.") == ["disappoint"]


def test_the_list_of_patient_facing_templates_covers_every_kind_of_page_and_message():
    names = {str(path.relative_to(TEMPLATES)) for path in patient_facing_templates()}
    assert names
    expected = {
        "nudges/email.html",
        "nudges/_public_card_top.html",
        "nudges/unsubscribe_confirm.html",
        "nudges/unsubscribe_done.html",
        "nudges/unsubscribe_invalid.html",
        "compliance/_checkin_fields.html",
        "compliance/checkin_answer.html",
        "compliance/checkin_thanks.html",
        "compliance/checkin_closed.html",
        "compliance/checkin_received.html",
        "nudges/link_invalid.html",
        "compliance/checkin_unknown.html",
        "journeys/inquire.html",
        "journeys/inquire_thanks.html",
        "journeys/your_plan.html",
        "journeys/questionnaire_section.html",
        "journeys/questionnaire_sign.html",
        "journeys/questionnaire_closed.html",
    }
    for kind in Kind.values:
        expected |= {f"nudges/{kind}_subject.txt", f"nudges/{kind}_body.txt", f"nudges/{kind}_sms.txt"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("path", patient_facing_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_patient_facing_template_blames_the_patient(path):
    assert blaming_words(path.read_text()) == []


def test_the_check_in_request_asks_where_the_plan_failed_them():
    assert THE_PLAN_FAILED in (TEMPLATES / "nudges/checkin_request_body.txt").read_text()


def test_no_wording_in_the_database_blames_the_patient_once_rendered(db):
    templates = list(MessageTemplate.objects.all())
    assert len(templates) >= len(Kind.values) * len(Channel.values)  # the shipped wording, after migrate
    for template in templates:
        rendered = render_message(
            kind=template.kind,
            channel=template.channel,
            context=SAMPLE_CONTEXT,
            templates={(template.kind, template.channel): template},
        )
        assert rendered.text.strip(), (template.kind, template.channel)
        for part in (rendered.subject, rendered.text, rendered.html):
            assert blaming_words(part) == [], (template.kind, template.channel, part)


@pytest.fixture
def checkin_link(db, practitioner):
    """A link to an open check-in of a patient whose published plan has one active and one paused item."""
    patient = PatientFactory(first_name="Renée", last_name="Côté")
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=timezone.now()
    )
    BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title="Magnesium", position=0)
    BlueprintItem.objects.create(
        blueprint=blueprint, kind="lifestyle", title="Walk", position=1, status="paused", status_reason="Knee"
    )
    checkin = CheckIn.objects.create(
        journey=journey, due_on=timezone.localdate(), closes_at=timezone.now() + timedelta(days=2)
    )
    return reverse("compliance:checkin_answer", args=[checkin_token(checkin.pk)])


def test_the_check_in_page_as_the_patient_reads_it_never_scolds(client, checkin_link):
    asking = client.get(checkin_link).content.decode()
    assert THE_PLAN_FAILED in asking
    items = sorted(set(re.findall(r'name="(item_\d+)"', asking)))
    assert len(items) == 2
    unanswered = client.post(checkin_link, {}).content.decode()  # every "choose one" message shows
    assert "Choose how this one went" in unanswered
    paused = client.post(checkin_link, dict.fromkeys(items, "paused")).content.decode()
    assert "why it is paused" in paused
    thanks = client.post(
        checkin_link, {**dict.fromkeys(items, "missed"), "where_it_failed": "A long week."}
    ).content.decode()
    assert "Thank you, Renée" in thanks
    for page in (asking, unanswered, paused, thanks):
        assert blaming_words(page) == []


def test_the_intake_questionnaire_as_the_patient_reads_it_never_scolds(client, db):
    """Every screen of the shipped "Your story", a refused answer, the agreements and the closed page."""
    from journeys.models import Agreement, Questionnaire, QuestionnaireResponse
    from journeys.tokens import intake_token

    questionnaire = Questionnaire.objects.get(slug="your-story", status="active")
    response = QuestionnaireResponse.objects.create(
        patient=PatientFactory(first_name="Renée"),
        questionnaire=questionnaire,
        closes_at=timezone.now() + timedelta(days=3),
    )
    token = intake_token(response.pk)
    pages = [client.get(reverse("journeys:questionnaire", args=[token]))]
    pages += [
        client.get(reverse("journeys:questionnaire_section", args=[token, n]))
        for n in range(1, questionnaire.sections.count() + 1)
    ]
    pages.append(client.post(reverse("journeys:questionnaire_section", args=[token, 1]), {"q-affects": "12"}))
    pages.append(client.post(reverse("journeys:questionnaire_sign", args=[token]), {}))
    for page in pages:
        assert page.status_code == 200
        assert blaming_words(page.content.decode()) == []
    assert blaming_words(" ".join(a.body for a in Agreement.objects.all())) == []
