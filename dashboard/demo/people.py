"""The demo's people: the colleagues, and each patient with their details, consent and care team.

A patient is planned first (their details drawn from a seeded generator, so the demo is the same on every
run) and created later, on the clock, at the moment their journey begins, through the patients services.
"""

from __future__ import annotations

import os
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import phonenumbers
from django.contrib.auth import get_user_model

from journeys.services.inquiries import CONSENT_VIA
from patients.models import CareTeamMember, Channel, Patient
from patients.services import (
    care_team_add,
    care_team_set_lead,
    consent_record,
    patient_create,
    patient_unsubscribe,
)

from .data import DemoData, Person
from .summary import Summary

ASCII_LEFTOVERS = str.maketrans({"ø": "o", "ł": "l", "æ": "ae", "ß": "ss", "đ": "d", "'": "", " ": ""})
LEAD_CHANGE_NOTE = "moved to a schedule that suits them"
WITHDRAWALS = {  # consent pattern: how the patient took it back
    "withdrew_sms": (Channel.SMS, "SMS STOP reply"),
    "withdrew_email": (Channel.EMAIL, "email unsubscribe link"),
}
UNSUBSCRIBED_VIA = "email unsubscribe link"


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).translate(ASCII_LEFTOVERS)
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c in ".-"))


@dataclass
class PatientPlan:
    """A demo patient as planned; ``patient`` is set once they exist."""

    person: Person
    data: dict  # the fields ``patient_create`` takes, but ``referred_by``
    referrer: PatientPlan | None
    first_lead: object  # the lead at creation
    lead: object  # the lead who sees them (another one when ``person.lead_changed``)
    pattern: str  # of consent (clinic.toml [consent.patterns])
    consent_email: bool
    consent_sms: bool
    consent_via: str
    coach: object | None = None
    specialist: tuple[str, str, str] | None = None
    patient: Patient | None = field(default=None, repr=False)


class People:
    def __init__(self, *, data: DemoData, summary: Summary):
        self.data = data
        self.clinic = data.clinic
        self.rng = random.Random(self.clinic.seed)
        self.summary = summary
        self.User = get_user_model()
        self.phone_suffixes = iter(self.rng.sample(range(100, 200), 100))
        self.sydney_mobiles = iter(self.clinic.contact.sydney_mobiles)

    # --- colleagues ---

    def add_colleagues(self) -> None:
        """The colleagues whose username is free; they sign in with DEMO_PASSWORD when it is set."""
        password = os.environ.get("DEMO_PASSWORD") or None  # None: an unusable password
        self.summary.password_set = password is not None
        for colleague in self.clinic.colleagues:
            if self.User.objects.filter(username=colleague.username).exists():
                continue
            self.User.objects.create_user(
                username=colleague.username,
                email=f"{colleague.username}@clinic.invalid",
                password=password,
                display_name=colleague.display_name,
                role=colleague.role,
            )
            self.summary.users_added.append(colleague.username)

    def user(self, username: str):
        return self.User.objects.filter(username=username, is_active=True).first()

    @cached_property
    def coach(self):
        """The health coach who joins some care teams (once the colleagues exist); may be None."""
        return self.user(self.clinic.team.coach)

    # --- patients ---

    def plan(
        self, person: Person, *, index: int, leads: list, earlier: list[PatientPlan], from_form: bool
    ) -> PatientPlan:
        """Draw one patient's details. ``earlier``: the patients whose journeys began before theirs (a
        referral points at one of them); ``from_form``: they wrote in through the inquiry form."""
        rng, clinic = self.rng, self.clinic
        age = rng.randint(24, 74)
        date_of_birth = date(clinic.reference_date.year - age - 1, 1, 1) + timedelta(days=rng.randrange(365))
        phone = self.phone_for(person.time_zone) if rng.random() > clinic.contact.no_phone_share else ""
        domain = rng.choice(clinic.contact.email_domains)
        email = f"{ascii_slug(person.first_name)}.{ascii_slug(person.last_name)}@{domain}"

        patterns = clinic.consent.patterns
        pattern = rng.choices(list(patterns), weights=[weight for weight, _ in patterns.values()])[0]
        if not phone and pattern in ("sms", "withdrew_sms"):
            pattern = "email"
        wants_email = pattern in ("both", "email", "withdrew_sms", "withdrew_email", "unsubscribed")
        wants_sms = pattern in ("both", "sms", "withdrew_sms", "withdrew_email") and bool(phone)
        keeps_sms = wants_sms and pattern != "withdrew_sms"
        texts_first = keeps_sms and (pattern in ("sms", "withdrew_email") or rng.random() < 0.3)

        sources = clinic.sources
        if earlier and rng.random() < sources.referral_share:
            source, referrer = Patient.Source.REFERRAL, rng.choice(earlier)
        else:
            source = rng.choices(list(sources.weights), weights=list(sources.weights.values()))[0]
            referrer = None
        via = rng.choice(clinic.consent.granted_via)

        data = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "preferred_name": person.preferred_name,
            "pronouns": person.pronouns,
            "date_of_birth": date_of_birth,
            "email": email,
            "phone": phone,
            "time_zone": person.time_zone,
            "preferred_channel": Channel.SMS if texts_first else Channel.EMAIL,
            "source": source,
        }
        if person.quiet_hours:
            data["quiet_hours_start"], data["quiet_hours_end"] = person.quiet_hours
        first_lead = lead = leads[index % len(leads)]
        if person.lead_changed and len(leads) > 1:
            lead = leads[(index + 1) % len(leads)]
        team = clinic.team
        coach = self.coach if rng.random() < team.coach_share else None
        specialist = rng.choice(team.specialists) if rng.random() < team.specialist_share else None
        return PatientPlan(
            person=person,
            data=data,
            referrer=referrer,
            first_lead=first_lead,
            lead=lead,
            pattern=pattern,
            consent_email=wants_email,
            consent_sms=wants_sms,
            consent_via=CONSENT_VIA if from_form else via,
            coach=coach,
            specialist=specialist,
        )

    def create(self, plan: PatientPlan, *, actor, actor_label: str = "") -> Patient:
        """The patient, their consent and their care team, now, through the patients services."""
        data = plan.data | {"referred_by": plan.referrer.patient if plan.referrer else None}
        patient = patient_create(
            actor=actor,
            actor_label=actor_label,
            data=data,
            lead=plan.first_lead,
            consent_email=plan.consent_email,
            consent_sms=plan.consent_sms,
            consent_via=plan.consent_via,
        )
        plan.patient = patient
        if plan.lead != plan.first_lead:
            care_team_set_lead(patient=patient, user=plan.lead, actor=actor, note=LEAD_CHANGE_NOTE)
            self.summary.care_team["lead changed"] += 1
        if plan.coach is not None:
            care_team_add(
                patient=patient, actor=actor, role=CareTeamMember.Role.HEALTH_COACH, user=plan.coach
            )
            self.summary.care_team["health coach"] += 1
        if plan.specialist is not None:
            name, practice, contact = plan.specialist
            care_team_add(
                patient=patient,
                actor=actor,
                role=CareTeamMember.Role.SPECIALIST,
                external_name=name,
                external_practice=practice,
                external_contact=contact,
            )
            self.summary.care_team["external specialist"] += 1
        self.summary.patients += 1
        self.summary.leads[str(plan.lead)] += 1
        self.summary.time_zones[patient.time_zone] += 1
        self.summary.sources[Patient.Source(patient.source).label] += 1
        self.summary.consent[self.clinic.consent.patterns[plan.pattern][1]] += 1
        return patient

    def takes_consent_back(self, plan: PatientPlan) -> bool:
        return plan.pattern in WITHDRAWALS or plan.pattern == "unsubscribed"

    def take_consent_back(self, plan: PatientPlan) -> None:
        """The patient takes back consent, now: a STOP reply, an unsubscribe link."""
        if plan.pattern == "unsubscribed":
            patient_unsubscribe(patient=plan.patient, via=UNSUBSCRIBED_VIA)
            return
        channel, via = WITHDRAWALS[plan.pattern]
        consent_record(patient=plan.patient, channel=channel, granted=False, via=via)

    def phone_for(self, time_zone: str) -> str:
        """A fictional mobile number where the patient lives, checked with ``phonenumbers``."""
        contact = self.clinic.contact
        if time_zone == "Australia/Sydney":
            candidates = self.sydney_mobiles
        elif time_zone in contact.area_codes:
            area = self.rng.choice(contact.area_codes[time_zone])
            candidates = (f"+1{area}555{suffix:04d}" for suffix in self.phone_suffixes)
        else:
            return ""
        for candidate in candidates:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, None)):
                return candidate
        return ""
