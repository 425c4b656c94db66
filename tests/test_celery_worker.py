"""A real Celery worker process against the configured broker (Redis in CI) runs a task we queue."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from alliance_crm.celery import app
from nudges.tasks import heartbeat
from tests.conftest import IN_CI, redis_available

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


@pytest.fixture
def broker_url():
    url = settings.CELERY_BROKER_URL
    if IN_CI:
        assert redis_available(url), f"CI must run the worker on Redis, not {url.split('://')[0]}"
    return url


def start_worker(queue: str, log: Path):
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "alliance_crm.settings"}
    command = [
        sys.executable, "-m", "celery", "-A", "alliance_crm", "worker",
        "--pool=solo", "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-Q", queue, "-n", f"{queue}@%h",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_real_worker_runs_a_queued_task(broker_url, tmp_path):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    worker = start_worker(queue, log)
    try:
        assert wait_for(lambda: "ready." in log.read_text(), 60), log.read_text()
        # A built-in task that needs no database: this proves the worker and broker, nothing else.
        result = app.tasks["celery.accumulate"].apply_async(args=(2, 3), queue=queue)
        ran = wait_for(lambda: f"celery.accumulate[{result.id}] succeeded" in log.read_text(), 30)
        assert ran, log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def test_beat_schedules_the_heartbeat():
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["task"] == heartbeat.name
    assert entry["schedule"] <= 60
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit
    assert app.conf.beat_scheduler == "nudges.beat:Scheduler"  # which writes beat's own heartbeat
