"""Workers that survive their broker: a private redis-server is killed under a running worker and beat,
started as the Procfile starts them, and restarted. The worker keeps running, and nudges go out again within
a minute of Redis returning, with no restart and nobody acting. Each send is counted by a recording backend.

What used to kill the worker was not its pool but the messages it held unacknowledged (late acks, prefetch):
kombu 5.7's Redis transport, dropping the lost connection, tried to restore them and died with
``Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")`` — under prefork and
threads alike. ``ALLIANCE_TEST_WORKER_POOL=threads`` runs this test with another pool to show it.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from nudges.models import Heartbeat, Kind, Nudge
from patients import services as patient_services
from tests.conftest import require
from tests.factories import PatientFactory
from tests.support.processes import (
    ROOT,
    free_port,
    procfile_command,
    shared_database_url,
    spawn,
    start_redis,
    stop,
    wait_for,
)
from tests.support.recording_backend import read_lines

pytestmark = pytest.mark.integration

RECORDING_BACKEND = "tests.support.recording_backend.RecordingEmailBackend"
HONCHO_KILL_WAIT = 5  # seconds honcho waits after SIGTERM before it sends SIGKILL


def pool_of(command: list[str]) -> str:
    return next(word.split("=", 1)[1] for word in command if word.startswith("--pool="))


def worker_command(name: str) -> list[str]:
    command = [*procfile_command("worker"), "-n", f"{name}@%h"]
    if override := os.environ.get("ALLIANCE_TEST_WORKER_POOL"):
        command = [f"--pool={override}" if word.startswith("--pool=") else word for word in command]
    return command


def due_email_nudges(count: int, *, run: str) -> list[int]:
    """``count`` nudges due now for patients whose one-minute quiet hours are twelve hours away."""
    quiet = (timezone.now() + timedelta(hours=12)).replace(second=0, microsecond=0)
    people = []
    for _ in range(5):
        patient = PatientFactory(
            time_zone="UTC",
            quiet_hours_start=quiet.time(),
            quiet_hours_end=(quiet + timedelta(minutes=1)).time(),
        )
        patient_services.consent_record(patient=patient, channel="email", granted=True, via="test")
        people.append(patient)
    nudges = Nudge.objects.bulk_create(
        Nudge(
            patient=people[i % len(people)],
            kind=Kind.CHECKIN_REQUEST,
            channel="email",
            send_at=timezone.now() - timedelta(seconds=1),
            dedupe_key=f"outage:{run}:{i}",
            context={"checkin_url": f"https://crm.example/c/{run}-{i}/"},
        )
        for i in range(count)
    )
    return [nudge.pk for nudge in nudges]


def recorded(record: Path) -> Counter:
    return Counter(int(line.split()[0]) for line in read_lines(record))


def test_the_procfile_and_compose_run_the_same_pool_one_that_applies_time_limits():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]["command"]
    assert pool_of(procfile_command("worker")) == pool_of(compose) == "prefork"


def test_a_worker_survives_a_redis_outage_and_sends_again_when_it_returns(
    postgres, transactional_db, tmp_path
):
    require("redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server")
    port = free_port()
    record = tmp_path / "sent.log"
    (tmp_path / "var").mkdir()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
        "DATABASE_URL": shared_database_url(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "DJANGO_EMAIL_BACKEND": RECORDING_BACKEND,
        "RECORDING_EMAIL_FILE": str(record),
        "RECORDING_EMAIL_DELAY": "0.3",  # a dispatch pass is still sending when Redis goes away
        "ALLIANCE_VAR_DIR": str(tmp_path / "var"),
        "NUDGE_DISPATCH_SECONDS": "2",
        "NUDGE_WEEKLY_BUDGET": "0",  # many messages to few patients: the weekly budget is not the point here
        "CELERY_HEARTBEAT_SECONDS": "2",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    run = uuid.uuid4().hex[:8]
    before = due_email_nudges(30, run=f"{run}-before")
    redis_log, worker_log, beat_log = tmp_path / "redis.log", tmp_path / "worker.log", tmp_path / "beat.log"
    processes = []
    try:
        broker = start_redis(port, tmp_path, redis_log)
        processes.append(broker)
        worker = spawn(worker_command(f"outage-{run}"), env, worker_log)
        beat = spawn(procfile_command("beat"), env, beat_log)
        processes += [worker, beat]
        assert wait_for(lambda: len(read_lines(record)) >= 3, 120), worker_log.read_text()

        broker.send_signal(signal.SIGKILL)  # mid-pass: tasks are running and the broker vanishes
        broker.wait(timeout=10)
        # The pass under way needs no broker: it finishes its batch. Then nothing can start another.
        finished = wait_for(lambda: set(recorded(record)) >= set(before), 60, interval=0.5)
        assert finished, f"the running pass did not finish:\n{worker_log.read_text()[-6000:]}"
        during = due_email_nudges(10, run=f"{run}-during")  # due while nothing can be queued
        time.sleep(8)
        assert worker.poll() is None, (
            f"the worker exited during the outage:\n{worker_log.read_text()[-6000:]}"
        )
        assert not set(recorded(record)) & set(during), "sent with no broker: the test proves nothing"

        processes.append(start_redis(port, tmp_path, redis_log))  # back, and empty
        back = time.monotonic()
        returned_at = timezone.now()
        all_sent = wait_for(lambda: set(recorded(record)) >= set(during), 90, interval=0.5)
        took = time.monotonic() - back
        assert all_sent, f"not all sent {took:.0f} s after Redis returned:\n{worker_log.read_text()[-6000:]}"
        assert took <= 60, f"sent only {took:.0f} s after Redis returned"
        assert worker.poll() is None and beat.poll() is None, (
            "nobody restarted them: they are the same processes"
        )
        resumed = wait_for(
            lambda: Heartbeat.objects.filter(component="worker", last_seen__gte=returned_at).exists(), 30
        )
        assert resumed, f"the worker's heartbeat did not resume:\n{beat_log.read_text()[-4000:]}"
    finally:
        for process in processes[::-1]:
            stop(process)

    everything = before + during
    assert recorded(record) == Counter(dict.fromkeys(everything, 1))  # each exactly once
    assert set(Nudge.objects.filter(pk__in=everything).values_list("status", flat=True)) == {"sent"}
    assert "Unrecoverable error" not in worker_log.read_text()


def test_a_procfile_worker_on_redis_stops_before_honcho_would_kill_it(postgres, transactional_db, tmp_path):
    """honcho sends SIGTERM to each process group on Ctrl-C and SIGKILL 5 s later. (On the embedded
    filesystem broker the same worker needs 5–7 s on a busy machine: see the README.)"""
    require("redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server")
    port = free_port()
    (tmp_path / "var").mkdir()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
        "DATABASE_URL": shared_database_url(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "ALLIANCE_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    broker = start_redis(port, tmp_path, tmp_path / "redis.log")
    worker = spawn(worker_command(f"stop-{uuid.uuid4().hex[:6]}"), env, log)
    try:
        assert wait_for(lambda: "ready." in log.read_text(), 120), log.read_text()
        time.sleep(3)  # warm: the pool's children are up and idle
        signalled = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        took = time.monotonic() - signalled
    finally:
        stop(worker, signal.SIGKILL)
        stop(broker)
    assert worker.returncode == 0, log.read_text()[-3000:]
    assert took < HONCHO_KILL_WAIT, f"took {took:.1f} s to stop: honcho would have killed it"
