"""What the public "Get in touch" form received becomes a patient, an open journey and an Inquiry row."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.events import domain_event_record
from nudges.models import Kind
from nudges.services import consent_ask_by_text, nudge_schedule
from patients.models import Channel, Patient
from patients.selectors import (
    advocate_for_referral_token,
    marketing_consent_granted,
    patient_consent,
    patient_find_duplicates,
    patient_may_message,
)
from patients.services import consent_request, patient_create, referral_link_attach

from ..models import Inquiry, Journey, Stage
from .stages import journey_start

RATE_LIMIT = 5
RATE_WINDOW = timedelta(hours=1)
CONSENT_VIA = "inquiry form"
JOURNEY_NOTE = "from the inquiry form"

HOW_HEARD_TO_SOURCE: dict[str, str] = {
    Inquiry.HowHeard.REFERRAL: Patient.Source.REFERRAL,
    Inquiry.HowHeard.WEBSITE: Patient.Source.WEBSITE,
    Inquiry.HowHeard.EVENT: Patient.Source.EVENT,
    Inquiry.HowHeard.SOCIAL: Patient.Source.SOCIAL,
    Inquiry.HowHeard.OTHER: Patient.Source.OTHER,
}


class InquiryRateLimited(Exception):
    """Too many inquiries came from one address within ``RATE_WINDOW``."""


def inquiry_rate_limited(*, ip_address: str | None, now: datetime | None = None) -> bool:
    """Whether this address has already sent ``RATE_LIMIT`` inquiries within the last hour.

    Requests whose address is unknown share one allowance, so that hiding the address buys nothing.
    """
    since = (now or timezone.now()) - RATE_WINDOW
    recent = Inquiry.objects.filter(received_at__gte=since)
    recent = recent.filter(ip_address=ip_address) if ip_address else recent.filter(ip_address__isnull=True)
    return recent.count() >= RATE_LIMIT


@transaction.atomic
def inquiry_receive(
    *, data: dict, ip_address: str | None, user_agent: str, limit_by_address: bool = True
) -> Inquiry:
    """Record one inquiry, all or nothing: find or create the patient, make sure they have an open
    journey, keep what they wrote, and schedule the welcome message when they allowed us to write.

    ``data`` is the cleaned form: first_name, last_name, email, phone (E.164), message, how_heard,
    consent_email, consent_sms, and optionally referred_by_name and ref (an advocate's signed referral code).
    An existing patient's details are never overwritten by the form; an advocate's link sets ``referred_by``
    only when nobody is recorded yet. ``limit_by_address=False`` is for the API's twin of the form, whose
    key has a rate limit of its own.
    """
    if limit_by_address and inquiry_rate_limited(ip_address=ip_address):
        raise InquiryRateLimited(ip_address)
    email = (data.get("email") or "").strip()
    phone = data.get("phone") or ""
    consent_email = bool(data.get("consent_email")) and bool(email)
    consent_sms = bool(data.get("consent_sms")) and bool(phone)
    if not (email or phone):
        raise ValidationError("An inquiry needs an email address or a phone number.")

    matches = patient_find_duplicates(email=email, phone=phone)  # non-archived first, then oldest
    if matches:
        patient = matches[0]
        _record_new_consent(
            patient, email=email, phone=phone, consent_email=consent_email, consent_sms=consent_sms
        )
    else:
        patient = _create_patient(
            data, email=email, phone=phone, consent_email=consent_email, consent_sms=consent_sms
        )

    journey = Journey.objects.open().filter(patient=patient).first()
    if journey is None:
        try:
            journey = journey_start(patient=patient, actor=None, note=JOURNEY_NOTE)
        except ValidationError:  # another request opened one a moment ago
            journey = Journey.objects.open().get(patient=patient)

    return inquiry_record(
        patient=patient,
        journey=journey,
        data={
            **data,
            "email": email,
            "phone": phone,
            "consent_email": consent_email,
            "consent_sms": consent_sms,
        },
        ip_address=ip_address,
        user_agent=user_agent,
        matched_existing=bool(matches),
        advocate=advocate_for_referral_token(data.get("ref") or ""),
    )


@transaction.atomic
def inquiry_record(
    *,
    patient: Patient,
    journey: Journey,
    data: dict,
    ip_address: str | None = None,
    user_agent: str = "",
    matched_existing: bool = False,
    advocate: Patient | None = None,
) -> Inquiry:
    """Keep what the form received for the patient it belongs to, and schedule the welcome message when the
    journey is still at its first stage and the patient allowed us to write.

    ``data`` is as ``inquiry_receive`` takes it, with consent only for an address that was given.
    """
    inquiry = Inquiry.objects.create(
        first_name=data["first_name"],
        last_name=data["last_name"],
        email=data.get("email") or "",
        phone=data.get("phone") or "",
        message=data.get("message") or "",
        how_heard=data.get("how_heard") or "",
        consent_email=bool(data.get("consent_email")),
        consent_sms=bool(data.get("consent_sms")),
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:255],
        patient=patient,
        journey=journey,
        matched_existing=matched_existing,
        referred_by_name=(data.get("referred_by_name") or "").strip()[:200],
        referred_by=advocate if advocate is not None and advocate.pk != patient.pk else None,
    )
    domain_event_record(
        name="inquiry.received",
        patient_id=patient.pk,
        object_id=inquiry.pk,
        data={"inquiry_id": inquiry.pk, "journey_id": journey.pk},
    )
    # The welcome says "we will be in touch to set up a discovery call": it fits only a journey still
    # at its first stage. It is scheduled only when some channel may carry it now; otherwise the outbox
    # would hold it back anyway, and a held-back welcome would sit in the review list for nobody's good.
    if journey.stage == Stage.INQUIRY and _may_message_somehow(patient):
        nudge_schedule(
            patient=patient,
            kind=Kind.INQUIRY_WELCOME,
            send_at=timezone.now(),
            dedupe_key=f"inquiry-welcome:{inquiry.pk}",
            context={},
        )
    # A "referral" answer or a typed name names nobody for sure: only an advocate's own link is thanked.
    if inquiry.referred_by is not None:
        _thank_advocate(advocate=inquiry.referred_by, referred=patient)
    return inquiry


def referral_thanks_key(*, advocate_id: int, referred_id: int) -> str:
    return f"referral-thanks:{advocate_id}:{referred_id}"


def _thank_advocate(*, advocate: Patient, referred: Patient) -> None:
    """Link the referred patient to the advocate (when nobody is recorded) and, with the advocate's marketing
    consent, thank them: at most once per referred person, however often that person writes in. The thanks
    never names who came (the outbox checks the consent again, and the 09:00–20:00 window, when it goes)."""
    referral_link_attach(referred=referred, advocate=advocate)
    if referred.referred_by_id != advocate.pk or not marketing_consent_granted(advocate):
        return
    nudge_schedule(
        patient=advocate,
        kind=Kind.REFERRAL_THANKS,
        send_at=timezone.now(),
        dedupe_key=referral_thanks_key(advocate_id=advocate.pk, referred_id=referred.pk),
        context={},
    )


def _create_patient(data: dict, *, email: str, phone: str, consent_email: bool, consent_sms: bool) -> Patient:
    prefers_sms = bool(phone) and (not email or (consent_sms and not consent_email))
    return patient_create(
        actor=None,
        data={
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "email": email.lower(),
            "phone": phone,
            "source": HOW_HEARD_TO_SOURCE.get(data.get("how_heard", ""), Patient.Source.OTHER),
            "preferred_channel": Channel.SMS if prefers_sms else Channel.EMAIL,
        },
        consent_email=consent_email,
        consent_sms=consent_sms,
        consent_via=CONSENT_VIA,
        actor_label="public inquiry form",
    )


def _record_new_consent(
    patient: Patient, *, email: str, phone: str, consent_email: bool, consent_sms: bool
) -> None:
    """Consent ticked on the form for a patient we already know is only a request: anyone can type a
    known patient's address into a public form, so it never records consent (and never undoes a
    withdrawal). The request is recorded for the care team to see, and the patient is asked to confirm it
    themselves: by a link emailed to that address (``patients.services.consent_request``), or, for texts,
    by one text to that number asking them to reply YES (``nudges.services.consent_ask_by_text``).

    A request for an address the record does not hold is not recorded (the Inquiry row keeps it): it
    would cover no address we send to.
    """
    current = patient_consent(patient)
    given = (
        (Channel.EMAIL, consent_email, email.lower() == patient.email.lower() and bool(patient.email)),
        (Channel.SMS, consent_sms, phone == patient.phone and bool(patient.phone)),
    )
    for channel, ticked, same_address in given:
        if ticked and same_address and not current[channel].active:
            request = consent_request(patient=patient, channel=channel, via=CONSENT_VIA)
            if channel == Channel.SMS:
                consent_ask_by_text(request=request)


def _may_message_somehow(patient: Patient) -> bool:
    return any(patient_may_message(patient, channel)[0] for channel in Channel.values)
