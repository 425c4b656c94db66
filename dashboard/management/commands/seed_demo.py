"""Load a small demo clinic: four more colleagues, about forty patients and a living clinic around them.

Every patient has a journey somewhere along the path (or off it), with the history that got them there:
stage moves, visits and their notes, a published care plan and its revisions, check-ins answered and
missed, the messages the outbox sent, and what is still to come (visits in the next two weeks,
check-ins) waiting in the outbox as pending nudges. Two patients have had a hard few weeks, two more
have let their latest check-in close unanswered (one of them stayed silent after the follow-up too: a
person is to call them), one told of a side effect when answering (the lead was alerted then), and one
faltered early and had their plan simplified by a course correction; falter detection runs once
everything is in, so the alerts page and Today open on real alerts (detection emails the leads and
schedules its warm outreach, as it does every hour in the clinic).

The history is made by living it: the demo package (``dashboard/demo/``) calls the public services on a
clock moved forward through the clinic's past, so every row carries the moment it happened. Its content
lives in ``dashboard/demo/data/*.toml``. The data is the same on every run (seeded random generators and
a fixed reference date for ages); the history runs up to the moment the command runs, so days in stage
and the pipeline's figures read like a real clinic's on any day. The colleagues are created
only when their username is free; they sign in with ``DEMO_PASSWORD`` when it is set, otherwise not
until an admin gives them a password.

``--if-empty`` loads nothing when the clinic has patients already; ``--dry-run`` shows what would
be loaded and keeps (and sends) nothing.
"""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.demo import DemoError, build_demo_clinic
from dashboard.demo.summary import Summary
from journeys.models import OFF_PATH, PATH, Stage
from patients.models import Patient


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
        try:
            with transaction.atomic():
                summary = build_demo_clinic(dry_run=dry_run)
                if dry_run:
                    transaction.set_rollback(True)
        except DemoError as error:
            raise CommandError(str(error)) from error
        self.report(summary, dry_run=dry_run)

    def report(self, summary: Summary, *, dry_run: bool) -> None:
        def tally(counter: Counter) -> str:
            return ", ".join(f"{name} {count}" for name, count in counter.most_common())

        title = "Demo clinic (dry run: nothing kept)" if dry_run else "Demo clinic loaded"
        self.stdout.write(self.style.SUCCESS(title))
        added = summary.users_added
        if added:
            how = (
                "password from DEMO_PASSWORD"
                if summary.password_set
                else "no password yet: an admin sets one"
            )
            self.stdout.write(f"  colleagues added  {', '.join(added)} ({how})")
        else:
            self.stdout.write("  colleagues added  none (they exist already)")
        self.stdout.write(f"  patients          {summary.patients} ({summary.archived} archived)")
        self.stdout.write(f"  leads             {tally(summary.leads)}")
        self.stdout.write(f"  time zones        {tally(summary.time_zones)}")
        self.stdout.write(f"  sources           {tally(summary.sources)}")
        self.stdout.write(f"  consent           {tally(summary.consent)}")
        self.stdout.write(f"  care teams        {tally(summary.care_team)}")
        self.stdout.write(f"  programs          {tally(summary.programs)}")
        stages = summary.stages
        self.stdout.write(f"  journeys          {sum(stages.values())}, by stage:")
        for stage in [*PATH, *[s for s in Stage if s in OFF_PATH]]:
            self.stdout.write(f"    {Stage(stage).label:<20} {stages[stage]:>3}")
        self.stdout.write(f"  inquiries         {summary.inquiries}")
        visits = summary.visits
        self.stdout.write(
            f"  visits            {visits['completed']} completed, {visits['no-show']} no-show, "
            f"{visits['upcoming']} in the next two weeks ({summary.reminders} reminders pending)"
        )
        notes = summary.notes
        self.stdout.write(
            f"  visit notes       {notes['signed']} signed ({notes['intake']} intake with all four sections), "
            f"{notes['addenda']} addenda, {notes['drafts']} draft"
        )
        plans = summary.blueprints
        self.stdout.write(
            f"  blueprints        {plans['published']} published ({plans['revised']} revised to v2), "
            f"{plans['drafts']} draft, {plans['paused items']} item paused"
        )
        checkins = summary.checkins
        self.stdout.write(
            f"  check-ins         {checkins['answered']} answered, {checkins['missed']} missed, "
            f"{checkins['open']} open, {checkins['upcoming']} to come ({summary.requests} requests pending)"
        )
        answers = summary.answers
        self.stdout.write(
            f"  answers           {answers['by link'] + answers['by phone']} ({answers['by phone']} by phone, "
            f"{answers['changed']} changed), items: {tally(summary.logs)}"
        )
        alerts = summary.alerts
        self.stdout.write(
            f"  alerts            {alerts.total()} {'would open' if dry_run else 'open'} ({tally(alerts)}), "
            f"{summary.alerts_answered} answered by a course correction"
        )
