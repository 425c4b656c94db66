"""Load a small demo clinic. ``--if-empty`` does nothing when the clinic already has data."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Only load into an empty clinic.")

    def handle(self, *args, **options):
        self.stdout.write("No demo data to load yet.")
