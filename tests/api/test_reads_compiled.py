"""The API's reads on every call, compiled once per thread (``accounts.queries.Compiled``): the key a call
signs with, a patient's existence and a patient's check-ins read what the ORM reads, by the ORM's SQL."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiKey
from api.selectors import (
    api_checkins,
    api_checkins_after,
    api_key_usable,
    api_patient_id,
    api_patients,
    api_patients_after,
    api_visits_on,
    api_visits_page,
)
from api.services import api_key_authenticate, api_key_revoke
from journeys.models import CheckIn, Visit
from journeys.selectors.schedule import clinic_zone
from journeys.services.stages import journey_start
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_the_key_is_the_orms_usable_key_by_its_prefix(make_key, admin_user):
    keys = [make_key("patients:read")[0] for _ in range(3)]
    api_key_revoke(key=keys[1], actor=admin_user)
    for key in keys * 2:  # the second round from the SQL compiled in the first
        expected = ApiKey.objects.usable().select_related("created_by").filter(prefix=key.prefix).first()
        got = api_key_usable(key.prefix)
        assert (got and (got.pk, got.created_by.username)) == (
            expected and (expected.pk, expected.created_by.username)
        )
    assert api_key_usable(keys[1].prefix) is None
    assert api_key_usable("<b>&\"'") is None and api_key_usable("") is None


def test_the_key_is_read_by_the_sql_the_orm_writes(make_key):
    key, raw = make_key("patients:read")
    api_key_authenticate(raw)  # compiled
    with CaptureQueriesContext(connection) as ours:
        api_key_usable(key.prefix)
    with CaptureQueriesContext(connection) as orms:
        ApiKey.objects.usable().select_related("created_by").filter(prefix=key.prefix).first()
    assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]


def test_a_signed_call_still_needs_the_whole_key(make_key):
    key, raw = make_key("patients:read")
    assert api_key_authenticate(raw).pk == key.pk
    assert api_key_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_a_patient_exists_or_is_a_404():
    from django.http import Http404

    patient = PatientFactory()
    assert api_patient_id(pk=patient.pk) == patient.pk
    with pytest.raises(Http404):
        api_patient_id(pk=patient.pk + 1000)
    assert api_patient_id(pk=patient.pk) == patient.pk


def _checkins(patient, n: int) -> list[int]:
    journey = journey_start(patient=patient, actor=None)
    today = timezone.localdate()
    return [
        CheckIn.objects.create(
            journey=journey,
            due_on=today + timedelta(days=7 * d),
            closes_at=timezone.now() + timedelta(days=7 * d),
        ).pk
        for d in range(n)
    ]


@pytest.mark.parametrize("limit", [1, 3, 51])
def test_a_patients_check_ins_are_the_orms_page_by_page(limit):
    patients = [PatientFactory(), PatientFactory()]
    for patient, n in zip(patients, (7, 4), strict=True):
        _checkins(patient, n)
    for patient in patients * 2:
        expected = list(api_checkins(patient_id=patient.pk)[:limit])
        assert api_checkins_after(patient_id=patient.pk, after=None, limit=limit) == expected
        for after in [0, *[c.pk for c in api_checkins(patient_id=patient.pk)]]:
            expected = list(api_checkins(patient_id=patient.pk).filter(pk__gt=after)[:limit])
            assert api_checkins_after(patient_id=patient.pk, after=after, limit=limit) == expected


def test_the_check_ins_are_read_by_the_sql_the_orm_writes():
    patient = PatientFactory()
    first = _checkins(patient, 3)[0]
    for after in (None, first):
        api_checkins_after(patient_id=patient.pk, after=after, limit=4)  # compiled
        with CaptureQueriesContext(connection) as ours:
            api_checkins_after(patient_id=patient.pk, after=after, limit=4)
        orm = api_checkins(patient_id=patient.pk)
        with CaptureQueriesContext(connection) as orms:
            list((orm if after is None else orm.filter(pk__gt=after))[:4])
        assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]


def test_the_endpoint_pages_a_patients_check_ins_in_id_order(make_key, api_client):
    patient = PatientFactory()
    made = _checkins(patient, 5)
    _, raw = make_key("patients:read")
    page = api_client(raw).get(f"/api/v1/patients/{patient.pk}/checkins/", {"limit": 2}).json()
    seen = [c["id"] for c in page["items"]]
    while page["next"]:
        page = (
            api_client(raw)
            .get(f"/api/v1/patients/{patient.pk}/checkins/", {"limit": 2, "cursor": page["next"]})
            .json()
        )
        seen += [c["id"] for c in page["items"]]
    assert seen == sorted(made)
    assert api_client(raw).get(f"/api/v1/patients/{2**70}/checkins/").status_code == 422
    assert (
        api_client(raw).get(f"/api/v1/patients/{patient.pk}/checkins/", {"cursor": "WyJ4Il0"}).status_code
        == 400
    )


def _visits(practitioner, day, n: int) -> list[Visit]:
    """``n`` visits on ``day`` (clinic time), two at each start so the id breaks ties, one the day before and
    one the day after."""
    zone = clinic_zone()
    patient = PatientFactory(first_name="<b>&\"'")

    def visit(starts):
        return Visit.objects.create(
            patient=patient, practitioner=practitioner, starts_at=starts, duration_minutes=30
        )

    made = []
    for k in range(n):
        starts = datetime.combine(day, time(8 + k // 2, 0), tzinfo=zone)
        made.append(visit(starts))
    visit(datetime.combine(day, time.min, tzinfo=zone) - timedelta(seconds=1))
    visit(datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone))
    return made


@pytest.mark.parametrize("limit", [1, 2, 51])
def test_a_days_visits_are_the_orms_page_by_page(practitioner, limit):
    days = [date(2026, 3, 9), date(2026, 3, 10)]
    for day, n in zip(days, (5, 3), strict=True):
        _visits(practitioner, day, n)
    for day in days * 2:
        expected = list(api_visits_on(day)[:limit])
        got = api_visits_page(day, after=None, limit=limit)
        assert got == expected and [v.patient.display_name for v in got] == [
            v.patient.display_name for v in expected
        ]
        for visit in [*api_visits_on(day), *api_visits_on(day - timedelta(days=1))]:
            moment = visit.starts_at.astimezone(ZoneInfo("Asia/Tokyo"))  # any offset: the same moment
            later = Q(starts_at__gt=moment) | Q(starts_at=moment, pk__gt=visit.pk)
            expected = list(api_visits_on(day).filter(later)[:limit])
            assert api_visits_page(day, after=(moment, visit.pk), limit=limit) == expected


def test_the_visits_are_read_by_the_sql_the_orm_writes(practitioner):
    day = date(2026, 3, 9)
    first = _visits(practitioner, day, 3)[0]
    for after in (None, (first.starts_at, first.pk)):
        api_visits_page(day, after=after, limit=4)  # compiled
        with CaptureQueriesContext(connection) as ours:
            api_visits_page(day, after=after, limit=4)
        orm = api_visits_on(day)
        if after is not None:
            orm = orm.filter(Q(starts_at__gt=after[0]) | Q(starts_at=after[0], pk__gt=after[1]))
        with CaptureQueriesContext(connection) as orms:
            list(orm[:4])
        assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]


def test_the_endpoint_pages_a_days_visits_in_start_order(make_key, api_client, practitioner):
    day = date(2026, 3, 9)
    made = _visits(practitioner, day, 5)
    _, raw = make_key("schedule:read")
    page = api_client(raw).get("/api/v1/visits/", {"day": day.isoformat(), "limit": 2}).json()
    seen = [v["id"] for v in page["items"]]
    while page["next"]:
        page = (
            api_client(raw)
            .get("/api/v1/visits/", {"day": day.isoformat(), "limit": 2, "cursor": page["next"]})
            .json()
        )
        seen += [v["id"] for v in page["items"]]
    assert seen == [v.pk for v in sorted(made, key=lambda v: (v.starts_at, v.pk))]


@pytest.mark.parametrize("include_archived", [False, True])
@pytest.mark.parametrize("limit", [1, 3, 51])
def test_the_patients_are_the_orms_page_by_page(include_archived, limit):
    made = [PatientFactory(archived=n % 3 == 0, first_name="<b>&\"'") for n in range(7)]
    for _ in range(2):
        expected = list(api_patients(include_archived=include_archived)[:limit])
        assert api_patients_after(include_archived=include_archived, after=None, limit=limit) == expected
        for after in [0, *[p.pk for p in made]]:
            orm = api_patients(include_archived=include_archived).filter(pk__gt=after)
            got = api_patients_after(include_archived=include_archived, after=after, limit=limit)
            assert got == list(orm[:limit])


def test_the_patients_are_read_by_the_sql_the_orm_writes():
    first = PatientFactory()
    for include_archived in (False, True):
        for after in (None, first.pk):
            api_patients_after(include_archived=include_archived, after=after, limit=4)  # compiled
            with CaptureQueriesContext(connection) as ours:
                api_patients_after(include_archived=include_archived, after=after, limit=4)
            orm = api_patients(include_archived=include_archived)
            with CaptureQueriesContext(connection) as orms:
                list((orm if after is None else orm.filter(pk__gt=after))[:4])
            assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]
