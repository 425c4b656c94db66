"""The wording and timing Alliance ships with, present after every migrate and every flush.

A post_migrate handler (like Django's own content types and permissions) keeps them there after a
database flush too — test runs, ``manage.py flush`` — and never overwrites what an admin changed.
"""

from patients.models import Channel

from .models import Kind, MessageTemplate, NudgeRule
from .rendering import default_wording

RULES = {
    Kind.INQUIRY_WELCOME: ([0], "Right after the inquiry arrives."),
    Kind.VISIT_REMINDER: ([-1440, -120], "24 hours and 2 hours before the visit."),
    Kind.CHECKIN_REQUEST: ([0], "On the morning a check-in is due."),
    Kind.CHECKIN_MISSED: ([1440], "A day after a check-in window closes unanswered; once."),
    Kind.ADHERENCE_OUTREACH: ([0], "As soon as faltering is detected."),
    Kind.GRADUATION: ([0], "When the journey reaches graduated."),
    Kind.REFERRAL_THANKS: ([0], "When a referred inquiry arrives."),
    Kind.ONE_OFF: ([0], "Written by staff; sent at the time they choose."),
    Kind.INTAKE_QUESTIONNAIRE: ([0], "When an intake visit is booked or the journey reaches intake; once."),
    Kind.INTAKE_REMINDER: (
        [-2880],
        "48 hours before the intake visit, if the questionnaire is not finished.",
    ),
    Kind.FOLLOW_UP_CHECKIN: ([0], "1, 3 and 6 months after graduation, at the patient's check-in hour."),
    Kind.ADVOCACY_ASK: ([0], "When the journey reaches advocate; only with marketing consent, 09:00-20:00."),
}


def ensure_defaults(*, using: str = "default", **kwargs) -> None:
    for kind in Kind.values:
        for channel in Channel.values:
            subject, body = default_wording(kind, channel)
            MessageTemplate.objects.using(using).get_or_create(
                kind=kind, channel=channel, defaults={"subject": subject, "body": body}
            )
        offsets, note = RULES[kind]
        NudgeRule.objects.using(using).get_or_create(
            kind=kind, defaults={"offsets_minutes": offsets, "note": note}
        )
