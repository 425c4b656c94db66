"""The header's move form, rendered by crispy once per set of moves: the same markup as ``{% crispy form %}``
for every stage and every journey, each with its own ids."""

import pytest
from django.template import Context, Template

from dashboard.move_form import move_form_html
from journeys.forms.move import MoveForm
from journeys.models import PATH, Stage
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

CRISPY = Template("{% load crispy_forms_tags %}{% crispy form %}")


@pytest.mark.parametrize("stage", [*PATH[:-1], Stage.PAUSED])
def test_the_form_is_what_crispy_writes_for_each_journey(practitioner, stage):
    first, second = (
        journey_at(stage, practitioner, paused_from=Stage.BLUEPRINT if stage == Stage.PAUSED else None),
        journey_at(stage, practitioner, paused_from=Stage.BLUEPRINT if stage == Stage.PAUSED else None),
    )
    for journey in (first, second, first):  # the second and third are written from the kept rendering
        form = MoveForm(journey=journey)
        html = move_form_html(form)
        assert html == CRISPY.render(Context({"form": MoveForm(journey=journey)}))
        assert f'id="move{journey.pk}_' in html or not form.moves
        other = second if journey is first else first
        assert f"move{other.pk}_" not in html


def test_a_bound_form_keeps_its_errors(practitioner):
    journey = journey_at(Stage.INTAKE, practitioner)
    form = MoveForm({"to_stage": "nowhere"}, journey=journey)
    assert not form.is_valid()
    html = move_form_html(form)
    assert html == CRISPY.render(Context({"form": form}))
    assert "is-invalid" in html
