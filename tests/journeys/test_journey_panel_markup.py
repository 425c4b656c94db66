"""The Journey panel written in Python for an open journey (``journeys.panels.timeline.journey_panel_html``):
byte for byte what ``journeys/_journey_panel.html`` writes at every stage, with hostile text; where a new
journey may start (its form and CSRF token), the template still writes it."""

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from journeys.models import Journey, Program, Stage, StageChange
from journeys.panels.timeline import journey_panel_context, journey_panel_html
from tests.factories import PatientFactory
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def context_for(user, patient) -> dict:
    request = RequestFactory().get("/")
    request.user = user
    return journey_panel_context(request, patient)


@pytest.mark.parametrize("stage", Stage.values)
def test_an_open_journey_is_what_the_template_writes(practitioner, stage):
    paused_from = (
        Stage.BLUEPRINT
        if stage == Stage.PAUSED
        else Stage.DISCOVERY
        if stage in (Stage.DECLINED, Stage.WITHDRAWN)
        else None
    )
    journey = journey_at(stage, practitioner, paused_from=paused_from)
    if stage in (Stage.INTAKE, Stage.PAUSED):
        journey.program = Program.objects.create(name=HOSTILE, weeks=8)
        journey.save()
    StageChange.objects.filter(journey=journey, to_stage=stage).update(note=HOSTILE)
    panel = context_for(practitioner, journey.patient)
    ours = journey_panel_html(panel)
    if panel["can_start"]:
        assert ours is None  # an ended journey: the template writes the form to start another
        return
    assert ours == render_to_string(
        "journeys/_journey_panel.html", {"panel": panel, "patient": journey.patient}
    )
    assert "<script>" not in ours


def test_where_a_journey_may_start_the_template_writes_the_panel(staff):
    patient = PatientFactory(first_name=HOSTILE)
    assert journey_panel_html(context_for(staff, patient)) is None
    ended = Journey.objects.create(patient=PatientFactory(), stage=Stage.GRADUATED)
    ended.ended_at = ended.started_at
    ended.save()
    assert journey_panel_html(context_for(staff, ended.patient)) is None
