"""Reads of the outbox for pages and other apps. Each runs a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from patients.models import Channel, Patient
from patients.selectors import patient_may_message

from .models import Heartbeat, InboundMessage, Nudge
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


OUTBOX_CSV_HEADER = (
    "due (clinic time)", "status", "kind", "channel", "patient id", "patient", "subject", "sent (clinic time)",
    "attempts", "why", "written by",
)  # fmt: skip
EXPORT_CHUNK = 2_000


def _clinic_time(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def outbox_export(**filters: Any) -> tuple[list[int], Iterator[list]]:
    """The outbox as ``outbox(**filters)`` lists it, for a CSV: the patients it names (one query, for the audit
    trail before anything leaves) and its rows as they are read, ``EXPORT_CHUNK`` at a time. What was said and
    its links stay out: a message's body holds the patient's own check-in and unsubscribe links."""
    nudges = outbox(**filters).only(
        "send_at", "status", "kind", "channel", "patient_id", "subject", "sent_at", "attempts", "status_reason",
        "last_error", "patient__first_name", "patient__last_name", "patient__preferred_name",
        "created_by__display_name", "created_by__username",
    )  # fmt: skip
    patient_ids = list(nudges.order_by().values_list("patient_id", flat=True).distinct())

    def rows() -> Iterator[list]:
        yield list(OUTBOX_CSV_HEADER)
        for nudge in nudges.iterator(chunk_size=EXPORT_CHUNK):
            yield [
                _clinic_time(nudge.send_at),
                nudge.get_status_display(),
                nudge.get_kind_display(),
                nudge.get_channel_display(),
                nudge.patient_id,
                nudge.patient.display_name,
                nudge.subject,
                _clinic_time(nudge.sent_at),
                nudge.attempts,
                nudge.status_reason or nudge.last_error,
                str(nudge.created_by) if nudge.created_by else "",
            ]

    return patient_ids, rows()


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


def patient_messages(patient: Patient, *, limit: int = 20) -> list[Nudge]:
    """The patient's most recent nudges, newest first, in one query whatever their history holds."""
    return list(
        Nudge.objects.filter(patient=patient)
        .select_related("created_by")
        .defer("body_html")
        .order_by("-send_at", "-id")[:limit]
    )


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
