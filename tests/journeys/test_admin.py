from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessEvent
from journeys.models import (
    Blueprint,
    BlueprintItem,
    BlueprintTemplate,
    BlueprintTemplateItem,
    CheckIn,
    Inquiry,
    Journey,
    Program,
    Stage,
    StageChange,
    Visit,
    VisitNote,
)
from journeys.services.stages import journey_move, journey_start
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOTE_BODY = "Reports 3 a.m. waking and reflux."


@pytest.fixture
def record(practitioner, staff):
    """One of everything the journeys admin shows."""
    now = timezone.now()
    patient = PatientFactory(first_name="Ana", last_name="Silva")
    program = Program.objects.create(name="Gut reset", weeks=12)
    journey = journey_start(patient=patient, actor=staff, program=program, at=now - timedelta(days=30))
    journey_move(journey=journey, to_stage=Stage.DISCOVERY, actor=staff, at=now - timedelta(days=29))
    inquiry = Inquiry.objects.create(first_name="Ana", last_name="Silva", patient=patient, journey=journey)
    visit = Visit.objects.create(
        patient=patient,
        journey=journey,
        practitioner=practitioner,
        kind="intake",
        starts_at=now - timedelta(days=20),
    )
    signed = VisitNote.objects.create(
        visit=visit, author=practitioner, title="Intake", body=NOTE_BODY, signed_at=now - timedelta(days=19)
    )
    unsigned = VisitNote.objects.create(
        visit=visit, author=practitioner, title="Second thoughts", body="Draft"
    )
    published = Blueprint.objects.create(
        journey=journey,
        version=1,
        status=Blueprint.Status.PUBLISHED,
        created_by=practitioner,
        published_at=now - timedelta(days=10),
        published_by=practitioner,
    )
    BlueprintItem.objects.create(blueprint=published, kind="supplement", title="Magnesium glycinate")
    draft = Blueprint.objects.create(journey=journey, version=2, created_by=practitioner)
    template = BlueprintTemplate.objects.create(name="Gut reset, 12 weeks", program=program)
    BlueprintTemplateItem.objects.create(template=template, kind="diet", title="No gluten")
    checkin = CheckIn.objects.create(
        journey=journey, due_on=now.date(), closes_at=now + timedelta(days=3), status=CheckIn.Status.SCHEDULED
    )
    return {
        "program": program,
        "journey": journey,
        "stagechange": StageChange.objects.filter(journey=journey).first(),
        "inquiry": inquiry,
        "visit": visit,
        "visitnote": signed,
        "unsigned": unsigned,
        "blueprint": published,
        "draft": draft,
        "blueprinttemplate": template,
        "checkin": checkin,
    }


MODELS = [
    "program",
    "journey",
    "stagechange",
    "inquiry",
    "visit",
    "visitnote",
    "blueprint",
    "blueprinttemplate",
    "checkin",
]


@pytest.mark.parametrize("model", MODELS)
def test_every_journeys_admin_page_loads_for_an_admin(client_for, admin_user, record, model):
    client = client_for(admin_user)
    obj = record[model]
    assert client.get(f"/admin/journeys/{model}/").status_code == 200
    assert client.get(f"/admin/journeys/{model}/?q=silva").status_code == 200
    assert client.get(f"/admin/journeys/{model}/{obj.pk}/change/").status_code == 200


@pytest.mark.parametrize("role", ["practitioner", "staff"])
def test_only_admins_reach_the_journeys_admin(request, client_for, record, role):
    response = client_for(request.getfixturevalue(role)).get("/admin/journeys/visitnote/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_signed_note_cannot_be_changed_or_deleted_in_admin(client_for, admin_user, record):
    client = client_for(admin_user)
    note = record["visitnote"]
    page = client.get(f"/admin/journeys/visitnote/{note.pk}/change/").content.decode()
    assert NOTE_BODY in page  # admins read notes
    assert 'name="body"' not in page and 'name="_save"' not in page
    response = client.post(
        f"/admin/journeys/visitnote/{note.pk}/change/",
        {"title": "Changed", "body": "Rewritten", "sections": "{}"},
    )
    assert response.status_code == 403
    assert client.post(f"/admin/journeys/visitnote/{note.pk}/delete/", {"post": "yes"}).status_code == 403
    note.refresh_from_db()
    assert (note.title, note.body) == ("Intake", NOTE_BODY)


def test_an_unsigned_note_can_be_corrected_in_admin_and_the_change_is_audited(client_for, admin_user, record):
    client = client_for(admin_user)
    note = record["unsigned"]
    assert 'name="body"' in client.get(f"/admin/journeys/visitnote/{note.pk}/change/").content.decode()
    response = client.post(
        f"/admin/journeys/visitnote/{note.pk}/change/",
        {"title": "Second thoughts", "body": "Fixed", "sections": "{}"},
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.body == "Fixed"
    assert AccessEvent.objects.filter(
        action="update", patient_id=note.visit.patient_id, actor=admin_user
    ).exists()


def test_reading_a_note_in_admin_is_audited(client_for, admin_user, record):
    note = record["visitnote"]
    client_for(admin_user).get(f"/admin/journeys/visitnote/{note.pk}/change/")
    event = AccessEvent.objects.get(action="view", actor=admin_user)
    assert (event.patient_id, event.object_id) == (note.visit.patient_id, str(note.pk))


def test_notes_are_not_written_in_admin(client_for, admin_user, record):
    assert client_for(admin_user).get("/admin/journeys/visitnote/add/").status_code == 403


def test_a_journey_stage_is_read_only_in_admin(client_for, admin_user, record):
    client = client_for(admin_user)
    journey = record["journey"]
    page = client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()
    assert 'name="stage"' not in page and 'name="stage_entered_at_0"' not in page
    assert 'name="program"' in page
    assert "Inquiry" in page and "Discovery call" in page  # the stage changes, inline
    assert 'name="stage_changes-0-to_stage"' not in page
    assert client.get("/admin/journeys/journey/add/").status_code == 403
    response = client.post(
        f"/admin/journeys/journey/{journey.pk}/change/",
        {
            "program": record["program"].pk,
            "stage": Stage.GRADUATED,
            "stage_changes-TOTAL_FORMS": "0",
            "stage_changes-INITIAL_FORMS": "2",
        },
    )
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY


def test_stage_changes_check_ins_and_inquiries_are_read_only(client_for, admin_user, record):
    client = client_for(admin_user)
    for model in ("stagechange", "checkin", "inquiry"):
        page = client.get(f"/admin/journeys/{model}/{record[model].pk}/change/").content.decode()
        assert 'name="_save"' not in page, model
        assert client.get(f"/admin/journeys/{model}/add/").status_code == 403, model


def test_a_published_plan_is_read_only_and_a_draft_is_not(client_for, admin_user, record):
    client = client_for(admin_user)
    published = client.get(f"/admin/journeys/blueprint/{record['blueprint'].pk}/change/").content.decode()
    assert "Magnesium glycinate" in published
    assert 'name="_save"' not in published and 'name="items-0-title"' not in published
    draft = client.get(f"/admin/journeys/blueprint/{record['draft'].pk}/change/").content.decode()
    assert 'name="summary"' in draft and 'name="_save"' in draft


def test_admins_keep_blueprint_templates_with_their_items(client_for, admin_user, record):
    response = client_for(admin_user).post(
        "/admin/journeys/blueprinttemplate/add/",
        {
            "name": "Sleep first",
            "program": record["program"].pk,
            "summary": "",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-0-position": "1",
            "items-0-kind": "lifestyle",
            "items-0-title": "Lights out by 22:30",
            "items-0-dose": "",
            "items-0-frequency": "nightly",
            "items-0-instructions": "",
        },
    )
    assert response.status_code == 302
    template = BlueprintTemplate.objects.get(name="Sleep first")
    assert [item.title for item in template.items.all()] == ["Lights out by 22:30"]


def test_programs_are_switched_on_and_off_from_the_list(client_for, admin_user, record):
    program = record["program"]
    response = client_for(admin_user).post(
        "/admin/journeys/program/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": program.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    program.refresh_from_db()
    assert not program.active
    assert Journey.objects.filter(program=program).exists()
