"""Load a large, realistic, deterministic clinic for measuring pages: ``seed_scale --patients 100000``.

Unlike ``seed_demo`` nothing goes through the services: rows are generated in chunks of patients and written
straight to the tables, with PostgreSQL's ``COPY`` (psycopg 3 ``cursor.copy()``) or, on other databases, large
``bulk_create`` batches. Memory stays bounded by the chunk size. The clinic holds practitioners, patients in
every stage and several time zones with consent and a lead (a few without one), journeys with their stage
history, visits (some today, some ahead) with signed notes, published plans of about eight items, weekly
check-ins with answers and compliance logs, falter alerts, nudges in every status (pending ones in the
future) and audit rows. The same ``--seed`` gives the same clinic, dated back from ``--now`` (default: the
moment the command runs, to the day).

Rows are added beside what the tables hold; ids continue after the highest one and sequences are reset at the
end. ``--dry-run`` generates everything and writes nothing (to time the generator alone).
"""

from __future__ import annotations

import queue
import random
import resource
import threading
import time as clock
import zoneinfo
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts import chain
from accounts.models import AccessEvent, Role, User
from compliance.models import Alert, CheckInAnswer, ComplianceLog, CourseCorrection
from dashboard.rollups import rollups_forget
from journeys.models import (
    Blueprint,
    BlueprintItem,
    CheckIn,
    Inquiry,
    ItemKind,
    Journey,
    Program,
    Stage,
    StageChange,
    Visit,
    VisitNote,
    WorkingHours,
)
from nudges.models import InboundMessage, Nudge
from nudges.models import Kind as NudgeKind
from patients.models import CareTeamMember, Channel, ConsentEvent, Patient, digits, fold

CHUNK = 1_000
ITEMS_PER_PLAN = 8
PRACTITIONERS_PER_THOUSAND = 2

FIRST = [
    "Ada",
    "Aisha",
    "Amir",
    "Ana",
    "Ava",
    "Ben",
    "Bjorn",
    "Carla",
    "Chen",
    "Chloe",
    "Dana",
    "David",
    "Elena",
    "Emil",
    "Eva",
    "Farah",
    "Felix",
    "Grace",
    "Hana",
    "Ines",
    "Isaac",
    "Ivy",
    "Jack",
    "Jamal",
    "Jose",
    "Kai",
    "Keoni",
    "Lara",
    "Leo",
    "Lina",
    "Luis",
    "Maya",
    "Mia",
    "Nadia",
    "Noah",
    "Omar",
    "Paula",
    "Priya",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Theo",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zoe",
]
LAST = [
    "Adams",
    "Alvarez",
    "Bello",
    "Brown",
    "Chen",
    "Cote",
    "Diaz",
    "Dubois",
    "Evans",
    "Garcia",
    "Goldberg",
    "Haddad",
    "Hart",
    "Ito",
    "Johnson",
    "Kahananui",
    "Kim",
    "Kowalski",
    "Lee",
    "Lokke",
    "Lopez",
    "Martin",
    "Murphy",
    "Nguyen",
    "Nunez",
    "OBrien",
    "Okafor",
    "Patel",
    "Perez",
    "Quinn",
    "Reyes",
    "Rossi",
    "Silva",
    "Singh",
    "Smith",
    "Tanaka",
    "Taylor",
    "Walker",
    "Wang",
    "Williams",
    "Wilson",
    "Young",
    "Zhang",
]
ZONES = (
    ["America/New_York"] * 5
    + ["America/Chicago"] * 3
    + ["America/Denver", "America/Phoenix", "Pacific/Honolulu"]
    + ["America/Los_Angeles"] * 3
    + ["America/Toronto", "Europe/London"]
)
# Where each journey is now, weighted like a clinic a few years old.
STAGE_WEIGHTS = {
    Stage.INQUIRY: 7,
    Stage.DISCOVERY: 6,
    Stage.INTAKE: 5,
    Stage.COMMITMENT: 4,
    Stage.BLUEPRINT: 4,
    Stage.CHECK_INS: 38,
    Stage.GRADUATED: 13,
    Stage.ADVOCATE: 5,
    Stage.PAUSED: 4,
    Stage.DECLINED: 7,
    Stage.WITHDRAWN: 7,
}
REACHED = {  # how far along the path each current stage went (paused/declined/withdrawn: drawn per journey)
    Stage.INQUIRY: 0,
    Stage.DISCOVERY: 1,
    Stage.INTAKE: 2,
    Stage.COMMITMENT: 3,
    Stage.BLUEPRINT: 4,
    Stage.CHECK_INS: 5,
    Stage.GRADUATED: 6,
    Stage.ADVOCATE: 7,
}
PATH = [
    Stage.INQUIRY,
    Stage.DISCOVERY,
    Stage.INTAKE,
    Stage.COMMITMENT,
    Stage.BLUEPRINT,
    Stage.CHECK_INS,
    Stage.GRADUATED,
    Stage.ADVOCATE,
]
VISIT_FOR = {1: Visit.Kind.DISCOVERY, 2: Visit.Kind.INTAKE, 3: Visit.Kind.COMMITMENT}
PLAN_ITEMS = [
    (ItemKind.SUPPLEMENT, "Magnesium glycinate", "200 mg", "each evening"),
    (ItemKind.SUPPLEMENT, "Vitamin D3", "2000 IU", "with breakfast"),
    (ItemKind.DIET, "Protein at breakfast", "", "daily"),
    (ItemKind.DIET, "No added sugar after 6 pm", "", "daily"),
    (ItemKind.LIFESTYLE, "Ten-minute walk after lunch", "", "daily"),
    (ItemKind.LIFESTYLE, "Screens off by 10 pm", "", "daily"),
    (ItemKind.THERAPY, "Breathing practice", "5 minutes", "twice a day"),
    (ItemKind.LAB, "Fasting glucose log", "", "three mornings a week"),
    (ItemKind.SUPPLEMENT, "Omega-3", "1 g", "with dinner"),
    (ItemKind.THERAPY, "Stretch routine", "10 minutes", "mornings"),
]
BARRIERS = ["cost", "time", "side_effects", "taste", "forgot", "unclear", "life_event", "family", "other"]
REPLIES = ["Thanks, see you then!", "Can we move it to the afternoon?", "Got it", "Will do, thank you."]
FAILED_WORDS = [
    "Busy week at work, lost track of the evening supplements.",
    "Travel threw off my routine.",
    "",
    "",
    "Hard to find time for the walks when it rained.",
    "",
]


class Table:
    """One table written by the seed: the columns it is given, the rest filled with each field's default."""

    def __init__(self, model: type[models.Model], fields: list[str], now: datetime) -> None:
        self.model = model
        self.fields = fields
        meta = model._meta
        given = set(fields)
        self.columns = [meta.get_field(name).column for name in fields]
        self.tail_fields: list[str] = []
        tail: list[Any] = []
        for field in meta.concrete_fields:
            if field.name in given or field.attname in given:
                continue
            if field.primary_key:
                raise CommandError(f"{model.__name__}: give the id")
            self.tail_fields.append(field.attname)
            default = field.get_default() if field.has_default() else None
            if default is None and not field.null and isinstance(field, models.CharField | models.TextField):
                default = ""
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                default = now
            self.columns.append(field.column)
            tail.append(default)
        self.tail = tuple(tail)
        every = [meta.get_field(name) for name in fields] + [
            meta.get_field(name) for name in self.tail_fields
        ]
        self.json_at = [n for n, field in enumerate(every) if isinstance(field, models.JSONField)]
        self.rows: list[tuple] = []
        self.written = 0

    def add(self, *values: Any) -> None:
        self.rows.append(values)

    def take(self) -> list[tuple]:
        """The rows added since the last take, to be written."""
        rows, self.rows = self.rows, []
        self.written += len(rows)
        return rows

    def write(self, rows: list[tuple], *, copy: bool) -> None:
        """Write ``rows`` on this thread's connection (inside the caller's transaction)."""
        if not rows:
            return
        if copy:
            self._copy(rows)
        else:
            names = self.fields + self.tail_fields
            objects = [self.model(**dict(zip(names, row + self.tail, strict=True))) for row in rows]
            self.model._default_manager.bulk_create(objects, batch_size=2_000)  # type: ignore[attr-defined]

    def _copy(self, rows: list[tuple]) -> None:
        # psycopg adapts each value itself (its C implementation): no text formatting in Python.
        sql = f"COPY {self.model._meta.db_table} ({', '.join(self.columns)}) FROM STDIN"
        tail = self.tail
        with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:  # raw psycopg
            write = copy.write_row
            if not self.json_at:
                for row in rows:
                    write(row + tail)
                return
            for row in rows:
                values = list(row + tail)
                for n in self.json_at:
                    values[n] = Jsonb(values[n])
                write(values)


class ChainedTable(Table):
    """The audit trail: each row also gets ``seq``, ``prev_hash`` and ``hash`` (``accounts.chain``), in the
    order the rows were added, continuing from the trail's last row as it stands when the batch is written
    (under the chain's writer lock, inside the chunk's transaction), so ``verify_audit`` holds afterwards."""

    CHAIN = ["seq", "prev_hash", "hash"]

    def __init__(self, model: type[models.Model], fields: list[str], now: datetime) -> None:
        super().__init__(model, fields + self.CHAIN, now)

    def add(self, *values: Any) -> None:
        self.rows.append(values)  # the chain's three values are computed as the rows are written

    def write(self, rows: list[tuple], *, copy: bool) -> None:
        if rows:
            super().write(self._chain(rows), copy=copy)

    def _chain(self, rows: list[tuple]) -> list[tuple]:
        chain.lock_chain(connection)
        last = self.model._default_manager.order_by("-seq").values_list("seq", "hash").first()  # type: ignore[attr-defined]
        seq, prev = last if last is not None else (0, chain.GENESIS)
        names = self.fields[: -len(self.CHAIN)] + self.tail_fields
        chained = []
        for row in rows:
            seq += 1
            event = SimpleNamespace(**dict(zip(names, row + self.tail, strict=True)), seq=seq, prev_hash=prev)
            prev = chain.row_hash(event)
            chained.append((*row, seq, event.prev_hash, prev))
        return chained


class Writer(threading.Thread):
    """Writes each chunk in a transaction on a connection of its own while the next chunk is generated, so
    PostgreSQL's side of the load (parsing, the unique indexes, the commit) runs beside Python's. At most one
    chunk waits for it (memory stays bounded); chunks are written in order, so the audit chain continues."""

    def __init__(self) -> None:
        super().__init__(name="seed_scale writer", daemon=True)
        self.queue: queue.Queue[list[tuple[Table, list[tuple]]] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            load_session()
            while (batch := self.queue.get()) is not None:
                if self.error is None:
                    with transaction.atomic():
                        for table, rows in batch:
                            table.write(rows, copy=True)
        except BaseException as error:  # handed to the main thread, which raises it
            self.error = error
            while self.queue.get() is not None:  # let the main thread finish putting
                pass
        finally:
            connection.close()

    def put(self, batch: list[tuple[Table, list[tuple]]]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close_quietly(self) -> None:
        self.error = self.error or CommandError("stopped")  # what is still queued is not written
        self.queue.put(None)
        self.join()

    def close(self) -> None:
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def load_session() -> None:
    """A bulk load: the generator makes every reference itself, so the foreign-key triggers (one lookup per
    row) are skipped for this session, and commits need not wait for the disk."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")


class Ids:
    """The next id of each table, after the highest one there already."""

    def __init__(self, *tables: type[models.Model]) -> None:
        self.next = {
            model: (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1  # type: ignore[attr-defined]
            for model in tables
        }

    def take(self, model: type[models.Model]) -> int:
        value = self.next[model]
        self.next[model] = value + 1
        return value


MODELS: list[type[models.Model]] = [
    Patient,
    Inquiry,
    InboundMessage,
    CourseCorrection,
    ConsentEvent,
    CareTeamMember,
    Journey,
    StageChange,
    Visit,
    VisitNote,
    Blueprint,
    BlueprintItem,
    CheckIn,
    CheckInAnswer,
    ComplianceLog,
    Alert,
    Nudge,
    AccessEvent,
]


def drop_secondary_indexes(tables: list[type[models.Model]]) -> list[str]:
    """Drop the indexes of ``tables`` that back no constraint and enforce nothing (not primary keys, not
    unique): a bulk load then maintains only those. Returns their definitions, to build them again."""
    names = [model._meta.db_table for model in tables]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND NOT i.indisprimary AND NOT i.indisunique
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1
            """,
            [names],
        )
        found = cursor.fetchall()
        for name, _definition in found:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    return [definition for _name, definition in found]


def build_indexes(definitions: list[str]) -> None:
    """Build the dropped indexes again, with room to sort in memory."""
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            cursor.execute(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        cursor.execute("RESET maintenance_work_mem")


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument(
            "--single-thread",
            action="store_true",
            help="PostgreSQL: write each chunk before generating the next",
        )
        parser.add_argument(
            "--vacuum",
            action="store_true",
            help="PostgreSQL: VACUUM (ANALYZE) the tables at the end, not ANALYZE",
        )
        parser.add_argument("--patients", type=int, required=True, help="how many patients to add")
        parser.add_argument("--weeks", type=int, default=52, help="longest check-in history in weeks (52)")
        parser.add_argument("--seed", type=int, default=13, help="random seed (13): same seed, same clinic")
        parser.add_argument("--chunk", type=int, default=CHUNK, help=f"patients per chunk ({CHUNK})")
        parser.add_argument("--now", help="the clinic's present moment, ISO 8601 (default: today 09:00 UTC)")
        parser.add_argument("--dry-run", action="store_true", help="generate the rows, write nothing")
        parser.add_argument(
            "--keep-indexes",
            action="store_true",
            help="PostgreSQL: keep the secondary indexes during the load (by default they are dropped first "
            "and built again at the end, which is several times faster)",
        )

    def handle(
        self, *args, patients: int, weeks: int, seed: int, chunk: int, now, dry_run: bool, keep_indexes: bool,
        vacuum: bool, single_thread: bool, **options,
    ):  # fmt: skip
        if patients < 1 or weeks < 1 or chunk < 1:
            raise CommandError("--patients, --weeks and --chunk must be positive")
        if now:
            moment = datetime.fromisoformat(now)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        else:
            moment = datetime.combine(timezone.now().date(), time(9), tzinfo=UTC)
        started = clock.monotonic()
        seeder = Seeder(now=moment, weeks=weeks, seed=seed, dry_run=dry_run)
        seeder.prepare(patients)
        # Indexes dropped for the load and a writer thread beside the generator, on a connection of its own:
        # not when the caller holds a transaction open (a test's), whose locks, deferred checks and rows
        # neither could share.
        alone = not connection.in_atomic_block
        bulk = seeder.copy and not dry_run and alone and not keep_indexes
        dropped = drop_secondary_indexes(MODELS) if bulk else []
        threaded = seeder.copy and not dry_run and alone and not single_thread
        writer = Writer() if threaded else None
        try:
            if writer is not None:
                writer.start()
            elif seeder.copy and not dry_run:
                load_session()
            for first in range(0, patients, chunk):
                batch = seeder.chunk(first, min(chunk, patients - first))
                if writer is not None:
                    writer.put(batch)
                elif not dry_run:
                    with transaction.atomic():
                        for table, rows in batch:
                            table.write(rows, copy=seeder.copy)
                if options["verbosity"] > 1:
                    self.stdout.write(f"  {first + chunk:,} patients, {clock.monotonic() - started:.0f} s")
            if writer is not None:
                writer.close()
                writer = None
        finally:
            if writer is not None:  # stopped by an error here: let the writer end before the indexes
                writer.close_quietly()
            elif seeder.copy and not dry_run:
                with connection.cursor() as cursor:
                    cursor.execute("RESET session_replication_role")
                    cursor.execute("RESET synchronous_commit")
            if dropped:  # built again even when the load stopped half-way
                loaded = clock.monotonic()
                build_indexes(dropped)
                if options["verbosity"] > 1:
                    self.stdout.write(f"  {len(dropped)} indexes built in {clock.monotonic() - loaded:.0f} s")
        if not dry_run:
            rollups_forget()  # past days changed: Insights' roll-ups count them again at beat's next refresh
            finishing = clock.monotonic()
            seeder.finish(vacuum=vacuum)
            if options["verbosity"] > 1:
                self.stdout.write(f"  statistics gathered in {clock.monotonic() - finishing:.0f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        counts = ", ".join(f"{t.model.__name__} {t.written:,}" for t in seeder.tables.values())
        verb = "Generated" if dry_run else "Seeded"
        self.stdout.write(
            f"{verb} {patients:,} patients in {clock.monotonic() - started:.1f} s (peak memory {peak:.0f} MB): "
            f"{counts}."
        )


class Seeder:
    def __init__(self, *, now: datetime, weeks: int, seed: int, dry_run: bool) -> None:
        self.now = now
        self.weeks = weeks
        self.seed = seed
        self.dry_run = dry_run
        self.copy = connection.vendor == "postgresql"
        self.zones = {name: zoneinfo.ZoneInfo(name) for name in set(ZONES)}
        self.tables = {
            "patient": Table(
                Patient,
                [
                    "id",
                    "first_name",
                    "last_name",
                    "preferred_name",
                    "email",
                    "phone",
                    "time_zone",
                    "preferred_channel",
                    "source",
                    "archived",
                    "search_text",
                    "created_at",
                    "updated_at",
                    "unsubscribed_at",
                    "date_of_birth",
                    "referred_by_id",
                    "has_lead",
                ],
                now,
            ),
            "inquiry": Table(
                Inquiry,
                [
                    "id",
                    "first_name",
                    "last_name",
                    "email",
                    "phone",
                    "message",
                    "how_heard",
                    "consent_email",
                    "consent_sms",
                    "received_at",
                    "patient_id",
                    "journey_id",
                ],
                now,
            ),
            "inbound": Table(
                InboundMessage,
                [
                    "id",
                    "patient_id",
                    "channel",
                    "from_address",
                    "body",
                    "received_at",
                    "provider_id",
                    "in_reply_to_id",
                ],
                now,
            ),
            "correction": Table(
                CourseCorrection, ["id", "alert_id", "practitioner_id", "change", "note", "created_at"], now
            ),
            "consent": Table(
                ConsentEvent, ["id", "patient_id", "channel", "granted", "address", "at", "via"], now
            ),
            "team": Table(CareTeamMember, ["id", "patient_id", "role", "user_id", "started_at"], now),
            "nudge": Table(
                Nudge,
                [
                    "id",
                    "patient_id",
                    "kind",
                    "channel",
                    "send_at",
                    "status",
                    "dedupe_key",
                    "sent_at",
                    "claimed_at",
                    "attempts",
                    "last_error",
                    "status_reason",
                    "subject",
                    "body_text",
                    "created_at",
                ],
                now,
            ),
            "journey": Table(
                Journey,
                ["id", "patient_id", "program_id", "stage", "stage_entered_at", "started_at", "ended_at"],
                now,
            ),
            "change": Table(
                StageChange, ["id", "journey_id", "from_stage", "to_stage", "at", "by_id", "left_at"], now
            ),
            "visit": Table(
                Visit,
                [
                    "id",
                    "patient_id",
                    "journey_id",
                    "practitioner_id",
                    "kind",
                    "starts_at",
                    "duration_minutes",
                    "ends_at",
                    "status",
                    "created_at",
                ],
                now,
            ),
            "note": Table(
                VisitNote, ["id", "visit_id", "author_id", "title", "body", "created_at", "signed_at"], now
            ),
            "blueprint": Table(
                Blueprint,
                [
                    "id",
                    "journey_id",
                    "version",
                    "status",
                    "summary",
                    "created_at",
                    "created_by_id",
                    "published_at",
                ],
                now,
            ),
            "item": Table(
                BlueprintItem,
                ["id", "blueprint_id", "kind", "title", "dose", "frequency", "position", "starts_on"],
                now,
            ),
            "checkin": Table(
                CheckIn,
                ["id", "journey_id", "due_on", "closes_at", "status", "answered_at", "request_nudge_id"],
                now,
            ),
            "answer": Table(
                CheckInAnswer,
                [
                    "id",
                    "checkin_id",
                    "patient_id",
                    "answered_at",
                    "where_it_failed",
                    "barriers",
                    "energy",
                    "sleep",
                    "mood",
                    "digestion",
                    "due_on",
                    "done",
                    "partly",
                    "missed",
                ],
                now,
            ),
            "log": Table(
                ComplianceLog, ["id", "answer_id", "checkin_id", "item_id", "status", "paused_reason"], now
            ),
            "alert": Table(
                Alert, ["id", "patient_id", "journey_id", "reason", "detail", "opened_at", "resolved_at"], now
            ),
            "audit": ChainedTable(
                AccessEvent, ["id", "at", "actor_id", "action", "patient_id", "object_repr", "path"], now
            ),
        }
        self.ids: Ids

    def prepare(self, patients: int) -> None:
        """Practitioners (about two per thousand patients, at least three), a program; ids continue."""
        count = max(3, patients * PRACTITIONERS_PER_THOUSAND // 1000)
        practitioners = []
        for n in range(count):
            username = f"scale.dr{self.seed}.{n}"
            user = User.objects.filter(username=username).first()
            if user is None and not self.dry_run:
                user = User(
                    username=username,
                    email=f"{username}@clinic.invalid",
                    display_name=f"Dr. {FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]}",
                )
                user.role = Role.PRACTITIONER
                user.set_unusable_password()
                user.save()
            practitioners.append(user.pk if user else n + 1)
        self.practitioners = practitioners
        # Their working week, in clinic time: mornings and afternoons, Monday to Friday (Wednesday afternoons
        # off for every third), so the schedule has hours to lay visits in and free slots to offer.
        if not self.dry_run and not WorkingHours.objects.filter(practitioner_id__in=practitioners).exists():
            WorkingHours.objects.bulk_create(
                WorkingHours(practitioner_id=pk, weekday=weekday, starts=start, ends=end)
                for n, pk in enumerate(practitioners)
                for weekday in range(5)
                for start, end in ((time(8, 30), time(12, 30)), (time(13, 30), time(17, 30)))
                if not (n % 3 == 0 and weekday == 2 and start.hour > 12)
            )
        self.clinic_zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self.referrers: list[int] = []  # graduated patients and advocates so far, who refer newer ones
        program = Program.objects.filter(name="Foundations, 12 weeks").first()
        if program is None and not self.dry_run:
            program = Program.objects.create(name="Foundations, 12 weeks", weeks=12, checkin_every_days=7)
        self.program_id = program.pk if program else None
        self.ids = Ids(*MODELS)

    def chunk(self, first: int, size: int) -> list[tuple[Table, list[tuple]]]:
        """Generate the rows of ``size`` patients from the ``first``-th: per table, what to write."""
        rng = random.Random(f"{self.seed}:{first}")
        for n in range(first, first + size):
            self.patient(rng, n)
        return [(table, table.take()) for table in self.tables.values()]

    def finish(self, *, vacuum: bool) -> None:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [User, Program, *MODELS]):
                cursor.execute(sql)
            if connection.vendor == "postgresql":
                # Statistics for the planner; with --vacuum also the visibility map autovacuum would leave a
                # live database with (index-only scans), which costs a pass over every page written.
                for model in MODELS:
                    cursor.execute(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {model._meta.db_table}")

    # --- one patient and everything about them -----------------------------------------------------------

    def patient(self, rng: random.Random, n: int) -> None:
        t, ids, now = self.tables, self.ids, self.now
        pid = ids.take(Patient)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        last = f"{last}-{LAST[n % len(LAST)]}" if rng.random() < 0.1 else last
        zone_name = rng.choice(ZONES)
        zone = self.zones[zone_name]
        email = f"{first.lower()}.{last.lower()}.{n}@example.org"
        phone = f"+1555{n:07d}" if rng.random() < 0.7 else ""
        stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
        reached = REACHED.get(stage)
        if reached is None:  # paused, declined, withdrawn: left from somewhere along the path
            reached = {Stage.PAUSED: rng.randint(1, 5), Stage.DECLINED: rng.choice([0, 1, 3])}.get(
                stage, rng.randint(0, 5)
            )
        # Days each stage took, then the journey is dated back from now.
        stays = [
            rng.randint(1, 6),
            rng.randint(3, 15),
            rng.randint(3, 20),
            rng.randint(2, 10),
            rng.randint(2, 8),
        ]
        program_weeks = rng.randint(max(1, self.weeks // 3), self.weeks)
        stays.append(program_weeks * 7)
        stays.append(rng.randint(20, 200))
        closing = stage in (Stage.GRADUATED, Stage.ADVOCATE, Stage.DECLINED, Stage.WITHDRAWN, Stage.PAUSED)
        current_days = rng.randint(1, 400) if closing else rng.randint(0, max(1, stays[min(reached, 6)]))
        if stage == Stage.CHECK_INS:
            current_days = rng.randint(0, program_weeks * 7)
        days_back = current_days + sum(stays[:reached]) + rng.randint(0, 3)
        started = now - timedelta(days=days_back, minutes=rng.randint(0, 1440))
        archived = stage in (Stage.DECLINED, Stage.WITHDRAWN) and rng.random() < 0.3
        unsubscribed = started + timedelta(days=1) if rng.random() < 0.01 else None
        search = " ".join(fold(p) for p in (first, last, email)) + (f" {digits(phone)}" if phone else "")
        dob = date(1950 + n % 50, 1 + n % 12, 1 + n % 28)
        channel = Channel.SMS if phone and rng.random() < 0.3 else Channel.EMAIL
        source = rng.choice(["referral", "website", "event", "social", "other"])
        referrer = rng.choice(self.referrers) if source == "referral" and self.referrers else None
        t["consent"].add(
            ids.take(ConsentEvent), pid, Channel.EMAIL, rng.random() < 0.92, email, started, "form"
        )
        if phone:
            t["consent"].add(
                ids.take(ConsentEvent), pid, Channel.SMS, rng.random() < 0.7, phone, started, "form"
            )
        lead = None
        if rng.random() < 0.97 or reached >= 2:
            lead = self.practitioners[n % len(self.practitioners)]
            t["team"].add(ids.take(CareTeamMember), pid, CareTeamMember.Role.LEAD, lead, started)
        t["patient"].add(
            pid, first, last, "", email, phone, zone_name, channel, source, archived, search, started, started,
            unsubscribed, dob, referrer, lead is not None,
        )  # fmt: skip
        lead_or_any = lead or self.practitioners[0]
        audit = t["audit"]
        audit.add(
            ids.take(AccessEvent), started, lead_or_any, "create", pid, f"{first} {last}", "/patients/new/"
        )

        jid = ids.take(Journey)
        at = started
        moves = []
        for step in range(1, reached + 1):
            at = at + timedelta(days=stays[step - 1], minutes=rng.randint(0, 600))
            moves.append((PATH[step - 1], PATH[step], at))
        reached_at = {PATH[0]: started} | {to: when for _, to, when in moves}
        if stage in (Stage.PAUSED, Stage.DECLINED, Stage.WITHDRAWN):
            at = at + timedelta(days=rng.randint(1, 30))
            at = min(at, now - timedelta(hours=1))
            moves.append((PATH[reached], stage, at))
        at = min(at, now)
        ended = at if stage in (Stage.GRADUATED, Stage.ADVOCATE, Stage.DECLINED, Stage.WITHDRAWN) else None
        t["journey"].add(jid, pid, self.program_id, stage, at, started, ended)
        if stage in (Stage.GRADUATED, Stage.ADVOCATE) and len(self.referrers) < 5_000:
            self.referrers.append(pid)
        t["inquiry"].add(ids.take(Inquiry), first, last, email, phone, "I would like to feel like myself again.",
                         source, True, bool(phone), started, pid, jid)  # fmt: skip
        changes = t["change"]
        left = [min(when, now) for _, _, when in moves]
        changes.add(ids.take(StageChange), jid, "", Stage.INQUIRY, started, None, left[0] if left else None)
        for index, (from_stage, to_stage, when) in enumerate(moves):
            left_at = left[index + 1] if index + 1 < len(left) else None
            changes.add(
                ids.take(StageChange), jid, from_stage, to_stage, min(when, now), lead_or_any, left_at
            )
        welcome = self.nudge(rng, pid, channel, NudgeKind.INQUIRY_WELCOME, started, f"scale:{pid}:welcome")
        if phone and rng.random() < 0.08:  # a text back, kept for the care team (the inbox)
            iid = ids.take(InboundMessage)
            received = min(started + timedelta(hours=rng.randint(1, 200)), now - timedelta(minutes=5))
            t["inbound"].add(
                iid, pid, Channel.SMS, phone, rng.choice(REPLIES), received, f"SMscale{iid}", welcome
            )

        # Visits: one for each stage reached that has one, plus a few follow-ups; some today, some ahead.
        visits = []
        for step, kind in VISIT_FOR.items():
            if reached >= step:
                visits.append((kind, reached_at[PATH[step]] - timedelta(days=1), Visit.Status.COMPLETED))
            elif reached == step - 1 and stage == PATH[reached]:
                visits.append((kind, self.visit_slot(rng, 14), Visit.Status.SCHEDULED))
        if stage == Stage.CHECK_INS:
            visits.append((Visit.Kind.FOLLOW_UP, self.visit_slot(rng, 21), Visit.Status.SCHEDULED))
        for kind, starts, status in visits:
            starts = starts.replace(minute=(starts.minute // 15) * 15, second=0, microsecond=0)
            if status == Visit.Status.SCHEDULED and starts < now:
                status = Visit.Status.COMPLETED if rng.random() < 0.9 else Visit.Status.NO_SHOW
            minutes = Visit.DEFAULT_MINUTES[kind]
            vid = ids.take(Visit)
            t["visit"].add(vid, pid, jid, lead_or_any, kind, starts, minutes, starts + timedelta(minutes=minutes),
                           status, starts - timedelta(days=3))  # fmt: skip
            if status == Visit.Status.COMPLETED and kind != Visit.Kind.DISCOVERY:
                signed = starts + timedelta(hours=2)
                t["note"].add(ids.take(VisitNote), vid, lead_or_any, f"{Visit.Kind(kind).label} notes",
                              "Discussed the plan and what gets in the way.", signed, signed)  # fmt: skip
            if status == Visit.Status.SCHEDULED:
                for hours in (24, 2):
                    self.nudge(rng, pid, channel, NudgeKind.VISIT_REMINDER, starts - timedelta(hours=hours),
                               f"scale:{vid}:reminder:{hours}")  # fmt: skip
        audit.add(
            ids.take(AccessEvent), min(at, now), lead_or_any, "view", pid, f"{first} {last}", f"/p/{pid}/"
        )

        if reached < 4:
            return
        # The plan, published when the journey reached the blueprint stage.
        published = reached_at[Stage.BLUEPRINT]
        bid = ids.take(Blueprint)
        t["blueprint"].add(bid, jid, 1, Blueprint.Status.PUBLISHED, "Small steps, every week.", published,
                           lead_or_any, published)  # fmt: skip
        count = rng.randint(ITEMS_PER_PLAN - 2, ITEMS_PER_PLAN + 2)
        items = []
        for position, (kind, title, dose, frequency) in enumerate(rng.sample(PLAN_ITEMS, count)):
            iid = ids.take(BlueprintItem)
            items.append(iid)
            t["item"].add(iid, bid, kind, title, dose, frequency, position, published.date())
        if reached < 5:
            return
        self.checkins(rng, pid, jid, channel, zone, items, reached_at[Stage.CHECK_INS], at, stage, ended)

    def visit_slot(self, rng: random.Random, days: int) -> datetime:
        """A booked time in the coming ``days`` (today included), a weekday inside the working hours, in
        clinic time: today's list, the schedule's day and week and the next visits all have rows."""
        day = self.now.astimezone(self.clinic_zone).date() + timedelta(days=rng.randint(0, days))
        if day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        hour = rng.choice([9, 10, 11, 14, 15, 16])
        return datetime.combine(day, time(hour, rng.choice([0, 15, 30, 45])), tzinfo=self.clinic_zone)

    def checkins(self, rng, pid, jid, channel, zone, items, begun, stage_at, stage, ended) -> None:
        """Weekly check-ins from the start of check-ins: answered or missed; the next one scheduled."""
        t, ids, now = self.tables, self.ids, self.now
        last_day = (ended or (stage_at if stage == Stage.PAUSED else now)).date()
        steady = rng.random()  # how reliably this patient answers and follows the plan
        faltering = rng.random() < 0.06
        day = begun.date() + timedelta(days=7)
        missed_run = 0
        low_weeks = 0
        end = min(begun.date() + timedelta(days=7 * self.weeks), last_day + timedelta(days=7))
        while day <= end:
            cid = ids.take(CheckIn)
            sent = datetime.combine(day, time(10), tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day + timedelta(days=3), time(0), tzinfo=zone).astimezone(UTC)
            nudge_id = self.nudge(
                rng, pid, channel, NudgeKind.CHECKIN_REQUEST, sent, f"checkin:{cid}:request"
            )
            if closes > now:
                status = CheckIn.Status.SCHEDULED
                t["checkin"].add(cid, jid, day, closes, status, None, nudge_id)
                break
            late = faltering and day > end - timedelta(days=21)
            if rng.random() < (0.55 if late else 0.55 + 0.4 * steady):
                answered = sent + timedelta(hours=rng.randint(1, 40), minutes=rng.randint(0, 59))
                t["checkin"].add(cid, jid, day, closes, CheckIn.Status.ANSWERED, answered, nudge_id)
                aid = ids.take(CheckInAnswer)
                barriers = rng.sample(BARRIERS, rng.randint(0, 2))
                answer = [aid, cid, pid, answered, rng.choice(FAILED_WORDS), barriers, rng.randint(3, 9),
                          rng.randint(3, 9), rng.randint(3, 9), rng.randint(3, 9)]  # fmt: skip
                follow = 0.3 if late else 0.5 + 0.45 * steady
                log = t["log"]
                first_log = len(log.rows)
                score = 0.0
                for iid in items:
                    roll = rng.random()
                    if roll < follow:
                        status_, reason = ComplianceLog.Status.DONE, ""
                        score += 1
                    elif roll < follow + (1 - follow) * 0.5:
                        status_, reason = ComplianceLog.Status.PARTIAL, ""
                        score += 0.5
                    elif roll < 0.985:
                        status_, reason = ComplianceLog.Status.MISSED, ""
                    else:
                        status_, reason = ComplianceLog.Status.PAUSED, "paused with the practitioner"
                    log.add(ids.take(ComplianceLog), aid, cid, iid, status_, reason)
                tally = Counter(row[4] for row in log.rows[first_log:])
                t["answer"].add(*answer, day, *(tally[s] for s in ComplianceLog.SCORES))
                missed_run = 0
                low_weeks = low_weeks + 1 if score / len(items) < 0.6 else 0
            else:
                t["checkin"].add(cid, jid, day, closes, CheckIn.Status.MISSED, None, nudge_id)
                self.nudge(rng, pid, channel, NudgeKind.CHECKIN_MISSED, closes + timedelta(hours=12),
                           f"checkin:{cid}:missed")  # fmt: skip
                missed_run += 1
            day += timedelta(days=7)
        if ended is None and stage == Stage.CHECK_INS:
            opened = now - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
            if missed_run >= 2:  # one open alert per patient (compliance's constraint): the first reason
                t["alert"].add(ids.take(Alert), pid, jid, Alert.Reason.MISSED_CHECKINS,
                               f"{missed_run} check-ins missed in a row", opened, None)  # fmt: skip
            elif low_weeks >= 2:  # one open alert per patient (alert_one_open_per_patient)
                t["alert"].add(ids.take(Alert), pid, jid, Alert.Reason.LOW_ADHERENCE,
                               "below 60% over the last two answered check-ins", opened, None)  # fmt: skip
        if rng.random() < 0.08:
            opened = begun + timedelta(days=rng.randint(14, 40))
            if opened < now - timedelta(days=2):
                alert_id = ids.take(Alert)
                t["alert"].add(alert_id, pid, jid, Alert.Reason.ADHERENCE_DROP, "dropped 30 points",
                               opened, opened + timedelta(days=2))  # fmt: skip
                t["correction"].add(ids.take(CourseCorrection), alert_id, self.practitioners[pid % len(
                    self.practitioners)], CourseCorrection.Change.SIMPLIFIED, "Fewer items for a few weeks.",
                    opened + timedelta(days=2))  # fmt: skip

    def nudge(
        self, rng: random.Random, pid: int, channel: str, kind: str, send_at: datetime, key: str
    ) -> int:
        nid = self.ids.take(Nudge)
        attempts, error, reason, sent, claimed = 0, "", "", None, None
        if send_at > self.now:
            status = Nudge.Status.PENDING
        else:
            roll = rng.random()
            if roll < 0.93:
                status, sent, claimed, attempts = (
                    Nudge.Status.SENT,
                    send_at + timedelta(seconds=40),
                    send_at,
                    1,
                )
            elif roll < 0.96:
                status, reason = Nudge.Status.SUPPRESSED, "no consent for this channel"
            elif roll < 0.98:
                status, error, claimed, attempts = Nudge.Status.FAILED, "mailbox full", send_at, 3
            elif roll < 0.99:
                status, error, claimed, attempts = Nudge.Status.UNKNOWN, "timeout", send_at, 1
            else:
                status, reason = Nudge.Status.CANCELLED, "visit moved"
        subject = "" if channel == Channel.SMS else NudgeKind(kind).label
        self.tables["nudge"].add(nid, pid, kind, channel, send_at, status, key, sent, claimed, attempts, error,
                                 reason, subject, "A short note from the clinic.",
                                 send_at - timedelta(days=1))  # fmt: skip
        return nid
