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
