"""Writes of the API floor: API keys (created, revoked, used) and webhooks (fan-out, claim, delivery)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import record_access, record_export
from accounts.models import AccessEvent, DomainEvent, User

from .models import ApiKey, Scope, WebhookAttempt, WebhookCursor, WebhookDelivery, WebhookEndpoint
from .selectors import api_key_usable, fhir_patient_id_chunks

KEY_START = "ak_"
LAST_USED_RESOLUTION = timedelta(seconds=60)  # last_used_at is written at most once a minute per key


def key_hash(raw: str) -> str:
    """Keys are 32 random bytes: a plain SHA-256 is as strong as a slow hash here, and cheap per call."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationError(f"Unknown scope(s): {', '.join(unknown)}.")
    if not scopes:
        raise ValidationError("Choose at least one thing the key may do.")
    return [scope for scope in Scope.values if scope in scopes]


@transaction.atomic
def api_key_create(*, actor: User, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Make a key with these scopes; return it and the key itself, which is never stored and never shown
    again (only its SHA-256 is kept). Admins only."""
    if not (actor.is_active and actor.is_admin):
        raise ValidationError("Only an admin creates API keys.")
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Name the system that will use the key.")
    prefix = secrets.token_hex(4)
    raw = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name, prefix=prefix, hashed=key_hash(raw), scopes=_clean_scopes(scopes), created_by=actor
    )
    record_access(
        action=AccessEvent.Action.CREATE, actor=actor, obj=key, detail=f"scopes: {' '.join(key.scopes)}"
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    """Stop a key at once: every later call with it is answered 401. Revoking twice changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = timezone.now(), actor
        key.save(update_fields=["revoked_at", "revoked_by"])
        record_access(action=AccessEvent.Action.UPDATE, actor=actor, obj=key, detail="API key revoked")
    return key


def api_key_authenticate(raw: str, *, now: datetime | None = None) -> ApiKey | None:
    """The usable key ``raw`` is, or None (unknown, malformed or revoked); notes when it was last used."""
    if not raw.startswith(KEY_START) or raw.count("_") < 2:
        return None
    prefix = raw[len(KEY_START) :].split("_", 1)[0]
    key = api_key_usable(prefix)
    if key is None or not hmac.compare_digest(key.hashed, key_hash(raw)):
        return None
    now = now or timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_rate_limited(key: ApiKey, *, now: float | None = None) -> bool:
    """Whether this call is past the key's allowance for the current minute (``API_RATE_PER_MINUTE``).
    Counted in the cache: shared by every web process when ``DJANGO_CACHE_URL`` is Redis."""
    minute = int((now if now is not None else time.time()) // 60)
    name = f"api-rate:{key.pk}:{minute}"
    cache.add(name, 0, timeout=120)
    try:
        calls = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, timeout=120)
        calls = 1
    return calls > settings.API_RATE_PER_MINUTE


# --- Webhooks ------------------------------------------------------------------------------------------

# Events committed out of id order (a long transaction took a lower id) are still seen: each fan-out also
# rereads the events of the last LOOKBACK, and a delivery is unique per endpoint and event.
LOOKBACK = timedelta(minutes=10)
FAN_OUT_BATCH = 2_000
CLAIM_BATCH = 50
SIGNATURE_HEADER = "X-Alliance-Signature"


@transaction.atomic
def webhook_endpoint_create(*, actor: User, name: str, url: str, events: list[str]) -> WebhookEndpoint:
    """Register an HTTPS endpoint for these events, with a new signing secret (shown to the admin once)."""
    unknown = sorted(set(events) - set(DomainEvent.Name.values))
    if unknown or not events:
        raise ValidationError("Choose one or more of the events listed.")
    endpoint = WebhookEndpoint(
        name=" ".join((name or "").split()),
        url=url,
        events=events,
        secret=secrets.token_hex(32),
        created_by=actor,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhooks_fan_out(*, now: datetime | None = None) -> int:
    """One delivery row per new event and active endpoint that listens for it (events after the endpoint
    was registered); return how many were made. Safe to run twice at once: the cursor row is locked and a
    delivery is unique per endpoint and event."""
    now = now or timezone.now()
    WebhookCursor.objects.get_or_create(pk=1)
    with transaction.atomic():
        cursor = WebhookCursor.objects.select_for_update().get(pk=1)
        fresh = list(DomainEvent.objects.filter(pk__gt=cursor.last_event_id).order_by("pk")[:FAN_OUT_BATCH])
        late = list(DomainEvent.objects.filter(pk__lte=cursor.last_event_id, at__gte=now - LOOKBACK))
        endpoints = list(WebhookEndpoint.objects.filter(active=True))
        rows = [
            WebhookDelivery(endpoint=endpoint, event=event, event_name=event.name, next_attempt_at=now)
            for event in late + fresh
            for endpoint in endpoints
            if event.name in endpoint.events and event.at >= endpoint.created_at
        ]
        existing = set(
            WebhookDelivery.objects.filter(event_id__in=[row.event.pk for row in rows]).values_list(
                "endpoint_id", "event_id"
            )
        )
        rows = [row for row in rows if (row.endpoint.pk, row.event.pk) not in existing]
        made = WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)  # another fan-out's: skipped
        if fresh:
            cursor.last_event_id = fresh[-1].pk
            cursor.save(update_fields=["last_event_id"])
    return len(made)


def webhook_claim_due(*, now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim due deliveries (pending → sending) for this dispatcher alone; return their ids. On PostgreSQL
    the candidates are locked with SKIP LOCKED, so two dispatchers take disjoint rows; the UPDATE is
    conditional on the row still being pending everywhere."""
    now = now or timezone.now()
    with transaction.atomic():
        candidates = WebhookDelivery.objects.due(now).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.SENDING, claimed_at=now
        )
        return list(
            WebhookDelivery.objects.filter(
                pk__in=ids, status=WebhookDelivery.Status.SENDING, claimed_at=now
            ).values_list("pk", flat=True)
        )


def payload_of(delivery: WebhookDelivery) -> dict:
    """What a delivery says: the event's name, when it happened and ids only — never clinical text."""
    event = delivery.event
    return {
        "delivery_id": delivery.pk,
        "event": event.name,
        "occurred_at": event.at.isoformat(),
        "patient_id": event.patient_id,
        "object_id": event.object_id,
        "data": event.data,
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``: what the receiver recomputes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer we do not follow: it counts as a failed try


_opener = urllib.request.build_opener(_NoRedirects)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … after each failed try, at most an hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class Outcome:
    status_code: int | None
    error: str


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, body: bytes) -> Outcome:
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 — an https:// address an admin registered
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Alliance-CRM-Webhooks/1",
            "X-Alliance-Event": delivery.event_name,
            "X-Alliance-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature(endpoint.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return Outcome(response.status, "")
    except urllib.error.HTTPError as error:
        return Outcome(error.code, f"answered {error.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return Outcome(None, str(getattr(error, "reason", error))[:255] or error.__class__.__name__)


def webhook_deliver(*, delivery_id: int, now: datetime | None = None) -> str:
    """Make one try of a delivery this dispatcher claimed, log it, and settle the row: delivered on a 2xx,
    back to pending with backoff on anything else, failed after ``WEBHOOK_MAX_ATTEMPTS`` tries. Return the
    new status (or "" when the row was not ours)."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.SENDING)
        .first()
    )
    if delivery is None:
        return ""
    # Taken: the try is counted before the request leaves, under the claim this dispatcher holds.
    taken = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.SENDING, claimed_at=delivery.claimed_at
    ).update(attempts=F("attempts") + 1)
    if taken != 1:
        return ""
    delivery.attempts += 1
    body = json.dumps(payload_of(delivery), separators=(",", ":"), sort_keys=True).encode()
    started = time.monotonic()
    outcome = _post(delivery.endpoint, delivery, body)
    now = now or timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    fields: dict = {"claimed_at": None, "last_error": outcome.error}
    if outcome.status_code is not None and 200 <= outcome.status_code < 300:
        fields |= {"status": WebhookDelivery.Status.DELIVERED, "delivered_at": now}
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields |= {"status": WebhookDelivery.Status.FAILED}
    else:
        fields |= {
            "status": WebhookDelivery.Status.PENDING,
            "next_attempt_at": now + backoff(delivery.attempts),
        }
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.SENDING).update(**fields)
    return fields["status"]


def webhooks_reconcile(*, now: datetime | None = None) -> int:
    """A claim older than the lease (its dispatcher died mid-request) becomes ``unknown``: the receiver may
    have it, so it is never resent by itself; an admin resends it from the delivery log."""
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING,
        claimed_at__lt=now - timedelta(seconds=settings.WEBHOOK_SENDING_LEASE_SECONDS),
    ).update(status=WebhookDelivery.Status.UNKNOWN, last_error="the dispatcher stopped during the request")


def webhook_resend(*, delivery: WebhookDelivery) -> bool:
    """Send a failed or unknown delivery again, at once (an admin's choice from the delivery log)."""
    return (
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.UNKNOWN]
        ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), claimed_at=None)
        == 1
    )


@dataclass
class DispatchReport:
    fanned_out: int = 0
    unknown: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def webhooks_dispatch_due(*, now: datetime | None = None) -> DispatchReport:
    """What beat runs: fan new events out, mark stuck claims unknown, then claim and try what is due."""
    report = DispatchReport(fanned_out=webhooks_fan_out(now=now), unknown=webhooks_reconcile(now=now))
    for delivery_id in webhook_claim_due(now=now):
        status = webhook_deliver(delivery_id=delivery_id)
        if status == WebhookDelivery.Status.DELIVERED:
            report.delivered += 1
        elif status == WebhookDelivery.Status.PENDING:
            report.retrying += 1
        elif status == WebhookDelivery.Status.FAILED:
            report.failed += 1
    return report


def fhir_export_record(*, patient_ids: list[int] | None, what: str) -> None:
    """The export's rows on the audit trail, written before anything leaves: the ids of every patient in it
    (``None``: every patient — their ids are read here in id order, one row per 5,000)."""
    ids = (
        patient_ids
        if patient_ids is not None
        else [pk for chunk in fhir_patient_id_chunks(5_000) for pk in chunk]
    )
    record_export(patient_ids=ids, what=what)
