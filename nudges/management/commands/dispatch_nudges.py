"""Send the nudges that are due now, once, without Celery.

    python manage.py dispatch_nudges [--dry-run]

One pass of what Celery beat does every minute: nudges whose sender stopped past their lease are
reconciled — claimed but never handed to a transport, they go back to be sent; handed to one, they are
marked "unknown" (for a person to review) — then due nudges are claimed and sent batch after batch,
each checked at send time for consent, unsubscribe, archive and quiet hours. The summary printed at
the end says how many were sent, retried, failed, held back (and why) or deferred for quiet hours.
Running it while Celery also dispatches is safe: a nudge is claimed before it is sent, so it goes once.

--dry-run changes nothing and sends nothing: it prints how many nudges are due, by kind and channel,
how many would be held back and why, and how many would wait for the patient's quiet hours.
"""

from argparse import RawDescriptionHelpFormatter
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, DjangoHelpFormatter
from django.utils import timezone

from nudges import services
from nudges.models import Kind, Nudge
from nudges.timing import next_allowed_moment
from patients.models import Channel, Patient
from patients.selectors import patient_may_message


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    pass


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = HelpFormatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what is due and what would be held back; change nothing",
        )

    def handle(self, *args, dry_run: bool, **options):
        if dry_run:
            self.dry_run()
            return
        reconciled = services.nudge_reconcile_stuck()
        if reconciled.released:
            n = reconciled.released
            self.stdout.write(
                f"{n} nudge{'s' if n != 1 else ''} claimed by a sender that stopped will be sent."
            )
        if reconciled.unknown:
            n = reconciled.unknown
            self.stdout.write(
                self.style.WARNING(
                    f"{n} nudge{'s' if n != 1 else ''} stopped mid-send and now wait for review as unknown."
                )
            )
        report = services.nudge_dispatch_due()
        self.stdout.write(self.style.SUCCESS(str(report)) if report.sent else str(report))
        for reason, count in sorted(report.reasons.items()):
            self.stdout.write(f"  {count} {reason}")

    def dry_run(self):
        now = timezone.now()
        due = list(
            Nudge.objects.due(now).only("pk", "patient_id", "kind", "channel").order_by("send_at", "id")
        )
        patients = {
            p.pk: p for p in Patient.objects.with_consent().filter(pk__in={n.patient_id for n in due})
        }
        by_kind_channel, held, deferred = Counter(), Counter(), 0
        for nudge in due:
            by_kind_channel[(nudge.kind, nudge.channel)] += 1
            patient = patients[nudge.patient_id]
            allowed, reason = patient_may_message(patient, nudge.channel)
            if not allowed:
                held[reason] += 1
            elif (
                next_allowed_moment(
                    now, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end
                )
                > now
            ):
                deferred += 1
        older_than = now - timedelta(seconds=settings.NUDGE_SENDING_LEASE_SECONDS)
        released = Nudge.objects.claim_expired(older_than=older_than).count()
        stuck = Nudge.objects.take_expired(older_than=older_than).count()

        write = self.stdout.write
        write("Dry run: nothing was sent or changed.")
        write(f"{len(due)} nudge{'s' if len(due) != 1 else ''} due now.")
        for (kind, channel), count in sorted(by_kind_channel.items()):
            write(f"  {count} {Kind(kind).label} by {Channel(channel).label}")
        write(f"{sum(held.values())} would be held back.")
        for reason, count in sorted(held.items()):
            write(f"  {count} {reason}")
        write(f"{deferred} would wait for the patient's quiet hours.")
        write(f"{len(due) - sum(held.values()) - deferred} would be sent now.")
        if released:
            write(f"{released} claimed by a sender that stopped would go back to be sent.")
        if stuck:
            write(f"{stuck} stopped mid-send and would be marked unknown for review.")
