"""Mark closed check-ins missed and open alerts for patients whose adherence falters, once, without Celery.

    python manage.py detect_faltering [--dry-run]

One pass of what Celery beat does on its own: check-ins whose window closed unanswered become missed (each
with one gentle follow-up to the patient), then every patient at check-ins is looked at with the clinic's
thresholds (admin → Clinic settings). Each new reason opens one alert, schedules one warm outreach message
and emails the lead practitioner. Running it again, or while Celery runs it, opens nothing twice.

--dry-run changes nothing and sends nothing: it prints how many check-ins would be marked missed and which
alerts would open, and why.
"""

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand, DjangoHelpFormatter
from django.utils import timezone

from accounts.audit import system_context
from compliance import detection
from journeys.models import CheckIn


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    pass


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = HelpFormatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be marked and opened; change nothing"
        )

    def handle(self, *args, dry_run: bool, **options):
        now = timezone.now()
        if dry_run:
            closing = CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED, closes_at__lte=now).count()
            findings = detection.falter_findings(now=now)
            self.stdout.write("Dry run: nothing was changed or sent.")
            self.stdout.write(f"{_plural(closing, 'check-in')} would be marked missed.")
            self.stdout.write(f"{_plural(len(findings), 'alert')} would open.")
            for finding in findings:
                self.stdout.write(
                    f"  {finding.patient.display_name}: {finding.reason_label} ({finding.detail})"
                )
            return
        with system_context("command detect_faltering"):
            missed = detection.checkins_mark_missed(now=now)
            opened = detection.detect_faltering(now=now)
        self.stdout.write(f"{_plural(missed, 'check-in')} marked missed.")
        summary = f"{_plural(len(opened), 'alert')} opened."
        self.stdout.write(self.style.WARNING(summary) if opened else summary)
        for alert in opened:
            self.stdout.write(
                f"  {alert.patient.display_name}: {alert.get_reason_display()} ({alert.detail})"
            )
