"""Reads of the outbox for pages and other apps."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from .models import Nudge


def outbox(
    *,
    status: str = "",
    kind: str = "",
    channel: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Nudge]:
    qs = Nudge.objects.select_related("patient", "created_by")
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
    return Nudge.objects.needs_review().select_related("patient").order_by("send_at", "id")


def patient_messages(patient, *, limit: int = 20) -> list[Nudge]:
    return list(
        Nudge.objects.filter(patient=patient).select_related("created_by").order_by("-send_at", "-id")[:limit]
    )
