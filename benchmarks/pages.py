"""``python -m benchmarks pages``: seed S (10,000) and M (100,000) clinics and measure every staff page and job.

For each size the clinic is seeded with ``seed_scale`` into its own PostgreSQL database — the name of
``BENCH_PAGES_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/alliance_bench_pages) with ``_s`` or
``_m`` after it — dropped and made anew unless ``--reuse`` finds it seeded already. Each size has one worker
process (``--serve``, production settings: DEBUG off), started once, that prepares its clinic and then answers the
orchestrator's commands, one JSON line each way (its log goes to stderr). Page by page, the orchestrator

- requests the page at each size through the full stack with Django's test client, signed in with both factors as
  staff, a practitioner or an admin: ``--rounds`` times at each size (fewer when the page is slow), in turns of
  ``--block`` requests at S then at M, so both sizes of a page are timed within the same few seconds and a drift of
  the machine falls on both; then records p50/p95, the number of queries and the SQL floor: the page's reads
  replayed through a raw cursor, plus its writes (the audit row and the durable COMMIT that keeps it, a session
  saved) timed as they ran. Every page must answer 200; any other answer (a 302 to the sign-in, a 500), or a
  worker that ends or stops answering, fails the run. Django admin's Patient changelist is the baseline. Pages
  whose URL name does not exist (yet) are skipped;
- then, after every page, runs each job (S, then M) in a process of its own on a copy of the database (so
  ``--reuse`` measures the same data again): falter detection twice (the first pass opens alerts, the second finds
  them open), the missed-check-in sweep over 2,000 closed check-ins, the dispatcher over 5,000 nudges made due,
  and the CSV download of the whole patient list — rows per second, queries and the process's peak memory;
- records the seed's own time and peak memory.

Then one table for both sizes, and the ratios against issue 13's targets, each met or missed, also written as JSON
to ``var/bench/bench-<when>.json`` (and ``latest.json``; each size to ``pages-<patients>.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/alliance_bench_pages"
OUT_DIR = ROOT / "var" / "bench"
SIZES = {"S": 10_000, "M": 100_000}
PAGE_BUDGET_SECONDS = 20.0  # a slow page gets fewer rounds (at least MIN_ROUNDS) so a run stays bounded
MIN_ROUNDS = 5
DEFAULT_BLOCK = 5  # requests a size times before the other size takes its turn (--block)
PREPARE_TIMEOUT = (
    4 * 3600.0
)  # seconds a worker may take to get ready (a seed of 100,000 patients from nothing)
# Untimed requests at the start of each block: the first request after the other size's turn took 1.16-1.19 ×
# the page's median (6 December, blocks of 5; the second 1.00 ×), one in five of the requests, so without it the
# p95 of 40 was mostly the cost of switching processes, which a size timed on its own never paid.
REWARM_REQUESTS = 1
REPLY_TIMEOUT = 600.0  # seconds any other reply may take, the jobs' own timeouts aside
WRITE_ROUNDS = 5  # requests timed statement by statement for the floor's writes (see write_seconds)
DUE_NUDGES = 5_000  # the dispatcher sends this many, made due
SWEEP_ROWS = 2_000  # the missed-check-in sweep finds this many closed
JOBS = ("falter", "sweep", "dispatch", "export")

# Issue 13's targets.
TARGET_GROWTH = 1.3  # p95 at M ≤ 1.3 × p95 at S
TARGET_FLOOR = 4.0  # p95 ≤ 4 × the SQL floor
TARGET_P95_MS = 300.0  # at M
TARGET_DEEP = 1.5  # deep and last pages ≤ 1.5 × page 1
TARGET_ADMIN = 0.5  # our patient list ≤ 0.5 × the admin changelist
TARGET_FALTER_GROWTH = 1.2  # seconds per patient at M ≤ 1.2 × at S
TARGET_FALTER_SECONDS_100K = 60.0
TARGET_DISPATCH_PER_SECOND = 1_000.0
DEEP_PAIRS = [
    ("patients p200", "patients p1"),
    ("patients last", "patients p1"),
    ("outbox upcoming p200", "outbox upcoming"),
    ("outbox history p200", "outbox history"),
    ("outbox all p200", "outbox p1"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pages", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="S,M", help="which clinics, comma-separated: S (10,000) and/or M (100,000); S,M"
    )
    parser.add_argument("--s", dest="sizes", action="store_const", const="S", help="only S (10,000 patients)")
    parser.add_argument(
        "--m", dest="sizes", action="store_const", const="M", help="only M (100,000 patients)"
    )
    parser.add_argument("--patients", type=int, default=0, help="one clinic of this many patients instead")
    parser.add_argument(
        # 40: the p95 of 15 requests was their second slowest, one stray pause away from the page's cost.
        "--rounds",
        type=int,
        default=40,
        help="requests per page (40; fewer for a slow page)",
    )
    parser.add_argument(
        # Five: both sizes of a page are timed within the same few seconds, and a block is still long enough
        # that a size's first request after the other's (its caches handed over) is one in five.
        "--block",
        type=int,
        default=DEFAULT_BLOCK,
        help=f"requests per turn: each page is timed at S and M in turns of this many ({DEFAULT_BLOCK})",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--reuse", action="store_true", help="keep a database that holds a clinic already")
    parser.add_argument("--drop", action="store_true", help="drop each database at the end")
    parser.add_argument("--only", default="", help="comma-separated page or job names to run (default: all)")
    parser.add_argument("--skip-jobs", action="store_true", help="pages only")
    parser.add_argument(
        "--job-timeout", type=float, default=900.0, help="seconds before a job is stopped and marked so (900)"
    )
    # Internal: one size's worker, answering the orchestrator's commands (one per size), or one job.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--job", default="", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def database_url_for(label: str) -> str:
    base = os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DATABASE_URL)
    head, _, name = base.rpartition("/")
    return f"{head}/{name}_{label.lower()}"


def configure_environment(url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-only-" + os.urandom(16).hex()),
            "DJANGO_ALLOWED_HOSTS": "localhost,testserver",
            "DJANGO_LOG_LEVEL": "WARNING",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "API_RATE_PER_MINUTE": "100000",  # the bench calls each endpoint ~20 times a minute with one key
            # Production settings with transports that deliver nothing: a demo deployment, for the system checks.
            "ALLIANCE_DEMO_DEPLOYMENT": "true",
            "ALLIANCE_SITE_URL": os.environ.get("ALLIANCE_SITE_URL", "https://localhost"),
            "CELERY_BROKER_URL": "memory://",  # nothing the jobs queue is kept (their transactions roll back)
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "SMS_BACKEND": "benchmarks.null_backend.NullSmsBackend",
            "BENCH_SMS_DIR": os.environ.get("BENCH_SMS_DIR", str(OUT_DIR / "sms")),
        }
    )


def prepare_database(url: str, *, reuse: bool) -> bool:
    """Make the database (anew unless reusing); True when it was made anew."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    name = params["dbname"]
    with psycopg.connect(make_conninfo(**(params | {"dbname": "postgres"})), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reuse:
            return False
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    with psycopg.connect(make_conninfo(**(params | {"dbname": "postgres"})), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(params["dbname"]))
        )


# --- The orchestrator: one worker per size, both sizes of a page timed in turn -----------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job:
        return job_main(args)
    if args.serve:
        return serve_main(args)
    if args.patients:
        sizes = [(f"{args.patients}", args.patients)]
    else:
        labels = [label.strip().upper() for label in args.sizes.split(",") if label.strip()]
        unknown = [label for label in labels if label not in SIZES]
        if unknown or not labels:
            print(
                f"bench pages: unknown size {', '.join(unknown) or '(none)'}; use S and/or M", file=sys.stderr
            )
            return 2
        sizes = [(label, SIZES[label]) for label in labels]
    base = os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DATABASE_URL)
    if not base.startswith(("postgres://", "postgresql://")):
        print("bench pages: needs PostgreSQL (BENCH_PAGES_DATABASE_URL)", file=sys.stderr)
        return 2
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    started = time.monotonic()
    workers: dict[str, Worker] = {}
    reports: dict[str, dict] = {}
    try:
        # One worker per size, started once and kept: each page is timed at S and at M in alternate blocks of a
        # few requests, so a slower minute of this VM (its other tenants, its page cache handed back to the
        # host) falls on both sizes of the page rather than on one.
        for label, patients in sizes:
            print(f"\n== {label}: {patients:,} patients ({database_url_for(label)})", flush=True)
            (OUT_DIR / f"pages-{patients}.json").unlink(
                missing_ok=True
            )  # never the figures of an earlier run
            workers[label] = Worker.start(
                label, serve_command(label, patients, args), job_timeout=args.job_timeout
            )
            reports[label] = workers[label].ready | {"label": label}
        print(f"\n== every page at {' and '.join(workers)}, in blocks of {args.block} requests", flush=True)
        measured = lockstep(workers, rounds=args.rounds, block=args.block, only=only)
        for label in workers:
            reports[label]["pages"] = measured[label]
            reports[label]["jobs"] = {}
        names = [name for name in JOBS if not only or name in only]
        if names and not args.skip_jobs:
            for label, worker in workers.items():
                print(f"\n== {label}: the jobs", flush=True)
                command = {"cmd": "jobs", "names": names, "timeout": args.job_timeout}
                reports[label]["jobs"] = worker.ask(command)["jobs"]
        for worker in workers.values():
            worker.close()
    except WorkerFailed as failure:
        print(f"\nbench pages: {failure}", file=sys.stderr)
        return failure.status
    finally:
        for worker in workers.values():
            worker.kill()
    for label, patients in sizes:
        (OUT_DIR / f"pages-{patients}.json").write_text(json.dumps(reports[label], indent=2))
    result = combine(reports, minutes=round((time.monotonic() - started) / 60, 1))
    print()
    print(render(result))
    path = write_result(result, OUT_DIR)
    print(f"\nwritten {path} ({result['minutes']} min)")
    failed = [
        (label, row) for label, report in reports.items() for row in report["pages"] if row["status"] != 200
    ]
    if failed:
        print(
            "\nbench pages: these pages did not answer 200 — the figures above are not of the page:",
            file=sys.stderr,
        )
        for label, row in failed:
            print(
                f"  {label} {row['page']}: {row['status']} {row.get('location', '')} ({row['url']})",
                file=sys.stderr,
            )
        return 1
    return 0


def serve_command(label: str, patients: int, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "benchmarks", "pages", "--serve", "--label", label, "--patients",
               str(patients), "--database-url", database_url_for(label), "--seed", str(args.seed)]  # fmt: skip
    return command + ["--reuse"] * args.reuse + ["--drop"] * args.drop


def schedule(sizes: Sequence[str], rounds: int, block: int) -> list[list[tuple[str, int]]]:
    """One page's timing as turns: in each turn every size in order times a block of ``block`` requests (the
    last turn fewer), until each size has ``rounds``. The orchestrator may stop between two turns (a slow page),
    never inside one, so the sizes of a page always have as many requests each."""
    rounds, block = max(1, rounds), max(1, block)
    turns = []
    for done in range(0, rounds, block):
        turns.append([(size, min(block, rounds - done)) for size in sizes])
    return turns


class Asker(Protocol):
    def ask(self, command: dict) -> dict: ...


def lockstep(
    workers: Mapping[str, Asker],
    *,
    rounds: int,
    block: int = DEFAULT_BLOCK,
    only: set[str] | frozenset[str] = frozenset(),
) -> dict[str, list[dict]]:
    """Every page at every size, page by page: its warm request at each size, then its timed requests in the
    turns of ``schedule`` (stopped after PAGE_BUDGET_SECONDS a size once each has MIN_ROUNDS), then its floor at
    each size. The rows of each size, as ``pages-<n>.json`` keeps them."""
    listed: dict[str, dict[str, dict]] = {}
    for label, worker in workers.items():
        listed[label] = {row["page"]: row for row in worker.ask({"cmd": "pages"})["pages"]}
    names: list[str] = []
    for pages in listed.values():
        names += [name for name in pages if name not in names and (not only or name in only)]
    rows: dict[str, list[dict]] = {label: [] for label in workers}
    heads = [f" | {label + ' st':>6} {'q':>3} {'p50':>7} {'p95':>7} {'floor':>7}" for label in workers]
    print(f"{'page':30}{''.join(heads)}   (ms)", flush=True)
    for name in names:
        here = [label for label in workers if name in listed[label]]
        found = {
            label: listed[label][name] | workers[label].ask({"cmd": "warm", "page": name}) for label in here
        }
        times: dict[str, list[float]] = {label: [] for label in here}
        budget_end = time.monotonic() + PAGE_BUDGET_SECONDS * len(here)
        for turn in schedule(here, rounds, block):
            if min(len(t) for t in times.values()) >= MIN_ROUNDS and time.monotonic() > budget_end:
                break
            for label, count in turn:
                command = {"cmd": "time", "page": name, "rounds": count, "rewarm": REWARM_REQUESTS}
                reply = workers[label].ask(command)
                times[label] += reply["times_ms"]
                if found[label]["status"] == 200:
                    found[label]["status"] = reply["status"]
        line = f"{name:30}"
        for label in workers:
            if label not in here:
                line += f" | {'':>6} {'':>3} {'':>7} {'':>7} {'':>7}"
                continue
            row = page_row(found[label], times[label], workers[label].ask({"cmd": "floor", "page": name}))
            rows[label].append(row)
            floor = row["sql_floor_ms"] if row["sql_floor_ms"] is not None else "—"
            line += (
                f" | {row['status']:>6} {row['queries']:>3} {row['p50_ms']:>7} {row['p95_ms']:>7} {floor:>7}"
            )
        print(line, flush=True)
    return rows


def page_row(found: dict, times_ms: list[float], floor: dict) -> dict:
    """One page at one size: what its warm request found, its timed requests and its floor."""
    row = {
        "page": found["page"],
        "who": found["who"],
        "url": found["url"],
        "status": found["status"],
        "queries": found["queries"],
        "rounds": len(times_ms),
        "p50_ms": round(statistics.median(times_ms), 1),
        "p95_ms": round(percentile(times_ms, 0.95), 1),
        # The floor: the reads replayed through a raw cursor, plus the writes as they ran.
        "sql_floor_ms": floor["sql_floor_ms"],
        "read_floor_ms": floor["read_floor_ms"],
        "write_ms": floor["write_ms"],
        "times_ms": [round(ms, 2) for ms in times_ms],
    }
    if found["status"] != 200:
        row["location"] = found.get("location", "")
    return row


class WorkerFailed(Exception):
    """A size's worker died, stopped answering or answered an error: the run stops with this message."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Worker:
    """One size's ``--serve`` process, spoken to in JSON lines: a command on its stdin, one reply on its stdout.
    Its log goes to stderr, which it shares with the orchestrator. Every reply is awaited with a timeout, and
    the end of its stdout (it died) ends the wait at once."""

    def __init__(self, label: str, process: subprocess.Popen, *, job_timeout: float = 900.0) -> None:
        self.label = label
        self.process = process
        self.job_timeout = job_timeout
        self.replies: queue.Queue[str | None] = queue.Queue()
        self.ready: dict = {}
        threading.Thread(target=self._read, name=f"bench {label} replies", daemon=True).start()

    @classmethod
    def start(
        cls, label: str, command: list[str], *, job_timeout: float = 900.0, timeout: float = PREPARE_TIMEOUT
    ) -> Worker:
        """Start the worker and wait until it has prepared its clinic (a seed can take many minutes)."""
        process = subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        worker = cls(label, process, job_timeout=job_timeout)
        reply = worker.reply(about="getting ready", timeout=timeout)
        if "ready" not in reply:
            worker.kill()
            raise WorkerFailed(f"the {label} worker began with {reply!r}, not its ready line")
        worker.ready = reply["ready"]
        return worker

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line)
        self.replies.put(None)  # its stdout closed: it ended

    def timeout_for(self, command: dict) -> float:
        if command["cmd"] == "jobs":
            return self.job_timeout * len(command.get("names", JOBS)) + REPLY_TIMEOUT
        return REPLY_TIMEOUT

    def ask(self, command: dict, *, timeout: float | None = None) -> dict:
        assert self.process.stdin is not None
        about = command["cmd"] + (f" {command['page']!r}" if "page" in command else "")
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):  # a broken pipe, or closed by kill: it ended already
            pass  # the reply's end of file says how
        return self.reply(about=about, timeout=self.timeout_for(command) if timeout is None else timeout)

    def reply(self, *, about: str, timeout: float) -> dict:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise WorkerFailed(
                f"the {self.label} worker gave no answer to {about} in {timeout:.0f} s"
            ) from None
        if line is None:
            try:
                code = self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            raise WorkerFailed(
                f"the {self.label} worker ended (exit status {code}) before answering {about}; its log is above",
                status=2 if code == 2 else 1,
            )
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise WorkerFailed(
                f"the {self.label} worker answered {about} with {line.strip()[:200]!r}"
            ) from None
        if "error" in reply:
            raise WorkerFailed(f"the {self.label} worker failed on {about}: {reply['error']}")
        return reply

    def close(self) -> None:
        """Ask it to quit (it drops its database then, with ``--drop``) and wait for it to end."""
        if self.process.poll() is None:
            self.ask({"cmd": "quit"})
            self.process.wait(timeout=REPLY_TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:
            with suppress(OSError):  # what it was not sent never arrives
                self.process.stdin.close()


class InProcess:
    """A size measured in this process through the same commands (``measure``, the suite's harness test); each
    reply goes through JSON as a worker's would."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def ask(self, command: dict) -> dict:
        return json.loads(json.dumps(self.session.handle(json.loads(json.dumps(command)))))


def measure(
    *,
    rounds: int,
    only: set[str],
    jobs_in_subprocess: bool,
    skip_jobs: bool = False,
    job_timeout: float = 900.0,
    block: int = DEFAULT_BLOCK,
) -> dict:
    """Every page and job on the database Django is connected to, in this process: one size's report."""
    session = Session(jobs_in_subprocess=jobs_in_subprocess, job_timeout=job_timeout)
    report = session.start()
    here = InProcess(session)
    report["pages"] = lockstep({"S": here}, rounds=rounds, block=block, only=only)["S"]
    names = [name for name in JOBS if not only or name in only]
    report["jobs"] = {} if skip_jobs or not names else here.ask({"cmd": "jobs", "names": names})["jobs"]
    return report


def combine(reports: dict[str, dict], *, minutes: float) -> dict:
    """One run's figures for every size, with the targets checked on them."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "minutes": minutes,
        "sizes": reports,
        "targets": targets(reports),
    }


def write_result(result: dict, folder: Path) -> Path:
    """``bench-<when>.json`` and ``latest.json`` in ``folder``; the path of the first."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"bench-{stamp}.json"
    for target in (path, folder / "latest.json"):
        target.write_text(json.dumps(result, indent=2))
    return path


def machine() -> dict:
    try:
        load = [round(x, 1) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"cpus": os.cpu_count(), "load": load, "python": sys.version.split()[0]}


# --- One size: the worker ----------------------------------------------------------------------------------


def take_stdout() -> TextIO:
    """The protocol's channel: the real stdout, kept apart; from now on anything else printed to stdout, by this
    process or by a process it starts (the seed), goes to stderr, where it cannot be taken for a reply."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def serve(handle: Callable[[dict], dict], commands: TextIO, replies: TextIO, *, ready: dict) -> None:
    """Write the ready line, then answer each command line with one reply line until ``quit`` or the end of
    ``commands`` (the orchestrator ended). A command that raises is answered ``{"error": …}``."""
    replies.write(json.dumps({"ready": ready}) + "\n")
    replies.flush()
    for line in commands:
        if not line.strip():
            continue
        command: dict = {}
        try:
            command = json.loads(line)
            reply = {"ok": True} if command.get("cmd") == "quit" else handle(command)
        except Exception as error:  # the orchestrator stops the run with it
            traceback.print_exc(file=sys.stderr)
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if command.get("cmd") == "quit":
            return


def serve_main(args: argparse.Namespace) -> int:
    replies = take_stdout()
    import psycopg

    url = args.database_url or database_url_for(args.label or "s")
    configure_environment(url)
    try:
        fresh = prepare_database(url, reuse=args.reuse)
    except psycopg.Error as error:
        print(f"bench pages: PostgreSQL is not reachable at {url} ({error})", file=sys.stderr)
        return 2
    import django

    django.setup()
    from django.core.management import call_command

    from patients.models import Patient

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production settings read the manifest
    seed_file = OUT_DIR / f"seed-{url.rpartition('/')[2]}.json"  # the seed's figures, kept for --reuse
    if fresh or not Patient.objects.exists():
        seed = seed_in_subprocess(patients=args.patients, seed=args.seed)
        print(f"seeded in {seed['seconds']} s, peak memory {seed['peak_mb']} MB", flush=True)
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        seed_file.write_text(json.dumps(seed))
    else:
        seed = json.loads(seed_file.read_text()) | {"reused": True} if seed_file.exists() else None
    vacuum_seconds = vacuum_database()
    print(
        f"vacuumed in {vacuum_seconds} s (the visibility map autovacuum keeps on a live clinic)", flush=True
    )
    session = Session(jobs_in_subprocess=True, job_timeout=args.job_timeout)
    ready = session.start() | {"seed": seed, "vacuum_seconds": vacuum_seconds}
    try:
        serve(session.handle, sys.stdin, replies, ready=ready)
    finally:
        if args.drop:
            from django.db import connections

            connections.close_all()
            drop_database(url)
    return 0


class Session:
    """One size's clinic, measured on command: the worker's side of the protocol.

    - ``{"cmd": "pages"}`` → the pages (name, who, url);
    - ``{"cmd": "warm", "page": name}`` → its status and query count after a warm request (its reads are kept for
      the floor);
    - ``{"cmd": "time", "page": name, "rounds": k, "rewarm": w}`` → k request times in ms, after w untimed ones;
    - ``{"cmd": "floor", "page": name}`` → its SQL floor, read and write parts;
    - ``{"cmd": "jobs", "names": [...]}`` → the jobs' figures."""

    def __init__(self, *, jobs_in_subprocess: bool, job_timeout: float = 900.0) -> None:
        self.jobs_in_subprocess = jobs_in_subprocess
        self.job_timeout = job_timeout
        self.clients: dict = {}
        self.pages: dict[str, tuple[str, str]] = {}
        self.reads: dict[str, list[str]] = {}

    def start(self) -> dict:
        """Count the clinic, refresh its figures as beat does and sign everyone in."""
        from django.db.models import Q

        from journeys.models import Journey, Stage
        from patients.models import Patient

        counts = {
            "patients": Patient.objects.count(),
            "at_checkins": Journey.objects.filter(stage=Stage.CHECK_INS)
            .filter(Q(ended_at__isnull=True))
            .count(),
        }
        report = {"counts": counts, "figures_refresh": refresh_figures()}
        self.clients = signed_in_clients()
        return report

    def handle(self, command: dict) -> dict:
        name = command["cmd"]
        if name == "pages":
            self.pages = {page: (who, url) for page, who, url in page_list()}
            return {
                "pages": [{"page": page, "who": who, "url": url} for page, (who, url) in self.pages.items()]
            }
        if name == "warm":
            return self.warm(command["page"])
        if name == "time":
            return self.time(
                command["page"], rounds=int(command["rounds"]), rewarm=int(command.get("rewarm", 0))
            )
        if name == "floor":
            return self.floor(command["page"])
        if name == "jobs":
            return {"jobs": run_jobs(command["names"], in_subprocess=self.jobs_in_subprocess,
                                     timeout=float(command.get("timeout", self.job_timeout)))}  # fmt: skip
        raise ValueError(f"unknown command {name!r}")

    def warm(self, page: str) -> dict:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        who, url = self.pages[page]
        client = self.clients[who]
        response = client.get(url, secure=True)  # warm: what a session does once is not the page's cost
        connection.queries_log.clear()  # a full log (its deque is bounded) would hide the new statements
        with CaptureQueriesContext(connection) as captured:
            client.get(url, secure=True)
        queries = [q["sql"] for q in captured.captured_queries]  # now: the next request empties the log
        # The reads are replayed for the floor; the writes (audit rows, the session) never go twice into the
        # tables: write_seconds times them as the page runs them.
        self.reads[page] = [sql for sql in queries if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
        return {
            "status": response.status_code,
            "queries": len(queries),
            "location": response.get("Location", ""),
        }

    def time(self, page: str, *, rounds: int, rewarm: int = 0) -> dict:
        who, url = self.pages[page]
        client = self.clients[who]
        times, status = [], 200
        for _ in range(rewarm):  # untimed: this process's caches after the other size's turn
            client.get(url, secure=True)
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(url, secure=True)
            times.append(time.perf_counter() - started)
            if status == 200:
                status = response.status_code
        return {"times_ms": [round(1000 * t, 3) for t in times], "status": status}

    def floor(self, page: str) -> dict:
        who, url = self.pages[page]
        floors = [f for f in (sql_floor(self.reads[page]) for _ in range(3)) if f is not None]
        reads = statistics.median(floors) if floors else None
        writes = write_seconds(self.clients[who], url)
        return {
            "sql_floor_ms": None if reads is None else round(1000 * (reads + writes), 1),
            "read_floor_ms": None if reads is None else round(1000 * reads, 1),
            "write_ms": round(1000 * writes, 1),
        }


def vacuum_database() -> float:
    """``VACUUM (ANALYZE)`` the seeded clinic, as autovacuum would have done to a clinic's tables after weeks of
    use: a table loaded by ``COPY`` has no visibility map yet, so the planner prices every index-only scan as a
    heap visit and picks sequential scans no live database would (Today's count of messages to review read 52,000
    nudges in 12 ms instead of 1,001 index entries in 0.5 ms). Quick on a database vacuumed before."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return round(time.monotonic() - started, 1)


def refresh_figures() -> dict:
    """What beat does every ``FIGURES_REFRESH_SECONDS`` before anyone opens Insights or the pipeline: the pages
    are measured as a running clinic sees them, reading its summary (``dashboard.figures``)."""
    from django.db import connection

    from accounts.audit import system_context
    from dashboard.figures import figures_refresh
    from dashboard.rollups import rollups_refresh

    report: dict[str, Any] = {}
    # Insights' daily roll-ups: the seed left every day uncounted, so the first refresh fills them all (timed
    # apart); the refresh after it is what beat does every period.
    for name in ("rollups first fill", "rollups steady"):
        with system_context("bench roll-ups refresh"), counted(connection) as counter:
            started = time.perf_counter()
            days = rollups_refresh()
            seconds = round(time.perf_counter() - started, 2)
        print(f"{name}: {days} days in {seconds} s, {counter.count} queries", flush=True)
        report[name] = {"days": days, "seconds": seconds, "queries": counter.count}
    with system_context("bench figures refresh"), counted(connection) as counter:
        started = time.perf_counter()
        rows = figures_refresh()
        seconds = round(time.perf_counter() - started, 2)
    print(f"figures refreshed as beat does: {rows} rows in {seconds} s, {counter.count} queries", flush=True)
    return report | {"rows": rows, "seconds": seconds, "queries": counter.count}


def seed_in_subprocess(*, patients: int, seed: int) -> dict:
    """``seed_scale`` in a process of its own: its wall time and its own peak memory."""
    started = time.monotonic()
    subprocess.run(  # noqa: S603 — our own interpreter and arguments
        [sys.executable, "manage.py", "seed_scale", "--patients", str(patients), "--seed", str(seed)],
        cwd=ROOT,
        check=True,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(time.monotonic() - started, 1), "peak_mb": round(peak)}


def run_jobs(names: list[str], *, in_subprocess: bool, timeout: float) -> dict[str, dict]:
    """The jobs, in order: each in a process of its own on a copy of the database (the seeded one stays as it
    was), or on this process's database (the suite)."""
    jobs: dict[str, dict] = {}
    print(f"\n{'job':30} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'queries':>7} {'peak MB':>8}")
    copy_url = copy_database() if in_subprocess else None  # the jobs write: on a copy, in their order
    try:
        for name in names:
            figures = job_in_subprocess(name, copy_url, timeout=timeout) if copy_url else run_job(name)
            jobs[name] = figures
            for step in figures["steps"]:
                print(
                    f"{step['name']:30} {step['rows']:>8} {step['seconds']:>8} {step['rows_per_s'] or '—':>9} "
                    f"{step['queries']:>7} {figures['peak_mb'] or '—':>8}",
                    flush=True,
                )
    finally:
        if copy_url:
            drop_database(copy_url)
    return jobs


def copy_database() -> str:
    """A copy of the bench database (``<name>_jobs``) for the jobs, which change rows: the seeded one stays as
    it is for ``--reuse``. The jobs run on it without a surrounding transaction, as beat runs them (a rolled-back
    transaction around them would turn each of their commits into a subtransaction, which slows PostgreSQL)."""
    import psycopg
    from django.db import connections
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = os.environ["DATABASE_URL"]
    params = conninfo_to_dict(url)
    name = params["dbname"]
    copy = f"{name}_jobs"
    connections.close_all()  # a template must have no other session
    with psycopg.connect(make_conninfo(**(params | {"dbname": "postgres"})), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(copy), sql.Identifier(name)
            )
        )
    head, _, _ = url.rpartition("/")
    return f"{head}/{copy}"


# --- Pages -------------------------------------------------------------------------------------------------


def page_list() -> list[tuple[str, str, str]]:
    """(name, who, url) for each staff page, the rows it shows picked from the seeded clinic; a page whose URL
    name does not exist is left out."""
    from django.db.models import Count
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from compliance.models import Alert
    from journeys.models import Journey, Stage
    from nudges.models import Nudge
    from nudges.selectors import outbox
    from patients.models import Patient

    active = Patient.objects.filter(archived=False)

    def after(rows, place: int) -> str:
        """The keyset cursor of page ``place // 25 + 1``: the id of the row just before it (lists page by id,
        never by OFFSET; an old ``?page=N`` opens page 1)."""
        row_id = rows.values_list("pk", flat=True)[place - 1 : place].first()
        return f"after={row_id}" if row_id else ""

    by_name = after(active.order_by("last_name", "first_name", "id"), 199 * 25)
    by_added = after(active.order_by("-created_at", "-id"), 199 * 25)
    outbox_p200 = {view: after(outbox(view=view), 199 * 50) for view in ("upcoming", "history", "all")}
    # A patient's pages are measured for patients in the same state at both sizes — an open journey at
    # check-ins, with its plan — so that a panel that reads one thing more for some patients (the programs a
    # new journey may start on, when none is open; the adherence of a plan's items) reads it at both or neither.
    at_checkins = Journey.objects.filter(ended_at__isnull=True, stage=Stage.CHECK_INS).values("patient_id")
    heavy = (
        Nudge.objects.filter(patient_id__in=at_checkins)
        .values("patient_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "patient_id")
        .first()
        or {}
    ).get("patient_id") or 0
    followed = active.filter(pk__in=at_checkins).order_by("pk").values_list("pk", flat=True)
    typical = followed[(n := followed.count()) // 2 : n // 2 + 1].first() or 0
    alert = (
        Alert.objects.filter(resolved_at__isnull=True)
        .order_by("-opened_at")
        .values_list("pk", flat=True)
        .first()
    )
    today = timezone.localdate()
    quarter = f"start={today - timedelta(days=90)}&end={today}"
    # Ranges ending yesterday: no quick range, so read from the daily roll-ups (``dashboard.rollups``).
    yesterday = today - timedelta(days=1)
    month_custom = f"start={yesterday - timedelta(days=27)}&end={yesterday}"
    year_custom = f"start={yesterday - timedelta(days=363)}&end={yesterday}"
    tabs = ("plan", "visits", "messages", "journey", "contact")
    wanted: list[tuple[str, str, str, tuple, str]] = [
        ("today (staff)", "staff", "dashboard:today", (), ""),
        ("today (practitioner)", "practitioner", "dashboard:today", (), ""),
        ("today (practice)", "practitioner", "dashboard:today", (), "?scope=practice"),
        ("schedule day (clinic)", "staff", "dashboard:schedule", (), ""),
        ("schedule week (clinic)", "staff", "dashboard:schedule", (), "?view=week"),
        ("schedule week (practitioner)", "practitioner", "dashboard:schedule", (), "?view=week"),
        ("patients p1", "staff", "patients:list", (), ""),
        ("patients p200", "staff", "patients:list", (), f"?{by_name}"),
        ("patients last", "staff", "patients:list", (), "?page=last"),
        ("patients search", "staff", "patients:list", (), "?q=kim"),
        ("patients by added", "staff", "patients:list", (), f"?sort=-added&{by_added}"),
        ("patients by stage", "staff", "patients:list", (), "?sort=stage"),
        ("patients stage+lead", "staff", "patients:list", (), "?stage=paused&sort=lead&per_page=100"),
        ("patient heavy", "practitioner", "dashboard:patient", (heavy,), ""),
        ("patient typical", "practitioner", "dashboard:patient", (typical,), ""),
        *[
            (f"patient heavy {tab}", "practitioner", "dashboard:patient_panel", (heavy, tab), "")
            for tab in tabs
        ],
        ("pipeline", "staff", "dashboard:pipeline", (), ""),
        ("outbox p1", "staff", "nudges:outbox", (), ""),
        ("outbox needs", "staff", "nudges:outbox", (), "?view=needs"),
        ("outbox upcoming", "staff", "nudges:outbox", (), "?view=upcoming"),
        ("outbox upcoming p200", "staff", "nudges:outbox", (), f"?view=upcoming&{outbox_p200['upcoming']}"),
        ("outbox history", "staff", "nudges:outbox", (), "?view=history"),
        ("outbox history p200", "staff", "nudges:outbox", (), f"?view=history&{outbox_p200['history']}"),
        ("outbox all p200", "staff", "nudges:outbox", (), f"?view=all&{outbox_p200['all']}"),
        ("message", "staff", "nudges:detail", (_latest_nudge(),), ""),
        ("review", "staff", "nudges:review", (), ""),
        ("alerts", "staff", "compliance:alerts", (), ""),
        *([("alert", "practitioner", "compliance:alert", (alert,), "")] if alert else []),
        ("insights", "staff", "dashboard:insights", (), ""),
        ("insights 13 weeks", "staff", "dashboard:insights", (), f"?{quarter}"),
        ("insights 4 weeks custom", "staff", "dashboard:insights", (), f"?{month_custom}"),
        ("insights 52 weeks custom", "staff", "dashboard:insights", (), f"?{year_custom}"),
        # Pages other branches are building: measured once their URL exists.
        ("inbox", "staff", "dashboard:inbox", (), ""),
        ("inbox (nudges)", "staff", "nudges:inbox", (), ""),
        ("advocates", "staff", "dashboard:advocates", (), ""),
        ("api patients", "api", "api:patients", (), ""),
        ("api patients search", "api", "api:patients", (), "?q=example"),
        ("api visits", "api", "api:visits", (), f"?day={today}"),
        ("api check-ins", "api", "api:checkins", (heavy,), ""),
        ("admin patients", "admin", "admin:patients_patient_changelist", (), ""),
    ]
    pages = []
    seen = set()
    for name, who, url_name, url_args, query in wanted:
        if name in seen:
            continue
        try:
            url = reverse(url_name, args=url_args)
        except NoReverseMatch:
            continue
        seen.add(name)
        pages.append((name, who, url + query))
    return pages


def _latest_nudge() -> int:
    from nudges.models import Nudge

    return Nudge.objects.order_by("-send_at", "-id").values_list("pk", flat=True).first() or 0


def users() -> dict:
    from accounts.models import Role, User

    found = {}
    for name, role in (("bench.staff", Role.STAFF), ("bench.admin", Role.ADMIN)):
        user, _ = User.objects.get_or_create(username=name, defaults={"role": role, "display_name": name})
        found[role.value] = user
    found["staff"] = found[Role.STAFF.value]
    found["admin"] = found[Role.ADMIN.value]
    found["practitioner"] = typical_practitioner()
    return found


def typical_practitioner():
    """The practitioner the practitioner's pages are measured as: the one with the median number of visits in
    the week the schedule opens on (ties by id), as a patient's pages take a typical patient. The first by id
    was an outlier on the seeded clinics — at 100,000 patients the busiest of 200 (206 visits that week against
    a median of 71), at 10,000 above the median too (90 against 72) — so its week compared two workloads."""
    from django.db.models import Count, Q
    from django.utils import timezone

    from accounts.models import Role, User

    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    week = Q(visits__starts_at__date__gte=monday, visits__starts_at__date__lt=monday + timedelta(days=7))
    ranked = list(
        User.objects.filter(role=Role.PRACTITIONER, is_active=True)
        .annotate(n=Count("visits", filter=week))
        .order_by("n", "pk")
    )
    return ranked[(len(ranked) - 1) // 2] if ranked else None


def signed_in_clients() -> dict:
    """A test client per role, signed in with both factors, as a real sign-in with a code leaves a session."""
    from allauth.mfa.models import Authenticator
    from django.test import Client

    from api.services import api_key_create
    from tests.support.signin import enrol, force_login_with_second_factor

    people = users()
    clients = {}
    for who in ("staff", "practitioner", "admin"):
        client = Client(HTTP_HOST="localhost")
        if not Authenticator.objects.filter(user=people[who], type=Authenticator.Type.TOTP).exists():
            enrol(people[who])
        force_login_with_second_factor(client, people[who])
        clients[who] = client
    # The API answers to a key, not a session: one with every read scope, made by the admin.
    _, raw = api_key_create(
        actor=people["admin"], name="make bench", scopes=["patients:read", "schedule:read", "outbox:read"]
    )
    clients["api"] = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return clients


def sql_floor(statements: list[str]) -> float | None:
    """Seconds the captured statements take when replayed through a raw cursor (None if one will not replay)."""
    from django.db import DatabaseError, connection

    connection.ensure_connection()  # the floor is the statements, not a new connection
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                if cursor.description is not None:
                    cursor.fetchall()
    except DatabaseError:
        return None
    return time.perf_counter() - started


class _WriteTimes(logging.Handler):
    """Adds up the database's own time for the statements that are not reads (the audit row, a session saved,
    BEGIN and COMMIT), as Django times each one for its ``django.db.backends`` log."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        sql = str(getattr(record, "sql", ""))
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            self.seconds += float(getattr(record, "duration", 0.0))


def write_seconds(client, url: str, *, rounds: int = WRITE_ROUNDS) -> float:
    """The median time a request of ``url`` spends in its writes, measured as they run (they cannot be
    replayed: the audit chain's next row has the next number, and a durable COMMIT is the cost of the trail)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    logger = logging.getLogger("django.db.backends")
    handler = _WriteTimes()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    samples = []
    try:
        with CaptureQueriesContext(
            connection
        ):  # Django times and logs each statement only while queries are kept
            for _ in range(rounds):
                handler.seconds = 0.0
                client.get(url, secure=True)
                samples.append(handler.seconds)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    return statistics.median(samples)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- Jobs --------------------------------------------------------------------------------------------------


def job_in_subprocess(name: str, url: str, *, timeout: float) -> dict:
    """One job in a fresh process, so its peak memory is its own; stopped after ``timeout`` seconds (a step
    that did not finish is reported with ``rows_per_s`` None and ``timed_out``)."""
    command = [sys.executable, "-m", "benchmarks", "pages", "--job", name, "--database-url", url]
    try:
        completed = subprocess.run(  # noqa: S603 — our own interpreter and arguments
            command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        step = _step(f"{name} (stopped after {timeout:.0f} s)", 0, timeout, 0, timed_out=True)
        step["rows_per_s"] = None
        return {"job": name, "steps": [step], "baseline_mb": None, "peak_mb": None}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def job_main(args: argparse.Namespace) -> int:
    configure_environment(args.database_url or os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    print(json.dumps(run_job(args.job)))
    return 0


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _step(name: str, rows: int, seconds: float, queries: int, **more: Any) -> dict:
    return {
        "name": name,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds > 0 else None,
        "queries": queries,
        **more,
    }


class StatementCounter:
    """Counts the statements a job sends (a capture would keep them all, and Django's log keeps 9,000)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counted(connection):
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        yield counter


def run_job(name: str) -> dict:
    """Run one job on the database Django is connected to, as beat would (no surrounding transaction)."""
    from django.db import connection

    before = _peak_mb()
    steps: list[dict] = []
    runner = {"falter": _falter, "sweep": _sweep, "dispatch": _dispatch, "export": _export}[name]
    runner(steps, connection)
    return {"job": name, "steps": steps, "baseline_mb": before, "peak_mb": _peak_mb()}


def _falter(steps, connection) -> None:
    from accounts.audit import system_context
    from compliance import detection
    from journeys.models import Journey, Stage

    patients = Journey.objects.filter(stage=Stage.CHECK_INS, ended_at__isnull=True).count()
    for name in ("falter detection, 1st pass", "falter detection, 2nd pass"):
        with system_context("bench falter detection"), counted(connection) as counter:
            started = time.perf_counter()
            opened = detection.detect_faltering()
            seconds = time.perf_counter() - started
        per_patient = round(1000 * seconds / patients, 3) if patients else None
        steps.append(
            _step(
                name, patients, seconds, counter.count, alerts_opened=len(opened), ms_per_patient=per_patient
            )
        )


def _sweep(steps, connection) -> None:
    from accounts.audit import system_context
    from compliance import detection
    from journeys.models import CheckIn

    # As if beat had not swept for a while: the first SWEEP_ROWS open check-ins have closed (the same number at
    # every size, so rows per second compare).
    open_ones = CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED).order_by("closes_at", "id")
    closes = list(open_ones.values_list("closes_at", flat=True)[:SWEEP_ROWS])
    if not closes:
        steps.append(_step("missed check-in sweep", 0, 0.0, 0))
        return
    with system_context("bench missed sweep"), counted(connection) as counter:
        started = time.perf_counter()
        marked = detection.checkins_mark_missed(now=closes[-1] + timedelta(seconds=1))
        seconds = time.perf_counter() - started
    steps.append(_step("missed check-in sweep", marked, seconds, counter.count))


def _dispatch(steps, connection) -> None:
    from django.utils import timezone

    from accounts.audit import system_context
    from nudges import services
    from nudges.models import Nudge

    now = timezone.now()
    due = list(
        Nudge.objects.filter(status=Nudge.Status.PENDING, send_at__gt=now)
        .order_by("send_at", "id")
        .values_list("pk", flat=True)[:DUE_NUDGES]
    )
    Nudge.objects.filter(pk__in=due).update(send_at=now - timedelta(minutes=1))
    with system_context("bench dispatcher"), counted(connection) as counter:
        started = time.perf_counter()
        report = services.nudge_dispatch_due(time_budget=600.0, soft_time_limit=900.0)
        seconds = time.perf_counter() - started
    handled = (
        report.sent + report.failed + report.suppressed + report.deferred + report.unknown + report.retrying
    )
    steps.append(
        _step("dispatcher", handled, seconds, counter.count, sent=report.sent, suppressed=report.suppressed,
              deferred=report.deferred, failed=report.failed)
    )  # fmt: skip


def _export(steps, connection) -> None:
    from django.urls import reverse

    clients = signed_in_clients()
    with counted(connection) as counter:
        started = time.perf_counter()
        response = clients["staff"].get(reverse("patients:export"), secure=True)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"bench pages: the patient CSV answered {response.status_code}")
    steps.append(_step("patient list CSV, all", max(0, lines - 1), seconds, counter.count))


# --- The table and the targets ------------------------------------------------------------------------------


def _pages_by_name(report: dict) -> dict[str, dict]:
    return {row["page"]: row for row in report.get("pages", [])}


def _check(name: str, value: Any, limit: str, met: bool | None) -> dict:
    return {"target": name, "value": value, "limit": limit, "met": met}


def targets(reports: dict[str, dict]) -> list[dict]:
    """Issue 13's targets on this run's figures: each met (True), missed (False) or not measurable (None)."""
    checks: list[dict] = []
    labels = list(reports)
    largest = reports[labels[-1]]
    top = labels[-1]
    s, m = reports.get("S"), reports.get("M")
    if s and m:
        sp, mp = _pages_by_name(s), _pages_by_name(m)
        for name, row in mp.items():
            if name not in sp:
                continue
            checks.append(_check(f"{name}: queries M = S", f"{sp[name]['queries']} → {row['queries']}", "equal",
                                 sp[name]["queries"] == row["queries"]))  # fmt: skip
            ratio = row["p95_ms"] / sp[name]["p95_ms"] if sp[name]["p95_ms"] else None
            checks.append(_check(f"{name}: p95 M / S", _ratio(ratio), f"≤ {TARGET_GROWTH}",
                                 None if ratio is None else ratio <= TARGET_GROWTH))  # fmt: skip
    pages = _pages_by_name(largest)
    for name, row in pages.items():
        floor = row.get("sql_floor_ms")
        ratio = row["p95_ms"] / floor if floor else None
        checks.append(_check(f"{name}: p95 / SQL floor ({top})", _ratio(ratio), f"≤ {TARGET_FLOOR}",
                             None if ratio is None else ratio <= TARGET_FLOOR))  # fmt: skip
        if top == "M":
            checks.append(_check(f"{name}: p95 at M", f"{row['p95_ms']} ms", f"≤ {TARGET_P95_MS:.0f} ms",
                                 row["p95_ms"] <= TARGET_P95_MS))  # fmt: skip
    for deep, first in DEEP_PAIRS:
        if deep in pages and first in pages and pages[first]["p95_ms"]:
            ratio = pages[deep]["p95_ms"] / pages[first]["p95_ms"]
            checks.append(
                _check(f"{deep} / {first} ({top})", _ratio(ratio), f"≤ {TARGET_DEEP}", ratio <= TARGET_DEEP)
            )
    if "patients p1" in pages and "admin patients" in pages and pages["admin patients"]["p95_ms"]:
        ratio = pages["patients p1"]["p95_ms"] / pages["admin patients"]["p95_ms"]
        checks.append(_check(f"patients p1 / admin changelist ({top})", _ratio(ratio), f"≤ {TARGET_ADMIN}",
                             ratio <= TARGET_ADMIN))  # fmt: skip
    checks.extend(_job_targets(reports, top))
    return checks


def _job_targets(reports: dict[str, dict], top: str) -> list[dict]:
    checks = []

    def step(report: dict, job: str, index: int = 0) -> dict | None:
        steps = report.get("jobs", {}).get(job, {}).get("steps", [])
        return steps[index] if len(steps) > index else None

    s, m = reports.get("S"), reports.get("M")
    if s and m:
        for index in (0, 1):
            a, b = step(s, "falter", index), step(m, "falter", index)
            if a and b:
                checks.append(_check(f"{b['name']}: queries M = S", f"{a['queries']} → {b['queries']}", "equal",
                                     a["queries"] == b["queries"]))  # fmt: skip
                ratio = (b["ms_per_patient"] / a["ms_per_patient"]) if a.get("ms_per_patient") else None
                checks.append(_check(f"{b['name']}: time per patient M / S", _ratio(ratio),
                                     f"≤ {TARGET_FALTER_GROWTH}",
                                     None if ratio is None else ratio <= TARGET_FALTER_GROWTH))  # fmt: skip
    for job in reports[top].get("jobs", {}).values():
        for stopped in job["steps"]:
            if stopped.get("timed_out"):
                checks.append(_check(f"{stopped['name']} ({top})", f"> {stopped['seconds']:.0f} s", "finishes",
                                     False))  # fmt: skip
    first = step(reports[top], "falter")
    if first and first.get("ms_per_patient") is not None:
        projected = first["ms_per_patient"] * 100_000 / 1000
        checks.append(_check(f"falter detection for 100,000 patients ({top}, projected)", f"{projected:.0f} s",
                             f"< {TARGET_FALTER_SECONDS_100K:.0f} s",
                             projected < TARGET_FALTER_SECONDS_100K))  # fmt: skip
    sent = step(reports[top], "dispatch")
    if sent and sent["rows_per_s"] is not None:
        checks.append(_check(f"dispatcher on the seeded clinic ({top})", f"{sent['rows_per_s']}/s",
                             f"≥ {TARGET_DISPATCH_PER_SECOND:.0f}/s",
                             sent["rows_per_s"] >= TARGET_DISPATCH_PER_SECOND))  # fmt: skip
    return checks


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def render(result: dict) -> str:
    reports = result["sizes"]
    labels = list(reports)
    lines = []
    head = f"{'page':30}"
    for label in labels:
        head += f" | {label + ' q':>5} {'p50':>7} {'p95':>7} {'floor':>7}"
    lines += [head + "   (ms)", "-" * len(head)]
    names: list[str] = []
    for label in labels:
        names += [n for n in _pages_by_name(reports[label]) if n not in names]
    for name in names:
        line = f"{name:30}"
        for label in labels:
            row = _pages_by_name(reports[label]).get(name)
            if row is None:
                line += f" | {'':>5} {'':>7} {'':>7} {'':>7}"
                continue
            floor = row["sql_floor_ms"] if row["sql_floor_ms"] is not None else "—"
            flag = "" if row["status"] == 200 else f" [{row['status']}]"
            line += f" | {row['queries']:>5} {row['p50_ms']:>7} {row['p95_ms']:>7} {floor:>7}{flag}"
        lines.append(line)
    lines += ["", f"{'job':30}" + "".join(f" | {label + ' rows':>9} {'s':>7} {'rows/s':>7} {'q':>5} {'MB':>5}"
                                          for label in labels)]  # fmt: skip
    job_rows: dict[str, dict[str, tuple]] = {}
    for label in labels:
        for job in reports[label].get("jobs", {}).values():
            for step in job["steps"]:
                job_rows.setdefault(step["name"], {})[label] = (step, job["peak_mb"])
        seed = reports[label].get("seed")
        if seed:
            job_rows.setdefault("seed_scale", {})[label] = (
                {"rows": reports[label]["counts"]["patients"], "seconds": seed["seconds"], "rows_per_s": round(
                    reports[label]["counts"]["patients"] / seed["seconds"]) if seed["seconds"] else None,
                 "queries": "—"}, seed["peak_mb"])  # fmt: skip
    for name, by_label in job_rows.items():
        line = f"{name:30}"
        for label in labels:
            if label not in by_label:
                line += f" | {'':>9} {'':>7} {'':>7} {'':>5} {'':>5}"
                continue
            step, peak = by_label[label]
            line += f" | {step['rows']:>9} {step['seconds']:>7} {step['rows_per_s'] or '—':>7} {step['queries']:>5} {peak or '—':>5}"
        lines.append(line)
    checks = result["targets"]
    met = sum(1 for c in checks if c["met"] is True)
    missed = sum(1 for c in checks if c["met"] is False)
    lines += ["", f"{'target':62} {'value':>14} {'limit':>10}  result", "-" * 96]
    for check in checks:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[check["met"]]
        lines.append(f"{check['target'][:62]:62} {check['value']:>14} {check['limit']:>10}  {verdict}")
    lines.append(f"{met} met, {missed} missed")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
