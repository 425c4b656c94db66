"""The one way to write the audit trail: ``record_access``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .models import AccessEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import User


def client_address(request: HttpRequest) -> str | None:
    """The address a request came from; X-Forwarded-For only when we sit behind our own proxy."""
    if settings.AUDIT_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def record_access(
    *,
    action: str,
    actor: User | None = None,
    patient_id: int | None = None,
    obj: models.Model | None = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    detail: str = "",
) -> AccessEvent:
    """Append one row to the audit trail: who did what to which patient's record, when and from where."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    event = AccessEvent(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label[:120],
        patient_id=patient_id,
        detail=detail[:255],
    )
    if obj is not None:
        event.object_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:200]
    if request is not None:
        event.ip_address = client_address(request)
        event.user_agent = request.META.get("HTTP_USER_AGENT", "")[:255]
        event.path = request.get_full_path()[:255]
    event.save()
    return event
