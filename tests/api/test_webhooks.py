"""Webhooks: the services note domain events; deliveries are signed, retried on 500 with backoff, never sent
twice by two dispatchers, and the delivery log shows each try."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import DomainEvent
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.services import (
    webhook_claim_due,
    webhook_endpoint_create,
    webhooks_dispatch_due,
    webhooks_fan_out,
    webhooks_reconcile,
)
from journeys.services.inquiries import inquiry_receive
from journeys.services.stages import journey_move
from journeys.services.visits import visit_cancel, visit_schedule
from tests.factories import PatientFactory


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers each request with the next code of ``codes`` (then 200)."""

    def __init__(self, codes=()):
        self.codes = list(codes)
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(codes=()):
        made.append(Receiver(codes))
        return made[-1]

    yield make
    for r in made:
        r.close()


def endpoint_for(url, events=("inquiry.received",), since=timedelta(minutes=1)):
    # Registered directly: the admin form accepts https:// only, and the test server speaks plain HTTP.
    return WebhookEndpoint.objects.create(
        name="Zapier",
        url=url,
        events=list(events),
        secret="s3cret",
        created_at=timezone.now() - since,
    )


def inquire(email="ada@example.com"):
    return inquiry_receive(
        data={"first_name": "Ada", "last_name": "Byron", "email": email},
        ip_address=None,
        user_agent="",
        limit_by_address=False,
    )


def test_the_services_note_their_events_with_ids_only(db, staff):
    inquiry = inquire()
    journey = inquiry.journey
    journey_move(journey=journey, to_stage="discovery", actor=staff)
    names = list(DomainEvent.objects.values_list("name", flat=True))
    assert names == ["stage.changed", "inquiry.received", "stage.changed"]
    event = DomainEvent.objects.filter(name="inquiry.received").get()
    assert event.data == {"inquiry_id": inquiry.pk, "journey_id": journey.pk}


def test_booking_and_cancelling_note_their_events(db, staff, practitioner):
    from journeys.models import WorkingHours

    patient = PatientFactory()
    starts = timezone.localtime() + timedelta(days=2)
    starts = starts.replace(hour=10, minute=0, second=0, microsecond=0)
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=starts.weekday(), starts="08:00", ends="18:00"
    )
    visit = visit_schedule(
        patient=patient, practitioner=practitioner, kind="follow_up", starts_at=starts, actor=staff
    )
    visit_cancel(visit=visit, actor=staff)
    assert list(DomainEvent.objects.values_list("name", "object_id")) == [
        ("visit.booked", visit.pk),
        ("visit.cancelled", visit.pk),
    ]


def test_a_delivery_is_signed_over_timestamp_and_body_and_carries_no_text(db, receiver):
    server = receiver()
    endpoint_for(server.url)
    inquiry = inquire()
    report = webhooks_dispatch_due()
    assert report.delivered == 1
    ((headers, body),) = server.requests
    timestamp, mac = (part.split("=", 1)[1] for part in headers["X-Alliance-Signature"].split(","))
    expected = hmac.new(b"s3cret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    payload = json.loads(body)
    assert payload["event"] == "inquiry.received" == headers["X-Alliance-Event"]
    assert payload["data"]["inquiry_id"] == inquiry.pk
    assert "Ada" not in body.decode() and "ada@example.com" not in body.decode()


def test_a_delivery_is_retried_on_500_with_backoff_and_the_log_shows_each_try(db, receiver):
    server = receiver(codes=[500, 503])
    endpoint_for(server.url)
    inquire()
    webhooks_dispatch_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert webhooks_dispatch_due().delivered == 0  # not due yet: nothing sent
    later = timezone.now() + timedelta(minutes=1)
    webhooks_dispatch_due(now=later)
    webhooks_dispatch_due(now=later + timedelta(minutes=2))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [t.status_code for t in WebhookAttempt.objects.filter(delivery=delivery)] == [500, 503, 200]
    assert len(server.requests) == 3
    assert len({h["X-Alliance-Delivery"] for h, _ in server.requests}) == 1


def test_it_gives_up_after_the_last_attempt(db, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    server = receiver(codes=[500, 500, 500])
    endpoint_for(server.url)
    inquire()
    webhooks_dispatch_due()
    webhooks_dispatch_due(now=timezone.now() + timedelta(hours=1))
    assert WebhookDelivery.objects.get().status == "failed"
    assert len(server.requests) == 2


def test_an_unreachable_endpoint_is_a_failed_try(db):
    endpoint_for("http://127.0.0.1:9/nothing-listens")
    inquire()
    webhooks_dispatch_due()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and attempt.error


def test_a_claimed_delivery_is_not_claimed_again_and_a_stale_claim_becomes_unknown(db, receiver):
    endpoint_for(receiver().url)
    inquire()
    webhooks_fan_out()
    assert len(webhook_claim_due()) == 1
    assert webhook_claim_due() == []
    assert webhooks_reconcile(now=timezone.now() + timedelta(minutes=5)) == 1
    assert WebhookDelivery.objects.get().status == "unknown"


def test_only_the_events_an_endpoint_chose_and_only_since_it_was_registered(db, receiver, admin_user):
    inquire("old@example.com")
    endpoint = webhook_endpoint_create(
        actor=admin_user, name="Site", url="https://hooks.example.com/in", events=["alert.opened"]
    )
    assert endpoint.secret and len(endpoint.secret) == 64
    endpoint_for(receiver().url, events=["stage.changed"], since=timedelta(0))
    inquire("new@example.com")
    assert webhooks_fan_out() == 1  # the new journey's stage change, for the second endpoint only
    assert webhooks_fan_out() == 0  # and never twice


def test_registration_needs_https(db, admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        webhook_endpoint_create(
            actor=admin_user, name="Plain", url="http://hooks.example.com", events=["visit.booked"]
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_send_a_delivery_twice(postgres, receiver):
    server = receiver()
    endpoint_for(server.url)
    for n in range(30):
        inquire(f"p{n}@example.com")
    webhooks_fan_out()
    start = threading.Barrier(2)

    def dispatcher():
        start.wait()
        try:
            webhooks_dispatch_due()
        finally:
            close_old_connections()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    webhooks_dispatch_due()  # whatever a batch limit left
    ids = [h["X-Alliance-Delivery"] for h, _ in server.requests]
    assert len(ids) == len(set(ids)) == WebhookDelivery.objects.count() == 30
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
