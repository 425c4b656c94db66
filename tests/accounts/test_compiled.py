"""accounts.queries.Compiled: a queryset's SQL compiled once and run again with other values in its marked
parameters reads what the ORM reads, by the same SQL; the patient record (``patient_get_for``) read that way is
the ORM's record field for field, its lead, consent and referrer included."""

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Count
from django.db.models.sql.compiler import SQLCompiler
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.queries import AnyOf, Compiled
from patients.models import Patient
from patients.selectors import _record_queryset, patient_get_for
from patients.services import consent_record
from tests.factories import CareTeamMemberFactory, PatientFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë"


def fields(patient: Patient) -> dict:
    annotated = {name: getattr(patient, name) for name in _record_queryset().query.annotations}
    return {**{f.attname: getattr(patient, f.attname) for f in Patient._meta.concrete_fields}, **annotated}


def test_the_record_is_the_orms_record_for_each_patient(practitioner, django_assert_num_queries):
    referrer = PatientFactory(first_name=HOSTILE)
    patients = [PatientFactory(referred_by=referrer, first_name=HOSTILE), PatientFactory(), referrer]
    CareTeamMemberFactory(patient=patients[0], user=practitioner, role="lead")
    consent_record(patient=patients[0], channel="email", granted=True, via="test")
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        expected = _record_queryset().get(pk=patient.pk)
        read = patient_get_for(user=practitioner, pk=patient.pk)
        assert type(read) is Patient and read.pk == patient.pk
        assert fields(read) == fields(expected)
        with django_assert_num_queries(0):
            assert (read.referred_by and read.referred_by.pk) == (
                expected.referred_by and expected.referred_by.pk
            )
    assert patient_get_for(user=practitioner, pk=patients[0].pk).lead_name == practitioner.display_name
    assert patient_get_for(user=practitioner, pk=str(patients[1].pk)).pk == patients[1].pk


def test_the_record_is_read_by_the_sql_the_orm_writes(practitioner):
    patient = PatientFactory()
    patient_get_for(user=practitioner, pk=patient.pk)  # compiled
    with CaptureQueriesContext(connection) as ours:
        patient_get_for(user=practitioner, pk=patient.pk)
    with CaptureQueriesContext(connection) as orms:
        _record_queryset().get(pk=patient.pk)
    assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]


def test_an_unknown_patient_is_a_404(practitioner):
    with pytest.raises(Http404):
        patient_get_for(user=practitioner, pk=918_273_646)
    with pytest.raises(Http404):
        patient_get_for(user=practitioner, pk=None)


def test_a_moment_is_put_in_its_places():
    marker = datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
    old, new = PatientFactory(), PatientFactory()
    Patient.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    compiled = Compiled(Patient.objects.filter(created_at__lte=marker).order_by("pk"), marker)
    for moment in (timezone.now() - timedelta(days=1), timezone.now(), marker):
        assert compiled.rows(moment) == list(Patient.objects.filter(created_at__lte=moment).order_by("pk"))
    assert compiled.rows(timezone.now() - timedelta(days=1)) == [old]
    assert new in compiled.rows(timezone.now())


def test_a_value_the_query_does_not_hold_is_refused():
    with pytest.raises(ValueError, match="is not a parameter"):
        Compiled(Patient.objects.filter(pk=5), 918_273_645)


def test_a_values_query_reads_its_own_rows_tuples_and_dicts_alike():
    patients = [PatientFactory(first_name=HOSTILE), PatientFactory()]
    for shape in (("values_list", ("pk", "first_name")), ("values", ("pk", "first_name"))):
        method, fields = shape

        def built(pk, method=method, fields=fields):
            return getattr(Patient.objects.filter(pk=pk).order_by(), method)(*fields)

        compiled = Compiled(built(918_273_645), 918_273_645)
        for patient in patients:
            assert compiled.rows(patient.pk) == list(built(patient.pk))
    flat = Compiled(Patient.objects.filter(pk=918_273_645).values_list("first_name", flat=True), 918_273_645)
    assert flat.rows(patients[0].pk) == [HOSTILE]


def test_values_rows_are_the_orms_tuples_flat_values_or_dicts():
    patients = [PatientFactory(first_name=HOSTILE), PatientFactory()]
    marker = 918_273_645
    for shape in (
        lambda qs: qs.values_list("pk", "first_name"),
        lambda qs: qs.values_list("first_name", flat=True),
        lambda qs: qs.values("pk", "first_name"),
    ):
        compiled = Compiled(shape(Patient.objects.filter(pk=marker)), marker)
        for patient in patients:
            assert compiled.rows(patient.pk) == list(shape(Patient.objects.filter(pk=patient.pk)))


def test_a_values_list_reads_its_tuples_with_no_queryset_cloned(monkeypatch):
    from django.db.models import QuerySet

    patients = [PatientFactory(first_name=HOSTILE), PatientFactory()]
    marker = 918_273_645
    compiled = Compiled(
        Patient.objects.filter(pk=marker)
        .annotate(leads=Count("care_team"))
        .values_list("pk", "first_name", "leads"),
        marker,
    )
    expected = {p.pk: [(p.pk, p.first_name, 0)] for p in patients}

    def refused(self, *args, **kwargs):
        raise AssertionError("a queryset was cloned")

    monkeypatch.setattr(QuerySet, "_chain", refused)
    for patient in patients:
        assert compiled.rows(patient.pk) == expected[patient.pk]
    assert compiled.rows(0) == []


def test_a_list_of_ids_is_one_parameter_whatever_its_length():
    patients = [PatientFactory(first_name=HOSTILE) for _ in range(4)]
    marker = [918_273_645]
    compiled = Compiled(Patient.objects.filter(AnyOf("pk", marker)).order_by("pk"), marker)
    for ids in ([], [patients[0].pk], [p.pk for p in patients], [patients[2].pk, 918_273_646]):
        with CaptureQueriesContext(connection) as ran:
            assert compiled.rows(ids) == list(Patient.objects.filter(pk__in=ids).order_by("pk"))
        # One parameter on either database: an array on PostgreSQL, a JSON array on SQLite (``make run``'s).
        assert (" = ANY(" if connection.vendor == "postgresql" else " IN (SELECT value FROM json_each(") in (
            ran.captured_queries[0]["sql"]
        )


def test_a_day_is_put_in_its_places():
    marker = date(2001, 2, 3)
    old, new = PatientFactory(), PatientFactory()
    Patient.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert new.pk != old.pk
    compiled = Compiled(Patient.objects.filter(created_at__date__lte=marker).order_by("pk"), marker)
    for day in (timezone.localdate() - timedelta(days=1), timezone.localdate(), marker):
        assert compiled.rows(day) == list(Patient.objects.filter(created_at__date__lte=day).order_by("pk"))
    assert compiled.rows(timezone.localdate() - timedelta(days=1)) == [old]


def test_rows_are_read_on_the_connection_of_the_moment_not_the_one_compiled_on():
    marker = 918_273_645
    compiled = Compiled(Patient.objects.filter(pk=marker), marker)
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # as another async context's connection would be
    try:
        compiled.compiler.connection = other
        patient = PatientFactory()  # in this test's transaction, which only this context's connection sees
        assert compiled.rows(patient.pk) == [patient]
    finally:
        other.close()


def test_a_compiled_read_checks_its_columns_for_a_composite_key_once_a_connection():
    marker = 918_273_645
    patients = [PatientFactory(), PatientFactory()]
    read = Compiled(Patient.objects.filter(pk=marker), marker)
    real = SQLCompiler.has_composite_fields
    with mock.patch.object(SQLCompiler, "has_composite_fields", autospec=True, side_effect=real) as checked:
        first = [read.rows(patient.pk) for patient in patients]
        assert checked.call_count == 1
        read.composite[0] = None  # as for another connection (an async context's): checked again
        again = [read.rows(patient.pk) for patient in patients]
        assert checked.call_count == 2
    assert first == again == [[patient] for patient in patients]


def test_a_read_clones_no_query_once_made_and_keeps_no_rows(practitioner):
    from django.db.models.sql.query import Query

    patients = PatientFactory.create_batch(3)
    compiled = Compiled(Patient.objects.filter(AnyOf("pk", [1])).order_by("pk"), [1])
    ids = Compiled(Patient.objects.filter(AnyOf("pk", [1])).order_by("pk").values_list("pk", flat=True), [1])
    first, none = compiled.rows([patients[0].pk]), ids.rows([])
    with mock.patch.object(Query, "chain", side_effect=AssertionError("cloned again")):
        both = compiled.rows([p.pk for p in patients[:2]])
        last = ids.rows([patients[2].pk])
    assert [p.pk for p in first] == [patients[0].pk] and [p.pk for p in both] == [p.pk for p in patients[:2]]
    assert first[0] is not both[0] and none == [] and last == [patients[2].pk]  # each read its own rows
    queryset, query = compiled.replayed
    assert queryset._result_cache is None and query.replay is None  # nothing of a read kept


@pytest.mark.parametrize("negated", [False, True])
def test_exists_each_finds_the_rows_exists_finds(negated):
    """``ExistsEach`` is ``Exists`` with an ``OFFSET 0`` in its subquery on PostgreSQL (checked row by row, never
    made a join), plain ``EXISTS`` elsewhere: the same rows either way."""
    from django.db.models import Exists, OuterRef

    from accounts.queries import ExistsEach
    from patients.models import CareTeamMember, Patient
    from tests.factories import PatientFactory, UserFactory

    lead = UserFactory(role="practitioner")
    led = PatientFactory.create_batch(3)
    PatientFactory.create_batch(2)
    for patient in led[:2]:
        CareTeamMember.objects.create(patient=patient, user=lead, role="lead")
    CareTeamMember.objects.create(patient=led[2], user=lead, role="support")
    leads = CareTeamMember.objects.filter(patient=OuterRef("pk"), role="lead", ended_at__isnull=True)

    def ids(check):
        return list(
            Patient.objects.filter(~check if negated else check).order_by("pk").values_list("pk", flat=True)
        )

    with CaptureQueriesContext(connection) as ran:
        assert ids(ExistsEach(leads)) == ids(Exists(leads))
    fenced = "LIMIT 1 OFFSET 0)" in ran.captured_queries[0]["sql"]
    assert fenced == (connection.vendor == "postgresql")
    assert ("NOT EXISTS" in ran.captured_queries[0]["sql"]) == negated
