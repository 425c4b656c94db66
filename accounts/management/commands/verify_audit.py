"""Walk the audit trail's hash chain from its first row to its last and say whether it holds.

    python manage.py verify_audit

Each row must follow the one before it (``seq`` one more, ``prev_hash`` equal to its ``hash``) and hash to
its own ``hash``. The first row that is missing, changed or out of place is named, and the command exits
with status 1; when the chain holds it prints the number of rows and the last row's hash (keep that hash
somewhere else: a later run that ends on the same row with the same hash proves the tail was not cut).
"""

from contextlib import closing

from django.core.management.base import BaseCommand, CommandError

from accounts.chain import walk_chain
from accounts.models import AccessEvent


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def handle(self, *args, **options):
        # closed as soon as the walk stops, so a break never leaves PostgreSQL's server-side cursor open
        with closing(AccessEvent.objects.order_by("seq").iterator(chunk_size=2000)) as rows:
            walk = walk_chain(rows)
        if walk.broken is not None:
            raise CommandError(
                f"The audit trail is broken at {walk.broken}. "
                f"{walk.rows} row{'s' if walk.rows != 1 else ''} before it hold."
            )
        self.stdout.write(
            f"The audit trail holds: {walk.rows} row{'s' if walk.rows != 1 else ''}, "
            f"last seq {walk.last_seq}, last hash {walk.last_hash}."
        )
