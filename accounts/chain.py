"""The audit trail's hash chain: the canonical form of a row, its hash, and the lock that orders writers.

Each ``AccessEvent`` carries ``seq`` (1, 2, 3… without gaps), ``prev_hash`` (the ``hash`` of the row whose
``seq`` is one less; ``GENESIS`` for the first) and ``hash``: SHA-256 over ``canonical(row)``. Changing any
chained field, removing a row or reordering rows breaks the chain at that row, and ``verify_audit`` names it.

The canonical form is a compact JSON object with sorted keys over ``CHAINED_FIELDS``; the time is written
in UTC with microseconds, so it reads back identically from SQLite and PostgreSQL. Changing this form
changes every hash: the accounts migrations compute existing rows' hashes with this very function.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

GENESIS = "0" * 64
# Taken by every writer of the trail on PostgreSQL for the length of its transaction (pg_advisory_xact_lock):
# two transactions never read the same "last row", so the chain never forks. SQLite's write lock is global.
LOCK_KEY = 0x41554449  # "AUDI"

CHAINED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "patient_id",
    "patient_ids",
    "object_type_id",
    "object_id",
    "object_repr",
    "detail",
    "ip_address",
    "user_agent",
    "path",
    "prev_hash",
)


def _value(row: Any, name: str):
    value = getattr(row, name)
    if name == "at":
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if name == "patient_ids":
        return [int(pk) for pk in value or []]
    return value


def canonical(row: Any) -> bytes:
    """The bytes a row's hash is taken over: every chained field, its previous row's hash included."""
    data = {name: _value(row, name) for name in CHAINED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: Any) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def lock_chain(connection) -> None:
    """Hold the trail's writer lock until the current transaction ends (PostgreSQL); SQLite needs none,
    its transactions (``transaction_mode=IMMEDIATE``) take the database's one write lock when they begin."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


@dataclass(frozen=True)
class Head:
    """The trail's last row, ``SEQ:HASH`` when written down: kept outside the database, it proves later
    that no row up to it was cut or rewritten (``verify_audit --expect-head``). An empty trail's is
    ``0:`` and ``GENESIS``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class Break:
    """Where the chain first fails: the row (``seq``, ``id``; ``id`` is None for a missing row) and why."""

    seq: int
    id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"row seq {self.seq}" + (f" (id {self.id})" if self.id is not None else "")
        return f"{where}: {self.reason}"


@dataclass
class Walk:
    """What a walk of the chain found: how many rows held, the last good row, and the first break."""

    rows: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    broken: Break | None = None


def walk_chain(rows: Iterable[Any]) -> Walk:
    """Check rows given in ``seq`` order; stop at the first missing, changed or misplaced row."""
    walk = Walk()
    for row in rows:
        expected = walk.last_seq + 1
        if row.seq != expected:
            walk.broken = Break(
                expected,
                None,
                f"is missing (the row after seq {walk.last_seq} is seq {row.seq}, id {row.pk})"
                if row.seq > expected
                else f"is out of order (seq {row.seq}, id {row.pk}, after seq {walk.last_seq})",
            )
            return walk
        if row.hash != row_hash(row):
            walk.broken = Break(row.seq, row.pk, "was changed after it was written (its hash does not match)")
            return walk
        if row.prev_hash != walk.last_hash:
            walk.broken = Break(
                row.seq,
                row.pk,
                f"does not follow the row before it (seq {walk.last_seq}): one of them was replaced",
            )
            return walk
        walk.rows, walk.last_seq, walk.last_hash = walk.rows + 1, row.seq, row.hash
    return walk
