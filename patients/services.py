"""Every write to patients, their consent and their care team. Each service audits itself."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, User

from .models import (
    AdvocateLink,
    CareTeamMember,
    Channel,
    ConsentEvent,
    ConsentRequest,
    MarketingConsentEvent,
    Patient,
    Testimonial,
)
from .tokens import MAX_AGE as CONSENT_LINK_VALID_FOR
from .tokens import consent_confirm_token, referral_token
from .validation import (
    ALREADY_ON_THE_TEAM,
    ONE_LEAD,
    validate_care_team_member,
    validate_consent_address,
    validate_lead,
)

logger = logging.getLogger(__name__)

PATIENT_FIELDS = Patient.EDITABLE_FIELDS
CONFIRMATION_VIA = "confirmation link"
# At most one confirmation email per patient and address in this time, however often the form is sent.
CONFIRMATION_EVERY = timedelta(hours=24)
# How long a confirmation asked for stays good: the emailed link, or a YES to the text that asked.
CONFIRMATION_VALID_FOR = CONSENT_LINK_VALID_FOR


def _address_for(patient: Patient, channel: str) -> str:
    return patient.email if channel == Channel.EMAIL else patient.phone


@transaction.atomic
def patient_create(
    *,
    actor: User | None,
    data: dict[str, Any],
    lead: User | None = None,
    consent_email: bool = False,
    consent_sms: bool = False,
    consent_via: str = "patient form",
    actor_label: str = "",
) -> Patient:
    """Create a patient with their lead practitioner and the consent they gave, all or nothing."""
    patient = Patient(created_by=actor if actor and actor.is_authenticated else None)
    for field in PATIENT_FIELDS:
        if field in data:
            setattr(patient, field, data[field])
    patient.full_clean(exclude=["search_text"])
    patient.has_lead = lead is not None  # the lead's row is added just below, in this transaction
    patient.save()
    if lead is not None:
        _add_lead(patient=patient, user=lead, actor=actor)
    for channel, given in ((Channel.EMAIL, consent_email), (Channel.SMS, consent_sms)):
        if given:
            consent_record(patient=patient, channel=channel, granted=True, actor=actor, via=consent_via)
    record_access(action=AccessEvent.Action.CREATE, actor=actor, patient_id=patient.pk, obj=patient)
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, data: dict[str, Any]) -> list[str]:
    """Change a patient's details; return the names of the fields that changed (audited)."""
    # Compare with the stored row, not the instance: a ModelForm has already copied its data onto it.
    stored = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [f for f in PATIENT_FIELDS if f in data and getattr(stored, f) != data[f]]
    for field in changed:
        setattr(stored, field, data[field])
    if changed:
        stored.full_clean(exclude=["search_text"])
        stored.save()
        for field in (*changed, "search_text", "updated_at"):
            setattr(patient, field, getattr(stored, field))
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor=actor,
            patient_id=patient.pk,
            obj=patient,
            detail="changed " + ", ".join(changed),
        )
    return changed


@transaction.atomic
def patient_set_archived(*, actor: User, patient: Patient, archived: bool) -> None:
    """Archive or restore a patient; archived patients get no messages and leave the default list."""
    if patient.archived == archived:
        return
    patient.archived = archived
    patient.save(update_fields=["archived", "updated_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=patient.pk,
        obj=patient,
        detail="archived" if archived else "restored from archive",
    )


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    channel: str,
    granted: bool,
    via: str,
    actor: User | None = None,
    note: str = "",
    address: str | None = None,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append a grant or withdrawal of consent for one channel; the history is never edited."""
    if channel not in Channel.values:
        raise ValidationError(f"Unknown channel “{channel}”.")
    address = address if address is not None else _address_for(patient, channel)
    if granted:
        validate_consent_address(channel=channel, address=address)
    event = ConsentEvent.objects.create(
        patient=patient,
        channel=channel,
        granted=granted,
        address=address,
        at=at or timezone.now(),
        recorded_by=actor if actor is not None and actor.is_authenticated else None,
        via=via,
        note=note,
    )
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        actor_label="" if actor else via,
        patient_id=patient.pk,
        obj=event,
        detail=f"{'granted' if granted else 'withdrew'} {channel} consent via {via}",
    )
    return event


@transaction.atomic
def consent_request(*, patient: Patient, channel: str, via: str) -> ConsentRequest:
    """Record that a public form asked us to write to a patient we already know, without touching their
    consent. For email, send the patient a signed link to confirm it themselves (at most one a day per
    address, never to an archived patient). A text-message request is only recorded here: this floor
    sends no texts, so the caller asks the number itself (``nudges.services.consent_ask_by_text``), and
    otherwise it waits for the care team."""
    if channel not in Channel.values:
        raise ValidationError(f"Unknown channel “{channel}”.")
    address = _address_for(patient, channel)
    validate_consent_address(channel=channel, address=address)
    request = ConsentRequest.objects.create(
        patient=patient, channel=channel, address=address, via=via, requested_at=timezone.now()
    )
    if channel == Channel.EMAIL and consent_confirmation_claim(request=request, every=CONFIRMATION_EVERY):
        transaction.on_commit(partial(_send_consent_confirmation, request_id=request.pk))
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor_label=via,
        patient_id=patient.pk,
        obj=request,
        detail=f"{channel} consent asked for via {via}; waiting for the patient to confirm",
    )
    return request


@transaction.atomic
def consent_confirmation_claim(*, request: ConsentRequest, every: timedelta) -> bool:
    """Whether the patient may be asked to confirm ``request`` now, noting the ask as sent when they may:
    never an archived patient, and at most one ask per patient and address on that channel in ``every``.
    The patient's row is locked, so two inquiries at once never both ask."""
    patient = Patient.objects.select_for_update().get(pk=request.patient_id)
    now = timezone.now()
    asked_lately = (
        ConsentRequest.objects.filter(
            patient=patient,
            channel=request.channel,
            address=request.address,
            confirmation_sent_at__gte=now - every,
        )
        .exclude(pk=request.pk)
        .exists()
    )
    if patient.archived or asked_lately:
        return False
    request.confirmation_sent_at = now
    request.save(update_fields=["confirmation_sent_at"])
    return True


def _send_consent_confirmation(*, request_id: int) -> None:
    """Email the confirmation link. Not an outbox nudge: it asks for the consent a nudge would need."""
    request = ConsentRequest.objects.select_related("patient").get(pk=request_id)
    patient = request.patient
    context = {
        "patient_name": patient.preferred_name or patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "confirm_url": settings.ALLIANCE_SITE_URL
        + reverse("consent_confirm", args=[consent_confirm_token(request.pk)]),
    }
    message = EmailMessage(
        subject=render_to_string("patients/consent_confirm_subject.txt", context).strip(),
        body=render_to_string("patients/consent_confirm_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[request.address],
    )
    try:
        message.send()
    except Exception:  # the request is recorded and on the patient's page either way
        logger.warning("could not email the consent confirmation for request %s", request.pk, exc_info=True)


class ConsentConfirmation:
    """What following a confirmation link did."""

    GRANTED = "granted"
    ALREADY = "already"  # consent was in force already, or this link was used before
    CHANGED = "changed"  # the address changed, or consent was withdrawn after the request: nothing recorded


@transaction.atomic
def consent_confirm(*, request_id: int, via: str = CONFIRMATION_VIA) -> str:
    """The patient confirmed, from the link sent to that very address (or by a YES from that very number),
    that we may write to them: record consent ``via`` how they confirmed. Each request confirms once; a
    withdrawal made after the request, or a changed address, stands."""
    request = ConsentRequest.objects.select_for_update().select_related("patient").get(pk=request_id)
    patient = request.patient
    if request.confirmed_at is not None:
        return ConsentConfirmation.ALREADY
    if _address_for(patient, request.channel).lower() != request.address.lower():
        return ConsentConfirmation.CHANGED
    latest = patient.consent_events.filter(channel=request.channel).order_by("-at", "-id").first()
    if latest is not None and latest.granted and latest.address == request.address:
        outcome = ConsentConfirmation.ALREADY
    elif latest is not None and latest.at > request.requested_at:
        return ConsentConfirmation.CHANGED
    else:
        consent_record(
            patient=patient,
            channel=request.channel,
            granted=True,
            via=via,
            address=request.address,
            note=f"asked for via {request.via} on {request.requested_at:%Y-%m-%d}",
        )
        outcome = ConsentConfirmation.GRANTED
    request.confirmed_at = timezone.now()
    request.save(update_fields=["confirmed_at"])
    return outcome


def _add_lead(*, patient: Patient, user: User, actor: User | None, note: str = "") -> CareTeamMember:
    validate_lead(user)
    try:
        with transaction.atomic():
            lead = CareTeamMember.objects.create(
                patient=patient, user=user, role=CareTeamMember.Role.LEAD, added_by=actor, note=note
            )
    except IntegrityError:
        raise ValidationError(ONE_LEAD, code="one_lead") from None
    if not patient.has_lead:
        Patient.objects.filter(pk=patient.pk).update(has_lead=True)
        patient.has_lead = True
    return lead


def patient_has_lead_sync(*, patient_id: int) -> None:
    """Set ``Patient.has_lead`` from the care team as it stands: for a change made outside these services
    (the care team edited in admin), so Today's "no lead yet" list, which reads the flag's index, stays right."""
    has_lead = (
        CareTeamMember.objects.current().filter(patient_id=patient_id, role=CareTeamMember.Role.LEAD).exists()
    )
    Patient.objects.filter(pk=patient_id).exclude(has_lead=has_lead).update(has_lead=has_lead)


@transaction.atomic
def care_team_set_lead(
    *, patient: Patient, user: User, actor: User, keep_previous: bool = True, note: str = ""
) -> CareTeamMember:
    """Make ``user`` the patient's one lead. The old lead's row is ended (kept as history) and,
    with ``keep_previous``, they stay on the team as a practitioner."""
    validate_lead(user)
    Patient.objects.select_for_update().get(pk=patient.pk)  # one lead change at a time per patient
    now = timezone.now()
    current = list(
        CareTeamMember.objects.current().filter(patient=patient).filter(role="lead").select_related("user")
    )
    if current and current[0].user_id == user.pk:
        return current[0]
    # The new lead may already be on the team in another role: that row ends too.
    CareTeamMember.objects.current().filter(patient=patient, user=user).update(ended_at=now)
    for old in current:
        CareTeamMember.objects.filter(pk=old.pk).update(ended_at=now)
    lead = _add_lead(patient=patient, user=user, actor=actor, note=note)
    if keep_previous:
        for old in current:
            CareTeamMember.objects.create(
                patient=patient,
                user=old.user,
                role=CareTeamMember.Role.PRACTITIONER,
                added_by=actor,
                note="previous lead",
            )
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=patient.pk,
        obj=lead,
        detail=f"lead changed from {current[0].user if current else 'nobody'} to {user}",
    )
    return lead


@transaction.atomic
def care_team_add(
    *,
    patient: Patient,
    actor: User,
    role: str,
    user: User | None = None,
    external_name: str = "",
    external_practice: str = "",
    external_contact: str = "",
    note: str = "",
) -> CareTeamMember:
    """Add a practitioner, health coach or external specialist to the team (the lead has its own service)."""
    if role == CareTeamMember.Role.LEAD:
        raise ValidationError("Use “Change lead” to set the lead practitioner.")
    validate_care_team_member(role=role, user=user, external_name=external_name)
    member = CareTeamMember(
        patient=patient,
        role=role,
        user=user,
        external_name=external_name.strip(),
        external_practice=external_practice.strip(),
        external_contact=external_contact.strip(),
        added_by=actor,
        note=note,
    )
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        raise ValidationError(ALREADY_ON_THE_TEAM, code="already_on_the_team") from None
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=patient.pk,
        obj=member,
        detail=f"added {member} to the care team",
    )
    return member


@transaction.atomic
def care_team_end(*, member: CareTeamMember, actor: User) -> None:
    """Take someone off the care team; their row stays as history. The lead is changed, not removed."""
    if member.role == CareTeamMember.Role.LEAD:
        raise ValidationError("The lead practitioner cannot be removed: choose a new lead instead.")
    if member.ended_at is not None:
        return
    member.ended_at = timezone.now()
    member.save(update_fields=["ended_at"])
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=member.patient_id,
        obj=member,
        detail=f"removed {member} from the care team",
    )


@transaction.atomic
def patient_unsubscribe(*, patient: Patient, via: str, at: datetime | None = None) -> bool:
    """Record that the patient opted out of all messages; return False when they already had."""
    updated = Patient.objects.filter(pk=patient.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=at or timezone.now()
    )
    if updated:
        patient.refresh_from_db(fields=["unsubscribed_at"])
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor_label=via,
            patient_id=patient.pk,
            obj=patient,
            detail=f"unsubscribed via {via}",
        )
    return bool(updated)


# --- Advocacy: marketing consent, testimonials, referral links ------------------------------------

TESTIMONIAL_MAX = 2000


@transaction.atomic
def marketing_consent_record(*, patient: Patient, granted: bool, via: str, actor: User | None) -> None:
    """Append a grant or withdrawal of consent to marketing-type messages; the history is never edited."""
    event = MarketingConsentEvent.objects.create(
        patient=patient,
        granted=granted,
        via=via[:60],
        recorded_by=actor if actor is not None and actor.is_authenticated else None,
    )
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        actor_label="" if actor else via,
        patient_id=patient.pk,
        obj=event,
        detail=f"{'granted' if granted else 'withdrew'} consent to referral and testimonial messages via {via}",
    )


@transaction.atomic
def testimonial_record(
    *, patient: Patient, words: str, places: list[str], show_name: str = "", actor: User
) -> Testimonial:
    """Keep the patient's words with their consent to show them in ``places`` (at least one)."""
    words = words.strip()
    if not words:
        raise ValidationError("Write down the patient's own words.", code="words_required")
    if len(words) > TESTIMONIAL_MAX:
        raise ValidationError(f"Keep the testimonial under {TESTIMONIAL_MAX} characters.", code="too_long")
    unknown = [place for place in places if place not in Testimonial.Place.values]
    if unknown or not places:
        raise ValidationError("Choose where the patient agreed it may be shown.", code="places_required")
    testimonial = Testimonial.objects.create(
        patient=patient,
        words=words,
        places=list(dict.fromkeys(places)),
        show_name=show_name.strip()[:100],
        recorded_by=actor,
    )
    record_access(
        action=AccessEvent.Action.CREATE,
        actor=actor,
        patient_id=patient.pk,
        obj=testimonial,
        detail=f"testimonial recorded with consent to show it: {', '.join(testimonial.places)}",
    )
    return testimonial


@transaction.atomic
def testimonial_withdraw(*, testimonial: Testimonial, actor: User) -> bool:
    """Withdraw consent to show a testimonial; it is shown nowhere from now on. False if already withdrawn."""
    changed = Testimonial.objects.filter(pk=testimonial.pk, withdrawn_at__isnull=True).update(
        withdrawn_at=timezone.now(), withdrawn_by=actor
    )
    if changed:
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor=actor,
            patient_id=testimonial.patient_id,
            obj=testimonial,
            detail="consent to show the testimonial withdrawn",
        )
    return bool(changed)


def advocate_link_for(*, patient: Patient, actor: User | None = None) -> str:
    """The advocate's signed referral token, made once (a random code: nothing about the patient)."""
    link = AdvocateLink.objects.filter(patient=patient).first()
    if link is None:
        try:
            with transaction.atomic():
                link = AdvocateLink.objects.create(patient=patient, code=secrets.token_urlsafe(9)[:12])
        except IntegrityError:
            link = AdvocateLink.objects.get(patient=patient)
        else:
            record_access(
                action=AccessEvent.Action.CREATE,
                actor=actor,
                actor_label="" if actor else "referral link",
                patient_id=patient.pk,
                obj=link,
                detail="personal referral link made",
            )
    return referral_token(link.code)


def referral_link_attach(*, referred: Patient, advocate: Patient) -> bool:
    """Record that ``advocate`` referred ``referred`` when nobody is recorded yet; True if it was set now."""
    if referred.pk == advocate.pk:
        return False
    changed = Patient.objects.filter(pk=referred.pk, referred_by__isnull=True).update(
        referred_by=advocate, source=Patient.Source.REFERRAL
    )
    if changed:
        referred.referred_by = advocate
        referred.source = Patient.Source.REFERRAL
        record_access(
            action=AccessEvent.Action.UPDATE,
            actor_label="public inquiry form",
            patient_id=referred.pk,
            obj=referred,
            detail=f"referred by patient {advocate.pk} through their referral link",
        )
    return bool(changed)
