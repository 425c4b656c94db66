"""The demo's clock: the clinic's past is made by living it, one moment after another.

Each thing the demo does is put on the clock at the moment it happened. ``run`` holds time still at each
moment in turn (``time_machine.travel(..., tick=False)``) and calls the public services there, so every row
they write carries the moment it happened — a note signed the evening after the visit, a plan published
days ago, an answer given last Tuesday — and nothing is dated back afterwards.

Between the moments, the clinic's own periodic work runs when it falls due, as Celery beat runs it:

* the missed-check-in sweep, at the moment a check-in closes unanswered;
* the outbox, delivering the demo's own nudges when they are due (``nudge_deliver``, one at a time, so a
  database that holds other patients' messages is never touched). History was sent long ago, so while the
  clock runs, email and SMS go to transports that keep nothing: the outbox records each message as sent,
  with its words. What falls due in the last ``LEFT_TO_THE_WORKER`` before now is left in the outbox for
  the worker, so that `make run`'s mail folder shows the latest check-in links, welcomes and follow-ups —
  but visit reminders, whose visits have happened by now, which go when due like the rest of history.

Time only moves forward: an action scheduled for a moment already past is a mistake in the demo.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime, timedelta

import time_machine
from django.db.models import Max
from django.test.utils import override_settings

from compliance.detection import checkins_mark_missed
from journeys.models import CheckIn
from nudges.channels import BaseSmsBackend
from nudges.models import Kind, Nudge
from nudges.services import nudge_deliver

LEFT_TO_THE_WORKER = timedelta(days=2)
HISTORY_TRANSPORTS = {
    "MAILERS": {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}},
    "SMS_BACKEND": "dashboard.demo.clock.UnsentSms",
}


class UnsentSms(BaseSmsBackend):
    """The SMS transport while the clock runs through history: keeps nothing."""

    def send(self, *, to: str, body: str, reference: str) -> str:
        return f"demo-history-{reference}"


class Clock:
    """Run scheduled actions in time order, with the clinic's periodic work in between.

    Use as a context manager: inside it, time stands at ``start`` until ``run`` moves it on to ``end``.
    """

    def __init__(self, *, start: datetime, end: datetime):
        if start > end:
            raise ValueError("the clock starts before it ends")
        self.start, self.end = start, end
        self.now = start
        self.outbox_until = end - LEFT_TO_THE_WORKER
        self.patient_ids: set[int] = set()  # whose nudges the outbox delivers while the clock runs
        self._queue: list[tuple[datetime, int, int, Callable[[], object]]] = []
        # What the clinic's periodic work is waiting for: (moment, pk), soonest first. Rows made before the
        # clock started are not the demo's: the sweep still marks them when it runs, the outbox leaves them.
        self._closings: list[tuple[datetime, int]] = []
        self._reminders: list[tuple[datetime, int]] = []  # visit reminders: always sent when due
        self._messages: list[tuple[datetime, int]] = []  # the rest: sent when due, until ``outbox_until``
        self._seen_checkin = CheckIn.objects.aggregate(last=Max("pk"))["last"] or 0
        self._seen_nudge = Nudge.objects.aggregate(last=Max("pk"))["last"] or 0
        self._seq = 0
        self._travel = None
        self._traveller = None
        self._quiet = override_settings(**HISTORY_TRANSPORTS)

    def __enter__(self) -> Clock:
        self._travel = time_machine.travel(self.start, tick=False)
        self._traveller = self._travel.start()
        self._quiet.enable()
        return self

    def __exit__(self, *exc) -> None:
        if self._quiet is not None:
            self._quiet.disable()
            self._quiet = None
        self._travel.stop()

    def at(self, moment: datetime, action: Callable[[], object], *, order: int = 0) -> None:
        """Do ``action`` at ``moment``; actions at the same moment run by ``order``, then as scheduled."""
        if moment < self.now:
            raise ValueError(
                f"{moment:%Y-%m-%d %H:%M} has passed (the clock is at {self.now:%Y-%m-%d %H:%M})"
            )
        if moment > self.end:
            raise ValueError(f"{moment:%Y-%m-%d %H:%M} is after the end of the demo's history")
        heapq.heappush(self._queue, (moment, order, self._seq, action))
        self._seq += 1

    def run(self) -> None:
        """Every scheduled action at its moment, then on to ``end``; after this, the transports are the
        clinic's own again (what happens now is the present, not history)."""
        while self._queue:
            moment, _, _, action = heapq.heappop(self._queue)
            self._catch_up(moment)
            action()
        self._catch_up(self.end)
        self._quiet.disable()
        self._quiet = None

    def _move(self, moment: datetime) -> None:
        if moment > self.now:
            self._traveller.move_to(moment, tick=False)
            self.now = moment

    def _catch_up(self, moment: datetime) -> None:
        """The sweep and the outbox for everything due up to ``moment``, each at its own moment."""
        self._learn()
        while True:
            due = [
                first
                for first in (
                    _first(self._closings, until=moment),
                    _first(self._reminders, until=moment),
                    _first(self._messages, until=min(moment, self.outbox_until)),
                )
                if first is not None
            ]
            if not due:
                break
            self._move(min(due))
            if _pop_due(self._closings, until=self.now) and checkins_mark_missed():
                self._learn()  # the sweep schedules a gentle follow-up
            self._deliver(
                _pop_due(self._reminders, until=self.now)
                + _pop_due(self._messages, until=min(self.now, self.outbox_until))
            )
        self._move(moment)

    def _deliver(self, nudge_ids: list[int]) -> None:
        if not nudge_ids:
            return
        unsent = [nudge_id for nudge_id in nudge_ids if not nudge_deliver(nudge_id=nudge_id)]
        # Held back for quiet hours (rather than withdrawn or suppressed): it falls due again later.
        for nudge_id, kind, send_at in Nudge.objects.filter(
            pk__in=unsent, status=Nudge.Status.PENDING
        ).values_list("pk", "kind", "send_at"):
            if send_at <= self.now:
                raise RuntimeError(
                    f"the outbox left nudge {nudge_id} due: the demo's clock would stand still"
                )
            self._expect(nudge_id, kind, send_at)

    def _expect(self, nudge_id: int, kind: str, send_at: datetime) -> None:
        heapq.heappush(
            self._reminders if kind == Kind.VISIT_REMINDER else self._messages, (send_at, nudge_id)
        )

    def _learn(self) -> None:
        """Note the demo's nudges made since last time (when each falls due) and, when check-ins were
        scheduled with them, the check-ins (when each closes)."""
        scheduled = False
        for pk, patient_id, kind, send_at, status in Nudge.objects.filter(
            pk__gt=self._seen_nudge
        ).values_list("pk", "patient_id", "kind", "send_at", "status"):
            self._seen_nudge = max(self._seen_nudge, pk)
            scheduled = scheduled or kind == Kind.CHECKIN_REQUEST
            if status == Nudge.Status.PENDING and patient_id in self.patient_ids:
                self._expect(pk, kind, send_at)
        if not scheduled:
            return
        for pk, closes_at, status in CheckIn.objects.filter(pk__gt=self._seen_checkin).values_list(
            "pk", "closes_at", "status"
        ):
            self._seen_checkin = max(self._seen_checkin, pk)
            if status == CheckIn.Status.SCHEDULED:
                heapq.heappush(self._closings, (closes_at, pk))

    def deliver_now(self, nudge_id: int | None) -> None:
        """Deliver one of the demo's nudges now if it is due and still waiting: a patient answers a check-in
        only once its request has reached them, even in the last days left to the worker."""
        if nudge_id is not None:
            nudge_deliver(nudge_id=nudge_id)


def _first(heap: list[tuple[datetime, int]], *, until: datetime) -> datetime | None:
    return heap[0][0] if heap and heap[0][0] <= until else None


def _pop_due(heap: list[tuple[datetime, int]], *, until: datetime) -> list[int]:
    due = []
    while heap and heap[0][0] <= until:
        due.append(heapq.heappop(heap)[1])
    return due
