"""patients.selectors.lead_names: each patient's lead practitioner's name, read by the SQL compiled once per
thread with the ids one array parameter: what the ORM's annotated read gives, for any number of ids."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.selectors import lead_names, patients_with_lead
from tests.factories import CareTeamMemberFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def orms(ids) -> dict:
    return dict(patients_with_lead().filter(pk__in=list(ids)).values_list("pk", "lead_name"))


def test_the_leads_are_the_orms_for_any_ids():
    led = [PatientFactory() for _ in range(3)]
    for patient, name in zip(led, ["<b>&\"'", "Dr. Maya Rivera", "Zoë"], strict=True):
        CareTeamMemberFactory(patient=patient, user=UserFactory(display_name=name), role="lead")
    leadless = PatientFactory()
    everyone = [p.pk for p in [*led, leadless]]
    for ids in ([everyone[0]], everyone, everyone[::-1] + everyone, [leadless.pk], [everyone[-1] + 1000]):
        assert lead_names(ids) == orms(ids)
    assert lead_names(everyone)[led[0].pk] == "<b>&\"'" and lead_names([leadless.pk]) == {leadless.pk: None}
    assert lead_names([]) == {}


def test_one_query_whatever_the_number_of_ids():
    ids = [PatientFactory().pk for _ in range(5)]
    lead_names(ids[:1])
    with CaptureQueriesContext(connection) as one:
        lead_names(ids[:1])
    with CaptureQueriesContext(connection) as five:
        lead_names(ids)
    # The same SQL, the ids one parameter (an array on PostgreSQL, a JSON array on SQLite).
    split = "ANY(" if connection.vendor == "postgresql" else "json_each("
    assert len(one) == len(five) == 1 and one[0]["sql"].split(split)[0] == five[0]["sql"].split(split)[0]
