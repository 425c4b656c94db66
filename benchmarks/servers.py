"""Reach the bench's PostgreSQL and Redis before Django starts; create the bench database if missing."""

from __future__ import annotations

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def _maintenance_conninfo(database_url: str) -> tuple[str, str]:
    """(conninfo for the ``postgres`` maintenance database, the bench database's name)."""
    params = conninfo_to_dict(database_url)
    name = params.get("dbname") or "alliance_bench"
    return make_conninfo(**(params | {"dbname": "postgres", "connect_timeout": 3})), name


def check_and_prepare(database_url: str, broker_url: str) -> str:
    """An explanation of what is unreachable, or "" when both servers answer (and the database exists)."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return f"the benchmark needs PostgreSQL; BENCH_DATABASE_URL is {database_url.split('://')[0]}://…"
    if not broker_url.startswith(("redis://", "rediss://")):
        return f"the benchmark needs Redis; BENCH_BROKER_URL is {broker_url.split('://')[0]}://…"
    maintenance, name = _maintenance_conninfo(database_url)
    try:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (
            f"PostgreSQL is not reachable at {database_url} ({first_line}). Start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            "or set BENCH_DATABASE_URL."
        )
    try:
        redis.Redis.from_url(broker_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        return (
            f"Redis is not reachable at {broker_url} ({error}). Start it "
            '(redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) '
            "or set BENCH_BROKER_URL."
        )
    return ""


def acquire_run_lock(database_url: str) -> psycopg.Connection | None:
    """A connection holding the bench's advisory lock (keep it open for the run), or None if another
    benchmark holds it: two runs on one bench database would empty each other's tables."""
    conn = psycopg.connect(database_url, autocommit=True, connect_timeout=3)
    if conn.execute("SELECT pg_try_advisory_lock(hashtext('alliance-crm-benchmarks'))").fetchone()[0]:
        return conn
    conn.close()
    return None
