from datetime import timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create
from compliance.models import Alert, CheckInAnswer, ComplianceLog
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Program, Stage, Visit, VisitNote
from journeys.services.stages import journey_move, journey_start
from nudges.models import Nudge
from patients.services import care_team_add, care_team_set_lead
from tests.factories import ConsentEventFactory, PatientFactory

STORY = "My gut has hurt since the move; nobody listened."
NOTE_BODY = "Discussed the elimination diet; patient tearful about work."


@pytest.fixture
def full_patient(db, practitioner, staff, admin_user):
    """A patient with something of everything the FHIR export maps, built directly (past visits included)."""
    now = timezone.now()
    patient = PatientFactory(
        first_name="Renée",
        last_name="Côté",
        preferred_name="Ren",
        time_zone="Europe/Paris",
        date_of_birth="1984-03-02",
    )
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    care_team_add(
        patient=patient,
        actor=staff,
        role="specialist",
        external_name="Dr. Gut",
        external_practice="GI Clinic",
    )
    ConsentEventFactory(patient=patient, channel="email", granted=True, at=now - timedelta(days=40))
    ConsentEventFactory(patient=patient, channel="sms", granted=True, at=now - timedelta(days=39))
    ConsentEventFactory(
        patient=patient, channel="sms", granted=False, at=now - timedelta(days=2), via="SMS STOP"
    )
    program = Program.objects.create(name="Gut reset", weeks=12)
    journey = journey_start(patient=patient, actor=staff, program=program, at=now - timedelta(days=40))
    for stage, days in [
        (Stage.DISCOVERY, 38),
        (Stage.INTAKE, 35),
        (Stage.COMMITMENT, 33),
        (Stage.BLUEPRINT, 31),
    ]:
        journey_move(journey=journey, to_stage=stage, actor=staff, at=now - timedelta(days=days))
    Journey.objects.filter(pk=journey.pk).update(stage=Stage.CHECK_INS)
    journey.refresh_from_db()
    intake = Visit.objects.create(
        patient=patient, journey=journey, practitioner=practitioner, kind="intake",
        starts_at=now - timedelta(days=35), duration_minutes=60, status="completed",
    )  # fmt: skip
    Visit.objects.create(
        patient=patient, journey=journey, practitioner=practitioner, kind="follow_up",
        starts_at=now + timedelta(days=3), duration_minutes=30,
    )  # fmt: skip
    note = VisitNote.objects.create(
        visit=intake, author=practitioner, title="Intake", body=NOTE_BODY, signed_at=now - timedelta(days=35),
        sections={"story": STORY, "tried": "Probiotics", "fears": "Surgery", "goals": "Eat with my kids again"},
    )  # fmt: skip
    VisitNote.objects.create(
        visit=intake, author=practitioner, title="Addendum", body="Labs ordered.", addendum_to=note,
        signed_at=now - timedelta(days=34),
    )  # fmt: skip
    VisitNote.objects.create(visit=intake, author=practitioner, title="Draft", body="unsigned thoughts")
    v1 = Blueprint.objects.create(
        journey=journey,
        version=1,
        status="superseded",
        created_by=practitioner,
        published_at=now - timedelta(days=31),
    )
    BlueprintItem.objects.create(
        blueprint=v1, kind="supplement", title="Magnesium", dose="200 mg", instructions="At night"
    )
    v2 = Blueprint.objects.create(
        journey=journey, version=2, status="published", created_by=practitioner, published_at=now - timedelta(days=20),
        summary="Fewer pills, more walks",
    )  # fmt: skip
    items = [
        BlueprintItem.objects.create(
            blueprint=v2, kind=kind, title=title, position=i, instructions="with food"
        )
        for i, (kind, title) in enumerate(
            [("supplement", "Magnesium"), ("diet", "No gluten"), ("lifestyle", "Walk")]
        )
    ]
    checkin = CheckIn.objects.create(
        journey=journey, due_on=(now - timedelta(days=7)).date(), closes_at=now - timedelta(days=5),
        status=CheckIn.Status.ANSWERED, answered_at=now - timedelta(days=6),
    )  # fmt: skip
    answer = CheckInAnswer.objects.create(
        checkin=checkin, patient=patient, answered_at=now - timedelta(days=6), where_it_failed="Too tired to cook",
        barriers=["time"], energy=4, sleep=6, mood=5, digestion=3,
    )  # fmt: skip
    for item, status in zip(items, ["done", "partial", "missed"], strict=True):
        ComplianceLog.objects.create(answer=answer, checkin=checkin, item=item, status=status)
    CheckIn.objects.create(journey=journey, due_on=now.date(), closes_at=now + timedelta(days=2))
    Alert.objects.create(
        patient=patient, journey=journey, reason="low_adherence", detail="50% over two check-ins",
        opened_at=now - timedelta(days=30), resolved_at=now - timedelta(days=25), resolution="Plan simplified",
    )  # fmt: skip
    Alert.objects.create(patient=patient, journey=journey, reason="missed_checkins", detail="1 missed")
    Nudge.objects.create(
        patient=patient, kind="checkin_request", channel="email", send_at=now - timedelta(days=7),
        status=Nudge.Status.SENT, sent_at=now - timedelta(days=7), dedupe_key="t:1", subject="Your check-in",
        body_text="Where did my plan fail you this week?",
    )  # fmt: skip
    Nudge.objects.create(
        patient=patient,
        kind="visit_reminder",
        channel="sms",
        send_at=now + timedelta(days=2),
        dedupe_key="t:2",
    )
    return patient


@pytest.fixture
def make_key(admin_user):
    def make(*scopes, name="Website"):
        key, raw = api_key_create(actor=admin_user, name=name, scopes=list(scopes))
        return key, raw

    return make


@pytest.fixture
def api_client(client):
    """``api_client(raw).get(path)``: the test client with a key in the Authorization header."""

    class Signed:
        def __init__(self, raw):
            self.headers = {"Authorization": f"Bearer {raw}"}

        def get(self, path, data=None):
            return client.get(path, data, headers=self.headers)

        def post(self, path, body):
            return client.post(path, body, content_type="application/json", headers=self.headers)

    return Signed
