"""Dispatch due nudges through a null transport on PostgreSQL and Redis, and time the claim query.

Scenario A: one dispatcher in this process (``nudge_dispatch_due``) until nothing is due.
Scenario B: end to end, ``nudges.dispatch_due`` tasks on Redis run by a real prefork Celery worker whose
processes compete for batches (SELECT … FOR UPDATE SKIP LOCKED), timed from the first enqueue until no
nudge is due or sending. Duplicates are counted from what the null transport wrote down in each process.
Then the claim of one batch through the ORM beside the same claim as one raw SQL statement (both rolled
back), and the plan of the candidate select.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import time
import uuid
import zoneinfo
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from alliance_crm.celery import app
from benchmarks.null_backend import read_sent
from nudges import services
from nudges.models import Kind, Nudge
from nudges.tasks import dispatch_due
from patients.models import Channel, ConsentEvent, Patient

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_SECOND = 1_000
END_TO_END_TIMEOUT = 150.0
CLAIM_RUNS = 20
RAW_CLAIM = """
WITH c AS (
    SELECT id FROM nudges_nudge WHERE status = 'pending' AND send_at <= now()
    ORDER BY send_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
UPDATE nudges_nudge n SET status = 'sending', claimed_at = now()
FROM c WHERE n.id = c.id
RETURNING n.id
"""
# Zones tried first (familiar names); any other zone will do when none of them is in its daytime.
PREFERRED_ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage",
    "Pacific/Honolulu", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Shanghai",
    "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Europe/Berlin", "Europe/London", "America/Sao_Paulo",
]  # fmt: skip


# --- Data ------------------------------------------------------------------------------------------


def daytime_zone(now: datetime | None = None) -> str:
    """A time zone where it is now between 09:00 and 19:00, nearest 14:00: far from the quiet hours."""
    now = now or timezone.now()

    def distance(name: str) -> float:
        local = now.astimezone(zoneinfo.ZoneInfo(name))
        hours = local.hour + local.minute / 60
        return abs(hours - 14) if 9 <= hours < 19 else 99

    for name in PREFERRED_ZONES:
        if distance(name) <= 2.5:
            return name
    return min(sorted(zoneinfo.available_timezones()), key=distance)


def reset_database() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE patients_patient, nudges_nudge RESTART IDENTITY CASCADE")


def make_patients(count: int, time_zone: str) -> list[int]:
    patients = []
    for i in range(count):
        patient = Patient(
            first_name=f"Bench{i}",
            last_name="Patient",
            email=f"bench{i}@example.invalid",
            phone=f"+1202555{i % 10_000:04d}",
            time_zone=time_zone,
            preferred_channel=Channel.SMS,
            source=Patient.Source.OTHER,
        )
        patient.search_text = patient.build_search_text()
        patients.append(patient)
    Patient.objects.bulk_create(patients, batch_size=1_000)
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(patient=p, channel=Channel.SMS, granted=True, address=p.phone, via="benchmark")
            for p in patients
        ],
        batch_size=1_000,
    )
    return [p.pk for p in patients]


HISTORY_SQL = """
INSERT INTO nudges_nudge (patient_id, kind, channel, send_at, status, dedupe_key, context, attempts,
    last_error, status_reason, claimed_at, sent_at, provider_id, subject, body_text, body_html, created_at)
SELECT (%(patients)s::bigint[])[1 + i %% %(patient_count)s], 'visit_reminder', 'sms',
    now() - i * interval '1 minute', 'sent', 'bench-history:' || i, '{}'::jsonb, 1, '', '',
    now() - i * interval '1 minute', now() - i * interval '1 minute', 'null-history', '',
    'A reminder that was sent.', '', now() - i * interval '1 minute'
FROM generate_series(1, %(count)s) AS i
"""


def make_due_nudges(count: int, patient_ids: list[int], history: int = 0) -> None:
    """Replace every nudge with ``count`` pending SMS nudges due a minute ago, after ``history`` sent ones."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE nudges_nudge RESTART IDENTITY CASCADE")  # bench database only
        if history:
            cursor.execute(
                HISTORY_SQL, {"patients": patient_ids, "patient_count": len(patient_ids), "count": history}
            )
    send_at = timezone.now() - timedelta(minutes=1)
    run = uuid.uuid4().hex[:8]
    Nudge.objects.bulk_create(
        [
            Nudge(
                patient_id=patient_ids[i % len(patient_ids)],
                kind=Kind.VISIT_REMINDER,
                channel=Channel.SMS,
                send_at=send_at,
                status=Nudge.Status.PENDING,
                dedupe_key=f"bench:{run}:{i}",
                context={"visit_kind": "follow-up visit", "visit_when": "Tuesday 14 April at 10:00"},
            )
            for i in range(count)
        ],
        batch_size=2_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nudges_nudge")  # what autovacuum does on a live table


def status_counts() -> dict[str, int]:
    rows = Nudge.objects.order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def unfinished() -> int:
    return Nudge.objects.filter(status=Nudge.Status.SENDING).count() + Nudge.objects.due().count()


def duplicates(folder: Path) -> tuple[int, int]:
    """(sends written down, sends beyond the first for the same nudge)."""
    sent = Counter(read_sent(folder))
    return sum(sent.values()), sum(n - 1 for n in sent.values() if n > 1)


def sms_folder(name: str) -> Path:
    folder = Path(os.environ["BENCH_SMS_ROOT"]) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- Scenario A: one dispatcher in this process ----------------------------------------------------


def scenario_in_process(batch_size: int, name: str = "a") -> dict:
    folder = sms_folder(name)
    os.environ["BENCH_SMS_DIR"] = str(folder)
    total = Nudge.objects.due().count()
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    cpu, started = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(count):
        report = services.nudge_dispatch_due(batch_size=batch_size, time_budget=END_TO_END_TIMEOUT)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    written, extra = duplicates(folder)
    return {"nudges": total, "seconds": seconds, "written": written, "duplicates": extra,
            "statuses": status_counts(), "report": str(report), "cpu": cpu, "statements": statements,
            "finished": unfinished() == 0}  # fmt: skip


def profile_in_process(batch_size: int, patient_ids: list[int], count: int) -> str:
    make_due_nudges(count, patient_ids)
    os.environ["BENCH_SMS_DIR"] = str(sms_folder("profile"))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    services.nudge_dispatch_due(batch_size=batch_size, time_budget=END_TO_END_TIMEOUT)
    profiler.disable()
    seconds = time.perf_counter() - started
    out = io.StringIO()
    out.write(f"scenario A under cProfile: {count:,} nudges in {seconds:.1f} s\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(30)
    return out.getvalue()


# --- Scenario B: end to end through Celery on Redis -------------------------------------------------


def start_worker(queue: str, concurrency: int, folder: Path, log: Path) -> subprocess.Popen:
    env = os.environ | {"BENCH_SMS_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "alliance_crm.settings"}
    command = [
        sys.executable, "-m", "celery", "-A", "alliance_crm", "worker",
        "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-Q", queue, "-n", f"{queue}@%h",
    ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGTERM (warm shutdown), then SIGKILL to the worker's own process group after 10 s."""
    if worker.poll() is None:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # the group we started: the worker and its pool processes
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def scenario_celery(args, patient_ids: list[int]) -> dict:
    folder = sms_folder("b")
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    log = Path(os.environ["BENCH_SMS_ROOT"]) / "worker.log"
    worker = start_worker(queue, args.concurrency, folder, log)
    try:
        make_due_nudges(args.nudges, patient_ids)  # while the worker starts; it has no task yet
        if not wait_for(lambda: "ready." in log.read_text() or worker.poll() is not None, 60):
            raise RuntimeError(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker stopped:\n{log.read_text()[-3000:]}")
        total = Nudge.objects.due().count()
        started = time.perf_counter()
        for _ in range(args.dispatch_tasks):
            dispatch_due.apply_async(queue=queue)
        finished = wait_for(lambda: unfinished() == 0, END_TO_END_TIMEOUT, interval=0.05)
        seconds = time.perf_counter() - started
    finally:
        stop_worker(worker)
        try:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)
        except Exception as error:  # cleanup only: report and go on
            print(f"bench: could not delete queue {queue}: {error}", file=sys.stderr)
    written, extra = duplicates(folder)
    return {"nudges": total, "seconds": seconds, "written": written, "duplicates": extra,
            "statuses": status_counts(), "finished": finished, "log": log}  # fmt: skip


# --- The claim query -------------------------------------------------------------------------------


def time_claims(limit: int) -> dict:
    """Milliseconds per claim of ``limit`` due nudges: the ORM service and the same claim as raw SQL."""
    orm_ms, raw_ms, claimed = [], [], set()
    queries: list[str] = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        queries.append(connection.ops.last_executed_query(context["cursor"], sql, params))
        return result

    with transaction.atomic(), connection.execute_wrapper(record):
        services.nudge_claim_due(limit=limit)  # once, untimed: which statements the ORM sends
        transaction.set_rollback(True)
    statements = [q for q in queries if "SAVEPOINT" not in q]
    for run in range(CLAIM_RUNS + 2):  # two warm-up runs, not counted
        with transaction.atomic():
            started = time.perf_counter()
            ids = services.nudge_claim_due(limit=limit)
            elapsed = (time.perf_counter() - started) * 1000
            transaction.set_rollback(True)
        if run >= 2:
            orm_ms.append(elapsed)
        claimed.add(len(ids))
    with psycopg.connect(os.environ["DATABASE_URL"], prepare_threshold=None) as raw:  # unprepared, as Django
        for run in range(CLAIM_RUNS + 2):
            started = time.perf_counter()
            rows = raw.execute(RAW_CLAIM, {"limit": limit}).fetchall()
            elapsed = (time.perf_counter() - started) * 1000
            raw.rollback()
            if run >= 2:
                raw_ms.append(elapsed)
            claimed.add(len(rows))
        candidate = next((q for q in statements if "FOR UPDATE" in q), "")
        orm_plan = explain(raw, candidate)
    return {"orm_ms": orm_ms, "raw_ms": raw_ms, "claimed": claimed, "queries": len(statements),
            "orm_plan": orm_plan}  # fmt: skip


def explain(raw: psycopg.Connection, query: str) -> list[str]:
    if not query:
        return ["(no candidate query captured)"]
    rows = raw.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + query).fetchall()
    raw.rollback()
    return [row[0] for row in rows]


# --- Output ----------------------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def statuses_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def print_row(label: str, result: dict) -> float:
    rate = result["nudges"] / result["seconds"] if result["seconds"] else 0.0
    print(
        f"  {label:<44} {result['nudges']:>7,} {result['seconds']:>8.2f} {rate:>10,.0f}"
        f" {result['duplicates']:>11,}   {statuses_text(result['statuses'])}"
    )
    return rate


def exit_status(*results: dict) -> int:
    """1 when any scenario sent a nudge more than once: a duplicate fails the run, whatever the rates."""
    return 1 if any(result["duplicates"] for result in results) else 0


def run(args) -> int:
    database = settings.DATABASES["default"]
    print(f"Alliance CRM outbox benchmark: {args.nudges:,} due SMS nudges, null transport")
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    reset_database()
    zone = daytime_zone()
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(zone))
    patient_ids = make_patients(args.patients, zone)
    pg = connection.pg_version
    print(
        f"  PostgreSQL {pg // 10000}.{pg % 10000} at {database['HOST']}:{database['PORT']}/{database['NAME']}"
        f" · broker {settings.CELERY_BROKER_URL} · {os.cpu_count()} CPUs"
    )
    print(
        f"  {args.patients:,} patients with SMS consent in {zone} (local time {local:%H:%M}, outside quiet"
        f" hours) · claim batch {args.batch_size}"
    )
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"  warning: load average {load_before:.1f} before the run: other work shares the CPUs,"
            " so the rates below are low"
        )
    print()

    make_due_nudges(args.nudges, patient_ids)
    in_process = scenario_in_process(args.batch_size)
    celery = scenario_celery(args, patient_ids)
    make_due_nudges(args.nudges, patient_ids, history=args.history)
    claims = time_claims(args.batch_size)

    print(
        f"  {'scenario':<44} {'nudges':>7} {'seconds':>8} {'nudges/s':>10} {'duplicates':>11}   final status"
    )
    print_row("A  in process, one dispatcher", in_process)
    label = f"B  Celery on Redis, {args.concurrency} processes, {args.dispatch_tasks} tasks"
    end_to_end = print_row(label, celery)
    sent = max(in_process["statuses"].get("sent", 0), 1)
    print(
        f"  A per nudge: {in_process['statements'] / sent:.2f} SQL statements (each its own commit unless"
        f" in a transaction), {in_process['cpu'] * 1000 / sent:.2f} ms CPU in the dispatcher process,"
        f" {in_process['seconds'] * 1000 / sent:.2f} ms wall"
    )
    for name, result in (("A", in_process), ("B", celery)):
        if result["written"] != result["statuses"].get("sent", 0):
            print(
                f"  note {name}: the transport wrote {result['written']:,} sends, "
                f"the outbox shows {result['statuses'].get('sent', 0):,} sent"
            )
    if not in_process["finished"]:
        print(f"  note A: nudges were left due or sending after {END_TO_END_TIMEOUT:.0f} s")
    if not celery["finished"]:
        print(f"  note B: stopped waiting after {END_TO_END_TIMEOUT:.0f} s; worker log: {celery['log']}")
    print()
    print(
        f"  claim of {args.batch_size} due nudges ({args.nudges:,} pending among {args.history:,} sent),"
        f" {CLAIM_RUNS} runs, rolled back"
    )
    for label, values in (
        (f"nudge_claim_due (ORM, {claims['queries']} queries)", claims["orm_ms"]),
        ("raw SQL (one UPDATE … FROM CTE)", claims["raw_ms"]),
    ):
        print(f"    {label:<36} mean {mean(values):7.2f} ms   median {median(values):7.2f} ms")
    if claims["claimed"] != {args.batch_size}:
        print(f"    note: claims returned {sorted(claims['claimed'])} rows")
    print("    plan of the ORM's candidate select (EXPLAIN ANALYZE):")
    for line in claims["orm_plan"]:
        print(f"      {line}")
    uses_index = any("nudge_due_in_order" in line for line in claims["orm_plan"])
    print(f"    partial index nudge_due_in_order used: {'yes' if uses_index else 'NO'}")
    print()
    met = end_to_end >= TARGET_PER_SECOND and celery["duplicates"] == 0 and celery["finished"]
    print(
        f"  target ≥ {TARGET_PER_SECOND:,} nudges/s end to end with 0 duplicates: "
        f"{'met' if met else 'NOT met'} ({end_to_end:,.0f} nudges/s, {celery['duplicates']} duplicates,"
        f" {os.cpu_count()} CPUs)"
    )

    if args.profile:
        print()
        print(profile_in_process(args.batch_size, patient_ids, args.nudges))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  (benchmark ran {time.perf_counter() - started:.0f} s; load average {load} on {os.cpu_count()} CPUs)"
    )
    status = exit_status(in_process, celery)
    if status:
        print(
            f"bench: duplicate sends (A {in_process['duplicates']}, B {celery['duplicates']}): the outbox sent"
            f" a nudge twice; the transport's logs are kept in {os.environ['BENCH_SMS_ROOT']}",
            file=sys.stderr,
        )
    return status
