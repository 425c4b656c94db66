import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from journeys.models import ALLOWED_MOVES, OFF_PATH, PATH, Journey, Stage, StageChange
from journeys.services.stages import allowed_moves, journey_move, journey_start
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def journey_at(stage, actor, *, paused_from=None):
    """A journey walked along the path to ``stage`` through the service."""
    journey = journey_start(patient=PatientFactory(), actor=actor)
    target = paused_from or stage
    for step in PATH[1 : PATH.index(target) + 1] if target in PATH else []:
        journey_move(journey=journey, to_stage=step, actor=actor)
    if stage in OFF_PATH:
        journey_move(
            journey=journey, to_stage=stage, actor=actor, reason="timing", note="travelling for work"
        )
    journey.refresh_from_db()
    assert journey.stage == stage
    return journey


def move(journey, to, actor):
    kwargs = {"reason": "cost", "note": "asked to stop"} if to in OFF_PATH else {}
    return journey_move(journey=journey, to_stage=to, actor=actor, **kwargs)


def start_for(stage, actor):
    if stage == Stage.PAUSED:
        return journey_at(Stage.PAUSED, actor, paused_from=Stage.INTAKE)
    if stage in (Stage.DECLINED, Stage.WITHDRAWN):
        return journey_at(stage, actor, paused_from=Stage.DISCOVERY)
    return journey_at(stage, actor)


# In the order of Stage, not of a set's hashing: pytest-xdist's workers must each collect the same list.
ALLOWED = [
    (a, b) for a, targets in ALLOWED_MOVES.items() for b in Stage.values if b in targets and a != Stage.PAUSED
]
FORBIDDEN = [
    (a, b)
    for a, b in itertools.product(Stage.values, Stage.values)
    if b not in ALLOWED_MOVES[a] and a != Stage.PAUSED
]


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED)
def test_every_allowed_move_is_made_and_recorded(practitioner, from_stage, to_stage):
    journey = start_for(from_stage, practitioner)
    change = move(journey, to_stage, practitioner)
    journey.refresh_from_db()
    assert journey.stage == to_stage
    assert (change.from_stage, change.to_stage, change.by) == (from_stage, to_stage, practitioner)


@pytest.mark.parametrize(("from_stage", "to_stage"), FORBIDDEN)
def test_every_forbidden_move_is_refused_and_changes_nothing(practitioner, from_stage, to_stage):
    journey = start_for(from_stage, practitioner)
    changes = StageChange.objects.filter(journey=journey).count()
    with pytest.raises(ValidationError, match="cannot move to"):
        move(journey, to_stage, practitioner)
    journey.refresh_from_db()
    assert journey.stage == from_stage
    assert StageChange.objects.filter(journey=journey).count() == changes


def test_a_paused_journey_resumes_only_where_it_paused(practitioner):
    journey = journey_at(Stage.PAUSED, practitioner, paused_from=Stage.COMMITMENT)
    assert allowed_moves(journey) == [Stage.COMMITMENT, Stage.WITHDRAWN]
    with pytest.raises(ValidationError, match="A journey at Paused cannot move to Intake"):
        move(journey, Stage.INTAKE, practitioner)
    move(journey, Stage.COMMITMENT, practitioner)
    journey.refresh_from_db()
    assert journey.stage == Stage.COMMITMENT


@pytest.mark.parametrize("exit_stage", sorted(OFF_PATH))
def test_leaving_the_path_needs_a_reason_from_the_list_and_a_note(practitioner, exit_stage):
    journey = journey_at(Stage.DISCOVERY, practitioner)
    with pytest.raises(ValidationError, match="Choose why"):
        journey_move(journey=journey, to_stage=exit_stage, actor=practitioner, note="x")
    with pytest.raises(ValidationError, match="Choose why"):
        journey_move(journey=journey, to_stage=exit_stage, actor=practitioner, reason="bored", note="x")
    with pytest.raises(ValidationError, match="few words"):
        journey_move(journey=journey, to_stage=exit_stage, actor=practitioner, reason="cost", note="  ")
    journey.refresh_from_db()
    assert journey.stage == Stage.DISCOVERY
    change = journey_move(
        journey=journey, to_stage=exit_stage, actor=practitioner, reason="cost", note="fees"
    )
    assert (change.reason, change.note) == ("cost", "fees")


def test_graduating_or_leaving_closes_the_journey(practitioner):
    journey = journey_at(Stage.GRADUATED, practitioner)
    assert journey.ended_at is not None
    move(journey, Stage.ADVOCATE, practitioner)
    journey.refresh_from_db()
    assert journey.stage == Stage.ADVOCATE


def test_one_open_journey_per_patient(practitioner):
    journey = journey_start(patient=PatientFactory(), actor=practitioner)
    with pytest.raises(ValidationError, match="already has an open journey"):
        journey_start(patient=journey.patient, actor=practitioner)
    with (
        pytest.raises(IntegrityError, match=r"journey_one_open_per_patient|journeys_journey\.patient_id"),
        transaction.atomic(),
    ):
        Journey.objects.create(patient=journey.patient)
    move(journey, Stage.WITHDRAWN, practitioner)
    assert journey_start(patient=journey.patient, actor=practitioner).stage == Stage.INQUIRY


def test_every_stage_is_covered_by_the_allowed_moves():
    assert set(ALLOWED_MOVES) == set(Stage.values)
