"""accounts.queries.counts_at_once: several counts in one query, each exact or capped, values as parameters."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.queries import counts_at_once
from patients.models import Patient
from tests.factories import PatientFactory


def test_several_counts_in_one_query_exact_or_capped(db):
    for name in ["Ana", "Ana", "O'Brien; DROP TABLE x", "Bo"]:
        PatientFactory(first_name=name)
    querysets = {
        "anas": Patient.objects.filter(first_name="Ana"),
        "hostile": Patient.objects.filter(first_name="O'Brien; DROP TABLE x"),
        "everyone": Patient.objects.all(),
        "nobody": Patient.objects.filter(first_name="Zed"),
    }
    with CaptureQueriesContext(connection) as queries:
        exact = counts_at_once(querysets)
    assert len(queries) == 1
    assert exact == {"anas": 2, "hostile": 1, "everyone": 4, "nobody": 0}
    assert counts_at_once(querysets, cap=2) == {"anas": 2, "hostile": 1, "everyone": 3, "nobody": 0}
