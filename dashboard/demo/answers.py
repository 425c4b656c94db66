"""What demo patients answer at their check-ins, given on the clock through the answer service.

Each answer says how every item of the plan the patient holds at that moment went, what got in the way,
four self-ratings and, often, the patient's own words. An ordinary week scores at least the data's
``steady_floor``; a hard week (the patients meant to struggle) within its ``hard_range``.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from functools import partial

from compliance.forms import PLAN_PAUSED_REASON
from compliance.models import Barrier, CheckInAnswer, ComplianceLog
from compliance.services import checkin_answer_record, checkin_answerable_items
from journeys.models import BlueprintItem, CheckIn
from nudges.models import Nudge

from .clock import Clock
from .data import DemoData, JourneyPlan
from .summary import Summary

ANSWER_SEED_OFFSET = 2  # answers draw from a generator of their own
TRIES = 50  # draws of a week before settling for the last one
CHANGED_AFTER_HOURS = (2, 20)


def week_score(statuses: dict[int, tuple[str, str]]) -> float | None:
    weights = [
        ComplianceLog.SCORES[status] for status, _ in statuses.values() if status in ComplianceLog.SCORES
    ]
    return 100 * sum(weights) / len(weights) if weights else None


class Answers:
    def __init__(self, *, data: DemoData, clock: Clock, staff, summary: Summary):
        self.answers = data.answers
        self.correction_item = data.plans.correction_revision
        self.rng = random.Random(data.clinic.seed + ANSWER_SEED_OFFSET)
        self.clock = clock
        self.staff = staff  # who takes an answer by phone; may be None
        self.summary = summary
        self.texts = Counter()  # cycles through the words so neighbours read differently
        self.weeks = Counter()  # answers given so far, per journey

    def next_text(self, texts: tuple[str, ...], key: str) -> str:
        text = texts[self.texts[key] % len(texts)]
        self.texts[key] += 1
        return text

    def week_statuses(self, items: list[BlueprintItem], *, hard: bool) -> dict[int, tuple[str, str]]:
        """How each item went in one week, ``items_status`` as the answer service takes it. An item the care
        team paused is answered as paused, with the words the check-in form offers."""
        rng, answers = self.rng, self.answers
        weights = answers.hard_week if hard else answers.steady_week
        low, high = answers.hard_range
        statuses = {}
        for _ in range(TRIES):
            statuses = {}
            for item in items:
                if item.status == BlueprintItem.Status.PAUSED:
                    statuses[item.pk] = (ComplianceLog.Status.PAUSED, PLAN_PAUSED_REASON)
                    continue
                status = rng.choices(list(weights), weights=list(weights.values()))[0]
                reason = (
                    rng.choice(answers.paused_reasons[item.kind])
                    if status == ComplianceLog.Status.PAUSED
                    else ""
                )
                statuses[item.pk] = (status, reason)
            score = week_score(statuses)
            if score is not None and (low <= score <= high if hard else score >= answers.steady_floor):
                break
        return statuses

    def answer(
        self, journey_id: int, due_on, plan: JourneyPlan, *, hard: bool, side_effect: bool = False
    ) -> None:
        """The patient answers their check-in due ``due_on``, now (its request reached them first); with
        ``side_effect``, in words that tell of one (the answer service alerts the lead at once)."""
        rng, answers = self.rng, self.answers
        checkin = CheckIn.objects.get(journey_id=journey_id, due_on=due_on)
        self.clock.deliver_now(checkin.request_nudge_id)
        items = checkin_answerable_items(checkin)
        statuses = self.week_statuses(items, hard=hard)
        if hard and plan.corrected:  # what the revision will answer: that item never fitted their weeks
            for item in items:
                if item.title == self.correction_item:
                    statuses[item.pk] = (ComplianceLog.Status.MISSED, "")
        gaps = sum(
            status in (ComplianceLog.Status.MISSED, ComplianceLog.Status.PARTIAL)
            for status, _ in statuses.values()
        )
        if hard:
            barriers = rng.sample(answers.hard_barriers, rng.randint(1, 2))
            said = (
                self.next_text(answers.morning_words, "morning")
                if plan.corrected
                else self.next_text(answers.hard_week_words, "hard")
            )
        else:
            barriers = rng.sample(answers.steady_barriers, min(gaps, rng.randint(1, 2))) if gaps else []
            said = ""
            if rng.random() < answers.words_share:
                said = (
                    self.next_text(answers.mixed_week_words, "mixed")
                    if gaps >= 2
                    else self.next_text(answers.good_week_words, "good")
                )
        if side_effect:
            barriers = [Barrier.SIDE_EFFECTS]
            said = self.next_text(answers.side_effect_words, "side effect")
        week = self.weeks[journey_id]
        self.weeks[journey_id] += 1
        ratings = {
            name: max(0, min(10, base + week // 3 + rng.randint(-1, 1) - (3 if hard else 0)))
            for name, base in answers.ratings.items()
        }
        if plan.theme != "gut" and rng.random() < answers.skip_digestion_share:
            ratings["digestion"] = None  # a rating the patient chose to skip
        by_phone = self.staff is not None and not hard and rng.random() < answers.phone_share
        # A patient answers by the link only when the request reached them (sent): one held back (no consent
        # for that address, unsubscribed) is answered by phone, as the front desk rang them instead.
        if not by_phone and self.staff is not None and not self.request_reached(checkin):
            by_phone = True
        how = {"via": CheckInAnswer.Via.PHONE, "entered_by": self.staff} if by_phone else {}
        checkin_answer_record(
            checkin=checkin,
            items_status=statuses,
            where_it_failed=said,
            barriers=barriers,
            ratings=ratings,
            **how,
        )
        self.summary.answers["by phone" if by_phone else "by link"] += 1
        for status, _ in statuses.values():
            self.summary.logs[ComplianceLog.Status(status).label.lower()] += 1

        changed_at = self.clock.now + timedelta(hours=rng.randint(*CHANGED_AFTER_HOURS))
        missed = [pk for pk, (status, _) in statuses.items() if status == ComplianceLog.Status.MISSED]
        if (
            not hard
            and missed
            and changed_at < min(self.clock.end, checkin.closes_at)
            and rng.random() < answers.changed_share
        ):
            # The patient opens the link again that evening: one "not this week" was a "partly" after all.
            statuses[missed[0]] = (ComplianceLog.Status.PARTIAL, "")
            change = {
                "items_status": statuses,
                "where_it_failed": (said + answers.changed_words).strip(),
                "barriers": barriers,
                "ratings": ratings,
                **how,
            }
            self.clock.at(changed_at, partial(self.change, checkin, change))

    @staticmethod
    def request_reached(checkin: CheckIn) -> bool:
        return Nudge.objects.filter(pk=checkin.request_nudge_id, status=Nudge.Status.SENT).exists()

    def change(self, checkin: CheckIn, change: dict) -> None:
        """The patient changes their answer, now, unless their plan changed since they gave it."""
        if set(change["items_status"]) != {item.pk for item in checkin_answerable_items(checkin)}:
            return
        checkin_answer_record(checkin=checkin, **change)
        self.summary.answers["changed"] += 1
