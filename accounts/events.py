"""The one way to record a domain event (``DomainEvent``): an id-only note of what a service just caused."""

from __future__ import annotations

from .models import DomainEvent


def domain_event_record(
    *, name: str, patient_id: int | None, object_id: int | None, data: dict | None = None
) -> DomainEvent:
    """Append one event in the caller's transaction: it exists exactly when the change it speaks of does.
    ``data`` holds ids and codes only (a stage, a status), never words anyone wrote."""
    if name not in DomainEvent.Name.values:
        raise ValueError(f"unknown domain event: {name!r}")
    return DomainEvent.objects.create(name=name, patient_id=patient_id, object_id=object_id, data=data or {})
