"""Walk the audit trail's hash chain from its first row to its last and say whether it holds.

    python manage.py verify_audit [--expect-head SEQ:HASH]

Each row must follow the one before it (``seq`` one more, ``prev_hash`` equal to its ``hash``) and hash to
its own ``hash``. The first row that is missing, changed or out of place is named, and the command exits
with status 1. When the chain holds it prints the number of rows and, on its last line, the trail's head
as ``head SEQ:HASH``.

A chain alone cannot show that rows were cut from its end: what is left still holds. So keep the head
somewhere the database's keys do not reach (the ``accounts.audit_head`` beat task logs it every day, and
mails it to ``AUDIT_HEAD_MAIL_TO``), and give an earlier one back with ``--expect-head``: the command then
also fails when the trail no longer reaches that row, or when that row's hash is another (the chain was
rebuilt from there). A head that holds proves every row up to it is the one written then.
"""

import re
from contextlib import closing

from django.core.management.base import BaseCommand, CommandError

from accounts.chain import GENESIS, Head, walk_chain
from accounts.models import AccessEvent

HEAD = re.compile(r"(?P<seq>[0-9]{1,19}):(?P<hash>[0-9a-f]{64})")


def parse_head(value: str) -> Head:
    match = HEAD.fullmatch(value.strip().lower())
    if match is None:
        raise CommandError(
            f"--expect-head takes the head as verify_audit printed it, SEQ:HASH (a number, a colon and "
            f"64 hexadecimal characters), not “{value[:80]}”.",
            returncode=2,
        )
    return Head(seq=int(match["seq"]), hash=match["hash"])


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="a head printed by an earlier run and kept elsewhere: fail unless the trail still holds it",
        )

    def handle(self, *args, expect_head=None, **options):
        expected = parse_head(expect_head) if expect_head is not None else None
        # closed as soon as the walk stops, so a break never leaves PostgreSQL's server-side cursor open
        with closing(AccessEvent.objects.order_by("seq").iterator(chunk_size=2000)) as rows:
            walk = walk_chain(rows)
        plural = "s" if walk.rows != 1 else ""
        if walk.broken is not None:
            raise CommandError(
                f"The audit trail is broken at {walk.broken}. {walk.rows} row{plural} before it hold."
            )
        head = Head(seq=walk.last_seq, hash=walk.last_hash)
        if expected is not None:
            self._check(expected, head)
        self.stdout.write(
            f"The audit trail holds: {walk.rows} row{plural}, last seq {walk.last_seq}, "
            f"last hash {walk.last_hash}."
        )
        if expected is not None:
            since = head.seq - expected.seq
            self.stdout.write(
                f"It still holds the head kept elsewhere (seq {expected.seq}); "
                f"{since} row{'s' if since != 1 else ''} written since."
            )
        self.stdout.write(f"head {head}")

    def _check(self, expected: Head, head: Head) -> None:
        if expected.seq > head.seq:
            cut = expected.seq - head.seq
            raise CommandError(
                f"The audit trail ends at seq {head.seq}, but the head kept elsewhere is seq {expected.seq}: "
                f"{cut} row{'s' if cut != 1 else ''} at its end {'are' if cut != 1 else 'is'} gone "
                f"(the tail was cut). Current head {head}."
            )
        if expected.seq == 0:  # the head of an empty trail
            found = GENESIS
        else:
            found = AccessEvent.objects.filter(seq=expected.seq).values_list("hash", flat=True).get()
        if found != expected.hash:
            raise CommandError(
                f"Row seq {expected.seq} has hash {found}, not the {expected.hash} kept elsewhere: the "
                f"trail was rewritten up to that row and its chain rebuilt. Current head {head}."
            )
