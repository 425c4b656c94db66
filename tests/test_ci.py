"""In CI the suite proves the code on the servers a clinic runs: PostgreSQL and Redis, never SQLite."""

from django.db import connection

from tests.conftest import IN_CI


def test_ci_runs_on_postgresql_and_redis(db):
    if not IN_CI:
        return
    assert connection.vendor == "postgresql", "CI must run against PostgreSQL (DATABASE_URL=postgres://…)"


def test_ci_broker_is_redis(redis_broker):
    assert redis_broker.startswith("redis://")
