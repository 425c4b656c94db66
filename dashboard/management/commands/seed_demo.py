"""Load a small demo clinic: three more colleagues, about forty patients and a living clinic around them.

Every patient is written through the patients services, so the demo carries the consent history,
care teams and audit trail that real use leaves behind. Each patient then has a journey somewhere
along the path (or off it), with the history that got them there: stage moves, visits and their
notes, a published care plan and its revisions, check-ins answered and missed, and what is still to
come (visits in the next two weeks, check-ins) waiting in the outbox as pending nudges.

Every answered check-in holds the patient's answer, written through the answer service at the moment it
was given: how each plan item went, what got in the way, four self-ratings and, often, their own words.
Two patients have had a hard few weeks, two more have stopped answering, and one faltered early and had
their plan simplified by a course correction; falter detection runs once everything is in, so the alerts
page and Today open on real alerts (detection emails the leads and schedules its warm outreach, as it
does every hour in the clinic).

The data is the same on every run: seeded random generators and a fixed reference date (so demo
ages never drift). The clinic's history is dated back from the moment the command runs, so days in
stage and the pipeline's conversion and median figures read like a real clinic's on any day. The
colleagues are created only when their username is free; they sign in with ``DEMO_PASSWORD`` when
it is set, otherwise not until an admin gives them a password.

``--if-empty`` loads nothing when the clinic has patients already; ``--dry-run`` shows what would
be loaded and keeps (and sends) nothing.
"""

from __future__ import annotations

import os
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_access
from accounts.models import AccessEvent, Role
from compliance.detection import DETECTION_LABEL, detect_faltering, falter_findings
from compliance.forms import PLAN_PAUSED_REASON
from compliance.models import Alert, Barrier, CheckInAnswer, ComplianceLog, CourseCorrection
from compliance.selectors import recent_answered_score
from compliance.services import checkin_answer_record, checkin_answerable_items, course_correct
from journeys.models import (
    OFF_PATH,
    PATH,
    Blueprint,
    BlueprintItem,
    BlueprintTemplate,
    BlueprintTemplateItem,
    CheckIn,
    ExitReason,
    Inquiry,
    ItemKind,
    Journey,
    Program,
    Stage,
    Visit,
    VisitNote,
)
from journeys.services.blueprints import (
    blueprint_add_item,
    blueprint_item_set_status,
    blueprint_publish,
    blueprint_start_draft,
    blueprint_update_item,
    blueprint_update_summary,
)
from journeys.services.checkins import (
    cadence,
    checkin_dates,
    checkins_schedule,
    closing_moment,
    request_key,
    request_moment,
)
from journeys.services.inquiries import HOW_HEARD_TO_SOURCE, JOURNEY_NOTE
from journeys.services.notes import note_add_addendum, note_create
from journeys.services.stages import journey_move, journey_start
from journeys.services.visits import visit_schedule
from journeys.tokens import checkin_token
from nudges.models import Kind as NudgeKind
from nudges.models import Nudge
from nudges.services import nudge_schedule
from patients.models import CareTeamMember, Channel, Patient
from patients.selectors import patient_consent
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


# --- The clinic's offer ---------------------------------------------------------------------------

JOURNEY_SEED = SEED + 1  # a generator of its own, so the patients above stay exactly as they were

FOUNDATIONS = "Foundations — 12 weeks"
GUT_RESTORE = "Gut Restore — 8 weeks"
PROGRAMS = {
    FOUNDATIONS: {
        "weeks": 12,
        "checkin_every_days": 7,
        "fee": Decimal("3600"),
        "description": "Twelve weeks to rebuild the basics — food, sleep, light, movement — guided by labs, "
        "with a weekly check-in and a practitioner who answers it.",
    },
    GUT_RESTORE: {
        "weeks": 8,
        "checkin_every_days": 7,
        "fee": Decimal("2400"),
        "description": "Eight weeks to calm the gut and learn what it truly reacts to: an elimination phase, "
        "careful reintroduction and weekly check-ins.",
    },
}

TEMPLATE_NAME = "Foundations starter"
TEMPLATE_SUMMARY = (
    "Build the foundations first: steady meals, sleep, light and movement, with baseline labs to guide "
    "what comes next."
)
TEMPLATE_ITEMS = [
    {
        "kind": ItemKind.DIET,
        "title": "Whole-food plate",
        "instructions": "Half the plate vegetables, a palm of protein, a thumb of healthy fat. No counting.",
        "frequency": "each meal",
    },
    {
        "kind": ItemKind.SUPPLEMENT,
        "title": "Magnesium glycinate",
        "instructions": "Helps sleep and muscles; tell us if your digestion changes.",
        "dose": "200 mg",
        "frequency": "with dinner",
    },
    {
        "kind": ItemKind.LIFESTYLE,
        "title": "Morning light walk",
        "instructions": "Ten minutes outside within an hour of waking, phone in your pocket.",
        "frequency": "daily",
    },
    {
        "kind": ItemKind.LIFESTYLE,
        "title": "Wind-down hour",
        "instructions": "Screens away and the lights low for the last hour before bed.",
        "frequency": "nightly",
    },
    {
        "kind": ItemKind.LAB,
        "title": "Baseline labs",
        "instructions": "Blood count, metabolic panel, HbA1c, vitamin D and fasting insulin. Morning, fasting.",
        "frequency": "once, before week 2",
    },
]


# --- What each patient's intake heard, and the plan it led to ---------------------------------------


@dataclass(frozen=True)
class Theme:
    """One kind of story a patient brings to intake ("Listen as Diagnosis"), and what their plan adds."""

    story: str
    tried: str
    fears: str
    goals: str
    summary: str
    items: list[dict] = field(default_factory=list)
    program: str = FOUNDATIONS


THEMES = {
    "gut": Theme(
        story="“I haven't had a normal day with my stomach in {years} years.” {name} describes bloating that "
        "builds through the afternoon, urgent mornings that make the commute a gamble, and a growing list of "
        "foods quietly avoided. It began after a course of antibiotics and a stressful move, and never settled.",
        tried="Six months without gluten (some help, then none), a probiotic from the pharmacy, peppermint "
        "capsules, an elimination diet from a podcast that ended with eating mostly rice. A gastroenterologist "
        "found nothing on the scope and called it IBS.",
        fears="That this is simply how life is now. Missing a friend's wedding abroad next year. That every new "
        "doctor will decide it is anxiety.",
        goals="To eat dinner out without scouting the bathrooms first. To know which foods are truly a problem "
        "instead of fearing all of them. Energy left over after work.",
        summary="Calm the gut first, then find out what it really reacts to: four weeks low-FODMAP, then one "
        "food back at a time, with sleep and stress support alongside.",
        items=[
            {
                "kind": ItemKind.DIET,
                "title": "Low-FODMAP, then reintroduce",
                "instructions": "Four weeks on the list we gave you, then bring back one food group every three "
                "days and note how you feel.",
                "frequency": "weeks 1–4, then reintroduction",
            },
            {
                "kind": ItemKind.SUPPLEMENT,
                "title": "Digestive bitters",
                "dose": "10 drops",
                "frequency": "ten minutes before meals",
            },
        ],
        program=GUT_RESTORE,
    ),
    "fatigue": Theme(
        story="“I sleep nine hours and wake up like I haven't slept at all.” For {years} years {name} has run on "
        "coffee until noon and hit a wall by three. Always cold, hair thinner, a fog that makes emails take "
        "twice as long. Yearly bloodwork was called normal.",
        tried="More coffee, then less coffee. A B-complex, iron tablets for a month (stopped: constipation), "
        "earlier nights, a standing desk. A thyroid test two years ago checked TSH only.",
        fears="Being told it is just age, or just stress. Losing the edge a demanding job needs. A quiet worry "
        "that something serious is being missed.",
        goals="Getting through an afternoon without a nap in the car. Feeling like the person who used to run on "
        "Saturday mornings. Real answers from proper labs.",
        summary="Find out why the energy is gone — full thyroid and iron picture first — while rebuilding the "
        "basics that every other change depends on.",
        items=[
            {
                "kind": ItemKind.SUPPLEMENT,
                "title": "Vitamin D3 with K2",
                "dose": "2,000 IU",
                "frequency": "daily with breakfast",
            },
            {
                "kind": ItemKind.LAB,
                "title": "Full thyroid panel and iron studies",
                "instructions": "TSH, free T4, free T3, antibodies, ferritin and iron saturation. Morning, fasting.",
                "frequency": "once, week 1",
            },
        ],
    ),
    "sleep": Theme(
        story="{name} falls asleep easily but wakes at three most nights, mind racing, and lies awake until the "
        "alarm. Work has been relentless for {years} years; evenings are a glass of wine and a screen to wind "
        "down. The days feel wired and tired at once.",
        tried="Melatonin (vivid dreams, no better sleep), a sleep app, no caffeine after noon, an over-the-counter "
        "sleep aid that left the mornings foggy. A prescription was offered; {name} wants to understand the "
        "cause first.",
        fears="That the tiredness is changing who {name} is at home: a shorter temper, less patience. Relying on "
        "pills for years.",
        goals="Six unbroken hours on most nights. Winding down without wine. Mornings that start with some energy "
        "instead of dread.",
        summary="Retrain sleep rather than sedate it: a steady wind-down, morning light and six sessions of "
        "sleep therapy, with the evening glass of wine gently retired.",
        items=[
            {
                "kind": ItemKind.THERAPY,
                "title": "CBT-I sessions with Lena",
                "instructions": "Six weekly sessions on sleep with our health coach, by video.",
                "frequency": "weekly",
            },
            {
                "kind": ItemKind.LIFESTYLE,
                "title": "Worry list at 8 p.m.",
                "instructions": "Five minutes writing tomorrow's worries down, then close the notebook.",
                "frequency": "nightly",
            },
        ],
    ),
    "hormones": Theme(
        story="“My body changed the rules and didn't tell me.” Irregular cycles for {years} years, night sweats, "
        "low moods the week before, and weight that moved to the middle on the same food. {name} is used to "
        "being in charge of their own health and feels thrown.",
        tried="Tracked cycles in an app, evening primrose oil, a ‘hormone balance’ tea, a month without sugar. A "
        "gynaecologist named it perimenopause and offered the pill; {name} wants to know all the options first.",
        fears="Years of broken sleep and short patience ahead. Being dismissed as ‘just hormones’. Bones and heart, "
        "with osteoporosis in the family.",
        goals="Steadier moods and sleep through the night. A plan for strength and bones. To understand what is "
        "happening and what choices there are.",
        summary="Support the body through the change: strength work for bones and mood, steady blood sugar, and "
        "sleep first — then we look at the labs together.",
        items=[
            {
                "kind": ItemKind.LIFESTYLE,
                "title": "Strength training",
                "instructions": "Thirty minutes, bodyweight to start; Lena will show you the moves.",
                "frequency": "twice a week",
            },
            {
                "kind": ItemKind.SUPPLEMENT,
                "title": "Omega-3 fish oil",
                "dose": "1 g EPA+DHA",
                "frequency": "daily with food",
            },
        ],
    ),
    "joints": Theme(
        story="Morning stiffness in the hands and knees that takes an hour to ease, flares after long weeks, and "
        "a tiredness that comes with them. {name} gardens and used to hike; both have slipped over {years} "
        "years. A rheumatologist is keeping an eye on borderline bloodwork.",
        tried="Ibuprofen most days (the stomach complains), turmeric capsules, a knee brace, physiotherapy that "
        "helped until the sessions ran out. Cut out red meat on a friend's advice.",
        fears="Stronger medication before everything else has been tried. Not being able to kneel in the garden. "
        "Becoming the friend who always cancels.",
        goals="Mornings without the stiffness. Back on a trail by spring. Fewer painkillers and a calmer stomach.",
        summary="Cool the inflammation with food first, keep the joints moving gently, and work alongside the "
        "rheumatologist rather than around them.",
        items=[
            {
                "kind": ItemKind.DIET,
                "title": "Anti-inflammatory swaps",
                "instructions": "Oily fish twice a week, olive oil for cooking, a handful of berries every day.",
                "frequency": "daily",
            },
            {
                "kind": ItemKind.SUPPLEMENT,
                "title": "Omega-3 fish oil",
                "dose": "2 g EPA+DHA",
                "frequency": "daily with food",
            },
        ],
    ),
    "skin": Theme(
        story="Eczema on the hands and the inside of the elbows since the teenage years, much worse these last "
        "{years} years. {name} works with people all day and hides both hands in sleeves. Flares seem to follow "
        "stress and some foods, but nothing is clear.",
        tried="Steroid creams (they help, then it comes back), every fragrance-free moisturiser in the shop, "
        "cotton gloves at night, two weeks without dairy (maybe better, hard to say).",
        fears="Thin skin from years of steroid creams. That it will spread to the face. Being stared at.",
        goals="Skin that does not itch at night. Shaking hands without thinking about it. Knowing the triggers "
        "instead of guessing.",
        summary="Find the triggers instead of guessing: a careful dairy pause, a skin diary with photos, and a "
        "gentler routine so the creams are needed less.",
        items=[
            {
                "kind": ItemKind.DIET,
                "title": "Two-week dairy pause",
                "instructions": "No dairy for two weeks, then bring it back for three days and watch the skin.",
                "frequency": "weeks 1–2, then a three-day test",
            },
            {
                "kind": ItemKind.LIFESTYLE,
                "title": "Skin diary",
                "instructions": "A photo of the worst patch and one line each evening.",
                "frequency": "daily",
            },
        ],
    ),
    "migraine": Theme(
        story="Migraines three or four times a month, each one taking a whole day and a foggy one after. Over "
        "{years} years {name} has lost workdays, a sister's birthday dinner and half a holiday to them. They "
        "cluster around short nights and skipped meals.",
        tried="Triptans from the GP (they work, but only a few are allowed a month), a low dose of magnesium, "
        "blue-light glasses, no chocolate or red wine. A headache diary for a while, until it lapsed.",
        fears="The lost days keep growing. Rebound headaches from the tablets. Turning down a promotion because it "
        "means travel.",
        goals="Half as many migraine days within three months. A routine that makes the good days more likely. "
        "Planning a weekend without a plan B.",
        summary="Make the good days more likely: regular meals and sleep, riboflavin, and a diary that shows us "
        "the pattern so we can change the next thing together.",
        items=[
            {
                "kind": ItemKind.SUPPLEMENT,
                "title": "Riboflavin (B2)",
                "dose": "400 mg",
                "frequency": "daily with breakfast",
            },
            {
                "kind": ItemKind.LIFESTYLE,
                "title": "Headache diary",
                "instructions": "Sleep, meals, water and any headache: one line a day.",
                "frequency": "daily",
            },
        ],
    ),
    "sugar": Theme(
        story="Bloodwork last spring put {name}'s HbA1c in the prediabetes range, and a parent lived with type 2 "
        "diabetes. Afternoons bring a crash, every meal ends with a craving for something sweet, and the weight "
        "has crept up over {years} years of desk work.",
        tried="Six weeks of low-carb (lost weight, found it again), a fitness tracker, skipping breakfast. "
        "Berberine from a health shop, stopped without knowing whether it helped.",
        fears="Following the same road as the parent: the injections, the complications. That willpower alone "
        "will not be enough.",
        goals="An HbA1c back in the normal range at the next check. Steady energy through the afternoon. Habits "
        "that survive a busy week.",
        summary="Steady the blood sugar with habits that hold on busy weeks: a walk after meals, protein first, "
        "and two weeks of a glucose sensor to show which meals matter.",
        items=[
            {
                "kind": ItemKind.LIFESTYLE,
                "title": "Ten-minute walk after meals",
                "instructions": "Any pace; around the block counts.",
                "frequency": "after lunch and dinner",
            },
            {
                "kind": ItemKind.LAB,
                "title": "Continuous glucose monitor",
                "instructions": "Two weeks wearing a sensor to see which meals spike.",
                "frequency": "weeks 1–2",
            },
        ],
    ),
}

# Revisions of a published plan (version 2): (title of the item to change or None to add one, the
# fields, the reason kept with the new version).
REVISIONS = [
    (
        "Magnesium glycinate",
        {"dose": "100 mg", "frequency": "half with lunch, half with dinner"},
        "Magnesium at 200 mg loosened digestion; halved and split across two meals.",
    ),
    (
        "Morning light walk",
        {
            "title": "Lunchtime light walk",
            "instructions": "Ten minutes outside after lunch, phone in your pocket.",
        },
        "Early mornings kept squeezing the walk out; moved to lunchtime, which is easier to protect.",
    ),
    (
        None,
        {
            "kind": ItemKind.SUPPLEMENT,
            "title": "Iron bisglycinate",
            "instructions": "An hour away from coffee and tea.",
            "dose": "25 mg",
            "frequency": "every other day, with vitamin C",
        },
        "Labs showed low ferritin: iron added every other day, to recheck in eight weeks.",
    ),
]
PAUSED_ITEM = ("Morning light walk", "Knee flare: walking paused until the physio clears longer walks.")

INQUIRY_MESSAGES = [
    "Hi — a friend mentioned you after her own stomach troubles settled. I've had bloating and tiredness for "
    "about two years and my GP says my labs are fine. Could we talk about whether you could help?",
    "I heard your talk at the library about sleep and stress. I wake at 3am most nights. Do you take new "
    "patients, and do you see people by video?",
    "Looking for someone who will actually listen. Joint pain and brain fog, lots of tests, no answers. What "
    "does a first appointment look like, and what does it cost?",
    "My daughter found your website. I've been told my blood sugar is borderline and I'd rather change things "
    "now than wait. Is there a program for this?",
    "Eczema flares that nothing seems to calm. I would love to understand what sets them off. Evenings are "
    "easiest for a call.",
]
DISCOVERY_NOTES = [
    "Twenty minutes by phone. {name} talked through what has been going on and what has been tried; a little "
    "wary after appointments that felt rushed. Explained how we work: the long intake, a written plan, weekly "
    "check-ins. A good fit — intake booked.",
    "{name} had read about our approach and came with good questions, mostly about time: the weekly check-in "
    "takes five minutes from a phone. Keen to start; intake booked.",
    "Warm call. The worries are cost and whether this will be another dead end. Said honestly that the first "
    "weeks are about listening and labs, not quick fixes. {name} wants to go ahead.",
    "{name} spoke quickly and apologised for it — years of being hurried. Explained that the intake is a full "
    "hour and nobody will watch the clock. Booked.",
]
DISCOVERY_DECIDING = (
    "Good first conversation. {name} wants to talk it over at home and look at the calendar before booking the "
    "intake; we follow up at the end of the week."
)
INTAKE_TITLE = "Deep Reconnaissance — intake"
INTAKE_BODY = "Full hour; history taken in {name}'s own words. Baseline labs ordered."
ADDENDA = [
    "Records from the previous practitioner arrived: ferritin 22 ng/mL and vitamin D 19 ng/mL, both low. To be "
    "reflected in the Blueprint.",
    "{name} phoned to add something missed at intake: a bad bout of food poisoning while travelling, about a year "
    "before the symptoms began.",
]
COMMITMENT_NOTES = [
    "Went through the draft Blueprint line by line, and the {program} program: weekly check-ins, what each item "
    "is for, what it costs. {name} asked what to do on a bad week — tell us, rather than disappear. Agreed to "
    "start.",
    "{name} brought a partner to the consult. Talked about the fee honestly and which items matter most if money "
    "gets tight. Committed to {program}; check-ins start once the plan is published.",
    "Short and clear: {name} was ready. Confirmed {program}, the first labs and the check-in day. Nervous about "
    "supplements, so we start with few and add slowly.",
]
COMMITMENT_THINKING = (
    "Consult done. {name} likes the plan and wants to talk the fee over with family before deciding; call back "
    "on Monday."
)
FOLLOW_UP_NOTES = [
    "Four-week review. Check-ins mostly answered; {name} says the evening routine is the hardest part. Kept the "
    "plan, moved the walk earlier on workdays.",
    "Four-week review. Energy a little better, sleep better on weekdays. Went through the labs together; no "
    "change to the plan yet.",
]
FAR_AWAY = {"Europe/London", "Australia/Sydney", "Pacific/Honolulu", "America/Anchorage"}
ROOMS = ["Room 1", "Room 2", "Video call"]
VISIT_HOURS = [9, 10, 11, 13, 14, 15, 16]


@dataclass(frozen=True)
class DemoJourney:
    """Where a demo patient's journey stands, and the few things that make their history their own."""

    stage: str
    days: int  # in the current stage (at least 1: entered on an earlier day)
    theme: str = ""  # the story heard at intake (THEMES), which also picks the program; "" before it
    left_from: str = ""  # off the path: the stage the patient left from
    reason: str = ""
    note: str = ""
    upcoming: str = ""  # a kind of visit booked in the next two weeks
    no_show: bool = False  # missed a discovery call
    unsigned: bool = False  # the intake note is still a draft
    addendum: bool = False  # the signed intake note has an addendum
    draft_only: bool = False  # the plan is still being written
    revised: bool = False  # the plan has a version 2
    item_paused: bool = False  # one item of the plan is paused
    faltering: bool = False  # missed their latest check-ins
    struggling: bool = False  # answered their latest two check-ins, and little of the plan fitted those weeks
    corrected: bool = False  # struggled at first; the revision (``revised``) answered their alert


S, K = Stage, Visit.Kind
JOURNEYS = {  # by legal name; every demo patient has one
    "Margaret O'Brien": DemoJourney(S.ADVOCATE, 60, "fatigue", addendum=True),
    "José Núñez": DemoJourney(S.GRADUATED, 20, "gut", revised=True),
    "Aisha Bello": DemoJourney(
        S.CHECK_INS, 40, "hormones", revised=True, corrected=True, upcoming=K.FOLLOW_UP
    ),
    "Zoë Ångström": DemoJourney(S.CHECK_INS, 15, "skin"),
    "David Goldberg": DemoJourney(S.ADVOCATE, 95, "sugar"),
    "Björn Løkke": DemoJourney(
        S.CHECK_INS, 62, "joints", faltering=True, item_paused=True, upcoming=K.FOLLOW_UP
    ),
    "Chloé Dubois": DemoJourney(S.COMMITMENT, 4, "gut", upcoming=K.COMMITMENT),
    "Renée Côté": DemoJourney(S.INTAKE, 9, "sleep"),
    "Hannah Kim": DemoJourney(S.CHECK_INS, 26, "gut", struggling=True),
    "Patrick Doyle": DemoJourney(S.DISCOVERY, 5, upcoming=K.DISCOVERY),
    "Daniel Reyes": DemoJourney(S.BLUEPRINT, 6, "migraine", draft_only=True),
    "Dolores Begay": DemoJourney(S.GRADUATED, 35, "sugar"),
    "Keoni Kahananui": DemoJourney(S.INQUIRY, 2),
    "Marcus Johnson": DemoJourney(S.CHECK_INS, 33, "sleep", faltering=True, upcoming=K.FOLLOW_UP),
    "Fatima Haddad": DemoJourney(
        S.DECLINED,
        20,
        "migraine",
        left_from=S.COMMITMENT,
        reason=ExitReason.COST,
        note="Loved the plan, but the fee is not possible this year. Asked us to check back after tax season; "
        "sent the free resources list.",
    ),
    "Siobhán Ní Bhriain": DemoJourney(S.CHECK_INS, 9, "fatigue"),
    "Jennifer Ruiz": DemoJourney(S.INTAKE, 3, "hormones", upcoming=K.INTAKE),
    "Mei Lin Chen": DemoJourney(
        S.PAUSED,
        25,
        "fatigue",
        left_from=S.BLUEPRINT,
        reason=ExitReason.HEALTH_CHANGE,
        note="Expecting a baby in the spring. Wants to pick the plan back up afterwards; we check in after "
        "the birth.",
    ),
    "Lucía Fernández": DemoJourney(S.INQUIRY, 1),
    "Thomas Whitfield": DemoJourney(
        S.WITHDRAWN,
        70,
        "joints",
        left_from=S.INTAKE,
        reason=ExitReason.MOVED,
        note="Moving across the country for work. Sent the intake summary on to the new practitioner, "
        "with consent.",
    ),
    "Matilda Shaw": DemoJourney(S.CHECK_INS, 50, "gut", struggling=True),
    "Łukasz Wójcik": DemoJourney(S.DISCOVERY, 8, no_show=True, upcoming=K.DISCOVERY),
    "Olivia Bennett": DemoJourney(S.COMMITMENT, 7, "fatigue", upcoming=K.COMMITMENT),
    "Ryan Castillo": DemoJourney(S.DISCOVERY, 3, upcoming=K.DISCOVERY),
    "Ngozi Adeyemi": DemoJourney(S.ADVOCATE, 30, "joints", revised=True),
    "Caleb Morgan": DemoJourney(S.BLUEPRINT, 8, "sugar"),
    "François Gagnon": DemoJourney(S.INTAKE, 12, "migraine", addendum=True),
    "Leilani Akana": DemoJourney(S.CHECK_INS, 19, "hormones", revised=True),
    "Elena Petrova": DemoJourney(S.GRADUATED, 10, "skin"),
    "Raj Malhotra": DemoJourney(S.COMMITMENT, 5, "sugar"),
    "Gregory Novak": DemoJourney(
        S.PAUSED,
        30,
        "sleep",
        left_from=S.INTAKE,
        reason=ExitReason.TIMING,
        note="Busy season at work until the new year. Asked us to call in January to book the intake visit.",
    ),
    "Oliver Hughes": DemoJourney(
        S.DECLINED,
        80,
        left_from=S.DISCOVERY,
        reason=ExitReason.NOT_A_FIT,
        note="Looking for a one-off food-sensitivity test rather than a program. Explained our approach "
        "kindly and pointed to the lab directly.",
    ),
    "Ingrid Sørensen": DemoJourney(S.BLUEPRINT, 3, "joints"),
    "Kevin Tran": DemoJourney(
        S.WITHDRAWN,
        40,
        left_from=S.DISCOVERY,
        reason=ExitReason.NO_RESPONSE,
        no_show=True,
        note="Missed the discovery call; three calls and two emails since, no reply. Closing gently — the "
        "door stays open.",
    ),
    "Camila Ortiz": DemoJourney(S.INQUIRY, 3),
    "Amara Okonkwo": DemoJourney(S.CHECK_INS, 5, "fatigue"),
    "Aroha Ngata": DemoJourney(S.DISCOVERY, 4),
    "Tamika Ellis": DemoJourney(S.GRADUATED, 50, "skin"),
    "Nora Lindgren": DemoJourney(S.INTAKE, 6, "gut", unsigned=True),
    "Sarah Lindqvist": DemoJourney(S.INQUIRY, 1),
}
del S, K

# Days a journey spends in each stage on its way through (the stay in check-ins is the program's length).
STAY_DAYS = {
    Stage.INQUIRY: (1, 4),
    Stage.DISCOVERY: (3, 10),
    Stage.INTAKE: (7, 14),
    Stage.COMMITMENT: (3, 9),
    Stage.BLUEPRINT: (4, 12),
    Stage.GRADUATED: (14, 45),
}
ANSWER_SHARE = 0.85
# Hours after the 10:00 request (in the patient's own time zone) at which they answer: that day or the next.
ANSWER_AFTER_HOURS = [1, 2, 3, 4, 8, 10, 11, 24, 26, 28]
SOURCE_TO_HOW_HEARD = {source: how for how, source in HOW_HEARD_TO_SOURCE.items()}
START_NOTES = {
    Patient.Source.REFERRAL: "referred by a current patient",
    Patient.Source.EVENT: "met us at a community talk",
    Patient.Source.SOCIAL: "wrote to us on social media",
    Patient.Source.WEBSITE: "phoned after reading the website",
}


# --- What patients answered at their check-ins --------------------------------------------------------

ANSWER_SEED = SEED + 2  # answers draw from a generator of their own
# How a plan item went in an ordinary week, and in a week where the plan did not fit the patient's life.
STEADY_WEEK = {
    ComplianceLog.Status.DONE: 74,
    ComplianceLog.Status.PARTIAL: 17,
    ComplianceLog.Status.MISSED: 6,
    ComplianceLog.Status.PAUSED: 3,
}
HARD_WEEK = {ComplianceLog.Status.DONE: 15, ComplianceLog.Status.PARTIAL: 30, ComplianceLog.Status.MISSED: 55}
# An ordinary week scores at least this (so only the patients meant to falter do, and no drop between two
# windows of ordinary weeks reaches the clinic's 25 points); a hard week scores in the range below.
STEADY_FLOOR = 78
HARD_RANGE = (20, 45)
WORDS_SHARE = 0.5  # answers that carry the patient's own words
PHONE_SHARE = 0.08  # answers the front desk took by phone
CHANGED_SHARE = 0.15  # answers with a "not this week" that the patient changed within the hours allowed
GOOD_WEEK_WORDS = [
    "Best week so far. The walk is starting to feel like mine.",
    "Sleeping through most nights now. I had forgotten what that feels like.",
    "Energy held up past three o'clock on four days out of five.",
    "Cooked ahead on Sunday and it made the whole week easier.",
    "Nothing much to report, which is news in itself.",
    "Less bloating this week. Still wary, but hopeful.",
]
MIXED_WEEK_WORDS = [
    "Travelled for work, the powders didn't fit in my bag.",
    "Forgot the evening capsules twice; the bottle lives in the wrong cupboard.",
    "The kids were ill, so dinners were whatever was in the freezer.",
    "Deadline week. The wind-down hour turned into answering emails.",
    "The bitters taste awful. I managed them with lunch, not every meal.",
    "Ran out of the supplement on Thursday; the new bottle came on Monday.",
    "Weekend away for a birthday. Ate what everyone ate and enjoyed it.",
    "A late shift midweek threw my sleep, and everything slid from there.",
]
HARD_WEEK_WORDS = [
    "Honestly a rough week. Work ate every evening and I couldn't face cooking.",
    "I keep starting the food list and stopping by Wednesday. It's a lot of new recipes at once.",
    "Money is tight this month, so I haven't reordered the supplements.",
    "My mum was in hospital and the plan went out of the window. I'll get back to it.",
    "Too many things to remember. Some days I just do the walk and call it a win.",
]
# The patient whose first weeks led to a course correction: their words, which the revision answered.
MORNING_WORDS = [
    "Mornings are the school run; the walk never happens before nine.",
    "Same again. By the time the kids are at school I'm already late for work, so no walk.",
]
STEADY_BARRIERS = [Barrier.FORGOT, Barrier.TIME, Barrier.LIFE_EVENT, Barrier.TASTE, Barrier.SIDE_EFFECTS]
HARD_BARRIERS = [Barrier.TIME, Barrier.LIFE_EVENT, Barrier.COST, Barrier.FAMILY, Barrier.UNCLEAR]
PAUSED_REASONS = {  # a patient's reason for pausing an item on purpose, by kind of item
    ItemKind.SUPPLEMENT: [
        "On antibiotics this week; the pharmacist said to hold it.",
        "Stomach bug, so only water and toast for a few days.",
    ],
    ItemKind.LIFESTYLE: [
        "Flu, in bed most of the week.",
        "Away for a family funeral; I let it rest this week.",
    ],
    ItemKind.DIET: [
        "Away at a family wedding; chose to pause and enjoy it.",
        "Staying with my parents this week, and I eat what they cook.",
    ],
    ItemKind.LAB: ["The lab was closed for the holiday; booked for next week."],
    ItemKind.THERAPY: ["Lena was away this week."],
}
CHANGED_WORDS = " (Changed: I did manage it on Sunday after all.)"
# The course correction the practitioner records when a revision answers an alert, by the item it changed.
CORRECTIONS = {
    "Magnesium glycinate": CourseCorrection.Change.DOSE_ADJUSTED,
    "Morning light walk": CourseCorrection.Change.SIMPLIFIED,
    None: CourseCorrection.Change.OTHER,
}
CORRECTION_NOTE = "Talked it through with {name} by phone. {reason}"
EARLY_REVISION = 1  # the revision (of REVISIONS) that answers the corrected patient's mornings
DETECTION_EVERY = timedelta(hours=1)  # how soon after an answer the hourly falter detection notices it


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
            summary = DemoClinic(rng=random.Random(SEED), dry_run=dry_run).load()
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
        self.stdout.write(f"  programs          {tally(summary['programs'])}")
        stages = summary["stages"]
        self.stdout.write(f"  journeys          {sum(stages.values())}, by stage:")
        for stage in [*PATH, *[s for s in Stage if s in OFF_PATH]]:
            self.stdout.write(f"    {Stage(stage).label:<20} {stages[stage]:>3}")
        self.stdout.write(f"  inquiries         {summary['inquiries']}")
        visits = summary["visits"]
        self.stdout.write(
            f"  visits            {visits['completed']} completed, {visits['no-show']} no-show, "
            f"{visits['upcoming']} in the next two weeks ({summary['reminders']} reminders pending)"
        )
        notes = summary["notes"]
        self.stdout.write(
            f"  visit notes       {notes['signed']} signed ({notes['intake']} intake with all four sections), "
            f"{notes['addenda']} addenda, {notes['drafts']} draft"
        )
        plans = summary["blueprints"]
        self.stdout.write(
            f"  blueprints        {plans['published']} published ({plans['revised']} revised to v2), "
            f"{plans['drafts']} draft, {plans['paused items']} item paused"
        )
        checkins = summary["checkins"]
        self.stdout.write(
            f"  check-ins         {checkins['answered']} answered, {checkins['missed']} missed, "
            f"{checkins['open']} open, {checkins['upcoming']} to come ({summary['requests']} requests pending)"
        )
        answers = summary["answers"]
        self.stdout.write(
            f"  answers           {answers['by link'] + answers['by phone']} ({answers['by phone']} by phone, "
            f"{answers['changed']} changed), items: {tally(summary['logs'])}"
        )
        alerts = summary["alerts"]
        self.stdout.write(
            f"  alerts            {alerts.total()} {'would open' if dry_run else 'open'} ({tally(alerts)}), "
            f"{summary['alerts_answered']} answered by a course correction"
        )


class DemoClinic:
    """Builds the demo through the services; ``load`` returns what it made, for the summary."""

    def __init__(self, *, rng: random.Random, dry_run: bool = False):
        self.rng = rng
        self.dry_run = dry_run
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
            "programs": Counter(),
            "stages": Counter(),
            "inquiries": 0,
            "visits": Counter(),
            "reminders": 0,
            "notes": Counter(),
            "blueprints": Counter(),
            "checkins": Counter(),
            "requests": 0,
            "answers": Counter(),
            "logs": Counter(),
            "alerts": Counter(),
            "alerts_answered": 0,
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
        people = []
        for index, person in enumerate(DEMO_PATIENTS):
            patient = self.add_patient(person, index=index, actor=actor, leads=leads, earlier=created)
            lead = self.add_care_team(patient, person, index=index, actor=actor, leads=leads, coach=coach)
            if person.archived:
                patient_set_archived(actor=actor, patient=patient, archived=True)
                self.summary["archived"] += 1
            created.append(patient)
            people.append((patient, lead))
        self.summary["patients"] = len(created)
        coordinator = self.User.objects.filter(username="coordinator", is_active=True).first()
        DemoJourneys(
            rng=random.Random(JOURNEY_SEED),
            now=timezone.now(),
            staff=coordinator or actor,
            summary=self.summary,
            dry_run=self.dry_run,
        ).load(people)
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

    def add_care_team(self, patient: Patient, person: DemoPatient, *, index: int, actor, leads, coach):
        """Complete the care team; return the patient's lead practitioner."""
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
        return lead

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


def weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def between(start: datetime, end: datetime, share: float) -> datetime:
    return start + (end - start) * share


def office_hours(moment: datetime, *, before: datetime) -> datetime:
    """A moment outside clinic hours (9:00–17:59) moved into them on the same day, if still ``before``."""
    local = timezone.localtime(moment)
    if 9 <= local.hour <= 17:
        return moment
    moved = local.replace(hour=9 + local.hour % 9)
    return moved if moved < before else moment


class DemoJourneys:
    """A journey for each demo patient, with the history that brought it to where it stands.

    Stage moves, plans, notes and check-ins go through the journeys services, with their ``at=`` where
    they have one. The services stamp some rows "now" (a note's signature, a plan's publication) or
    rightly refuse the past (booking a visit), but a demo clinic needs a past: those rows are written
    through the services where one exists and then dated back, or, for what happened before today
    (past visits and check-ins, inquiries, an alert weeks ago), written as rows directly — here only,
    never in the app. Check-in answers go through the answer service with its ``now=``, in the order
    they happened among the plan's revisions and paused items.
    What is still to come goes through the services untouched, so its nudges wait in the outbox.
    """

    def __init__(self, *, rng: random.Random, now: datetime, staff, summary: dict, dry_run: bool = False):
        self.rng = rng
        self.answer_rng = random.Random(ANSWER_SEED)
        self.dry_run = dry_run
        self.now = now
        self.staff = staff  # who moves early journeys and books visits; may be None (no such user)
        self.summary = summary
        self.tz = timezone.get_default_timezone()
        self.today = timezone.localdate(now)
        self.counters = Counter()  # cycles through the texts so neighbours read differently

    def load(self, people: list[tuple[Patient, object]]) -> None:
        programs = self.add_programs()
        template = self.add_template(programs[FOUNDATIONS])
        for patient, lead in people:
            plan = JOURNEYS[f"{patient.first_name} {patient.last_name}"]
            program = programs[THEMES[plan.theme].program] if plan.theme else None
            self.add_journey(patient, plan, lead=lead, program=program, template=template)
        self.ask_open_checkins()
        self.detect_falters(dry_run=self.dry_run)

    def ask_open_checkins(self) -> None:
        """Check-ins open now whose request was written as history carry no message: ask them now, so
        the development mail folder holds real check-in links a newcomer can open (`make run`)."""
        open_now = CheckIn.objects.filter(
            status=CheckIn.Status.SCHEDULED, closes_at__gt=self.now, request_nudge__isnull=True
        ).select_related("journey__patient")
        for checkin in open_now:
            if request_moment(checkin.due_on, checkin.journey.patient.tz) > self.now:
                continue
            url = settings.ALLIANCE_SITE_URL + reverse(
                "compliance:checkin_answer", args=[checkin_token(checkin.pk)]
            )
            checkin.request_nudge = nudge_schedule(
                patient=checkin.journey.patient,
                kind=NudgeKind.CHECKIN_REQUEST,
                send_at=self.now,
                dedupe_key=request_key(checkin.pk),
                context={"checkin_url": url},
            )
            checkin.save(update_fields=["request_nudge"])
            self.summary["checkins"]["asked now"] += 1

    # --- the clinic's offer ---

    def add_programs(self) -> dict[str, Program]:
        return {
            name: Program.objects.get_or_create(name=name, defaults=fields)[0]
            for name, fields in PROGRAMS.items()
        }

    def add_template(self, program: Program) -> BlueprintTemplate:
        template, created = BlueprintTemplate.objects.get_or_create(
            name=TEMPLATE_NAME, defaults={"program": program, "summary": TEMPLATE_SUMMARY}
        )
        if created:
            BlueprintTemplateItem.objects.bulk_create(
                BlueprintTemplateItem(template=template, position=position, **item)
                for position, item in enumerate(TEMPLATE_ITEMS)
            )
        return template

    # --- one journey ---

    def add_journey(self, patient: Patient, plan: DemoJourney, *, lead, program, template) -> None:
        stages = self.stages_of(plan)
        moments = self.timeline(stages, plan.days, program)
        entered = dict(zip(stages, moments, strict=True))
        left = dict(zip(stages, moments[1:], strict=False))
        went_to = dict(pairwise(stages))
        from_form = plan.stage in (Stage.INQUIRY, Stage.DISCOVERY)
        journey = journey_start(
            patient=patient,
            actor=None if from_form else self.staff,
            program=program,
            note=JOURNEY_NOTE if from_form else START_NOTES.get(patient.source, ""),
            at=moments[0],
        )
        for stage in stages[1:]:
            mover = self.staff if stage in (Stage.DISCOVERY, Stage.INTAKE) else lead
            if stage in OFF_PATH:
                journey_move(
                    journey=journey,
                    to_stage=stage,
                    actor=mover,
                    reason=plan.reason,
                    note=plan.note,
                    at=entered[stage],
                )
            else:
                journey_move(journey=journey, to_stage=stage, actor=mover, at=entered[stage])
            # A plan changes only while its journey is open: write it before the journey moves on.
            if stage == Stage.BLUEPRINT:
                self.add_blueprint(
                    journey,
                    plan,
                    lead,
                    template=template,
                    start=entered[stage],
                    end=left.get(stage, self.now),
                )
            elif stage == Stage.CHECK_INS:
                past = self.add_checkin_history(
                    journey, plan, lead, start=entered[stage], end=left.get(stage)
                )
        journey.refresh_from_db()
        if from_form:
            self.add_inquiry(patient, journey, at=moments[0])
        self.add_visits(patient, journey, plan, lead, entered=entered, left=left, went_to=went_to)
        if journey.stage == Stage.CHECK_INS:
            self.add_upcoming_checkins(journey, lead, past=past)
        self.summary["stages"][plan.stage] += 1
        self.summary["programs"][program.name if program else "not chosen yet"] += 1

    @staticmethod
    def stages_of(plan: DemoJourney) -> list[str]:
        if plan.stage in OFF_PATH:
            return [*PATH[: PATH.index(plan.left_from) + 1], plan.stage]
        return PATH[: PATH.index(plan.stage) + 1]

    def timeline(self, stages: list[str], days: int, program: Program | None) -> list[datetime]:
        """When the journey entered each of ``stages``: the last ``days`` ago, the earlier ones a believable
        stay before the next, each on a weekday in clinic hours."""
        day = weekday_on_or_before(self.today - timedelta(days=days))
        days_entered = [day]
        for stage in reversed(stages[:-1]):
            if stage == Stage.CHECK_INS:
                stay = program.weeks * 7 + self.rng.randint(1, 4)
            else:
                stay = self.rng.randint(*STAY_DAYS[stage])
            day = weekday_on_or_before(day - timedelta(days=stay))
            days_entered.append(day)
        days_entered.reverse()
        return [
            self.at(day, self.rng.randint(10, 16), self.rng.choice([0, 15, 30, 45])) for day in days_entered
        ]

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz)

    def during(self, start: datetime, end: datetime | None, *, after_days: int, hour: int) -> datetime:
        """A weekday moment ``after_days`` into a stay, kept well before its end (or before now)."""
        end = end or self.now
        moment = self.at(weekday_on_or_after(timezone.localdate(start) + timedelta(days=after_days)), hour)
        if moment + timedelta(hours=2) > end:
            moment = end - timedelta(minutes=150)
        return moment

    def name(self, patient: Patient) -> str:
        return patient.preferred_name or patient.first_name

    def next_text(self, texts: list[str], key: str) -> str:
        text = texts[self.counters[key] % len(texts)]
        self.counters[key] += 1
        return text

    # --- the inquiry ---

    def add_inquiry(self, patient: Patient, journey: Journey, *, at: datetime) -> None:
        # ``inquiry_receive`` stamps everything "now" and sends the welcome at once, but these prospects
        # wrote days ago and their patients exist already: the rows are written as the form wrote them then.
        consent = patient_consent(patient)
        Inquiry.objects.create(
            first_name=patient.first_name,
            last_name=patient.last_name,
            email=patient.email,
            phone=patient.phone,
            message=self.next_text(INQUIRY_MESSAGES, "inquiry"),
            how_heard=SOURCE_TO_HOW_HEARD.get(patient.source, Inquiry.HowHeard.OTHER),
            consent_email=consent[Channel.EMAIL].active,
            consent_sms=consent[Channel.SMS].active,
            received_at=at,
            user_agent="Mozilla/5.0 (demo)",
            patient=patient,
            journey=journey,
        )
        self.summary["inquiries"] += 1

    # --- the plan ---

    def add_blueprint(self, journey, plan: DemoJourney, lead, *, template, start, end) -> None:
        theme = THEMES[plan.theme]
        draft = blueprint_start_draft(journey=journey, actor=lead, from_template=template)
        blueprint_update_summary(blueprint=draft, actor=lead, summary=theme.summary)
        for item in theme.items:
            blueprint_add_item(blueprint=draft, actor=lead, **item)
        created_at = office_hours(between(start, end, 0.2), before=end)
        if plan.draft_only:
            Blueprint.objects.filter(pk=draft.pk).update(created_at=created_at)
            self.summary["blueprints"]["drafts"] += 1
            return
        blueprint_publish(blueprint=draft, actor=lead)
        # Published days ago, not today (the service stamps the moment it runs).
        published_at = max(office_hours(between(start, end, 0.6), before=end), created_at)
        Blueprint.objects.filter(pk=draft.pk).update(created_at=created_at, published_at=published_at)
        self.summary["blueprints"]["published"] += 1

    def revise_blueprint(
        self, journey, lead, *, at: datetime, revision=None
    ) -> tuple[Blueprint, str | None, str]:
        """Publish version 2 at ``at``; return it, the title of the item it changed (None: one added) and
        the reason kept with it."""
        title, fields, reason = revision or self.next_text(REVISIONS, "revision")
        draft = blueprint_start_draft(journey=journey, actor=lead)
        item = draft.items.filter(title=title).first() if title else None
        if item is not None:
            blueprint_update_item(item=item, actor=lead, **fields)
        else:  # an admin renamed the template's item, or this revision adds one
            title, fields, reason = REVISIONS[-1]
            blueprint_add_item(blueprint=draft, actor=lead, **fields)
        blueprint_publish(blueprint=draft, actor=lead, reason=reason)
        Blueprint.objects.filter(pk=draft.pk).update(created_at=at - timedelta(minutes=45), published_at=at)
        draft.created_at, draft.published_at = at - timedelta(minutes=45), at
        self.summary["blueprints"]["revised"] += 1
        return draft, title, reason

    def pause_item(self, journey, lead, *, at: datetime) -> None:
        title, reason = PAUSED_ITEM
        published = journey.blueprints.get(status=Blueprint.Status.PUBLISHED)
        item = published.items.filter(title=title).first()
        if item is None:
            return
        blueprint_item_set_status(item=item, status=BlueprintItem.Status.PAUSED, reason=reason, actor=lead)
        BlueprintItem.objects.filter(pk=item.pk).update(status_changed_at=at)
        self.summary["blueprints"]["paused items"] += 1

    # --- visits and their notes ---

    def location(self, patient: Patient, kind: str) -> str:
        if kind == Visit.Kind.DISCOVERY:
            return "Phone call"
        if patient.time_zone in FAR_AWAY:
            return "Video call"
        return self.rng.choice(ROOMS)

    def add_visits(self, patient, journey, plan: DemoJourney, lead, *, entered, left, went_to) -> None:
        name = self.name(patient)
        if Stage.DISCOVERY in entered:
            start, end = entered[Stage.DISCOVERY], left.get(Stage.DISCOVERY)
            if plan.no_show:
                self.past_visit(
                    journey,
                    lead,
                    Visit.Kind.DISCOVERY,
                    booked=start,
                    status=Visit.Status.NO_SHOW,
                    starts_at=self.during(start, end, after_days=2, hour=11),
                )
            if end is not None and went_to[Stage.DISCOVERY] != Stage.WITHDRAWN:
                visit = self.past_visit(
                    journey, lead, Visit.Kind.DISCOVERY, booked=start, starts_at=end - timedelta(minutes=75)
                )
                if went_to[Stage.DISCOVERY] == Stage.INTAKE:
                    body = self.next_text(DISCOVERY_NOTES, "discovery")
                else:
                    body = f"Discovery call. {plan.note}"
                self.note(visit, lead, title="Discovery call", body=body.format(name=name))
            elif end is None and plan.upcoming != Visit.Kind.DISCOVERY:
                visit = self.past_visit(
                    journey,
                    lead,
                    Visit.Kind.DISCOVERY,
                    booked=start,
                    starts_at=self.during(start, None, after_days=2, hour=11),
                )
                self.note(visit, lead, title="Discovery call", body=DISCOVERY_DECIDING.format(name=name))
        if Stage.INTAKE in entered:
            start, end = entered[Stage.INTAKE], left.get(Stage.INTAKE)
            took_place = went_to.get(Stage.INTAKE) != Stage.PAUSED and not (
                end is None and plan.upcoming == Visit.Kind.INTAKE
            )
            if took_place:
                visit = self.past_visit(
                    journey,
                    lead,
                    Visit.Kind.INTAKE,
                    booked=start,
                    starts_at=self.during(start, end, after_days=2, hour=9),
                )
                self.intake_note(visit, plan, lead, name=name)
        if Stage.COMMITMENT in entered:
            start, end = entered[Stage.COMMITMENT], left.get(Stage.COMMITMENT)
            program = journey.program.name if journey.program else "the program"
            if end is not None:
                visit = self.past_visit(
                    journey, lead, Visit.Kind.COMMITMENT, booked=start, starts_at=end - timedelta(minutes=75)
                )
                if went_to[Stage.COMMITMENT] == Stage.BLUEPRINT:
                    body = self.next_text(COMMITMENT_NOTES, "commitment")
                else:
                    body = f"Commitment consult. {plan.note}"
                self.note(
                    visit, lead, title="Commitment consult", body=body.format(name=name, program=program)
                )
            elif plan.upcoming != Visit.Kind.COMMITMENT:
                visit = self.past_visit(
                    journey,
                    lead,
                    Visit.Kind.COMMITMENT,
                    booked=start,
                    starts_at=self.during(start, None, after_days=3, hour=14),
                )
                self.note(visit, lead, title="Commitment consult", body=COMMITMENT_THINKING.format(name=name))
        if Stage.CHECK_INS in entered:
            start, end = entered[Stage.CHECK_INS], left.get(Stage.CHECK_INS) or self.now
            if end - start >= timedelta(days=35):
                visit = self.past_visit(
                    journey,
                    lead,
                    Visit.Kind.FOLLOW_UP,
                    booked=start,
                    starts_at=self.during(start, end, after_days=28, hour=14),
                )
                body = self.next_text(FOLLOW_UP_NOTES, "follow-up")
                self.note(visit, lead, title="Four-week review", body=body.format(name=name))
        if plan.upcoming and journey.is_open:
            self.book(patient, journey, lead, plan.upcoming)

    def past_visit(self, journey, lead, kind, *, starts_at, booked, status=Visit.Status.COMPLETED) -> Visit:
        # ``visit_schedule`` refuses the past, as it should: a visit that already happened is history the
        # demo needs, so its row is written directly — booked a few days ahead, then closed.
        visit = Visit.objects.create(
            patient=journey.patient,
            journey=journey,
            practitioner=lead,
            kind=kind,
            starts_at=starts_at,
            duration_minutes=Visit.DEFAULT_MINUTES[kind],
            status=status,
            location=self.location(journey.patient, kind),
            created_at=max(booked, starts_at - timedelta(days=self.rng.randint(2, 6))),
            created_by=self.staff,
        )
        self.summary["visits"]["no-show" if status == Visit.Status.NO_SHOW else "completed"] += 1
        return visit

    def book(self, patient, journey, lead, kind: str) -> Visit:
        """Book a visit in the next two weeks through the service (its reminders join the outbox), at the
        first weekday slot from a random one on where the practitioner is free."""
        minutes = Visit.DEFAULT_MINUTES[kind]
        slots = [
            self.at(day, hour)
            for offset in range(1, 15)
            if (day := self.today + timedelta(days=offset)).weekday() < 5
            for hour in VISIT_HOURS
        ]
        first = self.rng.randrange(len(slots))
        for starts_at in slots[first:] + slots[:first]:
            ends_at = starts_at + timedelta(minutes=minutes)
            busy = Visit.objects.filter(
                practitioner=lead, status=Visit.Status.SCHEDULED, starts_at__lt=ends_at, ends_at__gt=starts_at
            ).exists()
            if not busy:
                break
        else:
            raise CommandError(f"{lead} has no free slot in the next two weeks for the demo's visits.")
        visit = visit_schedule(
            patient=patient,
            practitioner=lead,
            kind=kind,
            starts_at=starts_at,
            journey=journey,
            location=self.location(patient, kind),
            actor=self.staff,
        )
        self.summary["visits"]["upcoming"] += 1
        self.summary["reminders"] += Nudge.objects.filter(
            dedupe_key__startswith=f"visit:{visit.pk}:", status=Nudge.Status.PENDING
        ).count()
        return visit

    def note(self, visit: Visit, lead, *, title: str, body: str = "", sections=None, sign=True) -> VisitNote:
        note = note_create(visit=visit, author=lead, title=title, body=body, sections=sections, sign=sign)
        written = min(
            visit.ends_at + timedelta(minutes=self.rng.randint(20, 180)), self.now - timedelta(minutes=5)
        )
        # Written after the visit, not today (the service stamps the moment it runs).
        VisitNote.objects.filter(pk=note.pk).update(
            created_at=written, updated_at=written, signed_at=written if sign else None
        )
        note.created_at, note.signed_at = written, written if sign else None
        self.summary["notes"]["signed" if sign else "drafts"] += 1
        return note

    def intake_note(self, visit: Visit, plan: DemoJourney, lead, *, name: str) -> None:
        theme = THEMES[plan.theme]
        years = self.rng.choice(["two", "three", "four", "five"])
        sections = {
            key: getattr(theme, key).format(name=name, years=years) for key in VisitNote.INTAKE_SECTIONS
        }
        note = self.note(
            visit,
            lead,
            title=INTAKE_TITLE,
            body=INTAKE_BODY.format(name=name),
            sections=sections,
            sign=not plan.unsigned,
        )
        if not plan.unsigned:
            self.summary["notes"]["intake"] += 1
        if plan.addendum and note.is_signed:
            body = self.next_text(ADDENDA, "addendum").format(name=name)
            addendum = note_add_addendum(note=note, author=lead, body=body, sign=True)
            written = min(
                note.signed_at + timedelta(days=self.rng.randint(2, 5)), self.now - timedelta(minutes=5)
            )
            VisitNote.objects.filter(pk=addendum.pk).update(
                created_at=written, updated_at=written, signed_at=written
            )
            self.summary["notes"]["addenda"] += 1

    # --- check-ins ---

    def add_checkin_history(
        self, journey, plan: DemoJourney, lead, *, start: datetime, end: datetime | None
    ) -> list[date]:
        """The check-ins from the day the journey entered check-ins until now (or until it moved on): each
        answered, missed or still open, with what happened to the plan meanwhile, in the order it happened.
        Return the due days written (the schedule makes the rest)."""
        tz = journey.patient.tz
        every_days, weeks = cadence(journey)
        dates = checkin_dates(first_day=start.astimezone(tz).date(), every_days=every_days, weeks=weeks)
        until = min(end or self.now, self.now)
        past = [due for due in dates if request_moment(due, tz) < until]
        closed = [due for due in past if closing_moment(due, tz) <= self.now]
        missed_lately = set(closed[-2:]) if plan.faltering else set()
        hard = set(closed[-2:]) if plan.struggling else set(closed[:2]) if plan.corrected else set()
        rows, answered = [], []
        for n, due in enumerate(past):
            asked, closes = request_moment(due, tz), closing_moment(due, tz)
            checkin = CheckIn(journey=journey, due_on=due, closes_at=closes)
            if closes > self.now:
                self.summary["checkins"]["open"] += 1  # asked, and the patient has until ``closes`` to answer
            elif due in hard or (due not in missed_lately and (n == 0 or self.rng.random() < ANSWER_SHARE)):
                after = timedelta(hours=self.rng.choice(ANSWER_AFTER_HOURS), minutes=self.rng.randrange(60))
                answered.append((checkin, min(asked + after, closes, until), due in hard))
                self.summary["checkins"]["answered"] += 1
            else:
                checkin.status = CheckIn.Status.MISSED
                self.summary["checkins"]["missed"] += 1
            rows.append(checkin)
        # Past check-ins are history the schedule cannot make (it only makes what is still to come). Those
        # answered start as the schedule left them and take their answer through the service, below.
        CheckIn.objects.bulk_create(rows)

        stay_end = end or self.now
        # What happened, in order (on the same moment, the plan changes first): the answer service asks about
        # the plan published when the patient answers, so a revision must land between the weeks it parts.
        events = [
            (at, 1, partial(self.answer, checkin, plan, at=at, hard=is_hard))
            for checkin, at, is_hard in answered
        ]
        if plan.corrected:
            second_hard = sorted(at for _, at, is_hard in answered if is_hard)[1]
            noticed = second_hard + DETECTION_EVERY
            events.append((noticed, 2, partial(self.open_past_alert, journey, at=noticed)))
            revised_at = office_hours(
                max(between(start, stay_end, 0.4), noticed + timedelta(hours=20)), before=stay_end
            )
            events.append((revised_at, 0, partial(self.correct_course, journey, lead, at=revised_at)))
        elif plan.revised:
            revised_at = office_hours(between(start, stay_end, 0.4), before=stay_end)
            events.append((revised_at, 0, partial(self.revise_blueprint, journey, lead, at=revised_at)))
        if plan.item_paused:
            paused_at = office_hours(between(start, stay_end, 0.55), before=stay_end)
            events.append((paused_at, 0, partial(self.pause_item, journey, lead, at=paused_at)))
        for _, _, happen in sorted(events, key=lambda event: event[:2]):
            happen()
        return past

    def add_upcoming_checkins(self, journey, lead, *, past: list[date]) -> None:
        # Entering check_ins already scheduled the rest (the hook registered by journeys.services.checkins);
        # calling it again creates nothing twice, and covers a process where the hook was not registered.
        checkins_schedule(journey=journey, actor=lead)
        upcoming = CheckIn.objects.filter(
            journey=journey, status=CheckIn.Status.SCHEDULED, closes_at__gt=self.now
        )
        upcoming = upcoming.exclude(due_on__in=past)
        self.summary["checkins"]["upcoming"] += upcoming.count()
        self.summary["requests"] += Nudge.objects.filter(
            pk__in=upcoming.values("request_nudge"),
            kind=NudgeKind.CHECKIN_REQUEST,
            status=Nudge.Status.PENDING,
        ).count()

    # --- the patient's answers ---

    def week_statuses(self, items: list[BlueprintItem], *, hard: bool) -> dict[int, tuple[str, str]]:
        """How each item went in one week, ``items_status`` as the answer service takes it. An item the care
        team paused is answered as paused, with the words the check-in form offers."""
        rng, weights = self.answer_rng, HARD_WEEK if hard else STEADY_WEEK
        statuses = {}
        for _ in range(50):
            statuses = {}
            for item in items:
                if item.status == BlueprintItem.Status.PAUSED:
                    statuses[item.pk] = (ComplianceLog.Status.PAUSED, PLAN_PAUSED_REASON)
                    continue
                status = rng.choices(list(weights), weights=list(weights.values()))[0]
                reason = (
                    rng.choice(PAUSED_REASONS[item.kind]) if status == ComplianceLog.Status.PAUSED else ""
                )
                statuses[item.pk] = (status, reason)
            score = week_score(statuses)
            if score is not None and (
                HARD_RANGE[0] <= score <= HARD_RANGE[1] if hard else score >= STEADY_FLOOR
            ):
                break
        return statuses

    def answer(self, checkin: CheckIn, plan: DemoJourney, *, at: datetime, hard: bool) -> None:
        """The patient's answer to one check-in, given at ``at`` through the answer service (its ``now=``)."""
        rng = self.answer_rng
        items = checkin_answerable_items(checkin)
        statuses = self.week_statuses(items, hard=hard)
        if hard and plan.corrected:  # what the revision will answer: the morning walk never fitted
            for item in items:
                if item.title == REVISIONS[EARLY_REVISION][0]:
                    statuses[item.pk] = (ComplianceLog.Status.MISSED, "")
        gaps = sum(
            status in (ComplianceLog.Status.MISSED, ComplianceLog.Status.PARTIAL)
            for status, _ in statuses.values()
        )
        if hard:
            barriers = rng.sample(HARD_BARRIERS, rng.randint(1, 2))
            said = self.next_text(
                *((MORNING_WORDS, "morning") if plan.corrected else (HARD_WEEK_WORDS, "hard"))
            )
        else:
            barriers = rng.sample(STEADY_BARRIERS, min(gaps, rng.randint(1, 2))) if gaps else []
            said = ""
            if rng.random() < WORDS_SHARE:
                said = self.next_text(
                    *((MIXED_WEEK_WORDS, "mixed") if gaps >= 2 else (GOOD_WEEK_WORDS, "good"))
                )
        week = self.counters[f"week:{checkin.journey_id}"]
        self.counters[f"week:{checkin.journey_id}"] += 1
        ratings = {
            name: max(0, min(10, base + week // 3 + rng.randint(-1, 1) - (3 if hard else 0)))
            for name, base in (("energy", 4), ("sleep", 5), ("mood", 5), ("digestion", 4))
        }
        if plan.theme != "gut" and rng.random() < 0.3:
            ratings["digestion"] = None  # a rating the patient chose to skip
        by_phone = self.staff is not None and not hard and rng.random() < PHONE_SHARE
        how = {"via": CheckInAnswer.Via.PHONE, "entered_by": self.staff} if by_phone else {}
        checkin_answer_record(
            checkin=checkin, items_status=statuses, where_it_failed=said, barriers=barriers, ratings=ratings,
            now=at, **how,
        )  # fmt: skip
        self.summary["answers"]["by phone" if by_phone else "by link"] += 1
        for status, _ in statuses.values():
            self.summary["logs"][ComplianceLog.Status(status).label.lower()] += 1
        changed_at = at + timedelta(hours=rng.randint(2, 20))
        missed = [pk for pk, (status, _) in statuses.items() if status == ComplianceLog.Status.MISSED]
        if (
            not hard
            and missed
            and changed_at < min(self.now, checkin.closes_at)
            and rng.random() < CHANGED_SHARE
        ):
            # The patient opened the link again that evening: one "not this week" was a "partly" after all.
            statuses[missed[0]] = (ComplianceLog.Status.PARTIAL, "")
            checkin_answer_record(
                checkin=checkin, items_status=statuses, where_it_failed=(said + CHANGED_WORDS).strip(),
                barriers=barriers, ratings=ratings, now=changed_at, **how,
            )  # fmt: skip
            self.summary["answers"]["changed"] += 1

    # --- falter alerts ---

    def open_past_alert(self, journey, *, at: datetime) -> None:
        # ``detect_faltering`` opens every alert it sees "now", emails the lead and sends the patient a note:
        # an alert weeks ago is history, so its row is written as detection wrote it then, without messages.
        score, _ = recent_answered_score(patient_id=journey.patient_id)
        alert = Alert.objects.create(
            patient_id=journey.patient_id, journey=journey, reason=Alert.Reason.LOW_ADHERENCE,
            detail=f"{score:g}% over the last two check-ins", opened_at=at,
        )  # fmt: skip
        record_access(
            action=AccessEvent.Action.CREATE,
            actor_label=DETECTION_LABEL,
            patient_id=journey.patient_id,
            obj=alert,
            detail="alert opened: low adherence",
        )

    def correct_course(self, journey, lead, *, at: datetime) -> None:
        """The lead answers the open alert with version 2 of the plan and a course correction, through the
        services, dated back to the day it happened."""
        alert = Alert.objects.get(journey=journey, resolved_at__isnull=True)
        revised, title, reason = self.revise_blueprint(
            journey, lead, at=at, revision=REVISIONS[EARLY_REVISION]
        )
        correction = course_correct(
            alert=alert,
            actor=lead,
            change=CORRECTIONS.get(title, CourseCorrection.Change.OTHER),
            note=CORRECTION_NOTE.format(name=self.name(journey.patient), reason=reason),
            blueprint=revised,
        )
        answered = at + timedelta(minutes=20)
        CourseCorrection.objects.filter(pk=correction.pk).update(created_at=answered)
        Alert.objects.filter(pk=alert.pk).update(resolved_at=answered)
        self.summary["alerts_answered"] += 1

    def detect_falters(self, *, dry_run: bool) -> None:
        """Falter detection as the hourly job runs it, once everyone's history is in: the alerts it opens
        are the ones /alerts/ and Today show. A dry run only counts them (detection emails the leads)."""
        if dry_run:
            reasons = [finding.reason for finding in falter_findings(now=self.now)]
        else:
            reasons = [alert.reason for alert in detect_faltering(now=self.now)]
        for reason in reasons:
            self.summary["alerts"][Alert.Reason(reason).label.lower()] += 1


def week_score(statuses: dict[int, tuple[str, str]]) -> float | None:
    weights = [
        ComplianceLog.SCORES[status] for status, _ in statuses.values() if status in ComplianceLog.SCORES
    ]
    return 100 * sum(weights) / len(weights) if weights else None
