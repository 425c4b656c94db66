"""In CI the suite proves the code on the servers a clinic runs: PostgreSQL and Redis, never SQLite."""

import pytest
from django.db import connection

import tests.conftest
from tests.conftest import IN_CI


@pytest.mark.skipif(not IN_CI, reason="CI is not set: a developer may run the suite on SQLite")
def test_ci_runs_on_postgresql(db):
    assert connection.vendor == "postgresql", "CI must run against PostgreSQL (DATABASE_URL=postgres://…)"


def test_ci_broker_is_redis(redis_broker):
    assert redis_broker.startswith("redis://")


def test_a_missing_server_fails_the_test_in_ci_and_skips_it_elsewhere(monkeypatch):
    monkeypatch.setattr(tests.conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is needed for this test: set DATABASE_URL"):
        tests.conftest.require("PostgreSQL", False, "set DATABASE_URL")
    tests.conftest.require("PostgreSQL", True, "set DATABASE_URL")

    monkeypatch.setattr(tests.conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is needed for this test: set DATABASE_URL"):
        tests.conftest.require("PostgreSQL", False, "set DATABASE_URL")
