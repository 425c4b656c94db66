"""``python -m benchmarks fhir [--patients N]``: time and peak memory of the FHIR bulk export.

Seeds a clinic of N patients (10,000; ``manage.py seed_scale``) into ``BENCH_FHIR_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/alliance_bench_fhir, created if missing, flushed first), then runs
``manage.py export_fhir --all`` in a process of its own and prints its wall time, its peak resident memory
and how many resources of each type it wrote. The export holds one chunk of patients at a time, so the peak
should not grow with N: run it at two sizes to see.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/alliance_bench_fhir"
ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fhir", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000, help="patients to seed and export (10,000)")
    parser.add_argument("--weeks", type=int, default=12, help="check-in history per patient in weeks (12)")
    args = parser.parse_args(argv)

    from benchmarks import servers

    url = os.environ.get("BENCH_FHIR_DATABASE_URL", DEFAULT_DATABASE_URL)
    problem = servers.check_and_prepare(url, os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9"))
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "true", "DJANGO_LOG_LEVEL": "WARNING"}
    _manage("migrate", "--noinput", "-v0", env=env)
    _manage("flush", "--noinput", env=env)
    started = time.monotonic()
    _manage("seed_scale", "--patients", str(args.patients), "--weeks", str(args.weeks), env=env)
    seeded = time.monotonic() - started

    out = Path(tempfile.mkdtemp(prefix="alliance-fhir-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    _manage("export_fhir", "--all", "--out", str(out), env=env)
    took = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = sum(p.stat().st_size for p in out.glob("*.ndjson"))
    print(f"FHIR bulk export of {args.patients:,} patients (seeded in {seeded:.0f} s)")
    print(f"  time: {took:.1f} s ({args.patients / took:,.0f} patients/s)")
    print(
        f"  peak memory of the export process: {peak_kib / 1024:.0f} MiB (before it, children peaked at {before / 1024:.0f} MiB)"
    )
    print(f"  written: {size / 1e6:.1f} MB in {out}")
    return 0
