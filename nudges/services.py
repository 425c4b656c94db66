"""The outbox: every way a nudge is scheduled, withdrawn, claimed, sent, held back or reviewed.

The guarantees: a ``dedupe_key`` makes at most one nudge; a nudge is claimed by a batch (pending →
sending) and then taken for its own send by a conditional UPDATE just before its transport runs, so two
dispatchers, a retried task or a second beat never send it twice; consent, unsubscribe and archive are
read in the very statement that takes it, quiet hours just before; only a nudge whose transport may have
run can become ``unknown`` (it waits for a person) — one whose batch stopped before taking it is sent later,
once. The take commits synchronously; the record of *sent* after it does not wait for the disk (``_sent_sql``):
lost in a database crash, it leaves the nudge taken, and so ``unknown``, never sent again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time as monotonic_time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from time import sleep
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.audit import record_access
from accounts.links import url_for_token
from accounts.models import AccessEvent, User
from accounts.queries import Compiled, built_per_thread
from patients.models import Channel, ConsentEvent, ConsentRequest, Patient
from patients.selectors import (
    consent_requests_awaiting_text_reply,
    marketing_consent_granted,
    patient_may_message,
)
from patients.services import (
    CONFIRMATION_VALID_FOR,
    ConsentConfirmation,
    consent_confirm,
    consent_confirmation_claim,
    consent_record,
    patient_unsubscribe,
)

from . import channels, keywords, rendering, tokens
from .budget import budget_hold_reason
from .models import MARKETING_KINDS, ConversationRead, Heartbeat, InboundMessage, Kind, Nudge, NudgeRule
from .timing import START_MARGIN, next_allowed_moment, next_marketing_moment

logger = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 5, 15, 60, 180)
NO_MARKETING_CONSENT = "no consent to referral and testimonial messages"


def _enqueue_delivery(nudge_id: int) -> None:
    from .tasks import deliver  # tasks import services: import here to keep the module graph acyclic

    try:
        # One try, no waiting: with the broker down a request must not stall; dispatch is the safety net.
        # (retry=False would still wait for kombu's connection retries, about 6 s a message.)
        deliver.apply_async(args=[nudge_id], retry=True, retry_policy={"max_retries": 0})
    except Exception:  # the broker is down: the nudge waits in the database for the next dispatch
        logger.warning("could not queue nudge %s; the dispatcher will send it", nudge_id, exc_info=True)


def _channel_for(patient: Patient, requested: str | None) -> str:
    if requested:
        return requested
    preferred = patient.preferred_channel
    other = Channel.SMS if preferred == Channel.EMAIL else Channel.EMAIL
    if not patient_may_message(patient, preferred)[0] and patient_may_message(patient, other)[0]:
        return other
    return preferred


def nudge_schedule(
    *,
    patient: Patient,
    kind: str,
    send_at: datetime,
    dedupe_key: str,
    context: dict | None = None,
    channel: str | None = None,
    expires_at: datetime | None = None,
    actor: User | None = None,
) -> Nudge:
    """Schedule one nudge; scheduling again with the same ``dedupe_key`` returns the first one unchanged.

    ``channel`` defaults to the patient's preferred channel, or the other one when only it has consent.
    ``context`` holds the plain values the wording needs (no model instances, no secrets).
    ``expires_at``: past this moment (quiet hours included) the nudge is held back, not sent late.
    """
    if kind not in Kind.values:
        raise ValidationError(f"Unknown kind of nudge “{kind}”.")
    if timezone.is_naive(send_at):
        raise ValidationError("send_at must carry a time zone.")
    context = context or {}
    if rendering.plain(context) != context:
        raise ValidationError("A nudge's context may hold only plain text and numbers.")
    existing = Nudge.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            nudge = Nudge.objects.create(
                patient=patient,
                kind=kind,
                channel=_channel_for(patient, channel),
                send_at=send_at,
                expires_at=expires_at,
                dedupe_key=dedupe_key,
                context=context,
                created_by=actor if actor is not None and actor.is_authenticated else None,
            )
    except IntegrityError:
        return Nudge.objects.get(dedupe_key=dedupe_key)  # another process scheduled it a moment ago
    if send_at <= timezone.now():
        transaction.on_commit(lambda: _enqueue_delivery(nudge.pk))
    return nudge


@dataclass(frozen=True)
class NudgeRequest:
    """One nudge for ``nudge_schedule_many``: the arguments ``nudge_schedule`` takes (no person behind it)."""

    patient: Patient
    kind: str
    send_at: datetime
    dedupe_key: str
    context: dict = field(default_factory=dict)
    channel: str | None = None
    expires_at: datetime | None = None


def nudge_schedule_many(requests: list[NudgeRequest]) -> dict[str, Nudge]:
    """``nudge_schedule`` for many nudges at once, for the periodic jobs: the same rules (a ``dedupe_key``
    makes at most one nudge; scheduling again returns the first one unchanged; the channel falls back to the
    one with consent) in four statements whatever their number. Return the nudge of each key."""
    for request in requests:
        if request.kind not in Kind.values:
            raise ValidationError(f"Unknown kind of nudge “{request.kind}”.")
        if timezone.is_naive(request.send_at):
            raise ValidationError("send_at must carry a time zone.")
        if rendering.plain(request.context) != request.context:
            raise ValidationError("A nudge's context may hold only plain text and numbers.")
    wanted = {request.dedupe_key: request for request in reversed(requests)}  # the first of a key wins
    if not wanted:
        return {}
    found = {n.dedupe_key: n for n in Nudge.objects.filter(dedupe_key__in=list(wanted))}
    todo = [request for key, request in wanted.items() if key not in found]
    if not todo:
        return found
    choosing = {request.patient.pk for request in todo if not request.channel}
    patients = {p.pk: p for p in Patient.objects.with_consent().filter(pk__in=choosing)} if choosing else {}
    with transaction.atomic():
        Nudge.objects.bulk_create(
            [
                Nudge(
                    patient_id=request.patient.pk,
                    kind=request.kind,
                    channel=request.channel or _channel_for(patients[request.patient.pk], None),
                    send_at=request.send_at,
                    expires_at=request.expires_at,
                    dedupe_key=request.dedupe_key,
                    context=request.context,
                )
                for request in todo
            ],
            batch_size=1_000,
            ignore_conflicts=True,  # another process scheduled one of them a moment ago: its row stands
        )
        made = Nudge.objects.filter(dedupe_key__in=[request.dedupe_key for request in todo])
        found |= {nudge.dedupe_key: nudge for nudge in made}
    now = timezone.now()
    due = [found[request.dedupe_key].pk for request in todo if found[request.dedupe_key].send_at <= now]
    if due:
        transaction.on_commit(functools.partial(_enqueue_all, due))
    return found


# Up to this many due nudges scheduled at once are queued one task each; more are left to one dispatch pass
# (queued at once), which claims them in batches: thousands of broker round trips cost more than the sends.
ENQUEUE_EACH_UP_TO = 20


def _enqueue_all(nudge_ids: list[int]) -> None:
    if len(nudge_ids) > ENQUEUE_EACH_UP_TO:
        from .tasks import dispatch_due

        try:
            dispatch_due.apply_async(retry=True, retry_policy={"max_retries": 0})
        except Exception:  # the broker is down: beat's next dispatch sends them
            logger.warning("could not queue a dispatch for %s nudges", len(nudge_ids), exc_info=True)
        return
    for nudge_id in nudge_ids:
        _enqueue_delivery(nudge_id)


def nudge_send_one_off(
    *,
    patient: Patient,
    actor: User,
    channel: str,
    message: str,
    subject: str = "",
    send_at: datetime | None = None,
) -> Nudge:
    """A message a staff member wrote for one patient, now or at a chosen time."""
    message = message.strip()
    if not message:
        raise ValidationError("Write the message before sending it.")
    with transaction.atomic():
        nudge = nudge_schedule(
            patient=patient,
            kind=Kind.ONE_OFF,
            channel=channel,
            send_at=send_at or timezone.now(),
            dedupe_key=f"one-off:{uuid.uuid4()}",
            context={"message": message, "subject": subject.strip(), "sender_name": str(actor)},
            actor=actor,
        )
        record_access(
            action=AccessEvent.Action.CREATE,
            actor=actor,
            patient_id=patient.pk,
            obj=nudge,
            detail=f"one-off {channel} message scheduled for {nudge.send_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        )
    return nudge


def nudge_cancel(*, dedupe_keys: list[str] | None = None, key_prefix: str = "", reason: str) -> int:
    """Withdraw nudges whose reason is gone (a cancelled visit, an answered check-in); return how many.

    Pending ones, and ones a batch has claimed but not yet taken for their transport (that batch then
    skips them); a nudge already handed to its transport is past withdrawing.
    """
    if not dedupe_keys and not key_prefix:
        raise ValueError("nudge_cancel needs dedupe_keys or key_prefix")
    pending = Nudge.objects.filter(
        Q(status=Nudge.Status.PENDING) | Q(status=Nudge.Status.SENDING, taken_at__isnull=True)
    )
    pending = (
        pending.filter(dedupe_key__in=dedupe_keys)
        if dedupe_keys
        else pending.filter(dedupe_key__startswith=key_prefix)
    )
    return pending.update(status=Nudge.Status.CANCELLED, status_reason=reason[:255])


# --- Claiming -------------------------------------------------------------------------------------
#
# A nudge goes pending → *claimed* (status ``sending``, ``claimed_at``: a batch holds it) → *taken*
# (``taken_at``, by one conditional UPDATE just before its own transport runs) → sent, failed, pending
# again (a retry that nothing left proves safe) or unknown. Only a taken nudge may have left us, so only a
# taken nudge can become unknown; a claimed one whose batch stopped goes back to pending, never attempted.


def nudge_claim_due(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Claim up to ``limit`` due nudges for this process's batch (pending → sending) and return their ids.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent dispatchers take disjoint
    batches. Everywhere, the UPDATE re-checks ``status = pending``, so a row is claimed once. A claim is
    not an attempt: nothing has been handed to a transport yet.
    """
    now = now or timezone.now()
    limit = limit or settings.NUDGE_BATCH_SIZE
    with transaction.atomic():
        candidates = Nudge.objects.due(now).order_by("send_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Nudge.objects.filter(pk__in=ids, status=Nudge.Status.PENDING).update(
            status=Nudge.Status.SENDING, claimed_at=now
        )
        # Under SKIP LOCKED (or SQLite's single writer) every id above is now ours; re-read to be sure.
        return list(
            Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING, claimed_at=now).values_list(
                "pk", flat=True
            )
        )


def _claim_one(nudge_id: int) -> bool:
    now = timezone.now()
    return (
        Nudge.objects.filter(pk=nudge_id, status=Nudge.Status.PENDING, send_at__lte=now).update(
            status=Nudge.Status.SENDING, claimed_at=now
        )
        == 1
    )


# --- Sending --------------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    suppressed: int = 0
    deferred: int = 0
    unknown: int = 0
    skipped: int = (
        0  # taken from this batch (lease ran out, withdrawn) before their turn came: not sent by us
    )
    released: int = 0  # claimed, never taken, put back to pending for the next pass (the batch's deadline)
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, reason: str = "", n: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + n)
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed, {self.suppressed} held back, "
            f"{self.deferred} deferred for quiet hours, {self.unknown} unknown"
            + (f", {self.released} put back unsent for the next pass" if self.released else "")
            + (f", {self.skipped} no longer ours (lease ran out)" if self.skipped else "")
        )


def unsubscribe_url(*, patient_id: int, nudge_id: int | None = None) -> str:
    token = tokens.unsubscribe_token(patient_id=patient_id, nudge_id=nudge_id)
    return settings.ALLIANCE_SITE_URL + url_for_token("unsubscribe", token)


def message_context(nudge: Nudge, patient: Patient, *, with_unsubscribe_url: bool = True) -> dict:
    """The plain values a nudge's wording is rendered with: the patient's first name, the clinic, the lead
    practitioner (``patient.lead_name``, from ``with_lead()``), the unsubscribe link (unless the caller knows
    the wording never shows it) and the nudge's own."""
    base = {
        "first_name": patient.preferred_name or patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "practitioner_name": getattr(patient, "lead_name", None) or "",
    }
    if with_unsubscribe_url:
        base["unsubscribe_url"] = unsubscribe_url(patient_id=patient.pk, nudge_id=nudge.pk)
    return base | rendering.plain(nudge.context)


def _sending_deadline(started: float, soft_time_limit: float | None) -> float:
    """The monotonic moment after which a batch takes no new nudge: well before Celery's soft time limit.

    The margin is the transport's own timeout plus 10 s, so the last send taken still ends in time; when
    the limit is too short for that margin, the batch stops taking at half of it.
    """
    if not soft_time_limit:
        return math.inf
    margin = settings.NUDGE_TRANSPORT_TIMEOUT_SECONDS + 10
    return started + max(soft_time_limit - margin, soft_time_limit / 2)


def _mark(nudge: Nudge, **fields: Any) -> bool:
    """Move a claimed, not yet taken nudge on — only while this batch's claim on it holds.

    If the lease ran out and the reconciler put it back (or another batch claimed it since, or it was
    withdrawn), nothing changes.
    """
    return (
        Nudge.objects.filter(
            pk=nudge.pk, status=Nudge.Status.SENDING, claimed_at=nudge.claimed_at, taken_at__isnull=True
        ).update(**fields)
        == 1
    )


# After a transport has run, what it said must reach the row: a database that is restarting (a failover, a
# few seconds down) is waited for, about 20 s in all, rather than leaving a known outcome to become "unknown".
SETTLE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 6.0, 6.0)


def _settle(nudge: Nudge, **fields: Any) -> bool:
    """Record what its transport did to a nudge this batch took — unless a person has acted on it since.

    Still ``sending``, or marked ``unknown`` by the reconciler while the transport ran long and not yet
    reviewed: what the transport says now is better knowledge than "unknown".
    """
    still_this_send = Q(status=Nudge.Status.SENDING) | Q(
        status=Nudge.Status.UNKNOWN, reviewed_at__isnull=True
    )
    delays = iter(SETTLE_RETRY_DELAYS)
    while True:
        try:
            return (
                Nudge.objects.filter(still_this_send, pk=nudge.pk, taken_at=nudge.taken_at).update(**fields)
                == 1
            )
        except (OperationalError, InterfaceError):
            delay = next(delays, None)
            if delay is None or connection.in_atomic_block:
                raise  # the lease will make it unknown: it was taken, and nobody can say more now
            logger.warning("nudge %s: could not record its outcome yet; retrying in %s s", nudge.pk, delay)
            connection.close()  # the next query opens a new connection
            sleep(delay)


@functools.cache
def _sent_sql(vendor: str) -> str:
    """Record 'sent' for a nudge this batch took — unless a person has acted on it since (``_settle``'s rule)
    — as one statement. On PostgreSQL its commit is asynchronous (``synchronous_commit`` off for this
    transaction alone, by ``set_config(…, true)`` in the same statement): it does not wait for the disk.

    Why that is safe: the take before the transport is committed synchronously, so a message can only have
    left once its take is on disk. If this commit is lost (the database server crashes within a fraction of
    a second, before the WAL writer or the next synchronous commit — the next take — flushes it), the row is
    left taken and unmarked: the lease makes it ``unknown`` for a person, exactly as when the worker dies
    after the transport returns. Never sent twice; at worst a sent message shows as unknown."""
    table = connection.ops.quote_name(Nudge._meta.db_table)
    update = (
        f"UPDATE {table} SET status = %s, sent_at = %s, provider_id = %s, last_error = '', status_reason = ''"  # noqa: S608
        " WHERE id = %s AND taken_at = %s AND (status = %s OR (status = %s AND reviewed_at IS NULL))"
    )
    if vendor != "postgresql":
        return update
    lazy = "WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true) AS off) "
    return f"{lazy}{update} AND EXISTS (SELECT 1 FROM lazy)"  # noqa: S608


def _settle_sent(nudge: Nudge, *, provider_id: str) -> bool:
    """``_settle(nudge, status=SENT, …)`` in one statement with an asynchronous commit (``_sent_sql``), with
    the same waiting for a database that is restarting."""
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        Nudge.Status.SENT, adapt(timezone.now()), provider_id, nudge.pk, adapt(nudge.taken_at),
        Nudge.Status.SENDING, Nudge.Status.UNKNOWN,
    ]  # fmt: skip
    if connection.in_atomic_block:  # inside a caller's transaction its commit decides: write it plainly
        return _settle(
            nudge, status=Nudge.Status.SENT, sent_at=timezone.now(), provider_id=provider_id, last_error="",
            status_reason="",
        )  # fmt: skip
    delays = iter(SETTLE_RETRY_DELAYS)
    while True:
        try:
            with connection.cursor() as cursor:
                cursor.execute(_sent_sql(connection.vendor), params)
                return cursor.rowcount == 1
        except (OperationalError, InterfaceError):
            delay = next(delays, None)
            if delay is None:
                raise  # the lease will make it unknown: it was taken, and nobody can say more now
            logger.warning("nudge %s: could not record its outcome yet; retrying in %s s", nudge.pk, delay)
            connection.close()  # the next query opens a new connection
            sleep(delay)


@functools.cache
def _take_sql(channel: str, vendor: str, *, settling: bool = False) -> str:
    """The take as one statement, for one channel: the claim re-checked and the patient's consent, unsubscribe
    and archive read by the same UPDATE. The rule is ``patients.selectors.patient_may_message``'s: not archived,
    not unsubscribed, the address is their current one and their latest consent for the channel (latest ``at``,
    then ``id``) is a grant for that very address. Hand-written because building it through the ORM cost more
    CPU per nudge than the whole send did before it (``make bench``); it runs on SQLite and PostgreSQL alike.

    ``settling`` (PostgreSQL): the same statement first records 'sent' for the nudges this batch sent since its
    last statement (``_SETTLE_CTE``), so a send costs one round trip and one commit, not two.
    """
    quote = connection.ops.quote_name
    nudge, patient, consent = (quote(m._meta.db_table) for m in (Nudge, Patient, ConsentEvent))
    current = "email" if channel == Channel.EMAIL else "phone"

    def latest(column: str) -> str:
        return (
            f"SELECT c.{column} FROM {consent} c WHERE c.patient_id = %s AND c.channel = %s"  # noqa: S608
            " ORDER BY c.at DESC, c.id DESC LIMIT 1"
        )

    # Only identifiers from the models' _meta and two fixed column names are interpolated; values are parameters.
    # The patient's id is a parameter too, not a correlation: PostgreSQL then plans it in a fifth of the time.
    # ``status || ''`` is an expression no index covers, so the row is found by its primary key: compared
    # plainly, PostgreSQL walked the status index through every nudge in flight (a whole claimed batch, each
    # row fetched to test its id), which made the take cost ~1.5 ms instead of ~0.2 ms (``make bench``).
    take = (
        f"UPDATE {nudge} SET taken_at = %s, attempts = attempts + 1, subject = %s, body_text = %s, body_html = %s"  # noqa: S608
        f" WHERE id = %s AND (status || '') = %s AND claimed_at = %s AND taken_at IS NULL AND patient_id = %s"
        f" AND EXISTS (SELECT 1 FROM {patient} p WHERE p.id = %s AND p.archived = %s"
        f" AND p.unsubscribed_at IS NULL AND p.{current} = %s"
        f" AND ({latest('granted')}) = %s AND ({latest('address')}) = %s)"
    )
    if not settling:
        return take
    return f"WITH settled AS ({_settle_many_sql()}) {take}"


@functools.cache
def _settle_many_sql() -> str:
    """Record 'sent' for many nudges this batch took, each with its own provider id and moment — unless a person
    has acted on one since (``_settle``'s rule). PostgreSQL (``unnest`` of four arrays)."""
    table = connection.ops.quote_name(Nudge._meta.db_table)
    return (
        f"UPDATE {table} n SET status = %s, sent_at = s.sent_at, provider_id = s.provider_id, last_error = '',"  # noqa: S608
        " status_reason = '' FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[])"
        " AS s(id, taken_at, sent_at, provider_id)"
        " WHERE n.id = s.id AND n.taken_at = s.taken_at AND (n.status = %s OR (n.status = %s AND n.reviewed_at IS NULL))"
        " RETURNING n.id"
    )


@dataclass
class _Sent:
    """Nudges this batch sent whose 'sent' is not written yet: it rides on the batch's next statement."""

    nudges: list[tuple[Nudge, datetime, str]] = field(default_factory=list)

    def params(self) -> list:
        adapt = connection.ops.adapt_datetimefield_value
        return [
            Nudge.Status.SENT.value,
            [nudge.pk for nudge, _, _ in self.nudges],
            [adapt(nudge.taken_at) for nudge, _, _ in self.nudges],
            [adapt(sent_at) for _, sent_at, _ in self.nudges],
            [provider_id for _, _, provider_id in self.nudges],
            Nudge.Status.SENDING.value,
            Nudge.Status.UNKNOWN.value,
        ]


def _rides_along() -> bool:
    """Whether a sent nudge's record waits for the batch's next statement (PostgreSQL) or is written at once."""
    return connection.vendor == "postgresql"


@functools.cache
def _prepared_cursor_class() -> type:
    import psycopg  # only on PostgreSQL, whose backend needs it anyway

    class PreparedCursor(psycopg.Cursor):
        """Server-side binding; each statement prepared on its connection the first time it runs, unless the
        connection has prepared statements off (Django's default, for connection poolers in transaction mode:
        ``OPTIONS["prepare_threshold"]`` turns them on)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            prepare = self.connection.prepare_threshold is not None
            return super().execute(query, params, prepare=prepare, binary=binary)

    return PreparedCursor


def _prepared_cursor():
    """On PostgreSQL, a cursor that binds its parameters on the server (no quoting of them in Python) and,
    where the connection allows, prepares each statement once (no parse and plan of the take's consent
    subqueries each time); elsewhere Django's own cursor. Either way wrapped by Django: its errors, execute wrappers and query log
    see every statement."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    cursor = _prepared_cursor_class()(connection.connection)
    return (
        connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
    )


def _settle_sent_all(sent: _Sent) -> None:
    """Write the 'sent' still riding on the batch (it ends, or the statement carrying it failed), in one
    statement with an asynchronous commit, waiting for a database that is restarting as ``_settle`` does."""
    if not sent.nudges:
        return
    settled = _settle_many_sql()
    if connection.in_atomic_block:  # inside a caller's transaction its commit decides: write it plainly
        sql = f"WITH settled AS ({settled}) SELECT count(*) FROM settled"  # noqa: S608
    else:
        lazy = "SELECT set_config('synchronous_commit', 'off', true) AS off"
        sql = f"WITH lazy AS ({lazy}), settled AS ({settled}) SELECT count(*) FROM settled, lazy"  # noqa: S608
    params = sent.params()
    delays = iter(SETTLE_RETRY_DELAYS)
    while True:
        try:
            with _prepared_cursor() as cursor:
                cursor.execute(sql, params)
            sent.nudges.clear()
            return
        except (OperationalError, InterfaceError):
            delay = next(delays, None)
            if delay is None or connection.in_atomic_block:
                raise  # the lease will make them unknown: they were taken, and nobody can say more now
            logger.warning(
                "%s sent nudges: could not record it yet; retrying in %s s", len(sent.nudges), delay
            )
            connection.close()  # the next query opens a new connection
            sleep(delay)


def _take(nudge: Nudge, address: str, message: rendering.Rendered, sent: _Sent) -> bool:
    """Just before the transport, in one conditional UPDATE: take the nudge for its own send.

    Only while this batch's claim holds, and only if the patient, read by this very statement, may receive
    it on this channel at this address now (consent for the address, not unsubscribed, not archived): an
    opt-out committed a moment ago is seen here, never a copy read when the batch began. The same UPDATE
    counts the attempt and records what goes out — and, on PostgreSQL, 'sent' for the nudges in ``sent``.
    """
    if not address:
        return False
    taken_at = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    patient = nudge.patient_id
    params = [
        *(adapt(taken_at), message.subject, message.text, message.html),
        *(nudge.pk, Nudge.Status.SENDING.value, adapt(nudge.claimed_at), patient),
        *(patient, False, address),
        *(patient, nudge.channel, True),
        *(patient, nudge.channel, address),
    ]
    settling = bool(sent.nudges)
    if settling:
        params = sent.params() + params
    try:
        with _prepared_cursor() as cursor:
            cursor.execute(_take_sql(nudge.channel, connection.vendor, settling=settling), params)
            taken = cursor.rowcount
    except BaseException:
        # The sends before this one happened: record them on their own (a caller's failed transaction is
        # rolled back whole; its commit decides), then stop.
        if settling and not connection.in_atomic_block:
            _settle_sent_all(sent)
        raise
    if settling:
        sent.nudges.clear()
    if taken != 1:
        return False
    nudge.taken_at, nudge.attempts = taken_at, nudge.attempts + 1
    return True


def _not_taken(nudge: Nudge, report: DispatchReport) -> None:
    """The take refused: say why — the claim is no longer ours, or the patient may no longer receive it."""
    if not Nudge.objects.filter(
        pk=nudge.pk, status=Nudge.Status.SENDING, claimed_at=nudge.claimed_at, taken_at__isnull=True
    ).exists():
        report.count("skipped")
        return
    patient = _patient_now(nudge.patient_id)
    allowed, reason = patient_may_message(patient, nudge.channel)
    if not allowed:
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
    else:  # their address changed since the batch read it: the next pass writes to the new one
        _mark(nudge, status=Nudge.Status.PENDING, claimed_at=None)
        report.count("released")


_PATIENT_MARKER = 918_273_711  # an id nothing else in the patient's read spells


@built_per_thread
def _patient_now_compiled() -> Compiled[Patient]:
    return Compiled(Patient.objects.with_consent().filter(pk=_PATIENT_MARKER).order_by(), _PATIENT_MARKER)


def _patient_now(patient_id: int) -> Patient:
    """The patient with their consent as it is now, read again when the batch's copy said no: by the ORM's
    SQL compiled once per thread (its consent subqueries cost more to build than to run, for each nudge held
    back). ``Patient.DoesNotExist`` when they are gone, as ``.get()`` raises."""
    found = _patient_now_compiled().rows(patient_id)
    if not found:
        raise Patient.DoesNotExist(f"patient {patient_id} does not exist")
    return found[0]


def _may_message_now(patient: Patient, channel: str) -> tuple[Patient, bool, str]:
    """Consent, unsubscribe and archive from the batch's copy — and when that copy says no, read again."""
    allowed, reason = patient_may_message(patient, channel)
    if allowed:
        return patient, True, ""  # _take reads it again, in the statement that takes the nudge
    fresh = _patient_now(patient.pk)
    fresh.lead_name = getattr(patient, "lead_name", None)  # the wording's, from the batch's read
    allowed, reason = patient_may_message(fresh, channel)
    return fresh, allowed, reason


def _hold(
    nudge: Nudge,
    patient: Patient,
    now: datetime,
    report: DispatchReport,
    switched_off: set,
    sent: _Sent | None = None,
) -> Patient | None:
    """Hold back (suppress) or defer a claimed nudge if it may not go now.

    Return the patient to write to (read again when the batch's copy said no), or None if it was held.
    """
    if nudge.kind in switched_off:
        reason = "this kind of message is switched off in the clinic's settings"
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return None
    patient, allowed, reason = _may_message_now(patient, nudge.channel)
    if not allowed:
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return None
    if nudge.kind in MARKETING_KINDS and not marketing_consent_granted(patient):
        reason = NO_MARKETING_CONSENT
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return None
    later = (next_marketing_moment if nudge.kind in MARKETING_KINDS else next_allowed_moment)(
        now, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end
    )
    if nudge.expires_at is not None and later >= nudge.expires_at:
        reason = (
            "too late to be useful" if later == now else "quiet hours last until after it stops mattering"
        )
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return None
    if later > now:
        local = later.astimezone(patient.tz)
        _mark(
            nudge,
            status=Nudge.Status.PENDING,
            send_at=later,
            claimed_at=None,
            status_reason=f"deferred for {'marketing' if nudge.kind in MARKETING_KINDS else 'quiet'} hours to {local:%Y-%m-%d %H:%M} {patient.time_zone}",
        )
        report.count("deferred")
        return None
    also_sent = [n.pk for n, _, _ in sent.nudges if n.patient_id == nudge.patient_id] if sent else []
    if reason := budget_hold_reason(nudge, now, also_sent=also_sent):  # the weekly budget (nudges.budget)
        _mark(nudge, status=Nudge.Status.SUPPRESSED, status_reason=reason)
        report.count("suppressed", reason)
        return None
    return patient


@dataclass
class _Ready:
    nudge: Nudge
    patient: Patient
    message: rendering.Rendered
    unsubscribe_url: str

    @property
    def address(self) -> str:
        return self.patient.email if self.nudge.channel == Channel.EMAIL else self.patient.phone


def _prepare(
    nudge: Nudge,
    patient: Patient,
    templates: dict,
    report: DispatchReport,
    switched_off: set,
    sent: _Sent | None = None,
) -> _Ready | None:
    """Hold the nudge back, or render what would go out; None when it is not to be sent now."""
    to = _hold(nudge, patient, timezone.now(), report, switched_off, sent)
    if to is None:
        return None
    patient = to
    try:
        # An email always carries the link (its List-Unsubscribe header); a text only when its wording shows it.
        link = nudge.channel == Channel.EMAIL or rendering.wording_mentions(
            nudge.kind, nudge.channel, "unsubscribe_url", templates
        )
        context = message_context(nudge, patient, with_unsubscribe_url=link)
        message = rendering.render_message(
            kind=nudge.kind, channel=nudge.channel, context=context, templates=templates
        )
    except (rendering.WordingError, OSError) as error:
        _mark(nudge, status=Nudge.Status.FAILED, last_error=f"wording: {error}"[:2000], status_reason="")
        report.count("failed", "wording")
        return None
    return _Ready(
        nudge=nudge, patient=patient, message=message, unsubscribe_url=context.get("unsubscribe_url", "")
    )


def _run_transport(ready: _Ready) -> str:
    nudge, message = ready.nudge, ready.message
    if nudge.channel == Channel.EMAIL:
        return channels.send_email(
            nudge=nudge,
            to=ready.address,
            subject=message.subject,
            text=message.text,
            html=message.html,
            unsubscribe_url=ready.unsubscribe_url,
        )
    return channels.send_sms(nudge=nudge, to=ready.address, text=message.text)


def _transmit(ready: _Ready, report: DispatchReport, sent: _Sent) -> None:
    nudge = ready.nudge
    if not _take(nudge, ready.address, ready.message, sent):
        _not_taken(nudge, report)
        return
    # From here the message may leave. Only a transport's proof that nothing left (NotSent) lets it be
    # tried again; anything else — an ambiguous answer, an unexpected error, Celery's soft time limit,
    # SIGTERM, any BaseException — leaves it unknown, for a person.
    try:
        provider_id = _run_transport(ready)
    except channels.NotSent as error:
        if (cause := _interruption_behind(error)) is not None:  # a time limit turned into "not sent"
            _interrupted(nudge, cause)
            raise
        if isinstance(error, channels.PermanentSendError):
            _settle(nudge, status=Nudge.Status.FAILED, last_error=str(error)[:2000], status_reason="")
            report.count("failed", "refused")
        else:
            _fail_or_retry(nudge, str(error), report)
    except channels.AmbiguousSendError as error:
        _settle(nudge, status=Nudge.Status.UNKNOWN, last_error=str(error)[:2000], status_reason="")
        report.count("unknown")
    except SoftTimeLimitExceeded as error:  # an Exception, but an interruption: never "a failed send"
        _interrupted(nudge, error)
        raise
    except Exception as error:
        logger.warning(
            "nudge %s: the transport failed without saying whether it sent", nudge.pk, exc_info=True
        )
        _settle(
            nudge,
            status=Nudge.Status.UNKNOWN,
            last_error=f"The transport failed without saying whether the message left "
            f"({type(error).__name__}: {error}); it may or may not have reached the patient."[:2000],
            status_reason="",
        )
        report.count("unknown")
    except BaseException as error:  # SIGTERM as SystemExit, KeyboardInterrupt, the hard limit's cousins
        _interrupted(nudge, error)
        raise
    else:
        # On PostgreSQL 'sent' rides on the batch's next take (or its last statement): one round trip a send.
        # The window in which a crash leaves a sent message taken but unmarked (later 'unknown', never resent)
        # stays about one message wide: it closes when the next nudge is taken.
        if _rides_along():
            sent.nudges.append((nudge, timezone.now(), provider_id[:120]))
        else:
            _settle_sent(nudge, provider_id=provider_id[:120])
        report.count("sent")


def _interruption_behind(error: BaseException) -> BaseException | None:
    """A time limit or other interruption this error was raised from or while handling, if any."""
    seen = set()
    cause = error.__cause__ or error.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, SoftTimeLimitExceeded) or not isinstance(cause, Exception):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _interrupted(nudge: Nudge, error: BaseException) -> None:
    """The send was cut off while the transport had the message: it may have left, so it is unknown."""
    _settle(
        nudge,
        status=Nudge.Status.UNKNOWN,
        last_error=f"The send was interrupted ({type(error).__name__}) while the transport had the message: "
        "it may or may not have reached the patient.",
        status_reason="",
    )


def _fail_or_retry(nudge: Nudge, error: str, report: DispatchReport) -> None:
    """Nothing left us: try again with backoff, or give up after ``NUDGE_MAX_ATTEMPTS`` transport runs."""
    attempts = nudge.attempts  # counted by _take, on a row only this batch could change
    if attempts >= settings.NUDGE_MAX_ATTEMPTS:
        _settle(nudge, status=Nudge.Status.FAILED, last_error=error[:2000], status_reason="")
        report.count("failed", "gave up")
        return
    delay = BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1]
    _settle(
        nudge,
        status=Nudge.Status.PENDING,
        claimed_at=None,
        taken_at=None,
        send_at=timezone.now() + timedelta(minutes=delay),
        last_error=error[:2000],
        status_reason=f"retrying in {delay} min (attempt {attempts} of {settings.NUDGE_MAX_ATTEMPTS})",
    )
    report.count("retrying")


def _renew_claims(rest: list[Nudge]) -> None:
    """Keep this batch's claim on the nudges it has not reached yet, so their lease measures a live batch."""
    renewed = timezone.now()
    ids = [nudge.pk for nudge in rest]
    held = Nudge.objects.filter(
        pk__in=ids,
        status=Nudge.Status.SENDING,
        taken_at__isnull=True,
        claimed_at__in={nudge.claimed_at for nudge in rest},
    ).update(claimed_at=renewed)
    ours = (
        set(ids)
        if held == len(rest)
        else set(Nudge.objects.filter(pk__in=ids, claimed_at=renewed).values_list("pk", flat=True))
    )
    for nudge in rest:
        if nudge.pk in ours:
            nudge.claimed_at = renewed


def _put_back(rest: list[Nudge], report: DispatchReport) -> None:
    """Return the nudges this batch claimed and never took to pending: they were never attempted."""
    if not rest:
        return
    released = Nudge.objects.filter(
        pk__in=[nudge.pk for nudge in rest],
        status=Nudge.Status.SENDING,
        taken_at__isnull=True,
        claimed_at__in={nudge.claimed_at for nudge in rest},
    ).update(status=Nudge.Status.PENDING, claimed_at=None)
    report.count("released", n=released)


def _send_many(ids: list[int], report: DispatchReport, *, deadline: float = math.inf) -> None:
    nudges = list(
        Nudge.objects.filter(pk__in=ids, status=Nudge.Status.SENDING, taken_at__isnull=True).order_by(
            "send_at", "id"
        )
    )
    if not nudges:
        return
    # Names, quiet hours and time zones for the wording; consent is read again as each nudge is taken.
    patients = {
        p.pk: p
        for p in Patient.objects.with_consent().with_lead().filter(pk__in={n.patient_id for n in nudges})
    }
    templates = rendering.active_templates()
    # A one-off message is a person's decision, never switched off by a rule.
    switched_off = set(
        NudgeRule.objects.filter(enabled=False).exclude(kind=Kind.ONE_OFF).values_list("kind", flat=True)
    )
    renew_every = settings.NUDGE_SENDING_LEASE_SECONDS / 3
    renewed = monotonic_time.monotonic()
    reached = 0  # nudges[reached:] are claimed and not yet taken by this batch
    sent = _Sent()
    try:
        for nudge in nudges:
            now = monotonic_time.monotonic()
            if now >= deadline:
                break
            if now - renewed >= renew_every:
                _renew_claims(nudges[reached:])
                renewed = now
            ready = _prepare(nudge, patients[nudge.patient_id], templates, report, switched_off, sent)
            if ready is not None:
                _transmit(ready, report, sent)
            reached += 1
    finally:
        try:
            _settle_sent_all(sent)  # what this batch sent since its last take
        finally:
            try:
                _put_back(nudges[reached:], report)
            except Exception:  # the batch is already failing (the database went away?): the lease will do it
                logger.warning("could not put back %s claimed nudges", len(nudges) - reached, exc_info=True)


def nudge_deliver(*, nudge_id: int, soft_time_limit: float | None = None) -> bool:
    """Send one due nudge at most once (a Celery task may run this twice: the second does nothing)."""
    started = monotonic_time.monotonic()
    if not _claim_one(nudge_id):
        return False
    report = DispatchReport()
    _send_many([nudge_id], report, deadline=_sending_deadline(started, _soft_limit(soft_time_limit)))
    return report.sent == 1


def _soft_limit(soft_time_limit: float | None) -> float | None:
    return soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT


def nudge_dispatch_due(
    *, batch_size: int | None = None, time_budget: float = 50.0, soft_time_limit: float | None = None
) -> DispatchReport:
    """Claim and send due nudges batch after batch until none is due or the time budget is spent.

    No nudge is taken for sending after the deadline before ``soft_time_limit`` (default: the setting
    ``CELERY_TASK_SOFT_TIME_LIMIT``); what the batch claimed and had not reached goes back to pending.
    """
    report = DispatchReport()
    started = monotonic_time.monotonic()
    deadline = _sending_deadline(started, _soft_limit(soft_time_limit))
    while monotonic_time.monotonic() - started < time_budget and monotonic_time.monotonic() < deadline:
        ids = nudge_claim_due(limit=batch_size)
        if not ids:
            break
        _send_many(ids, report, deadline=deadline)
    return report


@dataclass
class ReconcileReport:
    released: int = 0  # claimed by a batch that stopped before taking them: back to pending, never attempted
    unknown: int = 0  # taken for their transport by a sender that stopped: they may have left

    def __str__(self) -> str:
        return f"{self.released} put back to send, {self.unknown} unknown"


def nudge_reconcile_stuck(*, now: datetime | None = None) -> ReconcileReport:
    """Nudges whose lease ran out: the batch or the send holding them stopped (a worker died, was killed).

    A nudge claimed but never taken for its transport goes back to pending and will be sent once; only a
    nudge that was taken — its transport may have run — becomes ``unknown`` and waits for a person.
    """
    now = now or timezone.now()
    older_than = now - timedelta(seconds=settings.NUDGE_SENDING_LEASE_SECONDS)
    released = Nudge.objects.claim_expired(older_than=older_than).update(
        status=Nudge.Status.PENDING, claimed_at=None
    )
    unknown = Nudge.objects.take_expired(older_than=older_than).update(
        status=Nudge.Status.UNKNOWN,
        status_reason="",
        last_error="The sender stopped in the middle of sending: it may or may not have reached the patient.",
    )
    if released or unknown:
        logger.warning("reconciled nudges whose sender stopped: %s", ReconcileReport(released, unknown))
    return ReconcileReport(released=released, unknown=unknown)


# --- Review ---------------------------------------------------------------------------------------


@transaction.atomic
def nudge_retry(*, nudge: Nudge, actor: User) -> None:
    """A person decided a failed or unknown nudge should go again."""
    updated = Nudge.objects.filter(
        pk=nudge.pk, status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN]
    ).update(
        status=Nudge.Status.PENDING,
        send_at=timezone.now(),
        claimed_at=None,
        taken_at=None,
        attempts=0,
        reviewed_at=timezone.now(),
        reviewed_by=actor,
        status_reason=f"sent again by {actor}",
    )
    if not updated:
        raise ValidationError("Only a failed or unknown message can be sent again.")
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=nudge.patient_id,
        obj=nudge,
        detail="sent again",
    )
    transaction.on_commit(lambda: _enqueue_delivery(nudge.pk))


@transaction.atomic
def nudge_mark_reviewed(*, nudge: Nudge, actor: User) -> None:
    """A person looked at a failed or unknown nudge and decided to leave it as it is."""
    updated = Nudge.objects.filter(
        pk=nudge.pk, status__in=[Nudge.Status.FAILED, Nudge.Status.UNKNOWN], reviewed_at__isnull=True
    ).update(reviewed_at=timezone.now(), reviewed_by=actor)
    if not updated:
        raise ValidationError("This message needs no review.")
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor=actor,
        patient_id=nudge.patient_id,
        obj=nudge,
        detail="reviewed",
    )


# --- Opting out, and what patients write back ------------------------------------------------------


def nudge_unsubscribe(*, patient: Patient, via: str = "unsubscribe link") -> bool:
    """The patient opted out of all messages; pending ones will be held back at send time."""
    return patient_unsubscribe(patient=patient, via=via)


@dataclass(frozen=True)
class InboundOutcome:
    """What a patient's text did, and the one text to answer it with ("" for none)."""

    action: str  # an InboundMessage.Action, or "duplicate" for a message already received
    reply: str
    messages: list[InboundMessage] = field(default_factory=list)


_ACTIONS = {
    keywords.Meaning.OPT_OUT: InboundMessage.Action.OPTED_OUT,
    keywords.Meaning.RESTART: InboundMessage.Action.RESTARTED,
    keywords.Meaning.HELP: InboundMessage.Action.HELP,
    keywords.Meaning.YES: InboundMessage.Action.KEPT,  # unless it confirms a request we asked about
    keywords.Meaning.WORDS: InboundMessage.Action.KEPT,
}
_REPLY_TEMPLATES = {
    InboundMessage.Action.OPTED_OUT: "nudges/sms_reply_opt_out.txt",
    InboundMessage.Action.RESTARTED: "nudges/sms_reply_restart.txt",
    InboundMessage.Action.HELP: "nudges/sms_reply_help.txt",
    InboundMessage.Action.CONFIRMED: "nudges/sms_reply_consent_confirmed.txt",
}
SMS_YES_VIA = "SMS YES"
# A number is asked at most once in this time, however often a form names it: one ask alive at a time.
CONSENT_ASK_EVERY = CONFIRMATION_VALID_FOR


def _sms_words(template: str) -> str:
    context = {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "valid_days": CONFIRMATION_VALID_FOR.days,
    }
    return " ".join(render_to_string(template, context).split())


def _auto_reply(action: str) -> str:
    template = (
        _REPLY_TEMPLATES.get(InboundMessage.Action(action))
        if action in InboundMessage.Action.values
        else None
    )
    return _sms_words(template) if template is not None else ""


@transaction.atomic
def consent_ask_by_text(*, request: ConsentRequest, now: datetime | None = None) -> bool:
    """Text the number a public form asked us to text, once, asking its owner to reply YES: only that YES
    (``sms_inbound``) records consent. Returns whether the text goes (on commit).

    Not an outbox nudge: the outbox's consent check would refuse it, rightly — consent is what it asks
    for. One text that answers a request made for that very number, holding nothing but the clinic's name
    and how to say yes, is the confirmation a double opt-in sends, like the one text after a STOP (see
    the README, *The public "Get in touch" page*). So it goes only as that: never to an archived or
    unsubscribed patient, never in their quiet hours (the request then waits for the care team, as
    before), at most once a week per patient and number whoever fills in the form; never with
    ``CONSENT_ASK_BY_TEXT`` off.
    """
    if request.channel != Channel.SMS:
        raise ValidationError("Only a request for text messages is confirmed by text.")
    patient = request.patient
    now = now or timezone.now()
    if not settings.CONSENT_ASK_BY_TEXT:
        return False
    if patient.archived or patient.unsubscribed_at or not patient.phone or patient.phone != request.address:
        return False
    if next_allowed_moment(
        now, tz=patient.tz, start=patient.quiet_hours_start, end=patient.quiet_hours_end, margin=START_MARGIN
    ) != now.astimezone(UTC):
        return False
    if not consent_confirmation_claim(request=request, every=CONSENT_ASK_EVERY):
        return False
    record_access(
        action=AccessEvent.Action.UPDATE,
        actor_label="consent confirmation",
        patient_id=patient.pk,
        obj=request,
        detail="asked the patient by text to reply YES to confirm SMS consent",
    )
    transaction.on_commit(functools.partial(_send_consent_ask, request_id=request.pk))
    return True


def _send_consent_ask(*, request_id: int) -> None:
    request = ConsentRequest.objects.get(pk=request_id)
    try:
        channels.sms_backend().send(
            to=request.address,
            body=_sms_words("nudges/sms_consent_ask.txt"),
            reference=f"consent-request-{request.pk}",
        )
    except Exception:  # the request is recorded and on the patient's page either way
        logger.warning("could not text the consent question for request %s", request.pk, exc_info=True)


# A reply within this long of a check-in request is the patient's words about that check-in.
CHECKIN_REPLY_WITHIN = timedelta(days=3)
CHECKIN_REQUEST_KINDS = (Kind.CHECKIN_REQUEST, Kind.FOLLOW_UP_CHECKIN)


def _checkin_request_before(patient: Patient, received: datetime) -> Nudge | None:
    """The latest check-in request sent to the patient in the ``CHECKIN_REPLY_WITHIN`` before ``received``."""
    return (
        Nudge.objects.filter(
            patient=patient,
            kind__in=CHECKIN_REQUEST_KINDS,
            status=Nudge.Status.SENT,
            sent_at__lte=received,
            sent_at__gte=received - CHECKIN_REPLY_WITHIN,
        )
        .order_by("-sent_at", "-id")
        .only("pk")
        .first()
    )


def _last_sms_sent(patient: Patient) -> Nudge | None:
    return (
        Nudge.objects.filter(patient=patient, channel=Channel.SMS, status=Nudge.Status.SENT)
        .order_by("-sent_at", "-id")
        .only("pk")
        .first()
    )


@transaction.atomic
def sms_inbound(*, from_number: str, body: str, provider_id: str = "") -> InboundOutcome:
    """Keep a patient's text for their care team and act on the keywords in it (see ``nudges.keywords``).

    An opt-out withdraws SMS consent and is answered with one confirmation: the single text the rules allow
    after an opt-out, sent as the reply to this very message, never through the outbox. HELP is answered
    with the clinic's name and phone; START or UNSTOP grants SMS consent again. A YES confirms the request
    for texts we asked this number about (``consent_ask_by_text``) while it is good, and is answered with a
    short thank-you; any other YES answers a question and is kept. The same provider message received twice
    (a retried webhook) changes nothing and is not answered again.
    """
    if not from_number:
        return InboundOutcome(action="ignored", reply="")
    if provider_id and InboundMessage.objects.filter(provider_id=provider_id).exists():
        return InboundOutcome(action="duplicate", reply="")
    meaning = keywords.meaning_of(body)
    patients: list[Patient | None] = list(Patient.objects.filter(phone=from_number).order_by("pk"))
    awaiting = (
        consent_requests_awaiting_text_reply(phone=from_number, valid_for=CONFIRMATION_VALID_FOR)
        if meaning == keywords.Meaning.YES and patients
        else {}
    )
    received = timezone.now()
    messages = []
    confirmed = False
    for patient in patients or [None]:  # a number nobody has is kept too, for a person to look at
        action = _ACTIONS[meaning]
        if patient is not None and patient.pk in awaiting:
            outcome = consent_confirm(request_id=awaiting[patient.pk].pk, via=SMS_YES_VIA)
            if outcome != ConsentConfirmation.CHANGED:  # a later STOP or a new number stands
                action, confirmed = InboundMessage.Action.CONFIRMED, True
        message = InboundMessage.objects.create(
            patient=patient,
            channel=Channel.SMS,
            from_address=from_number,
            body=body,
            received_at=received,
            provider_id=provider_id,
            in_reply_to=_last_sms_sent(patient) if patient else None,
            checkin_request=_checkin_request_before(patient, received)
            if patient is not None and action == InboundMessage.Action.KEPT
            else None,
            action=action,
        )
        messages.append(message)
        if patient is None:
            continue
        record_access(
            action=AccessEvent.Action.CREATE,
            actor_label="the patient, by text message",
            patient_id=patient.pk,
            obj=message,
            detail=f"SMS reply received: {message.get_action_display().lower()}",
        )
        if action in (InboundMessage.Action.OPTED_OUT, InboundMessage.Action.RESTARTED):
            granted = action == InboundMessage.Action.RESTARTED
            consent_record(
                patient=patient,
                channel=Channel.SMS,
                granted=granted,
                via="SMS START" if granted else "SMS STOP",
                address=from_number,
                note=body[:255],
            )
    action = InboundMessage.Action.CONFIRMED if confirmed else _ACTIONS[meaning]
    # Restarting needs someone to restart; an opt-out or HELP is answered whoever sent it.
    reply = "" if action == InboundMessage.Action.RESTARTED and not patients else _auto_reply(action)
    if reply:
        InboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(auto_reply=reply)
    return InboundOutcome(action=action, reply=reply, messages=messages)


# --- Email replies and the conversation --------------------------------------------------------


def _provider_key(message_id: str) -> str:
    message_id = message_id.strip()
    if len(message_id) <= 64:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()[:57]


@transaction.atomic
def email_inbound(
    *, recipient: str, sender: str, subject: str, text: str, message_id: str = ""
) -> InboundMessage:
    """Keep an email reply in the patient's conversation, threaded with the message it answers.

    The patient is the one the reply-to address was made for (``reply+<nudge>-<proof>@…``, see
    ``nudges.tokens``); without a valid one, the one patient whose email is the sender's; otherwise it is kept
    without a patient for a person to look at. The same provider message received twice is kept once.
    """
    provider_id = _provider_key(message_id)
    if provider_id:
        existing = InboundMessage.objects.filter(provider_id=provider_id, channel=Channel.EMAIL).first()
        if existing is not None:
            return existing
    address = parseaddr(sender)[1].strip().lower()[:254]
    nudge_id = tokens.read_reply_address(recipient)
    nudge = Nudge.objects.select_related("patient").filter(pk=nudge_id).first() if nudge_id else None
    patient = nudge.patient if nudge is not None else None
    if patient is None and address:
        matches = list(Patient.objects.filter(email__iexact=address).order_by("pk")[:2])
        patient = matches[0] if len(matches) == 1 else None
    if patient is not None and nudge is None:
        nudge = (
            Nudge.objects.filter(patient=patient, channel=Channel.EMAIL, status=Nudge.Status.SENT)
            .order_by("-sent_at", "-id")
            .first()
        )
    received = timezone.now()
    message = InboundMessage.objects.create(
        patient=patient,
        channel=Channel.EMAIL,
        received_at=received,
        checkin_request=_checkin_request_before(patient, received) if patient is not None else None,
        from_address=address or sender[:254],
        subject=subject.strip()[:255],
        body=text.strip(),
        provider_id=provider_id,
        in_reply_to=nudge,
        action=InboundMessage.Action.KEPT,
    )
    if patient is not None:
        record_access(
            action=AccessEvent.Action.CREATE,
            actor_label="the patient, by email",
            patient_id=patient.pk,
            obj=message,
            detail="email reply received: kept for the care team",
        )
    return message


@transaction.atomic
def conversation_mark_read(*, patient: Patient, user: User, now: datetime | None = None) -> None:
    """Everything the patient wrote until now is read for ``user``; the reading is audited."""
    now = now or timezone.now()
    # One statement whether or not this person read it before (INSERT … ON CONFLICT DO UPDATE).
    ConversationRead.objects.bulk_create(
        [ConversationRead(patient=patient, user=user, read_at=now)],
        update_conflicts=True,
        unique_fields=["user", "patient"],
        update_fields=["read_at"],
    )
    record_access(
        action=AccessEvent.Action.VIEW,
        actor=user,
        patient_id=patient.pk,
        obj=patient,
        detail="conversation read",
    )


def conversation_reply(
    *, patient: Patient, actor: User, channel: str, message: str, subject: str = ""
) -> Nudge:
    """A reply written in the patient's conversation: a one-off nudge sent now, so consent, unsubscribe and
    quiet hours still decide when, and whether, it goes. Writing it marks the conversation read."""
    nudge = nudge_send_one_off(
        patient=patient, actor=actor, channel=channel, message=message, subject=subject
    )
    conversation_mark_read(patient=patient, user=actor)
    return nudge


# --- Heartbeats -----------------------------------------------------------------------------------


def heartbeat_record(*, component: str, now: datetime | None = None) -> None:
    """Write "``component`` last seen now" (one row per component, however many workers write it)."""
    now = now or timezone.now()
    if Heartbeat.objects.filter(component=component).update(last_seen=now):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(component=component, last_seen=now)
    except IntegrityError:  # another worker wrote the first row a moment ago
        Heartbeat.objects.filter(component=component).update(last_seen=now)
