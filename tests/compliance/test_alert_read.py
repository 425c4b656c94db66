"""An alert's page reads the alert by its query compiled once per thread: the ORM's alert, its patient,
journey, outreach and lead, by the ORM's SQL; an unknown alert is a 404."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import Alert
from compliance.selectors import _alert_queryset, alert_get_for
from tests.factories import CareTeamMemberFactory

pytestmark = pytest.mark.django_db


def values(alert: Alert) -> dict:
    related = {
        name: getattr(alert, name) and vars(getattr(alert, name)) | {"_state": None}
        for name in ("patient", "journey", "outreach_nudge", "resolved_by")
    }
    return {
        k: v for k, v in vars(alert).items() if k not in ("_state", "_prefetched_objects_cache")
    } | related


def test_the_alert_is_the_orms_alert_by_the_orms_sql(plan, practitioner, django_assert_num_queries):
    journey, _ = plan
    CareTeamMemberFactory(patient=journey.patient, user=practitioner, role="lead")
    alerts = [
        Alert.objects.create(
            patient=journey.patient,
            journey=journey if n else None,
            reason=Alert.Reason.LOW_ADHERENCE,
            detail=f"<script>{n}</script> & more",
            opened_at=timezone.now() - timedelta(minutes=n),
            resolved_at=timezone.now() if n else None,  # one open alert a patient
            resolved_by=practitioner if n == 2 else None,
        )
        for n in range(3)
    ]
    for alert in alerts * 2:  # the second round from the SQL compiled in the first
        with CaptureQueriesContext(connection) as ours:
            read = alert_get_for(user=practitioner, pk=alert.pk, audit=False)
        with CaptureQueriesContext(connection) as orms:
            expected = _alert_queryset().get(pk=alert.pk)
        assert values(read) == values(expected)
        assert read.lead_name == practitioner.display_name
        assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]
        with django_assert_num_queries(0):
            assert read.patient.pk == journey.patient.pk and (read.journey is None) == (alert is alerts[0])
    with pytest.raises(Http404):
        alert_get_for(user=practitioner, pk=918_273_646)


def test_the_alert_pages_compiled_reads_are_the_orms(plan, practitioner):
    from compliance import selectors
    from compliance.models import CourseCorrection

    journey, _ = plan
    alert = Alert.objects.create(
        patient=journey.patient, journey=journey, reason=Alert.Reason.LOW_ADHERENCE, opened_at=timezone.now()
    )
    CourseCorrection.objects.create(
        alert=alert, practitioner=practitioner, change=CourseCorrection.Change.SIMPLIFIED, note="<b>&\"'"
    )
    since = alert.opened_at - timedelta(days=28)
    orm = {
        "others open": lambda: list(
            Alert.objects.filter(patient_id=alert.patient_id, resolved_at__isnull=True).exclude(pk=alert.pk)
        ),
        "corrections": lambda: list(selectors._corrections(alert=alert)),
        "outreach": lambda: list(selectors._outreach_query(alert.patient_id, since, 10)),
    }
    ours = {
        "others open": lambda: selectors.alert_others_open(alert),
        "corrections": lambda: selectors.alert_corrections(alert),
        "outreach": lambda: selectors.alert_outreach(alert, window_days=28),
    }
    for name in orm:
        for _ in range(2):
            with CaptureQueriesContext(connection) as mine:
                got = ours[name]()
            with CaptureQueriesContext(connection) as theirs:
                expected = orm[name]()
            assert got == expected and [vars(o) | {"_state": 0} for o in got] == [
                vars(o) | {"_state": 0} for o in expected
            ]
            assert [q["sql"] for q in mine.captured_queries] == [q["sql"] for q in theirs.captured_queries]
