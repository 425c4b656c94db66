"""``/healthz``: database, broker, and the worker's and beat's heartbeats — ok, down or stale, never why."""

from datetime import timedelta

import pytest
from django.utils import timezone

from nudges import services
from nudges.beat import Scheduler
from nudges.models import Heartbeat
from nudges.tasks import heartbeat

pytestmark = pytest.mark.django_db

ALL_OK = {"status": "ok", "database": "ok", "broker": "ok", "worker": "ok", "beat": "ok"}


def seen(component: str, ago: timedelta = timedelta(0)) -> None:
    services.heartbeat_record(component=component, now=timezone.now() - ago)


@pytest.fixture
def fresh():
    seen("worker", timedelta(seconds=20))
    seen("beat", timedelta(seconds=5))


def test_healthz_answers_200_when_everything_answers_and_both_heartbeats_are_fresh(client, fresh):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == ALL_OK
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.parametrize("component", ["worker", "beat"])
def test_healthz_answers_503_when_a_heartbeat_is_stale(client, fresh, settings, component):
    settings.HEALTH_HEARTBEAT_STALE_SECONDS = 180
    seen(component, timedelta(seconds=181))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == ALL_OK | {"status": "down", component: "stale"}


def test_a_heartbeat_just_inside_the_limit_is_fresh(client, fresh, settings):
    settings.HEALTH_HEARTBEAT_STALE_SECONDS = 180
    seen("worker", timedelta(seconds=170))
    assert client.get("/healthz").status_code == 200


def test_healthz_answers_503_when_worker_and_beat_were_never_seen(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == ALL_OK | {"status": "down", "worker": "stale", "beat": "stale"}


def test_healthz_answers_503_when_the_broker_is_unreachable(client, fresh, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == ALL_OK | {"status": "down", "broker": "down"}


def test_healthz_says_nothing_about_why(client, settings):
    settings.CELERY_BROKER_URL = "redis://:secret@127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    seen("worker", timedelta(days=3))
    body = client.get("/healthz").content.decode()
    assert "secret" not in body and "Error" not in body
    assert set(client.get("/healthz").json().values()) <= {"ok", "down", "stale"}  # no timestamps either


def test_the_worker_heartbeat_task_writes_worker_last_seen():
    heartbeat.apply()  # what a worker runs when beat sends it
    (row,) = Heartbeat.objects.all()
    assert row.component == "worker"
    assert timezone.now() - row.last_seen < timedelta(seconds=5)


@pytest.mark.django_db(
    transaction=True
)  # beat closes its connection around each write, as a process of its own
def test_beat_writes_beat_last_seen_as_it_schedules(tmp_path, monkeypatch):
    from alliance_crm.celery import app

    monkeypatch.setattr(Scheduler, "apply_entry", lambda self, entry, producer=None: None)
    scheduler = Scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    scheduler.__dict__["producer"] = None  # nothing reaches the broker from this test
    try:
        delay = scheduler.tick()
        first = Heartbeat.objects.get(component="beat").last_seen
        scheduler.tick()  # within 15 s of the last write: no second write
        assert Heartbeat.objects.get(component="beat").last_seen == first
    finally:
        scheduler.close()
    assert timezone.now() - first < timedelta(seconds=5)
    assert delay <= 15, "beat must wake often enough to keep its heartbeat fresh"


def test_a_second_worker_writing_the_same_heartbeat_does_not_fail():
    seen("worker", timedelta(seconds=30))
    seen("worker")
    assert Heartbeat.objects.filter(component="worker").count() == 1
