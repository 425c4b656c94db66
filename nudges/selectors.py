"""Reads of the outbox for pages and other apps. Each runs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from patients.models import Channel, Patient
from patients.selectors import patient_may_message

from .models import Heartbeat, InboundMessage, Kind, Nudge
from .timing import next_allowed_moment


def outbox(
    *,
    status: str = "",
    kind: str = "",
    channel: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Nudge]:
    """Nudges for the outbox page, newest first, with patient and author joined in the same query.

    Dates are days in the clinic's time zone and count the moment the nudge is (or was) due.
    """
    qs = Nudge.objects.select_related("patient", "created_by").defer("body_html")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if channel:
        qs = qs.filter(channel=channel)
    if date_from:
        qs = qs.filter(send_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(send_at__date__lte=date_to)
    return qs.order_by("-send_at", "-id")


def review_list() -> QuerySet[Nudge]:
    """Failed and unknown nudges nobody has looked at yet, oldest first."""
    return Nudge.objects.needs_review().select_related("patient").defer("body_html").order_by("send_at", "id")


@dataclass(frozen=True)
class ReviewCounts:
    failed: int
    unknown: int

    @property
    def total(self) -> int:
        return self.failed + self.unknown


def review_counts() -> ReviewCounts:
    """How many failed and unknown nudges wait for a person, in one query."""
    counts = Nudge.objects.needs_review().aggregate(
        failed=Count("pk", filter=Q(status=Nudge.Status.FAILED)),
        unknown=Count("pk", filter=Q(status=Nudge.Status.UNKNOWN)),
    )
    return ReviewCounts(failed=counts["failed"], unknown=counts["unknown"])


def nudge_for_review(*, pk: int) -> Nudge:
    """One nudge a person is about to send again or leave as it is (404 if absent)."""
    return get_object_or_404(Nudge.objects.only("pk", "patient_id", "status", "kind", "channel"), pk=pk)


def _future_requests(patient: Patient, now: datetime) -> QuerySet[Nudge]:
    return Nudge.objects.filter(
        patient=patient, kind=Kind.CHECKIN_REQUEST, status=Nudge.Status.PENDING, send_at__gt=now
    )


def patient_messages(patient: Patient, *, limit: int = 20, now: datetime | None = None) -> list[Nudge]:
    """The patient's most recent nudges, newest first, in one query whatever their history holds; the
    check-in requests still to come are left to ``patient_scheduled_requests``, which sums them up."""
    future = _future_requests(patient, now or timezone.now())
    return list(
        Nudge.objects.filter(patient=patient)
        .exclude(pk__in=future.values("pk"))
        .select_related("created_by")
        .defer("body_html")
        .order_by("-send_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class ScheduledRequests:
    """The check-in requests waiting to go to one patient, summed up: how many, the next, how often."""

    count: int
    next_at: datetime | None
    every_days: int | None  # days between the first two, when there are two

    @property
    def cadence(self) -> str:
        """“weekly”, “fortnightly”, “daily”, “every 10 days”, or nothing when it cannot be told."""
        if not self.every_days:
            return ""
        return {1: "daily", 7: "weekly", 14: "fortnightly"}.get(
            self.every_days, f"every {self.every_days} days"
        )


def patient_scheduled_requests(patient: Patient, *, now: datetime | None = None) -> ScheduledRequests:
    """The check-in requests still to be sent to the patient, soonest first: two queries."""
    future = _future_requests(patient, now or timezone.now())
    first_two = list(future.order_by("send_at", "id").values_list("send_at", flat=True)[:2])
    if not first_two:
        return ScheduledRequests(count=0, next_at=None, every_days=None)
    every = round((first_two[1] - first_two[0]) / timedelta(days=1)) if len(first_two) == 2 else None
    return ScheduledRequests(count=future.count(), next_at=first_two[0], every_days=every or None)


REPLY_FIELDS = ("pk", "patient_id", "channel", "received_at", "action", "auto_reply", "in_reply_to")


def patient_replies(patient: Patient, *, clinical: bool, limit: int = 20) -> list[InboundMessage]:
    """What the patient wrote back, newest first, in one query. Like their check-in words, the text itself
    is for clinical roles: for anyone else it is not even loaded (``body`` stays deferred and unread)."""
    replies = (
        InboundMessage.objects.filter(patient=patient)
        .select_related("in_reply_to")
        .only(*REPLY_FIELDS, "body", "in_reply_to__kind", "in_reply_to__sent_at")
        .order_by("-received_at", "-id")
    )
    if not clinical:
        replies = replies.defer("body")
    return list(replies[:limit])


@dataclass(frozen=True)
class Reach:
    channel: str
    label: str
    allowed: bool
    reason: str


def patient_reach(patient: Patient) -> list[Reach]:
    """Whether each channel can reach the patient now, and why not (no query for a patient loaded
    ``with_consent()``)."""
    result = []
    for channel in Channel:
        allowed, reason = patient_may_message(patient, channel.value)
        result.append(Reach(channel=channel.value, label=channel.label, allowed=allowed, reason=reason))
    return result


def quiet_hours_delay(patient: Patient, moment: datetime) -> datetime | None:
    """When a nudge due at ``moment`` will really go if it falls in the patient's quiet hours, else None."""
    later = next_allowed_moment(
        moment, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end
    )
    return later if later > moment else None


def heartbeats_fresh(*, now: datetime, stale_after: timedelta) -> dict[str, bool]:
    """For the worker and for beat: was it seen within ``stale_after`` of ``now``? One query."""
    seen = dict(Heartbeat.objects.values_list("component", "last_seen"))
    return {
        component: component in seen and now - seen[component] <= stale_after
        for component in Heartbeat.Component.values
    }
