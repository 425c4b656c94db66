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
  with its words. What falls due in the last ``QUIET_UNTIL_BEFORE_NOW`` before now is left in the outbox
  for the worker, so that `make run`'s mail folder shows the latest check-in links, welcomes and follow-ups.

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
from nudges.models import Nudge
from nudges.services import nudge_deliver

QUIET_UNTIL_BEFORE_NOW = timedelta(days=2)
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
        self.outbox_until = end - QUIET_UNTIL_BEFORE_NOW
        self.patient_ids: set[int] = set()  # whose nudges the outbox delivers while the clock runs
        self._queue: list[tuple[datetime, int, int, Callable[[], object]]] = []
        # What the clinic's periodic work is waiting for: (moment, pk), soonest first. Rows made before the
        # clock started are not the demo's: the sweep still marks them when it runs, the outbox leaves them.
        self._closings: list[tuple[datetime, int]] = []
        self._sendings: list[tuple[datetime, int]] = []
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
        sending_until = min(moment, self.outbox_until)
        while True:
            closing = self._closings[0][0] if self._closings and self._closings[0][0] <= moment else None
            sending = (
                self._sendings[0][0] if self._sendings and self._sendings[0][0] <= sending_until else None
            )
            if closing is None and sending is None:
                break
            if sending is None or (closing is not None and closing <= sending):
                self._move(closing)
                while self._closings and self._closings[0][0] <= self.now:
                    heapq.heappop(self._closings)
                checkins_mark_missed()
            else:
                self._move(sending)
                due = []
                while self._sendings and self._sendings[0][0] <= self.now:
                    due.append(heapq.heappop(self._sendings)[1])
                for nudge_id in due:
                    nudge_deliver(nudge_id=nudge_id)
                # Held back for quiet hours: it is due again later.
                for nudge_id, send_at in Nudge.objects.filter(
                    pk__in=due, status=Nudge.Status.PENDING
                ).values_list("pk", "send_at"):
                    if send_at <= self.now:
                        raise RuntimeError(
                            f"the outbox left nudge {nudge_id} due: the demo's clock would stand still"
                        )
                    heapq.heappush(self._sendings, (send_at, nudge_id))
            self._learn()
        self._move(moment)

    def _learn(self) -> None:
        """Note the check-ins and the demo's nudges made since last time: when each closes or falls due."""
        for pk, closes_at, status in CheckIn.objects.filter(pk__gt=self._seen_checkin).values_list(
            "pk", "closes_at", "status"
        ):
            self._seen_checkin = max(self._seen_checkin, pk)
            if status == CheckIn.Status.SCHEDULED:
                heapq.heappush(self._closings, (closes_at, pk))
        for pk, patient_id, send_at, status in Nudge.objects.filter(pk__gt=self._seen_nudge).values_list(
            "pk", "patient_id", "send_at", "status"
        ):
            self._seen_nudge = max(self._seen_nudge, pk)
            if status == Nudge.Status.PENDING and patient_id in self.patient_ids:
                heapq.heappush(self._sendings, (send_at, pk))

    def deliver_now(self, nudge_id: int | None) -> None:
        """Deliver one of the demo's nudges now if it is due and still waiting: a patient answers a check-in
        only once its request has reached them, even in the last days left to the worker."""
        if nudge_id is not None:
            nudge_deliver(nudge_id=nudge_id)
