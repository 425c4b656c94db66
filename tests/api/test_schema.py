"""The OpenAPI schema at /api/v1/schema/ holds: schemathesis sends generated calls to every operation, with a
key that has every scope, and none is answered 500. Kept to a few examples per operation (a few seconds)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.models import Scope
from api.services import api_key_create
from tests.factories import PatientFactory, UserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture
def every_scope(db):
    admin = UserFactory(role="admin", username="schema-admin")
    PatientFactory.create_batch(3)
    _, raw = api_key_create(actor=admin, name="Schemathesis", scopes=list(Scope.values))
    return {"Authorization": f"Bearer {raw}"}


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_call_gets_a_500(case, every_scope, settings_override):
    response = case.call(headers=every_scope)
    case.validate_response(response, checks=[not_a_server_error])


@pytest.fixture
def settings_override(settings):
    """No rate limit, and the database connection kept between calls, as Django's test client keeps it: a raw
    WSGI call would close it at the end of each request, and with it the test's transaction."""
    settings.API_RATE_PER_MINUTE = 100_000
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
