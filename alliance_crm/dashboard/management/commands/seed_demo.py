"""Load a small demo clinic: three more colleagues and about forty patients.

Every patient is written through the patients services, so the demo carries the consent history,
care teams and audit trail that real use leaves behind. The data is the same on every run: a seeded
random generator and a fixed reference date (so demo ages never drift). The colleagues are created
only when their username is free; they sign in with ``DEMO_PASSWORD`` when it is set, otherwise
not until an admin gives them a password.

``--if-empty`` loads nothing when the clinic has patients already; ``--dry-run`` shows what would
be loaded and keeps nothing.
"""

from __future__ import annotations

import os
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, time, timedelta

import phonenumbers
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from alliance_crm.accounts.models import Role
from patients.models import CareTeamMember, Channel, Patient
from patients.services import (
    care_team_add,
    care_team_set_lead,
    consent_record,
    patient_create,
    patient_set_archived,
    patient_unsubscribe,
)

SEED = 1202
REFERENCE_DATE = date(2026, 11, 1)

COACH = "coach.lena"
DEMO_COLLEAGUES = [
    ("dr.okafor", "Dr. Samuel Okafor", Role.PRACTITIONER),
    ("dr.natarajan", "Dr. Priya Natarajan", Role.PRACTITIONER),
    (COACH, "Lena Hart (health coach)", Role.PRACTITIONER),
    ("coordinator", "Marisol Vega", Role.STAFF),
]

NIGHT_OWL = (time(23, 0), time(9, 30))
EARLY_BED = (time(19, 30), time(7, 0))
NIGHT_SHIFT = (time(9, 0), time(17, 0))  # sleeps in the day: quiet hours need not wrap midnight
SCHOOL_RUN = (time(21, 0), time(6, 30))


@dataclass(frozen=True)
class DemoPatient:
    first_name: str
    last_name: str
    time_zone: str
    preferred_name: str = ""
    pronouns: str = ""
    quiet_hours: tuple[time, time] | None = None
    archived: bool = False
    lead_changed: bool = False


# Ordered: a referral always points at someone earlier in the list.
DEMO_PATIENTS = [
    DemoPatient("Margaret", "O'Brien", "America/New_York", preferred_name="Maggie", pronouns="she/her"),
    DemoPatient("José", "Núñez", "America/New_York", pronouns="he/him"),
    DemoPatient("Aisha", "Bello", "America/New_York"),
    DemoPatient("Zoë", "Ångström", "America/Chicago", pronouns="she/her"),
    DemoPatient("David", "Goldberg", "America/New_York", quiet_hours=EARLY_BED),
    DemoPatient("Björn", "Løkke", "America/Denver"),
    DemoPatient("Chloé", "Dubois", "America/Los_Angeles"),
    DemoPatient("Renée", "Côté", "America/Toronto", pronouns="she/elle"),
    DemoPatient("Hannah", "Kim", "America/New_York", lead_changed=True),
    DemoPatient("Patrick", "Doyle", "America/Chicago", preferred_name="Paddy"),
    DemoPatient("Daniel", "Reyes", "America/Los_Angeles", preferred_name="Dani", pronouns="they/them"),
    DemoPatient("Dolores", "Begay", "America/Phoenix"),
    DemoPatient("Keoni", "Kahananui", "Pacific/Honolulu"),
    DemoPatient("Marcus", "Johnson", "America/New_York", quiet_hours=NIGHT_SHIFT),
    DemoPatient("Fatima", "Haddad", "America/Chicago"),
    DemoPatient("Siobhán", "Ní Bhriain", "Europe/London"),
    DemoPatient("Jennifer", "Ruiz", "America/Denver", preferred_name="Jen"),
    DemoPatient("Mei Lin", "Chen", "America/Los_Angeles"),
    DemoPatient("Lucía", "Fernández", "America/New_York"),
    DemoPatient("Thomas", "Whitfield", "America/New_York", preferred_name="Tom", archived=True),
    DemoPatient("Matilda", "Shaw", "Australia/Sydney", quiet_hours=NIGHT_OWL),
    DemoPatient("Łukasz", "Wójcik", "America/Chicago"),
    DemoPatient("Olivia", "Bennett", "America/Los_Angeles"),
    DemoPatient("Ryan", "Castillo", "America/Phoenix"),
    DemoPatient("Ngozi", "Adeyemi", "America/New_York", pronouns="she/her"),
    DemoPatient("Caleb", "Morgan", "America/Denver", lead_changed=True),
    DemoPatient("François", "Gagnon", "America/Toronto"),
    DemoPatient("Leilani", "Akana", "Pacific/Honolulu", quiet_hours=SCHOOL_RUN),
    DemoPatient("Elena", "Petrova", "America/New_York"),
    DemoPatient("Raj", "Malhotra", "America/Los_Angeles"),
    DemoPatient("Gregory", "Novak", "America/Chicago", preferred_name="Greg"),
    DemoPatient("Oliver", "Hughes", "Europe/London", archived=True),
    DemoPatient("Ingrid", "Sørensen", "America/Denver"),
    DemoPatient("Kevin", "Tran", "America/New_York"),
    DemoPatient("Camila", "Ortiz", "America/Los_Angeles"),
    DemoPatient("Amara", "Okonkwo", "America/Phoenix"),
    DemoPatient("Aroha", "Ngata", "Australia/Sydney"),
    DemoPatient("Tamika", "Ellis", "America/Chicago"),
    DemoPatient("Nora", "Lindgren", "America/Anchorage"),
    DemoPatient("Sarah", "Lindqvist", "America/New_York"),
]

# Numbers set aside for fiction (555-01xx in North America, ACMA's 0491 570 range in Australia).
# The UK's drama range (07700 900xxx) is not a valid number to `phonenumbers`, so London patients
# give only an email address.
AREA_CODES = {
    "America/New_York": ["212", "646", "917", "617"],
    "America/Chicago": ["312", "773"],
    "America/Denver": ["303", "720"],
    "America/Phoenix": ["602", "480"],
    "America/Los_Angeles": ["213", "310", "415"],
    "America/Anchorage": ["907"],
    "America/Toronto": ["416", "514"],
    "Pacific/Honolulu": ["808"],
}
SYDNEY_MOBILES = ["+61491570006", "+61491570156", "+61491570157", "+61491570158", "+61491570159"]

SPECIALISTS = [
    ("Dr. Helen Park", "Lakeside Endocrinology", "referrals@lakeside-endo.example"),
    ("Dr. Aaron Weiss", "Hudson Valley Gastroenterology", "(212) 555-0188"),
    ("Carmen Alvarez, RD", "Mesa Nutrition & Sleep", "carmen@mesa-nutrition.example"),
    ("Dr. Tomás Ibarra", "Bayview Rheumatology", "(415) 555-0164"),
]

CONSENT_PATTERNS = {  # pattern: (weight, words for the summary)
    "both": (14, "email and SMS"),
    "email": (9, "email only"),
    "sms": (4, "SMS only"),
    "none": (4, "none yet"),
    "withdrew_sms": (3, "took back SMS"),
    "withdrew_email": (2, "took back email"),
    "unsubscribed": (1, "unsubscribed"),
}
GRANTED_VIA = ["intake form", "inquiry form", "phone call with the front desk", "paper form at check-in"]
SOURCES = {
    Patient.Source.WEBSITE: 5,
    Patient.Source.EVENT: 3,
    Patient.Source.SOCIAL: 3,
    Patient.Source.OTHER: 1,
}
REFERRAL_SHARE = 0.35
COACH_SHARE = 0.3
SPECIALIST_SHARE = 0.15
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
ASCII_LEFTOVERS = str.maketrans({"ø": "o", "ł": "l", "æ": "ae", "ß": "ss", "đ": "d", "'": "", " ": ""})


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).translate(ASCII_LEFTOVERS)
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c in ".-"))


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Only load into a clinic with no patients."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would be loaded; keep nothing.")

    def handle(self, *args, if_empty=False, dry_run=False, **options):
        if if_empty and Patient.objects.exists():
            self.stdout.write("Patients exist already: demo data left as it is.")
            return
        with transaction.atomic():
            summary = DemoClinic(rng=random.Random(SEED)).load()
            if dry_run:
                transaction.set_rollback(True)
        self.report(summary, dry_run=dry_run)

    def report(self, summary: dict, *, dry_run: bool) -> None:
        def tally(counter: Counter) -> str:
            return ", ".join(f"{name} {count}" for name, count in counter.most_common())

        title = "Demo clinic (dry run: nothing kept)" if dry_run else "Demo clinic loaded"
        self.stdout.write(self.style.SUCCESS(title))
        added = summary["users_added"]
        if added:
            how = (
                "password from DEMO_PASSWORD"
                if summary["password_set"]
                else "no password yet: an admin sets one"
            )
            self.stdout.write(f"  colleagues added  {', '.join(added)} ({how})")
        else:
            self.stdout.write("  colleagues added  none (they exist already)")
        self.stdout.write(f"  patients          {summary['patients']} ({summary['archived']} archived)")
        self.stdout.write(f"  leads             {tally(summary['leads'])}")
        self.stdout.write(f"  time zones        {tally(summary['time_zones'])}")
        self.stdout.write(f"  sources           {tally(summary['sources'])}")
        self.stdout.write(f"  consent           {tally(summary['consent'])}")
        self.stdout.write(f"  care teams        {tally(summary['care_team'])}")


class DemoClinic:
    """Builds the demo through the services; ``load`` returns what it made, for the summary."""

    def __init__(self, *, rng: random.Random):
        self.rng = rng
        self.User = get_user_model()
        self.summary = {
            "users_added": [],
            "password_set": bool(os.environ.get("DEMO_PASSWORD")),
            "patients": 0,
            "archived": 0,
            "leads": Counter(),
            "time_zones": Counter(),
            "sources": Counter(),
            "consent": Counter(),
            "care_team": Counter(),
        }
        self.phone_suffixes = iter(rng.sample(range(100, 200), 100))
        self.sydney_mobiles = iter(SYDNEY_MOBILES)

    def load(self) -> dict:
        self.add_colleagues()
        actor = self.User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
        leads = list(
            self.User.objects.filter(role=Role.PRACTITIONER, is_active=True)
            .exclude(username=COACH)
            .order_by("pk")
        )
        if not leads:
            raise CommandError("The demo needs at least one active practitioner to lead care teams.")
        coach = self.User.objects.filter(username=COACH, is_active=True).first()
        created: list[Patient] = []
        for index, person in enumerate(DEMO_PATIENTS):
            patient = self.add_patient(person, index=index, actor=actor, leads=leads, earlier=created)
            self.add_care_team(patient, person, index=index, actor=actor, leads=leads, coach=coach)
            if person.archived:
                patient_set_archived(actor=actor, patient=patient, archived=True)
                self.summary["archived"] += 1
            created.append(patient)
        self.summary["patients"] = len(created)
        return self.summary

    def add_colleagues(self) -> None:
        password = os.environ.get("DEMO_PASSWORD") or None  # None: an unusable password
        for username, display_name, role in DEMO_COLLEAGUES:
            if self.User.objects.filter(username=username).exists():
                continue
            self.User.objects.create_user(
                username=username,
                email=f"{username}@clinic.invalid",
                password=password,
                display_name=display_name,
                role=role,
            )
            self.summary["users_added"].append(username)

    def add_patient(
        self, person: DemoPatient, *, index: int, actor, leads, earlier: list[Patient]
    ) -> Patient:
        rng = self.rng
        age = rng.randint(24, 74)
        date_of_birth = date(REFERENCE_DATE.year - age - 1, 1, 1) + timedelta(days=rng.randrange(365))
        phone = self.phone_for(person.time_zone) if rng.random() > 0.08 else ""
        email = f"{ascii_slug(person.first_name)}.{ascii_slug(person.last_name)}@{rng.choice(EMAIL_DOMAINS)}"

        pattern = rng.choices(list(CONSENT_PATTERNS), weights=[w for w, _ in CONSENT_PATTERNS.values()])[0]
        if not phone and pattern in ("sms", "withdrew_sms"):
            pattern = "email"
        wants_email = pattern in ("both", "email", "withdrew_sms", "withdrew_email", "unsubscribed")
        wants_sms = pattern in ("both", "sms", "withdrew_sms", "withdrew_email") and bool(phone)
        keeps_sms = wants_sms and pattern != "withdrew_sms"
        texts_first = keeps_sms and (pattern in ("sms", "withdrew_email") or rng.random() < 0.3)

        if earlier and rng.random() < REFERRAL_SHARE:
            source, referred_by = Patient.Source.REFERRAL, rng.choice(earlier)
        else:
            source, referred_by = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0], None

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
            "referred_by": referred_by,
        }
        if person.quiet_hours:
            data["quiet_hours_start"], data["quiet_hours_end"] = person.quiet_hours
        lead = leads[index % len(leads)]
        patient = patient_create(
            actor=actor,
            data=data,
            lead=lead,
            consent_email=wants_email,
            consent_sms=wants_sms,
            consent_via=rng.choice(GRANTED_VIA),
        )
        if pattern == "withdrew_sms":
            consent_record(patient=patient, channel=Channel.SMS, granted=False, via="SMS STOP reply")
        elif pattern == "withdrew_email":
            consent_record(
                patient=patient, channel=Channel.EMAIL, granted=False, via="email unsubscribe link"
            )
        elif pattern == "unsubscribed":
            patient_unsubscribe(patient=patient, via="email unsubscribe link")

        self.summary["time_zones"][person.time_zone] += 1
        self.summary["sources"][Patient.Source(source).label] += 1
        self.summary["consent"][CONSENT_PATTERNS[pattern][1]] += 1
        return patient

    def add_care_team(
        self, patient: Patient, person: DemoPatient, *, index: int, actor, leads, coach
    ) -> None:
        rng = self.rng
        lead = leads[index % len(leads)]
        if person.lead_changed and len(leads) > 1:
            lead = leads[(index + 1) % len(leads)]
            care_team_set_lead(
                patient=patient, user=lead, actor=actor, note="moved to a schedule that suits them"
            )
            self.summary["care_team"]["lead changed"] += 1
        self.summary["leads"][str(lead)] += 1
        if coach is not None and rng.random() < COACH_SHARE:
            care_team_add(patient=patient, actor=actor, role=CareTeamMember.Role.HEALTH_COACH, user=coach)
            self.summary["care_team"]["health coach"] += 1
        if rng.random() < SPECIALIST_SHARE:
            name, practice, contact = rng.choice(SPECIALISTS)
            care_team_add(
                patient=patient,
                actor=actor,
                role=CareTeamMember.Role.SPECIALIST,
                external_name=name,
                external_practice=practice,
                external_contact=contact,
            )
            self.summary["care_team"]["external specialist"] += 1

    def phone_for(self, time_zone: str) -> str:
        """A fictional mobile number where the patient lives, checked with ``phonenumbers``."""
        if time_zone == "Australia/Sydney":
            candidates = self.sydney_mobiles
        elif time_zone in AREA_CODES:
            area = self.rng.choice(AREA_CODES[time_zone])
            candidates = (f"+1{area}555{suffix:04d}" for suffix in self.phone_suffixes)
        else:
            return ""
        for candidate in candidates:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, None)):
                return candidate
        return ""
