"""``python -m benchmarks pages``: seed a large clinic and time every staff page through the full stack.

Seeds ``--patients`` (10,000; ``--m`` for 100,000) with ``seed_scale`` into its own PostgreSQL database
(``BENCH_PAGES_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/alliance_bench_pages), dropped and
made anew unless ``--reuse`` finds it seeded already (``--drop`` removes it at the end). Each page is requested
``--rounds`` times with Django's test client as a signed-in user (production settings: DEBUG off), and the
table shows p50/p95, the number of queries, and the SQL floor: the same captured SELECTs replayed through a raw
cursor, i.e. what the database alone costs. Figures go to ``var/bench/pages-<patients>.json`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/alliance_bench_pages"
OUT_DIR = Path(__file__).resolve().parent.parent / "var" / "bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pages", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000, help="patients to seed (10,000: S)")
    parser.add_argument("--m", action="store_true", help="seed 100,000 patients (M) instead")
    parser.add_argument("--rounds", type=int, default=7, help="requests per page (7)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database when it holds the clinic already"
    )
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--only", default="", help="comma-separated page names to run")
    args = parser.parse_args(argv)
    if args.m:
        args.patients = 100_000
    return args


def configure_environment() -> str:
    url = os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-only-" + os.urandom(16).hex()),
            "DJANGO_ALLOWED_HOSTS": "localhost,testserver",
            "DJANGO_LOG_LEVEL": "WARNING",
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    return url


def prepare_database(url: str, *, reuse: bool) -> bool:
    """Make the database (anew unless reusing); True when it must be seeded."""
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import psycopg

    url = configure_environment()
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench pages: needs PostgreSQL (BENCH_PAGES_DATABASE_URL)", file=sys.stderr)
        return 2
    try:
        fresh = prepare_database(url, reuse=args.reuse)
    except psycopg.Error as error:
        print(f"bench pages: PostgreSQL is not reachable at {url} ({error})", file=sys.stderr)
        return 2

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production settings read the manifest
    from patients.models import Patient

    seed_seconds = None
    if fresh or not Patient.objects.exists():
        started = time.monotonic()
        call_command("seed_scale", patients=args.patients, seed=args.seed)
        seed_seconds = round(time.monotonic() - started, 1)
    try:
        results = run(args)
    finally:
        if args.drop:
            from django.db import connections

            connections.close_all()
            drop_database(url)
    report = {
        "patients": Patient.objects.count() if not args.drop else args.patients,
        "seed_seconds": seed_seconds,
    }
    report["pages"] = results
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"pages-{args.patients}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")
    return 0


def _pages() -> list[tuple[str, str, str]]:
    """(name, who, url) for each staff page, the rows it shows picked from the seeded clinic."""
    from datetime import timedelta

    from django.db.models import Count
    from django.urls import reverse
    from django.utils import timezone

    from nudges.models import Nudge
    from patients.models import Patient

    active = Patient.objects.filter(archived=False).count()
    last_page = max(1, -(-active // 25))
    heavy = (
        Nudge.objects.values("patient_id").annotate(n=Count("pk")).order_by("-n", "patient_id").first() or {}
    ).get("patient_id")
    typical = (
        Patient.objects.order_by("pk").values_list("pk", flat=True)[active // 2 : active // 2 + 1].first()
    )
    patients = reverse("patients:list")
    outbox = reverse("nudges:outbox")
    today = timezone.localdate()
    quarter = f"start={today - timedelta(days=90)}&end={today}"
    return [
        ("today (staff)", "staff", reverse("dashboard:today")),
        ("today (practitioner)", "practitioner", reverse("dashboard:today")),
        ("today (practice)", "practitioner", reverse("dashboard:today") + "?scope=practice"),
        ("schedule day (clinic)", "staff", reverse("dashboard:schedule")),
        ("schedule week (clinic)", "staff", reverse("dashboard:schedule") + "?view=week"),
        ("schedule week (practitioner)", "practitioner", reverse("dashboard:schedule") + "?view=week"),
        ("patients p1", "staff", patients),
        ("patients p200", "staff", f"{patients}?page=200"),
        ("patients last", "staff", f"{patients}?page={last_page}"),
        ("patients search", "staff", f"{patients}?q=kim"),
        ("patients by added", "staff", f"{patients}?sort=-added&page=200"),
        (
            "patients by stage",
            "staff",
            f"{patients}?sort=stage",
        ),  # over the bound: name order, a capped count
        ("patients stage+lead", "staff", f"{patients}?stage=paused&sort=lead&per_page=100"),
        ("patient heavy", "practitioner", reverse("dashboard:patient", args=[heavy])),
        ("patient typical", "practitioner", reverse("dashboard:patient", args=[typical])),
        (
            "patient heavy messages",
            "practitioner",
            reverse("dashboard:patient_panel", args=[heavy, "messages"]),
        ),
        (
            "patient heavy journey",
            "practitioner",
            reverse("dashboard:patient_panel", args=[heavy, "journey"]),
        ),
        ("pipeline", "staff", reverse("dashboard:pipeline")),
        ("outbox p1", "staff", outbox),
        ("outbox needs", "staff", f"{outbox}?view=needs"),
        ("outbox upcoming", "staff", f"{outbox}?view=upcoming"),
        ("outbox upcoming p200", "staff", f"{outbox}?view=upcoming&page=200"),
        ("outbox history", "staff", f"{outbox}?view=history"),
        ("outbox history p200", "staff", f"{outbox}?view=history&page=200"),
        ("outbox all p200", "staff", f"{outbox}?view=all&page=200"),
        ("message", "staff", reverse("nudges:detail", args=[_latest_nudge()])),
        ("review", "staff", reverse("nudges:review")),
        ("alerts", "staff", reverse("compliance:alerts")),
        ("insights", "staff", reverse("dashboard:insights")),
        ("insights 13 weeks", "staff", f"{reverse('dashboard:insights')}?{quarter}"),
        ("admin patients", "admin", reverse("admin:patients_patient_changelist")),
    ]


def _latest_nudge() -> int:
    from nudges.models import Nudge

    return Nudge.objects.order_by("-send_at", "-id").values_list("pk", flat=True).first() or 0


def _users() -> dict:
    from accounts.models import Role, User

    users = {}
    for name, role in (("bench.staff", Role.STAFF), ("bench.admin", Role.ADMIN)):
        user, _ = User.objects.get_or_create(username=name, defaults={"role": role, "display_name": name})
        users[role.value] = user
    users["staff"] = users[Role.STAFF.value]
    users["admin"] = users[Role.ADMIN.value]
    users["practitioner"] = User.objects.filter(role=Role.PRACTITIONER).order_by("pk").first()
    return users


def _floor(statements: list[str]) -> float:
    """Seconds the captured SELECTs take when replayed through a raw cursor."""
    from django.db import connection

    connection.ensure_connection()  # the floor is the statements, not a new connection
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
            cursor.fetchall()
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> list[dict]:
    from allauth.mfa.models import Authenticator
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.support.signin import enrol, force_login_with_second_factor

    users = _users()
    clients = {}
    for who in ("staff", "practitioner", "admin"):
        client = Client(HTTP_HOST="localhost")
        # every page needs the second factor: a session that passed it, as a real sign-in with a code gives
        if not Authenticator.objects.filter(user=users[who], type=Authenticator.Type.TOTP).exists():
            enrol(users[who])
        force_login_with_second_factor(client, users[who])
        clients[who] = client
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    results = []
    print(f"{'page':24} {'status':>6} {'queries':>7} {'p50 ms':>8} {'p95 ms':>8} {'SQL floor ms':>12}")
    for name, who, url in _pages():
        if only and name not in only:
            continue
        client = clients[who]
        connection.queries_log.clear()  # a full log (its deque is bounded) would hide the new statements
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, secure=True)
        queries = [q["sql"] for q in captured.captured_queries]  # now: the next request empties the log
        statements = [sql for sql in queries if sql.lstrip().upper().startswith("SELECT")]
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            client.get(url, secure=True)
            times.append(time.perf_counter() - started)
        floors = sorted(_floor(statements) for _ in range(3))
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        row = {
            "page": name,
            "url": url,
            "status": response.status_code,
            "queries": len(queries),
            "p50_ms": round(1000 * statistics.median(times), 1),
            "p95_ms": round(1000 * p95, 1),
            "sql_floor_ms": round(1000 * floors[1], 1),
        }
        results.append(row)
        print(
            f"{name:24} {row['status']:>6} {row['queries']:>7} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['sql_floor_ms']:>12}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    sys.exit(main())
