"""A patient's access report: every read or change of their record on the audit trail, as CSV for them.

Rows name the patient by ``patient_id`` (one record read or changed) or list them in ``patient_ids`` (a
list page that showed them). Cells are neutralised against formula injection: a spreadsheet never runs
what a user agent, a search or a label put in a cell.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import closing
from typing import IO

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .models import AccessEvent

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = ("when", "who", "role", "action", "what", "detail", "from address", "user agent", "page")


def patient_access_events(*, patient_id: int) -> QuerySet[AccessEvent]:
    """Every row of the trail about one patient, oldest first: their record, or a list that showed them."""
    events = AccessEvent.objects.select_related("actor", "object_type")
    if connection.vendor == "postgresql":
        shown = Q(patient_ids__contains=[patient_id])
    else:  # SQLite has no JSON containment lookup; its json_each reads the list
        events = events.annotate(
            shown=RawSQL(
                "EXISTS (SELECT 1 FROM json_each(accounts_accessevent.patient_ids) WHERE json_each.value = %s)",
                [patient_id],
                output_field=BooleanField(),
            )
        )
        shown = Q(shown=True)
    return events.filter(Q(patient_id=patient_id) | shown).order_by("seq")


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like that hands back what ``csv.writer`` wrote for one row."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Each row as one line of CSV, every cell through ``csv_safe``, after a UTF-8 byte-order mark (so Excel
    reads accents): for a ``StreamingHttpResponse``, which sends a long export as it is read instead of
    holding it whole."""
    writer = csv.writer(_Line())
    yield "\ufeff"
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def report_rows(events: Iterable[AccessEvent]) -> Iterator[list[str]]:
    yield list(HEADER)
    for event in events:
        actor = event.actor
        yield [
            csv_safe(value)
            for value in (
                timezone.localtime(event.at).isoformat(timespec="seconds"),
                str(actor) if actor else event.actor_label,
                actor.get_role_display() if actor else "",
                event.get_action_display(),
                event.object_repr or (event.object_type.name if event.object_type else ""),
                event.detail,
                event.ip_address,
                event.user_agent,
                event.path,
            )
        ]


def write_access_report(*, patient_id: int, out: IO[str]) -> None:
    """Write the patient's access report to ``out`` as CSV, streaming the trail."""
    writer = csv.writer(out)
    with closing(patient_access_events(patient_id=patient_id).iterator(chunk_size=2000)) as events:
        writer.writerows(report_rows(events))
