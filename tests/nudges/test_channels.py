"""What a transport's failure means for the outbox: proof that nothing left is retried, anything else is unknown.

Real sockets on 127.0.0.1: a closed port, a fake SMTP server that fails at each step, and the fake Twilio of
``test_twilio``. A failure that proves nothing left us (a refused connection, a connect timeout, a hang-up
before DATA, a provider's documented "not accepted") leaves the nudge pending with backoff; a failure after
the message may have been accepted leaves it unknown, for a person.
"""

import socket
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from nudges import channels, services
from nudges.models import Nudge
from tests.nudges.test_twilio import FakeTwilio
from tests.support.fake_smtp import FakeSmtp

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York: outside quiet hours
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def closed_port() -> int:
    with socket.socket() as probe:  # nobody listens on it once this socket is closed
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_at(settings, port: int) -> None:
    settings.MAILERS = {
        "default": {"BACKEND": SMTP, "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 0.5}}
    }


def dispatch_one(patient, channel: str) -> Nudge:
    nudge = services.nudge_schedule(
        patient=patient,
        kind="checkin_request",
        channel=channel,
        send_at=timezone.now(),
        dedupe_key=f"channels-{channel}",
        context={"checkin_url": "https://crm.example/c/t/"},
    )
    services.nudge_dispatch_due()
    nudge.refresh_from_db()
    return nudge


def assert_retried(nudge: Nudge, words: str) -> None:
    assert (nudge.status, nudge.attempts) == ("pending", 1), (nudge.status, nudge.last_error)
    assert nudge.send_at == NOON_NY + timedelta(minutes=1)
    assert nudge.taken_at is None and nudge.claimed_at is None
    assert words in nudge.last_error


# --- Email through a real SMTP conversation ---------------------------------------------------------


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_to_a_mail_server_that_refuses_the_connection_is_retried(consenting_patient, settings):
    smtp_at(settings, closed_port())
    assert_retried(dispatch_one(consenting_patient, "email"), "could not reach the mail server")


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_whose_connection_times_out_before_the_greeting_is_retried(consenting_patient, settings):
    with FakeSmtp("silent") as server:
        smtp_at(settings, server.port)
        nudge = dispatch_one(consenting_patient, "email")
    assert_retried(nudge, "could not reach the mail server")


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_whose_server_hangs_up_before_data_is_retried(consenting_patient, settings):
    with FakeSmtp("close_before_data") as server:
        smtp_at(settings, server.port)
        nudge = dispatch_one(consenting_patient, "email")
    assert server.messages == [] and "DATA" not in server.commands
    assert_retried(nudge, "before the message was sent")


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_with_no_answer_after_its_data_is_unknown_and_not_retried(consenting_patient, settings):
    with FakeSmtp("hang_after_data") as server:
        smtp_at(settings, server.port)
        nudge = dispatch_one(consenting_patient, "email")
        assert len(server.messages) == 1
        assert (nudge.status, nudge.attempts) == ("unknown", 1)
        assert "may have" in nudge.last_error
        assert services.nudge_dispatch_due().sent == 0 and len(server.messages) == 1


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize(
    ("reply", "status"), [("451 4.3.0 try later", "pending"), ("554 5.7.1 no", "failed")]
)
def test_an_email_the_server_answers_with_a_refusal_after_data_is_retried_or_failed(
    consenting_patient, settings, reply, status
):
    with FakeSmtp("reject_after_data", reply=reply) as server:
        smtp_at(settings, server.port)
        nudge = dispatch_one(consenting_patient, "email")
    assert nudge.status == status and reply.split()[0] in nudge.last_error


@time_machine.travel(NOON_NY, tick=False)
def test_an_email_the_server_takes_is_sent(consenting_patient, settings):
    with FakeSmtp("ok") as server:
        smtp_at(settings, server.port)
        nudge = dispatch_one(consenting_patient, "email")
    assert nudge.status == "sent" and len(server.messages) == 1
    assert nudge.provider_id.encode() in server.messages[0]


# --- SMS through the fake Twilio --------------------------------------------------------------------


@pytest.fixture
def twilio(settings):
    with FakeTwilio() as fake:
        settings.SMS_BACKEND = "nudges.twilio.TwilioSmsBackend"
        settings.TWILIO_API_BASE = fake.base_url
        settings.TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000001"
        settings.TWILIO_AUTH_TOKEN = "twilio-test-token"
        settings.TWILIO_FROM_NUMBER = "+15005550006"
        settings.TWILIO_MESSAGING_SERVICE_SID = ""
        settings.TWILIO_TIMEOUT_SECONDS = 0.5
        yield fake


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize(
    ("status", "code"),
    [(401, 20003), (404, 20404), (429, 20429), (503, 20503), (400, 21606)],
)
def test_an_sms_twilio_answers_with_a_documented_not_accepted_is_retried(
    consenting_patient, twilio, status, code
):
    twilio.answer = (status, {"code": code, "message": "not this time", "status": status})
    nudge = dispatch_one(consenting_patient, "sms")
    assert_retried(nudge, f"Twilio answered {status}")
    assert len(twilio.requests) == 1


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_sms_twilio_answers_with_a_server_error_after_taking_the_request_is_unknown(
    consenting_patient, twilio, status
):
    twilio.answer = (status, {"code": 20500, "message": "Internal Server Error", "status": status})
    nudge = dispatch_one(consenting_patient, "sms")
    assert (nudge.status, nudge.attempts) == ("unknown", 1)
    assert f"Twilio answered {status}" in nudge.last_error
    assert services.nudge_dispatch_due().sent == 0 and len(twilio.requests) == 1


@time_machine.travel(NOON_NY, tick=False)
def test_an_sms_to_a_twilio_that_refuses_the_connection_is_retried(consenting_patient, settings, twilio):
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{closed_port()}"
    assert_retried(dispatch_one(consenting_patient, "sms"), "could not reach Twilio")


# --- The classification itself ------------------------------------------------------------------


def test_not_sent_errors_are_the_ones_that_prove_nothing_left():
    assert issubclass(channels.TransientSendError, channels.NotSent)
    assert issubclass(channels.PermanentSendError, channels.NotSent)
    assert not issubclass(channels.AmbiguousSendError, channels.NotSent)


class _Interrupted(BaseException):
    pass


@time_machine.travel(NOON_NY, tick=False)
@pytest.mark.parametrize("error", [RuntimeError("a bug in a transport"), _Interrupted()])
def test_an_unclassified_error_or_an_interruption_during_the_transport_leaves_the_nudge_unknown(
    consenting_patient, monkeypatch, error
):
    def transport(**kwargs):
        raise error

    monkeypatch.setattr(channels, "send_sms", transport)
    nudge = services.nudge_schedule(
        patient=consenting_patient, kind="graduation", channel="sms", send_at=NOON_NY, dedupe_key="x"
    )
    later = services.nudge_schedule(  # not a marketing kind: those wait for marketing consent (issue 15)
        patient=consenting_patient, kind="inquiry_welcome", channel="sms", send_at=NOON_NY, dedupe_key="y"
    )
    if isinstance(error, Exception):
        services.nudge_dispatch_due()
    else:
        with pytest.raises(_Interrupted):
            services.nudge_dispatch_due()
    nudge.refresh_from_db()
    later.refresh_from_db()
    assert nudge.status == "unknown" and type(error).__name__ in nudge.last_error
    if isinstance(error, Exception):
        assert later.status == "unknown"  # each nudge met the same broken transport
    else:  # the interruption stopped the batch: the nudge it never took is back, untouched
        assert (later.status, later.attempts, later.claimed_at) == ("pending", 0, None)
