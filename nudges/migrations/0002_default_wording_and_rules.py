"""Ship warm default wording for every kind and channel, and the default timing rules."""

from pathlib import Path

from django.db import migrations

WORDING_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "nudges"
KINDS = [
    "inquiry_welcome",
    "visit_reminder",
    "checkin_request",
    "checkin_missed",
    "adherence_outreach",
    "graduation",
    "referral_thanks",
    "one_off",
]
RULES = {
    "inquiry_welcome": ([0], "Right after the inquiry arrives."),
    "visit_reminder": ([-1440, -120], "24 hours and 2 hours before the visit."),
    "checkin_request": ([0], "On the morning a check-in is due."),
    "checkin_missed": ([1440], "A day after a check-in window closes unanswered; once."),
    "adherence_outreach": ([0], "As soon as faltering is detected."),
    "graduation": ([0], "When the journey reaches graduated."),
    "referral_thanks": ([0], "When a referred inquiry arrives."),
    "one_off": ([0], "Written by staff; sent at the time they choose."),
}


def load(apps, schema_editor):
    MessageTemplate = apps.get_model("nudges", "MessageTemplate")
    NudgeRule = apps.get_model("nudges", "NudgeRule")
    for kind in KINDS:
        MessageTemplate.objects.get_or_create(
            kind=kind,
            channel="email",
            defaults={
                "subject": (WORDING_DIR / f"{kind}_subject.txt").read_text().strip(),
                "body": (WORDING_DIR / f"{kind}_body.txt").read_text().strip(),
            },
        )
        MessageTemplate.objects.get_or_create(
            kind=kind, channel="sms", defaults={"body": (WORDING_DIR / f"{kind}_sms.txt").read_text().strip()}
        )
        offsets, note = RULES[kind]
        NudgeRule.objects.get_or_create(kind=kind, defaults={"offsets_minutes": offsets, "note": note})


class Migration(migrations.Migration):
    dependencies = [("nudges", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
