"""Django admin's changelists over the tables that grow with the clinic: a capped count instead of two exact
COUNT(*), and no date drill-down reading every row for its list of years."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

LARGE = [
    "/admin/patients/patient/",
    "/admin/nudges/nudge/",
    "/admin/nudges/inboundmessage/",
    "/admin/accounts/accessevent/",
    "/admin/compliance/compliancelog/",
    "/admin/compliance/checkinanswer/",
    "/admin/journeys/checkin/",
    "/admin/journeys/stagechange/",
]


@pytest.mark.parametrize("url", LARGE)
def test_a_large_changelist_counts_at_most_its_cap_and_never_lists_every_year(client_for, admin_user, url):
    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    sql = [query["sql"].upper() for query in captured.captured_queries]
    counts = [statement for statement in sql if "COUNT(" in statement and "FROM" in statement]
    assert counts and all("LIMIT 10001" in statement for statement in counts)
    assert not [
        statement for statement in sql if "DATE_TRUNC" in statement or "DJANGO_DATETIME_TRUNC" in statement
    ]
