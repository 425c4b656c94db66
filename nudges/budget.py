"""The weekly message budget: at most ``NUDGE_WEEKLY_BUDGET`` automated messages per patient in any rolling
seven days, checked at send time.

The rule, in full:

- **What counts.** Automated messages that went out (``sent``) or may have gone out (``unknown``: its transport
  may have run) in the seven days before the send moment. Visit reminders and one-off messages a person wrote
  are exempt: they never count and are never held back by the budget.
- **What happens over budget.** The nudge about to go is held back (``suppressed``) with the reason
  ``WEEKLY_LIMIT``; it is not postponed, because a late check-in request or outreach is not what the patient
  needs. Staff see the reason in the outbox and on the patient's messages panel.
- **Priority.** Only among messages of one patient being sent at the same time (claimed, ``sending``, by this
  dispatch pass or another worker): a nudge also counts the ones that outrank it — higher ``PRIORITY``, or the
  same priority and an earlier ``(send_at, id)`` — so when one slot is left, the higher-priority message takes
  it, whatever order the batch sends them in. A message already sent is never taken back for a later,
  higher-priority one: the budget does not look ahead at what is due later the same day.

``0`` (or less) switches the budget off.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.queries import AnyOf, Compiled, built_per_thread

from .models import Kind, Nudge

WEEKLY_LIMIT = "weekly limit: this patient already had their automated messages for the week"
WINDOW = timedelta(days=7)

EXEMPT = frozenset({Kind.VISIT_REMINDER, Kind.ONE_OFF})

# Higher goes first. Outreach and check-in requests carry the care itself; a missed-check-in note is a gentle
# follow-up; welcome, graduation and referral thanks matter least on a crowded week.
PRIORITY = {
    Kind.ADHERENCE_OUTREACH: 3,
    Kind.CHECKIN_REQUEST: 3,
    Kind.CHECKIN_MISSED: 2,
    Kind.INQUIRY_WELCOME: 1,
    Kind.GRADUATION: 1,
    Kind.REFERRAL_THANKS: 1,
    Kind.FOLLOW_UP_CHECKIN: 1,
    Kind.ADVOCACY_ASK: 0,
}


def _outranking(nudge: Nudge) -> Q:
    mine = PRIORITY.get(nudge.kind, 0)
    higher = [kind for kind, rank in PRIORITY.items() if rank > mine]
    same = [kind for kind, rank in PRIORITY.items() if rank == mine]
    earlier = Q(send_at__lt=nudge.send_at) | Q(send_at=nudge.send_at, pk__lt=nudge.pk)
    return Q(kind__in=higher) | (Q(kind__in=same) & earlier)


def _used(nudge: Nudge, since: datetime, also_sent: AnyOf | None) -> QuerySet[Nudge]:
    """The automated messages that count against ``nudge``'s send: went out in the window, may have, or are
    going out now and outrank it."""
    went_out = Q(status=Nudge.Status.SENT, sent_at__gt=since) | Q(
        status=Nudge.Status.UNKNOWN, claimed_at__gt=since
    )
    if also_sent is not None:
        went_out |= Q(also_sent)
    going_out = Q(status=Nudge.Status.SENDING) & _outranking(nudge)
    return (
        Nudge.objects.filter(patient_id=nudge.patient_id)
        .exclude(pk=nudge.pk)
        .exclude(kind__in=EXEMPT)
        .filter(went_out | going_out)
        .order_by()
    )


# Values no other parameter of the budget's query spells, standing for the nudge being sent.
_PATIENT, _NUDGE, _ALSO = 918_273_701, 918_273_702, [918_273_703]
_SINCE, _SEND_AT = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2001, 2, 3, 4, 5, 7, tzinfo=UTC)


@built_per_thread
def _compiled() -> dict[tuple, Compiled]:
    return {}


def _counted(nudge: Nudge, since: datetime, also_sent: list[int], budget: int) -> list[int]:
    """Up to ``budget`` of the messages that count (``budget`` of them is over): the query compiled once per
    thread for each rank of kind and with or without ``also_sent`` (building it through the ORM cost more than
    PostgreSQL took to run it, on every nudge the dispatcher sends), run with this nudge's values."""
    rank = PRIORITY.get(nudge.kind, 0)
    key = (rank, bool(also_sent), budget)
    compiled = _compiled().get(key)
    if compiled is None:
        kind = next(
            kind for kind, its in PRIORITY.items() if its == rank
        )  # any kind of the rank: the same SQL
        marker = Nudge(pk=_NUDGE, patient_id=_PATIENT, kind=kind, send_at=_SEND_AT)
        shape = _used(marker, _SINCE, AnyOf("pk", _ALSO) if also_sent else None).values_list("pk", flat=True)
        markers: list = [_PATIENT, _NUDGE, _SINCE, _SEND_AT] + ([_ALSO] if also_sent else [])
        compiled = _compiled().setdefault(key, Compiled(shape[:budget], *markers))
    values: list = [nudge.patient_id, nudge.pk, since, nudge.send_at] + (
        [list(also_sent)] if also_sent else []
    )
    return compiled.rows(*values)


def budget_hold_reason(nudge: Nudge, now: datetime, *, also_sent: Collection[int] = ()) -> str:
    """``WEEKLY_LIMIT`` if sending ``nudge`` at ``now`` would give its patient more automated messages in seven
    days than the budget allows, else "". One query; none for an exempt kind or with the budget off.

    ``also_sent``: nudges that went out whose 'sent' is not written yet (the dispatcher writes it with its next
    statement): they count as sent."""
    budget = settings.NUDGE_WEEKLY_BUDGET
    if budget <= 0 or nudge.kind in EXEMPT:
        return ""
    used = _counted(nudge, now - WINDOW, sorted(set(also_sent)), budget)
    return WEEKLY_LIMIT if len(used) >= budget else ""
