import pytest
from django.core import mail

from patients import services as patient_services
from tests.factories import PatientFactory


@pytest.fixture
def consenting_patient(db, staff):
    """Reachable by email and SMS, in New York, default quiet hours 20:00–08:00."""
    patient = PatientFactory(
        first_name="Renée", last_name="Côté", email="renee@example.com", phone="+13125550147",
        time_zone="America/New_York",
    )  # fmt: skip
    for channel in ("email", "sms"):
        patient_services.consent_record(
            patient=patient, channel=channel, granted=True, actor=staff, via="test"
        )
    return patient


@pytest.fixture
def sms_outbox(settings, tmp_path):
    settings.SMS_BACKEND = "nudges.channels.FileSmsBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    return tmp_path / "sms" / "outbox.jsonl"


@pytest.fixture
def outbox():
    mail.outbox.clear()
    return mail.outbox
