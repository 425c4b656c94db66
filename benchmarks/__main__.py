"""``python -m benchmarks`` (``make bench``): print the outbox's figures. Benchmarks are never tests.

``python -m benchmarks pages [--m]`` times the staff pages over a seeded clinic instead (``benchmarks.pages``);
``python -m benchmarks fhir`` the FHIR bulk export of 10,000 patients (``benchmarks.fhir``).

Needs PostgreSQL and Redis. ``BENCH_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/alliance_bench)
is created if missing and emptied on every run; ``BENCH_BROKER_URL`` defaults to redis://127.0.0.1:6379/9.
Exit status 1 when a nudge was sent more than once (or the run failed), 2 when a server cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/alliance_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/9"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--nudges", type=int, default=10_000, help="due nudges per scenario (10,000)")
    parser.add_argument("--patients", type=int, default=2_000, help="patients they go to (2,000)")
    parser.add_argument(
        "--history",
        type=int,
        default=40_000,
        help="sent nudges beside the pending ones when timing the claim",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="claim batch size (500)")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (2)")
    parser.add_argument("--dispatch-tasks", type=int, default=8, help="nudges.dispatch_due tasks queued (8)")
    parser.add_argument(
        "--profile", action="store_true", help="also run scenario A under cProfile and print the hot spots"
    )
    return parser.parse_args(argv)


def configure_environment(args: argparse.Namespace) -> dict[str, str]:
    """Point Django, Celery and the SMS transport at the bench servers (before django.setup())."""
    sms_root = tempfile.mkdtemp(prefix="alliance-bench-")
    values = {
        "DJANGO_SETTINGS_MODULE": "alliance_crm.settings",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER_URL),
        "CELERY_RESULT_BACKEND": "",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SMS_BACKEND": "benchmarks.null_backend.NullSmsBackend",
        "BENCH_SMS_ROOT": sms_root,
        "BENCH_SMS_DIR": os.path.join(sms_root, "unused"),
        "NUDGE_BATCH_SIZE": str(args.batch_size),
        "DJANGO_LOG_LEVEL": "WARNING",
        # Production mode: no debug cursor recording every query, as in a deployed worker.
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-only-" + os.urandom(16).hex()),
        "DJANGO_ALLOWED_HOSTS": "localhost",
    }
    os.environ.update(values)
    return values


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pages"]:
        from benchmarks import pages

        return pages.main(argv[1:])
    if argv[:1] == ["fhir"]:
        from benchmarks import fhir

        return fhir.main(argv[1:])
    args = parse_args(argv)
    configure_environment(args)
    status = 1
    try:
        status = _run(args)
    finally:
        if status != 1:  # keep the transport's logs and the worker's log when something went wrong
            shutil.rmtree(os.environ["BENCH_SMS_ROOT"], ignore_errors=True)
    return status


def _run(args: argparse.Namespace) -> int:
    from benchmarks import servers

    problem = servers.check_and_prepare(os.environ["DATABASE_URL"], os.environ["CELERY_BROKER_URL"])
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2

    lock = servers.acquire_run_lock(os.environ["DATABASE_URL"])
    if lock is None:
        print("bench: another benchmark is running on this database; try again when it ends", file=sys.stderr)
        return 2

    import django

    django.setup()

    from benchmarks import dispatch

    try:
        return dispatch.run(args)
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
