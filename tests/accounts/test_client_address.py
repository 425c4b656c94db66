"""One client address for the audit trail, sign-in throttling and the inquiry limit, from trusted hops only."""

import pytest
from django.test import RequestFactory

from accounts.audit import client_address, request_context
from accounts.models import AccessEvent
from journeys.models import Inquiry
from tests.factories import PASSWORD

PROXY = "10.0.0.1"


def address(meta_xff=None, remote=PROXY):
    extra = {"REMOTE_ADDR": remote}
    if meta_xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = meta_xff
    return client_address(RequestFactory().get("/", **extra))


def test_with_no_trusted_hops_the_connection_address_is_the_client(settings):
    settings.TRUSTED_PROXY_HOPS = 0
    assert address("203.0.113.9") == PROXY


@pytest.mark.parametrize(
    ("hops", "header", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, "6.6.6.6,2001:DB8::1", "2001:db8::1"),
        (2, "203.0.113.9", PROXY),  # fewer entries than hops: a proxy was skipped
        (1, "6.6.6.6, not-an-address", PROXY),
        (1, "6.6.6.6, 203.0.113.9:4431", PROXY),
        (1, "", PROXY),
        (1, "6.6.6.6, ", PROXY),
        (1, "\x00" * 10, PROXY),
    ],
)
def test_the_nth_address_from_the_right_is_the_client(settings, hops, header, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    assert address(header) == expected


def test_a_malformed_connection_address_is_no_address(settings):
    settings.TRUSTED_PROXY_HOPS = 0
    assert address(remote="garbage") is None


def test_a_forged_leftmost_address_does_not_change_the_audit_address(settings, practitioner):
    settings.TRUSTED_PROXY_HOPS = 1
    for forged in ("1.1.1.1", "2.2.2.2"):
        request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.9")
        request.user = practitioner
        with request_context(request):
            from accounts.audit import record_access

            record_access(action="view")
    assert set(AccessEvent.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_a_forged_leftmost_address_does_not_escape_the_inquiry_limit(client, settings, db):
    settings.TRUSTED_PROXY_HOPS = 1
    statuses = []
    for n in range(6):
        response = client.post(
            "/inquire/",
            {"first_name": "Ana", "last_name": f"Test{n}", "email": f"ana{n}@example.com"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9",
        )
        statuses.append(response.status_code)
    assert statuses == [302] * 5 + [429]
    assert set(Inquiry.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_a_forged_leftmost_address_does_not_escape_sign_in_throttling(client, settings, staff):
    settings.TRUSTED_PROXY_HOPS = 1
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        client.post(
            "/accounts/sign-in/",
            {"login": "charlie", "password": "guess"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9",
        )
    locked = client.post(
        "/accounts/sign-in/",
        {"login": "charlie", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.77, 203.0.113.9",
    )
    assert locked.status_code == 429
    from axes.models import AccessAttempt

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
