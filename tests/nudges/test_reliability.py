"""The outbox under real failure: racing dispatchers, a worker killed mid-send, a broker that goes away.

Every test here shares its database with other processes, so it runs on PostgreSQL only (it skips on
SQLite locally and fails in CI). Sends go through ``tests.support.recording_backend``, which writes one
fsynced line per message, so the file says exactly what left — even from a process killed with SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import kombu
import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from alliance_crm.celery import app
from nudges import services, tasks
from nudges.models import Kind, Nudge
from patients import services as patient_services
from tests.conftest import require
from tests.factories import PatientFactory
from tests.support.recording_backend import read_lines

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_weekly_budget(settings):
    """These tests send many check-in requests to a few patients: the weekly budget is tested elsewhere."""
    settings.NUDGE_WEEKLY_BUDGET = 0


ROOT = Path(__file__).resolve().parents[2]
RECORDING_BACKEND = "tests.support.recording_backend.RecordingEmailBackend"
UNFINISHED = [Nudge.Status.PENDING, Nudge.Status.SENDING]


# --- Helpers --------------------------------------------------------------------------------------


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def shared_database_url() -> str:
    """The URL of the test database pytest-django made, for processes that must share it."""
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "postgres", safe="")
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def child_env(tmp_path: Path, record: Path, **extra: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
            "DATABASE_URL": shared_database_url(),
            "DJANGO_EMAIL_BACKEND": RECORDING_BACKEND,
            "RECORDING_EMAIL_FILE": str(record),
            "ALLIANCE_VAR_DIR": str(tmp_path / "var"),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "NUDGE_WEEKLY_BUDGET": "0",  # many check-in requests per patient: the budget is not the point here
        }
        | extra
    )


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a process in its own group, so that it and any children can be stopped together."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def stop_all(processes: list[subprocess.Popen]) -> None:
    """Ask politely (a worker acks what it finished), then kill whatever is left."""
    for process in processes:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(process)


def start_worker(
    queue: str, env: dict[str, str], log: Path, *, pool: str = "threads", concurrency: int = 2
) -> subprocess.Popen:
    """A real worker; ``--pool=prefork`` where Celery's time limits must apply (threads ignore them)."""
    command = [
        sys.executable, "-m", "celery", "-A", "alliance_crm", "worker",
        f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip
    return spawn(command, env, log)


def wait_until_ready(worker: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    ready = wait_for(lambda: "ready." in log.read_text() or worker.poll() is not None, timeout)
    assert ready and worker.poll() is None, f"the worker did not start:\n{log.read_text()}"


def reachable_patients(count: int) -> list:
    """Patients with email consent whose (one-minute) quiet hours are twelve hours away from now."""
    quiet = (timezone.now() + timedelta(hours=12)).replace(second=0, microsecond=0)
    patients = []
    for _ in range(count):
        patient = PatientFactory(
            time_zone="UTC",
            quiet_hours_start=quiet.time(),
            quiet_hours_end=(quiet + timedelta(minutes=1)).time(),
        )
        patient_services.consent_record(patient=patient, channel="email", granted=True, via="test")
        patients.append(patient)
    return patients


def due_email_nudges(count: int, *, patients: int = 10) -> list[int]:
    """``count`` nudges due a minute ago, written straight to the outbox (nothing is queued)."""
    people = reachable_patients(patients)
    run = uuid.uuid4().hex[:8]
    send_at = timezone.now() - timedelta(minutes=1)
    nudges = Nudge.objects.bulk_create(
        Nudge(
            patient=people[i % len(people)],
            kind=Kind.CHECKIN_REQUEST,
            channel="email",
            send_at=send_at,
            dedupe_key=f"reliability:{run}:{i}",
            context={"checkin_url": f"https://crm.example/c/{i}/"},
        )
        for i in range(count)
    )
    return [nudge.pk for nudge in nudges]


def recorded(record: Path) -> Counter:
    """How many times each nudge id left through the recording backend."""
    return Counter(int(line.split()[0]) for line in read_lines(record))


def statuses(ids: list[int]) -> dict[int, str]:
    return dict(Nudge.objects.filter(pk__in=ids).values_list("pk", "status"))


@pytest.fixture
def recording_mailer(settings, tmp_path):
    """This process sends through the recording backend too, into the file the subprocesses use."""
    record = tmp_path / "sent.log"
    settings.MAILERS = {"default": {"BACKEND": RECORDING_BACKEND, "OPTIONS": {"path": str(record)}}}
    return record


@contextmanager
def celery_broker(url: str):
    """Point this process's Celery app at another broker, dropping pooled connections both ways.

    Celery reads ``CELERY_BROKER_URL`` from the environment before its configuration, so both change.
    """

    def reset_pools():
        kombu.pools.reset()  # closes and forgets every pooled connection, whatever its broker
        app._pool = None
        app.amqp._producer_pool = None

    previous, previous_env = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    reset_pools()
    app.conf.broker_url = os.environ["CELERY_BROKER_URL"] = url
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url = previous
        if previous_env is None:
            del os.environ["CELERY_BROKER_URL"]
        else:
            os.environ["CELERY_BROKER_URL"] = previous_env


def forget_queue(queue: str) -> None:
    """Delete a test queue, its bindings, and any message a killed worker left unacknowledged on it."""
    with suppress(Exception), app.connection_for_write() as connection:  # never hide the test's own error
        client = connection.default_channel.client
        for tag, raw in client.hgetall("unacked").items():
            _message, _exchange, routing_key = json.loads(raw)
            if routing_key == queue:
                client.pipeline().hdel("unacked", tag).zrem("unacked_index", tag).execute()
        bound = kombu.Queue(queue, kombu.Exchange(queue, type="direct"), routing_key=queue)(connection)
        bound.declare()  # so that this channel knows the bindings the worker made, and deletes them too
        bound.delete()


# --- Racing dispatchers ---------------------------------------------------------------------------


def test_concurrent_dispatchers_send_each_due_nudge_exactly_once(
    postgres, transactional_db, recording_mailer, tmp_path
):
    ids = due_email_nudges(300)
    go = tmp_path / "go"
    children, reports, errors = [], [], []
    start = threading.Event()

    def dispatch_in_a_thread():
        try:
            start.wait(30)
            reports.append(services.nudge_dispatch_due(batch_size=20))
        except Exception as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatch_in_a_thread) for _ in range(2)]
    try:
        env = child_env(tmp_path, recording_mailer)
        for n in range(2):
            command = [
                sys.executable,
                "-m",
                "tests.support.dispatcher",
                str(tmp_path / f"ready{n}"),
                str(go),
                "20",
            ]
            children.append(spawn(command, env, tmp_path / f"dispatcher{n}.log"))
        both_ready = wait_for(lambda: all((tmp_path / f"ready{n}").exists() for n in range(2)), 30)
        assert both_ready, [(tmp_path / f"dispatcher{n}.log").read_text() for n in range(2)]
        for thread in threads:
            thread.start()
        go.touch()  # four dispatchers, two processes and two threads, start at the same moment
        start.set()
        for thread in threads:
            thread.join(timeout=30)
        for n, child in enumerate(children):
            assert child.wait(timeout=30) == 0, (tmp_path / f"dispatcher{n}.log").read_text()
    finally:
        start.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout=30)
        stop_all(children)

    assert errors == []
    child_reports = [(tmp_path / f"dispatcher{n}.log").read_text().strip().splitlines()[-1] for n in range(2)]
    sent_by_each = [report.sent for report in reports] + [int(report.split()[0]) for report in child_reports]
    assert sum(sent_by_each) == 300, (reports, child_reports)
    assert sum(1 for sent in sent_by_each if sent) >= 2, f"the dispatchers did not overlap: {sent_by_each}"
    assert recorded(recording_mailer) == Counter(dict.fromkeys(ids, 1))
    assert set(statuses(ids).values()) == {Nudge.Status.SENT}
    provider_ids = dict(Nudge.objects.filter(pk__in=ids).values_list("pk", "provider_id"))
    for line in read_lines(recording_mailer):
        nudge_id, message_id = line.split()
        assert provider_ids[int(nudge_id)] == message_id


# --- A worker killed in the middle of a send ------------------------------------------------------


def test_a_worker_killed_mid_send_leaves_unknown_nudges_and_never_sends_twice(
    postgres, transactional_db, redis_broker, recording_mailer, tmp_path
):
    ids = due_email_nudges(5, patients=5)
    queue = f"test-reliability-{uuid.uuid4().hex[:12]}"
    started = Path(f"{recording_mailer}.started")
    first_log, second_log = tmp_path / "worker1.log", tmp_path / "worker2.log"
    workers = []
    try:
        slow = start_worker(
            queue, child_env(tmp_path, recording_mailer, RECORDING_EMAIL_DELAY="3"), first_log
        )
        workers.append(slow)
        wait_until_ready(slow, first_log)
        for nudge_id in ids:
            tasks.deliver.apply_async(args=[nudge_id], queue=queue)
        assert wait_for(lambda: read_lines(started), 20), first_log.read_text()
        wait_for(lambda: len(read_lines(started)) >= 2, 2)  # both threads are in the middle of a send
        kill_group(slow)
        began = {int(line.split()[1]) for line in read_lines(started)}

        assert recorded(recording_mailer) == Counter()
        sending = Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING)
        stuck = set(
            sending.filter(taken_at__isnull=False).values_list("pk", flat=True)
        )  # handed to a transport
        claimed = set(sending.filter(taken_at__isnull=True).values_list("pk", flat=True))
        assert began <= stuck and len(stuck | claimed) <= 2
        reconciled = services.nudge_reconcile_stuck(now=timezone.now() + timedelta(days=1))
        assert (reconciled.unknown, reconciled.released) == (len(stuck), len(claimed))

        fresh = start_worker(queue, child_env(tmp_path, recording_mailer), second_log)
        workers.append(fresh)
        wait_until_ready(fresh, second_log)
        # The broker may hand the killed worker's tasks out again (acks_late): queue every one again.
        again = [tasks.deliver.apply_async(args=[nudge_id], queue=queue) for nudge_id in ids]
        again.append(tasks.dispatch_due.apply_async(queue=queue))
        services.nudge_dispatch_due()

        def settled():
            done = all(f"[{result.id}] succeeded" in second_log.read_text() for result in again)
            return done and not Nudge.objects.filter(pk__in=ids, status__in=UNFINISHED).exists()

        assert wait_for(settled, 30, interval=0.2), second_log.read_text()
    finally:
        stop_all(workers)
        forget_queue(queue)

    times_sent, final = recorded(recording_mailer), statuses(ids)
    assert set(final.values()) <= {Nudge.Status.SENT, Nudge.Status.UNKNOWN}, final
    assert {pk for pk, status in final.items() if status == Nudge.Status.UNKNOWN} == stuck
    for nudge_id, status in final.items():
        if status == Nudge.Status.SENT:
            assert times_sent[nudge_id] == 1, (nudge_id, times_sent)
        else:
            assert times_sent[nudge_id] <= 1, (nudge_id, times_sent)
    assert max(times_sent.values()) == 1


# --- The broker goes away -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, workdir: Path, log: Path) -> subprocess.Popen:
    command = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--daemonize", "no", "--dir", str(workdir),
    ]  # fmt: skip
    server = spawn(command, dict(os.environ), log)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        assert wait_for(answers, 10), log.read_text()
    finally:
        client.close()
    return server


def test_nudges_scheduled_while_the_broker_is_down_wait_in_the_outbox_and_go_once_it_is_back(
    postgres, transactional_db, recording_mailer, settings, tmp_path, caplog
):
    require("redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server")
    port = free_port()
    broker_url = f"redis://127.0.0.1:{port}/0"
    settings.CELERY_BROKER_URL = broker_url
    queue = f"test-reliability-{uuid.uuid4().hex[:12]}"
    (patient,) = reachable_patients(1)
    processes = []
    with celery_broker(broker_url):
        try:
            broker = start_redis(port, tmp_path, tmp_path / "redis.log")
            processes.append(broker)
            with app.connection_for_write() as connection:
                assert f"127.0.0.1:{port}/" in connection.as_uri()  # never the shared broker
                connection.ensure_connection(max_retries=1)
            broker.terminate()
            broker.wait(timeout=10)

            now = timezone.now()
            with caplog.at_level(logging.WARNING, logger="nudges.services"), transaction.atomic():
                scheduled = [
                    services.nudge_schedule(
                        patient=patient,
                        kind=Kind.CHECKIN_REQUEST,
                        channel="email",
                        send_at=now,
                        dedupe_key=f"broker-down:{queue}:{i}",
                        context={"checkin_url": f"https://crm.example/c/{i}/"},
                    )
                    for i in range(20)
                ]
            ids = [nudge.pk for nudge in scheduled]
            assert set(statuses(ids).values()) == {Nudge.Status.PENDING}
            assert sum("could not queue nudge" in r.getMessage() for r in caplog.records) == 20

            processes.append(start_redis(port, tmp_path, tmp_path / "redis.log"))  # empty: nothing was queued
            log = tmp_path / "worker.log"
            worker = start_worker(
                queue, child_env(tmp_path, recording_mailer, CELERY_BROKER_URL=broker_url), log
            )
            processes.append(worker)
            wait_until_ready(worker, log)
            dispatch = tasks.dispatch_due.apply_async(queue=queue)
            assert wait_for(lambda: f"[{dispatch.id}] succeeded" in log.read_text(), 30), log.read_text()
        finally:
            for process in processes[::-1]:  # the worker first, while its broker still answers
                stop_all([process])

    assert set(statuses(ids).values()) == {Nudge.Status.SENT}
    assert recorded(recording_mailer) == Counter(dict.fromkeys(ids, 1))


# --- A batch that outlives its lease ---------------------------------------------------------------


def test_a_nudge_reconciled_while_its_batch_is_still_sending_is_not_sent_by_that_batch(
    postgres, transactional_db, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        "nudges.tasks.deliver.apply_async", lambda args, **options: None
    )  # this test delivers by hand
    record = tmp_path / "sent.log"
    settings.MAILERS = {
        "default": {"BACKEND": RECORDING_BACKEND, "OPTIONS": {"path": str(record), "delay": 0.5}}
    }
    ids = due_email_nudges(4, patients=1)

    def dispatch_in_a_thread():
        try:
            services.nudge_dispatch_due()
        finally:
            connections.close_all()

    batch = threading.Thread(target=dispatch_in_a_thread)
    batch.start()
    try:
        assert wait_for(lambda: read_lines(f"{record}.started"), 10)  # the batch is claimed and sending
        # The lease runs out while the batch is slow (a tarpitting mail server): the reconcile marks the one
        # in its transport unknown and puts the three it never took back; another dispatcher sends the last.
        reconciled = services.nudge_reconcile_stuck(now=timezone.now() + timedelta(hours=1))
        assert (reconciled.unknown, reconciled.released) == (1, 3)
        assert services.nudge_deliver(nudge_id=ids[-1]) is True
    finally:
        batch.join(timeout=30)

    times_sent = recorded(record)
    assert times_sent[ids[-1]] == 1, times_sent  # once: the batch never sent it again
    # The rows put back were claimed afresh (by this dispatcher's next batch) and went once each; the first
    # one's transport did return, and what it said is better knowledge than "unknown".
    assert times_sent == Counter(dict.fromkeys(ids, 1)), times_sent
    assert set(statuses(ids).values()) == {Nudge.Status.SENT}


# --- Consent read at the moment of sending ----------------------------------------------------------


def opt_out_in_another_connection(how: str, patient_id: int) -> None:
    """What the patient does from their own browser or phone: committed by another connection, now."""
    from patients.models import Patient

    def opt_out():
        try:
            patient = Patient.objects.get(pk=patient_id)
            if how == "unsubscribe":
                patient_services.patient_unsubscribe(patient=patient, via="unsubscribe link")
            elif how == "withdraw consent":
                patient_services.consent_record(patient=patient, channel="email", granted=False, via="test")
            else:
                patient_services.patient_set_archived(actor=None, patient=patient, archived=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=opt_out)
    thread.start()
    thread.join(timeout=30)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("unsubscribe", "patient unsubscribed"),
        ("withdraw consent", "no Email consent"),
        ("archive", "patient is archived"),
    ],
)
def test_an_opt_out_committed_while_its_batch_is_sending_holds_that_message_back(
    postgres, transactional_db, settings, tmp_path, how, reason
):
    ids = due_email_nudges(30, patients=30)  # one nudge for each patient
    order = list(Nudge.objects.filter(pk__in=ids).order_by("send_at", "id").values_list("pk", "patient_id"))
    position = {nudge_id: n for n, (nudge_id, _) in enumerate(order)}
    opted_out: dict[int, int] = {}  # nudge id -> its patient, who opted out while the batch was sending

    def on_send(nudge_id: int) -> None:
        n = position[nudge_id]
        if n in (4, 11, 19):  # the transport's 5th, 12th and 20th message: the next patient opts out
            next_nudge, next_patient = order[n + 1]
            opt_out_in_another_connection(how, next_patient)
            opted_out[next_nudge] = next_patient

    record = tmp_path / "sent.log"
    settings.MAILERS = {
        "default": {"BACKEND": RECORDING_BACKEND, "OPTIONS": {"path": str(record), "on_send": on_send}}
    }
    report = services.nudge_dispatch_due(batch_size=200)  # one batch holds all thirty

    times_sent = recorded(record)
    got_it_anyway = [nudge_id for nudge_id in opted_out if times_sent[nudge_id]]
    assert got_it_anyway == [], f"{len(got_it_anyway)} of {len(opted_out)} got the message after opting out"
    held = dict(Nudge.objects.filter(pk__in=opted_out).values_list("status", "status_reason"))
    assert held == {Nudge.Status.SUPPRESSED: reason}
    others = [nudge_id for nudge_id in ids if nudge_id not in opted_out]
    assert times_sent == Counter(dict.fromkeys(others, 1))
    assert set(statuses(others).values()) == {Nudge.Status.SENT}
    assert (report.sent, report.suppressed) == (27, 3)


# --- A worker killed with SIGKILL in the middle of a batch of hundreds ------------------------------


def test_a_worker_killed_mid_batch_leaves_only_what_may_have_left_unknown_and_the_rest_goes_once(
    postgres, transactional_db, redis_broker, recording_mailer, settings, tmp_path
):
    ids = due_email_nudges(300, patients=30)
    queue = f"test-reliability-{uuid.uuid4().hex[:12]}"
    started = Path(f"{recording_mailer}.started")
    first_log, second_log = tmp_path / "worker1.log", tmp_path / "worker2.log"
    concurrency = 2
    workers = []
    try:
        killed = start_worker(
            queue,
            child_env(tmp_path, recording_mailer, RECORDING_EMAIL_DELAY="0.02", NUDGE_BATCH_SIZE="100"),
            first_log,
            pool="prefork",
            concurrency=concurrency,
        )
        workers.append(killed)
        wait_until_ready(killed, first_log)
        for _ in range(concurrency):
            tasks.dispatch_due.apply_async(queue=queue)
        assert wait_for(lambda: len(read_lines(started)) >= 60, 60), first_log.read_text()
        kill_group(killed)  # SIGKILL to the worker and its pool processes, in the middle of their batches

        reached = {int(line.split()[1]) for line in read_lines(started)}  # each nudge its transport began
        # Taken for a transport, as the outbox knows it: the reached ones not yet marked, and perhaps one a
        # process took a moment before its transport wrote its first line.
        taken = set(
            Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING, taken_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        assert len(taken) <= concurrency
        assert max(recorded(recording_mailer).values()) == 1
        # The next reconcile after the lease: claimed-but-never-taken rows go back, taken ones become unknown.
        lease = timedelta(seconds=settings.NUDGE_SENDING_LEASE_SECONDS + 1)
        services.nudge_reconcile_stuck(now=timezone.now() + lease)
        assert not Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING).exists()

        fresh = start_worker(queue, child_env(tmp_path, recording_mailer), second_log)
        workers.append(fresh)
        wait_until_ready(fresh, second_log)
        again = tasks.dispatch_due.apply_async(queue=queue)

        def settled():
            done = f"[{again.id}] succeeded" in second_log.read_text()
            return done and not Nudge.objects.filter(pk__in=ids, status__in=UNFINISHED).exists()

        assert wait_for(settled, 90, interval=0.2), second_log.read_text()
    finally:
        stop_all(workers)
        forget_queue(queue)

    times_sent, final = recorded(recording_mailer), statuses(ids)
    unknown = {pk for pk, status in final.items() if status == Nudge.Status.UNKNOWN}
    never_reached = [pk for pk in ids if pk not in reached and pk not in taken]
    assert len(never_reached) >= 100, "the worker was killed too late to prove anything"
    wrongly_unknown = [pk for pk in never_reached if final[pk] != Nudge.Status.SENT]
    assert wrongly_unknown == [], (
        f"{len(wrongly_unknown)} of {len(never_reached)} never handed to a transport are not sent: "
        f"{Counter(final[pk] for pk in wrongly_unknown)}"
    )
    assert all(times_sent[pk] == 1 for pk in never_reached)
    assert unknown == taken and len(unknown) <= concurrency, (len(unknown), len(reached))
    assert set(final.values()) <= {Nudge.Status.SENT, Nudge.Status.UNKNOWN}
    assert max(times_sent.values()) == 1, [pk for pk, n in times_sent.items() if n > 1]
    assert all(times_sent[pk] == 1 for pk, status in final.items() if status == Nudge.Status.SENT)


# --- Celery's soft time limit fires while the provider holds a message -----------------------------


def test_a_send_interrupted_by_the_soft_time_limit_is_unknown_and_never_sent_again(
    postgres, transactional_db, redis_broker, recording_mailer, tmp_path
):
    ids = due_email_nudges(3, patients=3)
    queue = f"test-reliability-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = child_env(
        tmp_path,
        recording_mailer,
        RECORDING_EMAIL_HOLD="6",  # the provider has the message and is slow to say so
        CELERY_TASK_SOFT_TIME_LIMIT="2",
        CELERY_TASK_TIME_LIMIT="12",
    )
    worker = start_worker(queue, env, log, pool="prefork", concurrency=1)
    try:
        wait_until_ready(worker, log)
        # The limits travel with the task (the sender's settings), as beat's would: set them on the message too.
        dispatch = tasks.dispatch_due.apply_async(queue=queue, soft_time_limit=2, time_limit=12)
        ended = (f"[{dispatch.id}] raised unexpected", f"[{dispatch.id}] succeeded", "Hard time limit")
        assert wait_for(lambda: any(end in log.read_text() for end in ended), 60), log.read_text()
        assert f"[{dispatch.id}] raised unexpected: SoftTimeLimitExceeded" in log.read_text(), log.read_text()
        assert recorded(recording_mailer) == Counter({ids[0]: 1})
    finally:
        stop_all([worker])
        forget_queue(queue)

    interrupted = Nudge.objects.get(pk=ids[0])
    assert interrupted.status == Nudge.Status.UNKNOWN, (interrupted.status, interrupted.status_reason)
    assert "SoftTimeLimitExceeded" in interrupted.last_error
    # Long after the backoff a retry would have used: what is due now goes, and the interrupted one never again.
    Nudge.objects.filter(pk__in=ids, status=Nudge.Status.PENDING).update(send_at=timezone.now())
    services.nudge_dispatch_due()
    times_sent = recorded(recording_mailer)
    assert times_sent == Counter(dict.fromkeys(ids, 1)), times_sent
    assert statuses(ids) == {ids[0]: "unknown", ids[1]: "sent", ids[2]: "sent"}
