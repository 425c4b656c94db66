"""Today: what the clinic needs to see this morning, read across apps in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.models import User
from compliance.models import Alert
from journeys.models import CheckIn, Inquiry, Visit
from nudges.models import Nudge
from patients.selectors import patient_list

SHOWN = 10
VISITS_SHOWN = 50
COUNT_CAP = 1_000  # "1,000+" is all Today needs to say about a long list


@dataclass
class Today:
    day: datetime
    visits: list
    visit_count: int
    alerts: list
    alert_count: int
    without_lead: list
    without_lead_count: int
    to_review: int
    inquiries: list
    inquiry_count: int
    checkins_answered_today: int
    checkins_due_today: int

    @property
    def patient_ids(self) -> list[int]:
        """Every patient the page names, from the rows it already holds."""
        return [
            *(visit.patient_id for visit in self.visits),
            *(alert.patient_id for alert in self.alerts),
            *(patient.pk for patient in self.without_lead),
            *(inquiry.patient_id for inquiry in self.inquiries if inquiry.patient_id is not None),
        ]


def today_for(user: User, *, now: datetime | None = None) -> Today:
    now = now or timezone.now()
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    end = start + timedelta(days=1)

    day_visits = Visit.objects.filter(starts_at__gte=start, starts_at__lt=end).exclude(
        status=Visit.Status.CANCELLED
    )
    order: list = ["starts_at", "pk"]
    if getattr(user, "is_practitioner", False):  # a practitioner's own visits first
        order.insert(0, Case(When(practitioner_id=user.pk, then=Value(0)), default=Value(1)))
    visits = list(day_visits.select_related("patient", "practitioner").order_by(*order)[:VISITS_SHOWN])

    alerts = Alert.objects.filter(resolved_at__isnull=True).select_related("patient").order_by("opened_at")
    without_lead = patient_list(lead_id=0).order_by("created_at")
    week_ago = now - timedelta(days=7)
    inquiries = (
        Inquiry.objects.filter(received_at__gte=week_ago).select_related("patient").order_by("-received_at")
    )
    return Today(
        day=local,
        visits=visits,
        visit_count=len(visits) if len(visits) < VISITS_SHOWN else day_visits[: COUNT_CAP + 1].count(),
        alerts=list(alerts[:SHOWN]),
        alert_count=alerts.count(),
        without_lead=list(without_lead[:SHOWN]),
        without_lead_count=without_lead[: COUNT_CAP + 1].count(),
        to_review=Nudge.objects.needs_review()[: COUNT_CAP + 1].count(),
        inquiries=list(inquiries[:SHOWN]),
        inquiry_count=inquiries.count(),
        checkins_answered_today=CheckIn.objects.filter(answered_at__gte=start, answered_at__lt=end).count(),
        checkins_due_today=CheckIn.objects.filter(due_on=local.date()).count(),
    )


__all__ = ["Today", "today_for"]
