"""The one way to write the audit trail: ``record_access``, and the context it learns who and where from.

The acting user, address, user agent and path reach the trail from a context variable, never as an
argument threaded through services: ``AuditContextMiddleware`` sets it for each request, a Celery task or a
management command sets a ``system: …`` one around its work, and ``record_access`` reads it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from .chain import GENESIS, Head, lock_chain, row_hash
from .models import AccessEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest

    from .models import User


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where, for every audit row written while it is current."""

    actor: User | AnonymousUser | None = None
    actor_label: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    path: str = ""


NO_CONTEXT = AuditContext()
_current: ContextVar[AuditContext] = ContextVar("audit_context", default=NO_CONTEXT)


def _ip(value: str | None) -> str | None:
    """``value`` as a normalised IP address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The address a request came from, the one helper that sign-in throttling, the inquiry limit and the
    audit trail all use.

    With ``TRUSTED_PROXY_HOPS = 0`` (the default) it is the connection's own address. Behind N proxies we
    run, each appends the address it saw to X-Forwarded-For, so the client is the Nth entry from the right:
    everything further left was written by the client and may be forged. A header with fewer entries than
    hops, or a malformed entry, falls back to the connection's address.
    """
    remote = _ip(request.META.get("REMOTE_ADDR"))
    hops = settings.TRUSTED_PROXY_HOPS
    if hops > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",")] if forwarded else []
        if len(entries) >= hops:
            return _ip(entries[-hops]) or remote
    return remote


def current_audit_context() -> AuditContext:
    """The context audit rows are written in now (an empty one outside any request, task or command)."""
    return _current.get()


@contextmanager
def _entered(context: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def request_context(request: HttpRequest) -> AbstractContextManager[AuditContext]:
    """Audit rows written inside carry the request's user, address, user agent and path."""
    return _entered(
        AuditContext(
            actor=getattr(request, "user", None),
            ip_address=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
            path=request.get_full_path()[:255],
        )
    )


def system_context(what: str) -> AbstractContextManager[AuditContext]:
    """Audit rows written inside name the system as who acted (``system: beat task nudges.dispatch_due``),
    with no address or path: for Celery tasks and management commands."""
    return _entered(AuditContext(actor_label=f"system: {what}"))


def record_access(
    *,
    action: str,
    actor: User | AnonymousUser | None = None,
    patient_id: int | None = None,
    patient_ids: Iterable[int] = (),
    obj: models.Model | None = None,
    actor_label: str = "",
    detail: str = "",
    object_repr: str = "",
) -> AccessEvent:
    """Append one row to the audit trail: who did what to which patient's record, when and from where.

    An explicit ``actor`` wins over the current context's user; in a system context the row's label names
    the task or command, followed by the caller's own label when it gives one. The row is chained to the
    one before it under the trail's writer lock (``accounts.chain``), in one INSERT.
    """
    event = _event(
        action=action,
        actor=actor,
        patient_id=patient_id,
        patient_ids=patient_ids,
        obj=obj,
        actor_label=actor_label,
        detail=detail,
        object_repr=object_repr,
    )
    with transaction.atomic(savepoint=False):
        connection = transaction.get_connection()
        lock_chain(connection)
        with connection.cursor() as cursor:
            cursor.execute(_HEAD_SQL)
            last = cursor.fetchone()
            event.seq, event.prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
            event.at = timezone.now()
            event.hash = row_hash(event)
            _insert(cursor, event)
    return event


def _quoted(name: str) -> str:
    return f'"{name}"'  # standard SQL, as PostgreSQL and SQLite both read it


# The two statements every page's audit row runs, written once: built through the ORM (a ``values_list().first()``
# and ``Model.save()``) they cost more Python than PostgreSQL takes to run them (~1.0 ms a row against ~0.65 ms).
_FIELDS = [field for field in AccessEvent._meta.concrete_fields if not field.primary_key]
_TABLE = _quoted(AccessEvent._meta.db_table)
# Names from the model's own metadata, values only as parameters.
_HEAD_SQL = f'SELECT "seq", "hash" FROM {_TABLE} ORDER BY "seq" DESC LIMIT 1'  # noqa: S608
_COLUMNS = ", ".join(_quoted(field.column) for field in _FIELDS)
_VALUES = ", ".join(["%s"] * len(_FIELDS))
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES ({_VALUES}) RETURNING {_quoted(AccessEvent._meta.pk.column)}"  # noqa: S608
)


def _insert(cursor: Any, event: AccessEvent) -> None:
    """``event`` saved as ``Model.save()`` would (each field's value prepared as Django prepares it; nothing
    listens to the trail's saves), in one INSERT that returns its id."""
    connection = cursor.db
    cursor.execute(
        _INSERT_SQL,
        [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in _FIELDS],
    )
    event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias


def record_access_many(rows: Iterable[dict[str, Any]]) -> list[AccessEvent]:
    """Append several rows at once (each a dict of ``record_access``'s arguments), chained in the order
    given under one hold of the writer lock: three statements whatever their number — for the periodic jobs
    that write one row per check-in or alert they change."""
    events = [_event(**row) for row in rows]
    if not events:
        return []
    with transaction.atomic(savepoint=False):
        connection = transaction.get_connection()
        lock_chain(connection)
        last = AccessEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = last if last else (0, GENESIS)
        at = timezone.now()
        for event in events:
            seq += 1
            event.seq, event.prev_hash, event.at = seq, prev_hash, at
            event.hash = prev_hash = row_hash(event)
        AccessEvent.objects.bulk_create(events, batch_size=1_000)
    return events


def _event(
    *,
    action: str,
    actor: User | AnonymousUser | None = None,
    patient_id: int | None = None,
    patient_ids: Iterable[int] = (),
    obj: models.Model | None = None,
    actor_label: str = "",
    detail: str = "",
    object_repr: str = "",
) -> AccessEvent:
    """One audit row as the current context says, not yet chained nor saved."""
    context = _current.get()
    if actor is None:
        actor = context.actor
    if context.actor_label:
        actor_label = f"{context.actor_label} ({actor_label})" if actor_label else context.actor_label
    event = AccessEvent(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label[:120],
        patient_id=patient_id,
        # (a list, not a generator: a page naming hundreds of patients paid a call each)
        patient_ids=list(dict.fromkeys([int(pk) for pk in patient_ids if pk is not None])),
        detail=detail[:255],
        object_repr=object_repr[:200],
        # stored as the database will give it back, so the row's hash reads back the same
        ip_address=AccessEvent._meta.get_field("ip_address").get_prep_value(context.ip_address),
        user_agent=context.user_agent[:255],
        path=context.path[:255],
    )
    if obj is not None:
        event.object_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        event.object_id = str(obj.pk)[:64]
        event.object_repr = str(obj)[:200]
    return event


def record_list(*, patient_ids: Iterable[int], query: str = "", what: str) -> AccessEvent:
    """One ``list`` row for a page that shows patients: ``what`` page it was, the ``query`` it was asked
    (filters, search words, page number: truncated), and the ids of the patients on that page, in order.

    Pass ids taken from the objects the page already fetched, so the page costs one INSERT more."""
    return record_access(
        action=AccessEvent.Action.LIST, patient_ids=patient_ids, detail=query, object_repr=what
    )


def audit_head() -> Head:
    """The trail's last row as it stands (not verified: ``verify_audit`` walks the chain), to be kept
    outside the database."""
    last = AccessEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return Head(seq=last[0], hash=last[1]) if last else Head(seq=0, hash=GENESIS)


EXPORT_IDS_PER_ROW = 5_000


def record_export(*, patient_ids: Iterable[int], query: str = "", what: str) -> list[AccessEvent]:
    """``export`` rows for a download that names patients: ``what`` was downloaded, the ``query`` it was asked
    and the ids of every patient in it, in order — one row per ``EXPORT_IDS_PER_ROW`` patients, so a clinic's
    whole list stays a few rows. Written before the download starts: nothing leaves that is not on the trail.
    A download of figures that name no patient is one row with no ids."""
    ids = list(dict.fromkeys(int(pk) for pk in patient_ids if pk is not None))
    parts = [ids[start : start + EXPORT_IDS_PER_ROW] for start in range(0, len(ids), EXPORT_IDS_PER_ROW)] or [
        []
    ]
    return [
        record_access(
            action=AccessEvent.Action.EXPORT,
            patient_ids=part,
            detail=query,
            object_repr=what if len(parts) == 1 else f"{what} (part {number} of {len(parts)})",
        )
        for number, part in enumerate(parts, start=1)
    ]
