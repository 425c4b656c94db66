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


def domain_events_record_many(events: list[dict]) -> list[DomainEvent]:
    """``domain_event_record`` for many at once, in one statement (falter detection opens alerts in bulk)."""
    unknown = {event["name"] for event in events} - set(DomainEvent.Name.values)
    if unknown:
        raise ValueError(f"unknown domain event: {sorted(unknown)!r}")
    return DomainEvent.objects.bulk_create(
        DomainEvent(
            name=event["name"],
            patient_id=event.get("patient_id"),
            object_id=event.get("object_id"),
            data=event.get("data") or {},
        )
        for event in events
    )
