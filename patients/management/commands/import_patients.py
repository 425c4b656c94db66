"""Import patients from a spreadsheet saved as CSV (in Excel or Numbers: "CSV UTF-8").

    python manage.py import_patients patients.csv --as alice [--dry-run] [--skip-invalid]

The first line is the header. Columns may come in any order; only first_name and last_name are
required, and any other column may be left out or left blank:

  first_name          legal first name (required)
  last_name           legal last name (required)
  preferred_name      what the patient likes to be called
  pronouns            for example she/her
  date_of_birth       YYYY-MM-DD, for example 1984-03-27
  email               email address; needed when preferred_channel is email or consent_email is yes
  phone               mobile number in any style; without a +country code PHONE_DEFAULT_REGION is
                      assumed; stored as +15552010134; needed for preferred_channel sms or consent_sms yes
  time_zone           IANA name such as America/Chicago; blank means the clinic's TIME_ZONE
  preferred_channel   email or sms; blank means email
  quiet_hours_start   HH:MM on a 24-hour clock; blank means 20:00
  quiet_hours_end     HH:MM on a 24-hour clock; blank means 08:00
  checkin_hour        morning (08:00), midday (12:00), evening (18:00) or an hour like 7 or 19:00;
                      blank means 10:00 — when check-in requests go, in the patient's own time
  consent_email       yes/no, true/false or 1/0; blank means no
  consent_sms         yes/no, true/false or 1/0; blank means no
  source              referral, website, event, social or other; blank means other
  lead                username or email of the active practitioner who leads the patient's care
  referred_by_email   email of the patient, already in Alliance CRM, who referred them

Every row is checked before anything is saved; each problem is printed with its line number (the
header is line 1). A row whose email or phone belongs to a patient already, or to an earlier row of
the file, is refused. Without --skip-invalid one bad row means nothing is imported; with it, exactly the
valid rows are. --dry-run checks everything and saves nothing. Consent is recorded as given "via
spreadsheet import" by the user named with --as, who is also the author of every audit row.
The command exits with an error when nothing was imported because of problems.
"""

from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from accounts.audit import system_context
from patients.importing import patients_import


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    pass


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = HelpFormatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, with or without a byte-order mark)")
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            metavar="USERNAME",
            help="the user who is importing: recorded on the consent rows and in the audit trail",
        )
        parser.add_argument("--dry-run", action="store_true", help="check every row and save nothing")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="import the valid rows even when others have problems"
        )

    def handle(self, *args, file: Path, username: str, dry_run: bool, skip_invalid: bool, **options):
        actor = get_user_model().objects.filter(username=username, is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user signs in as “{username}”: --as takes a username.")
        if not file.is_file():
            raise CommandError(f"There is no file at {file}.")
        with system_context("command import_patients"):
            report = patients_import(
                file_or_text=file, actor=actor, dry_run=dry_run, skip_invalid=skip_invalid
            )
        for line in report.error_lines():
            self.stderr.write(line)
        if report.failed:
            raise CommandError(report.summary)
        self.stdout.write(self.style.SUCCESS(report.summary) if report.created else report.summary)
