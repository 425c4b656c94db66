"""The Twilio backend end to end through the outbox, against a fake Twilio API on 127.0.0.1."""

import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.http import QueryDict
from django.utils import timezone

from nudges import services
from nudges.twilio import TwilioSmsBackend, validate_twilio_signature

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York: outside quiet hours
ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "twilio-test-token"
FROM_NUMBER = "+15005550006"
MESSAGE_SID = "SM0123456789abcdef0123456789abcdef"


class FakeTwilio:
    """A stand-in for api.twilio.com: records each request and answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answer = (201, {"sid": MESSAGE_SID, "status": "queued"})
        self.hang = False
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()},
                    }
                )
                if fake.hang:
                    fake.released.wait(timeout=10)
                    return
                status, payload = fake.answer
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio_settings(settings, fake_twilio):
    settings.SMS_BACKEND = "nudges.twilio.TwilioSmsBackend"
    settings.TWILIO_API_BASE = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    return settings


def schedule_sms(patient):
    return services.nudge_schedule(
        patient=patient,
        kind="checkin_request",
        channel="sms",
        send_at=timezone.now(),
        dedupe_key="twilio-1",
        context={"checkin_url": "https://crm.example/c/t/"},
    )


def dispatch(nudge):
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    return nudge


@time_machine.travel(NOON_NY, tick=False)
def test_a_due_sms_is_posted_to_twilio_once_and_marked_sent_with_its_sid(
    consenting_patient, twilio_settings, fake_twilio
):
    nudge = dispatch(schedule_sms(consenting_patient))

    assert len(fake_twilio.requests) == 1
    request = fake_twilio.requests[0]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {credentials}"
    assert request["form"] == {"To": "+13125550147", "From": FROM_NUMBER, "Body": nudge.body_text}
    assert nudge.body_text.endswith("Reply STOP to opt out.")
    assert (nudge.status, nudge.provider_id, nudge.attempts) == ("sent", MESSAGE_SID, 1)
    assert services.nudge_dispatch_due().sent == 0 and len(fake_twilio.requests) == 1


@time_machine.travel(NOON_NY, tick=False)
def test_a_messaging_service_is_used_instead_of_a_from_number_when_set(
    consenting_patient, twilio_settings, fake_twilio
):
    twilio_settings.TWILIO_MESSAGING_SERVICE_SID = "MG00000000000000000000000000000002"
    dispatch(schedule_sms(consenting_patient))
    form = fake_twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == "MG00000000000000000000000000000002"
    assert "From" not in form


@time_machine.travel(NOON_NY, tick=False)
def test_an_invalid_number_fails_the_nudge_with_twilios_message(
    consenting_patient, twilio_settings, fake_twilio
):
    fake_twilio.answer = (
        400,
        {
            "code": 21211,
            "message": "The 'To' number +13125550147 is not a valid phone number.",
            "status": 400,
        },
    )
    nudge = dispatch(schedule_sms(consenting_patient))
    assert nudge.status == "failed"
    assert "21211" in nudge.last_error
    assert "The 'To' number +13125550147 is not a valid phone number." in nudge.last_error
    assert len(fake_twilio.requests) == 1


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_or_down_twilio_leaves_the_nudge_pending_for_a_retry(
    consenting_patient, twilio_settings, fake_twilio, status
):
    fake_twilio.answer = (status, {"code": 20429 if status == 429 else 20500, "message": "try later"})
    nudge = dispatch(schedule_sms(consenting_patient))
    assert (nudge.status, nudge.attempts) == ("pending", 1)
    assert nudge.send_at == NOON_NY + timedelta(minutes=1)
    assert str(status) in nudge.last_error


@time_machine.travel(NOON_NY, tick=False)
def test_no_answer_after_the_request_was_sent_makes_the_nudge_unknown(
    consenting_patient, twilio_settings, fake_twilio
):
    fake_twilio.hang = True
    nudge = dispatch(schedule_sms(consenting_patient))
    assert nudge.status == "unknown"
    assert "did not answer" in nudge.last_error
    assert len(fake_twilio.requests) == 1
    assert services.nudge_dispatch_due().sent == 0 and len(fake_twilio.requests) == 1


@time_machine.travel(NOON_NY, tick=False)
def test_a_refused_connection_leaves_the_nudge_pending_for_a_retry(consenting_patient, twilio_settings):
    with socket.socket() as probe:  # a port nobody listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    twilio_settings.TWILIO_API_BASE = f"http://127.0.0.1:{port}"
    nudge = dispatch(schedule_sms(consenting_patient))
    assert (nudge.status, nudge.attempts) == ("pending", 1)
    assert nudge.send_at == NOON_NY + timedelta(minutes=1)
    assert "could not reach Twilio" in nudge.last_error


@pytest.mark.parametrize(
    ("blank", "named"),
    [
        (["TWILIO_ACCOUNT_SID"], "TWILIO_ACCOUNT_SID"),
        (["TWILIO_AUTH_TOKEN"], "TWILIO_AUTH_TOKEN"),
        (["TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"], "TWILIO_FROM_NUMBER or"),
    ],
)
def test_missing_configuration_is_refused_when_the_backend_is_made(twilio_settings, blank, named):
    for name in blank:
        setattr(twilio_settings, name, "")
    with pytest.raises(ImproperlyConfigured, match=named):
        TwilioSmsBackend()


def test_a_non_http_api_base_is_refused(twilio_settings):
    twilio_settings.TWILIO_API_BASE = "file:///etc"
    with pytest.raises(ImproperlyConfigured, match="TWILIO_API_BASE"):
        TwilioSmsBackend()


# --- X-Twilio-Signature -----------------------------------------------------------------------------

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_TOKEN = "12345"
# Deliberately not in name order: the signature must sort them.
DOC_PARAMS = {
    "To": "+18005551212",
    "Digits": "1234",
    "From": "+14158675309",
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
}


def expected_signature(url: str, signed_string_tail: str, token: str) -> str:
    """Computed here from the documented recipe, independent of the code under test."""
    digest = hmac.new(token.encode(), (url + signed_string_tail).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_the_signature_is_hmac_sha1_over_the_url_and_the_sorted_params():
    tail = "CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
    signature = expected_signature(DOC_URL, tail, DOC_TOKEN)
    assert signature == "RSOYDt4T1cUTdK1PDd93/VVr8B8="  # the example in Twilio's helper libraries' tests
    assert validate_twilio_signature(
        url=DOC_URL, params=DOC_PARAMS, signature=signature, auth_token=DOC_TOKEN
    )


def test_a_repeated_param_signs_each_distinct_value_in_order():
    params = QueryDict("Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234")
    signature = expected_signature(DOC_URL, "Digits1234Digits5678SidCA123SidAccountAC123", DOC_TOKEN)
    assert signature == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert validate_twilio_signature(url=DOC_URL, params=params, signature=signature, auth_token=DOC_TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (DOC_URL, DOC_PARAMS | {"Digits": "9999"}, DOC_TOKEN),
        (DOC_URL + "&extra=1", DOC_PARAMS, DOC_TOKEN),
        (DOC_URL.replace("https", "http"), DOC_PARAMS, DOC_TOKEN),
        (DOC_URL, DOC_PARAMS, "another-token"),
    ],
    ids=["tampered param", "other url", "other scheme", "other token"],
)
def test_a_signature_for_anything_else_is_refused(url, params, token):
    assert not validate_twilio_signature(
        url=url, params=params, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=", auth_token=token
    )


def test_no_signature_or_no_token_is_never_valid():
    unkeyed = expected_signature(DOC_URL, "", "")
    assert not validate_twilio_signature(url=DOC_URL, params={}, signature=unkeyed, auth_token="")
    assert not validate_twilio_signature(url=DOC_URL, params=DOC_PARAMS, signature="", auth_token=DOC_TOKEN)


def test_a_misconfigured_sms_transport_fails_the_start_up_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SMS_BACKEND = "nudges.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(SystemCheckError, match=r"nudges\.E001"):
        call_command("check")
