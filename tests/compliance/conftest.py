from datetime import date, timedelta

import pytest
from django.utils import timezone

from compliance.models import CheckInAnswer, ComplianceLog
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage
from tests.factories import PatientFactory

MONDAY = date(2026, 11, 2)


@pytest.fixture
def plan(db, practitioner):
    """A patient at check-ins with a published plan of three items and no check-ins yet (built directly)."""
    patient = PatientFactory(first_name="Renée", last_name="Côté")
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=timezone.now()
    )
    items = [
        BlueprintItem.objects.create(blueprint=blueprint, kind=kind, title=title, position=i)
        for i, (kind, title) in enumerate(
            [("supplement", "Magnesium"), ("diet", "No gluten"), ("lifestyle", "Walk")]
        )
    ]
    return journey, items


def week(journey, due_on, statuses=None, *, missed=False):
    """A check-in due on ``due_on``: answered with ``statuses`` (one per item), missed, or left open."""
    checkin = CheckIn.objects.create(
        journey=journey,
        due_on=due_on,
        closes_at=timezone.now() + timedelta(days=1),
        status=CheckIn.Status.MISSED if missed else CheckIn.Status.SCHEDULED,
    )
    if statuses:
        items = list(BlueprintItem.objects.filter(blueprint__journey=journey).order_by("position"))
        answer = CheckInAnswer.objects.create(checkin=checkin, patient=journey.patient)
        for item, status in zip(items, statuses, strict=False):
            ComplianceLog.objects.create(
                answer=answer,
                checkin=checkin,
                item=item,
                status=status,
                paused_reason="travelling" if status == "paused" else "",
            )
        checkin.status = CheckIn.Status.ANSWERED
        checkin.answered_at = timezone.now()
        checkin.save()
    return checkin
