"""The Care plan panel's two reads (``patient_blueprint_summary``), compiled once per thread: the ORM's journey
and versions, by the ORM's SQL, for patients with a published plan and a draft, an older journey, or nothing."""

import pytest
from django.db import connection
from django.db.models import Count, F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from journeys.models import Blueprint, BlueprintItem, Journey, Stage
from journeys.selectors.blueprints import patient_blueprint_summary
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def orms(patient):
    journey = (
        Journey.objects.filter(patient=patient)
        .order_by(F("ended_at").asc(nulls_first=True), "-started_at", "-id")
        .first()
    )
    if journey is None:
        return {"journey": None, "published": None, "draft": None}
    blueprints = list(
        journey.blueprints.exclude(status=Blueprint.Status.SUPERSEDED)
        .select_related("published_by")
        .annotate(item_count=Count("items"))
    )
    by_status = {b.status: b for b in blueprints}
    return {"journey": journey, "published": by_status.get("published"), "draft": by_status.get("draft")}


def shown(summary):
    return {
        key: None if value is None else (value.pk, getattr(value, "item_count", None))
        for key, value in summary.items()
    }


@pytest.fixture
def patients(practitioner):
    planned = PatientFactory(first_name="<script>alert('x')</script> & \"Sons\"")
    Journey.objects.create(patient=planned, stage=Stage.DECLINED, ended_at=timezone.now())
    journey = Journey.objects.create(patient=planned, stage=Stage.CHECK_INS)
    for version, status in ((1, "superseded"), (2, "published"), (3, "draft")):
        blueprint = Blueprint.objects.create(
            journey=journey,
            version=version,
            status=status,
            created_by=practitioner,
            published_by=practitioner,
        )
        for position in range(version):
            BlueprintItem.objects.create(
                blueprint=blueprint, kind="diet", title=f"item {position}", position=position
            )
    ended = PatientFactory()
    Journey.objects.create(patient=ended, stage=Stage.GRADUATED, ended_at=timezone.now())
    return [planned, ended, PatientFactory()]


def test_the_summary_is_the_orms_for_every_patient(patients, django_assert_num_queries):
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        ours, theirs = patient_blueprint_summary(patient), orms(patient)
        assert shown(ours) == shown(theirs)
        for blueprint in (ours["published"], ours["draft"]):
            if blueprint is not None:
                with django_assert_num_queries(0):
                    assert blueprint.journey.pk == ours["journey"].pk
                    assert blueprint.published_by.pk == theirs["published"].published_by.pk
    assert shown(patient_blueprint_summary(patients[0]))["published"][1] == 2


def test_the_summary_runs_the_sql_the_orm_writes(patients):
    patient_blueprint_summary(patients[0])  # compiled
    with CaptureQueriesContext(connection) as ours:
        patient_blueprint_summary(patients[0])
    with CaptureQueriesContext(connection) as theirs:
        orms(patients[0])
    assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in theirs.captured_queries]
