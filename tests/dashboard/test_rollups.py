"""Insights' daily roll-ups: a range read from them equals the range counted now, a day that changes is counted
again, the fill goes chunk by chunk, and a page costs the same queries whatever the clinic or the range holds."""

import random
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from compliance.models import CheckInAnswer, ComplianceLog
from compliance.services import answer_tallies_refresh
from dashboard import figures, rollups
from dashboard.models import DailyFiguresDay
from journeys.models import Blueprint, BlueprintItem, CheckIn, Journey, Stage, StageChange
from nudges.models import Nudge
from tests.conftest import require
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # a Tuesday, noon in New York
TODAY = date(2026, 12, 1)
FIRST = TODAY - timedelta(days=45)  # 17 October: both clocks change inside the clinic's history
STATUSES = ["done", "partial", "missed", "paused"]
BARRIERS = ["cost", "time", "forgot", "travel", "side_effects"]


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def journey_for(patient, practitioner):
    journey = Journey.objects.create(patient=patient, stage=Stage.CHECK_INS)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=NOW
    )
    for position, title in enumerate(["Magnesium", "Walk", "Sleep by 11"]):
        BlueprintItem.objects.create(blueprint=blueprint, kind="lifestyle", title=title, position=position)
    return journey


def request_and_answer(journey, *, sent_at, channel, wait, statuses, barriers, n):
    """A check-in due the day its request went out (the patient's own day): answered ``wait`` later, missed
    when ``wait`` is None, or still open when it closes after now."""
    due_on = sent_at.astimezone(journey.patient.tz).date()
    nudge = Nudge.objects.create(
        patient=journey.patient,
        kind="checkin_request",
        channel=channel,
        send_at=sent_at,
        sent_at=sent_at,
        status=Nudge.Status.SENT,
        dedupe_key=f"rollup-{journey.pk}-{n}",
    )
    closes_at = sent_at + timedelta(days=3)
    answered_at = sent_at + wait if wait is not None else None
    if answered_at is not None and answered_at > NOW:
        answered_at = None
    status = CheckIn.Status.ANSWERED if answered_at else CheckIn.Status.MISSED
    if answered_at is None and closes_at > NOW:
        status = CheckIn.Status.SCHEDULED
    checkin = CheckIn.objects.create(
        journey=journey,
        due_on=due_on,
        closes_at=closes_at,
        status=status,
        answered_at=answered_at,
        request_nudge=nudge,
    )
    if answered_at is None:
        return checkin, None
    answer = CheckInAnswer.objects.create(
        checkin=checkin, patient=journey.patient, answered_at=answered_at, barriers=barriers
    )
    items = BlueprintItem.objects.filter(blueprint__journey=journey).order_by("position")
    for item, item_status in zip(items, statuses, strict=False):
        ComplianceLog.objects.create(
            answer=answer,
            checkin=checkin,
            item=item,
            status=item_status,
            paused_reason="away" if item_status == "paused" else "",
        )
    return checkin, answer


@pytest.fixture
def clinic(practitioner):
    """Five patients in New York and London, 45 days of check-ins (every two or three days, sent at any hour,
    answered after minutes to days, or missed), barriers, and journeys moving along the path."""
    rng = random.Random(23)
    waits: list[tuple[datetime, float]] = []  # (sent_at, seconds to the answer)
    zones = ["America/New_York", "Europe/London", "America/New_York", "Europe/London", "America/New_York"]
    n = 0
    for zone in zones:
        journey = journey_for(PatientFactory(time_zone=zone), practitioner)
        day = FIRST
        while day <= TODAY:
            sent_at = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), tzinfo=UTC)
            wait = rng.choice(
                [None, timedelta(minutes=rng.randrange(1, 110)), timedelta(hours=rng.uniform(2, 47)),
                 timedelta(hours=rng.uniform(48, 70))]
            )  # fmt: skip
            statuses = [rng.choice(STATUSES) for _ in range(3)]
            barriers = rng.sample(BARRIERS, rng.randrange(3))
            if sent_at <= NOW:
                n += 1
                _, answer = request_and_answer(
                    journey, sent_at=sent_at, channel=rng.choice(["email", "sms"]), wait=wait,
                    statuses=statuses, barriers=barriers, n=n,
                )  # fmt: skip
                if answer is not None:
                    waits.append((sent_at, (answer.answered_at - sent_at).total_seconds()))
            day += timedelta(days=rng.randrange(2, 4))  # never two on one of the patient's days
    answer_tallies_refresh()
    path = [Stage.INQUIRY, Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT]
    for _ in range(12):
        at = datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC) + timedelta(
            hours=rng.uniform(0, 44 * 24)
        )
        stages = path[: rng.randrange(1, len(path) + 1)]
        journey = Journey.objects.create(patient=PatientFactory(), stage=stages[-1])
        moments = [at]
        for _ in stages[1:]:
            moments.append(min(moments[-1] + timedelta(hours=rng.uniform(3, 9 * 24)), NOW))
        for i, stage in enumerate(stages):
            StageChange.objects.create(
                journey=journey,
                from_stage=stages[i - 1] if i else "",
                to_stage=stage,
                at=moments[i],
                left_at=moments[i + 1] if i + 1 < len(moments) else None,
            )
    return waits


RANGES = [
    (date(2026, 11, 4), TODAY),  # the clinic's 28 days
    (date(2026, 10, 24), date(2026, 11, 8)),  # both clocks change (London 25 Oct, New York 1 Nov)
    (date(2026, 11, 30), TODAY),
    (date(2026, 10, 17), date(2026, 11, 30)),
    (date(2026, 11, 15), date(2026, 11, 15)),
]


@pytest.mark.parametrize(("start", "end"), RANGES, ids=[f"{s}..{e}" for s, e in RANGES])
def test_a_range_read_from_the_rollups_equals_the_range_counted_now(clinic, start, end):
    assert rollups.rollups_refresh(now=NOW) == rollups.FILL_DAYS
    counted = rollups.figures_count(start=start, end=end, now=NOW)
    stored = rollups.figures_stored(start=start, end=end, now=NOW)
    assert stored is not None
    assert stored[0] == counted
    assert stored[1] == NOW


def test_the_rollups_hold_every_kind_of_figure_and_the_median_wait_is_the_buckets_median(clinic):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 10, 17), date(2026, 11, 30)
    stored = rollups.figures_stored(start=start, end=end, now=NOW)
    assert stored is not None
    got = stored[0]
    assert got.adherence.reports and got.adherence.patients == 5
    assert got.responses.sent > got.responses.answered > 0 and got.barriers
    assert any(step.entered for step in got.funnel) and any(step.median_days for step in got.funnel)
    # Independent of the database's arithmetic: the waits the fixture made, bucketed and medianed in Python.
    since, until = rollups.start_of(start), rollups.start_of(end + timedelta(days=1))
    histogram: dict[int, int] = {}
    for sent_at, seconds in clinic:
        if since <= sent_at < until:
            bucket = rollups.wait_bucket(seconds)
            histogram[bucket] = histogram.get(bucket, 0) + 1
    median = rollups.histogram_median(histogram)
    assert median is not None
    assert got.responses.median_to_answer == timedelta(minutes=median)


def test_the_median_of_a_histogram_interpolates_between_the_two_middle_values():
    assert rollups.histogram_median({}) is None
    assert rollups.histogram_median({30: 1, 120: 1, 240: 1}) == 120
    assert rollups.histogram_median({10: 1, 30: 1}) == 20
    assert rollups.histogram_median({10: 3, 30: 1}) == 10
    assert rollups.histogram_median({10: 2, 30: 2}) == 20
    assert [rollups.wait_bucket(s) for s in (59, 61, 3599, 3600, 3899, 21_599, 21_600, 22_500, 172_799, 172_800, 183_000)] == [
        0, 1, 59, 60, 60, 355, 360, 375, 2865, 2880, 3000,
    ]  # fmt: skip
    day = 86_400
    assert [rollups.stay_bucket(s) for s in (-5, 4319, 4320, 29.94 * day, 29.96 * day, 84.37 * day)] == [
        0, 0, 1, 299, 300, 840,
    ]  # fmt: skip


def test_a_day_changed_after_it_was_counted_is_counted_again_by_the_next_refresh(clinic, time_machine):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 11, 25), TODAY
    before = rollups.figures_stored(start=start, end=end, now=NOW)
    assert before is not None
    # A late answer to a check-in still open: its due day, its request's day and today all change.
    checkin = CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED).order_by("due_on").first()
    assert checkin is not None
    later = NOW + timedelta(minutes=10)
    time_machine.move_to(later, tick=False)
    CheckIn.objects.filter(pk=checkin.pk).update(status=CheckIn.Status.ANSWERED, answered_at=later)
    answer = CheckInAnswer.objects.create(
        checkin=checkin, patient=checkin.journey.patient, answered_at=later, barriers=["cost"]
    )
    item = BlueprintItem.objects.filter(blueprint__journey=checkin.journey).first()
    ComplianceLog.objects.create(answer=answer, checkin=checkin, item=item, status="done")
    answer_tallies_refresh(answer_ids=[answer.pk])
    counted = rollups.figures_count(start=start, end=end, now=later)
    assert counted != before[0]
    assert rollups.rollups_refresh(now=later) == rollups.recount_days(amend_hours=24)
    after = rollups.figures_stored(start=start, end=end, now=later)
    assert after is not None and after[0] == counted and after[1] == later


def fill_queries(monkeypatch, days: int) -> int:
    monkeypatch.setattr(rollups, "FILL_DAYS", days)
    DailyFiguresDay.objects.all().delete()
    with CaptureQueriesContext(connection) as captured:
        assert rollups.rollups_refresh(now=NOW) == days
    return len(captured.captured_queries)


def test_the_fill_runs_a_fixed_number_of_statements_per_chunk_of_31_days(monkeypatch):
    one, two, four = (fill_queries(monkeypatch, days) for days in (31, 62, 124))
    assert four - two == 2 * (two - one)


def test_a_chunk_with_rows_runs_at_most_seventeen_statements(monkeypatch, clinic):
    empty = fill_queries(monkeypatch, 0)
    # Seven counts (six off PostgreSQL), four deletes, four inserts at most (one with no rows is not sent) and
    # the chunk's savepoint and its release.
    assert fill_queries(monkeypatch, 62) - empty <= 2 * 17


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["insights"].as_of is not None  # read from the roll-ups
    return len(captured.captured_queries)


def test_a_custom_range_costs_the_same_queries_for_5_and_50_patients_and_28_and_300_days(client_for, staff):
    client = client_for(staff)
    yesterday = TODAY - timedelta(days=1)
    urls = [
        f"/insights/?start={yesterday - timedelta(days=days - 1)}&end={yesterday}" for days in (28, 300, 366)
    ]

    def seeded(patients: int, seed: int) -> list[int]:
        call_command(
            "seed_scale", patients=patients, seed=seed, now=NOW.isoformat(), chunk=10, stdout=StringIO()
        )
        rollups.rollups_refresh(now=NOW, everything=True)
        return [page_queries(client, url) for url in urls]

    small = seeded(5, 13)
    large = seeded(45, 14)
    assert small == large
    assert len(set(small)) == 1


def test_a_range_with_days_not_counted_is_counted_now_and_says_no_as_of(client_for, staff, clinic):
    client = client_for(staff)
    url = "/insights/?start=2026-11-10&end=2026-11-30"
    first = client.get(url)
    assert first.context["insights"].as_of is None  # nothing counted yet
    assert "figures as of" not in first.content.decode()
    rollups.rollups_refresh(now=NOW)
    assert client.get(url).context["insights"].as_of == NOW
    DailyFiguresDay.objects.filter(day=date(2026, 10, 25)).delete()  # in the range before it (the trend)
    again = client.get(url)
    assert again.context["insights"].as_of is None
    assert "figures as of" not in again.content.decode()
    assert again.context["insights"].adherence == first.context["insights"].adherence


def test_days_that_could_still_change_are_not_read_once_their_count_is_stale(clinic, time_machine):
    from django.conf import settings

    rollups.rollups_refresh(now=NOW)
    recent, old = (date(2026, 11, 10), date(2026, 11, 30)), (date(2026, 10, 20), date(2026, 11, 8))
    assert figures.range_figures(start=recent[0], end=recent[1]).as_of == NOW
    time_machine.move_to(NOW + timedelta(seconds=2 * settings.FIGURES_REFRESH_SECONDS + 1), tick=False)
    assert figures.range_figures(start=recent[0], end=recent[1]).as_of is None  # beat stopped: counted now
    # Days that can no longer change (and those of the range before them) are read however old their count.
    assert figures.range_figures(start=old[0], end=old[1]).as_of == NOW


def test_beat_counts_a_day_once_it_can_no_longer_change():
    rollups.rollups_refresh(now=NOW)
    open_days = rollups.recount_days(amend_hours=24)
    assert DailyFiguresDay.objects.filter(final=False).count() == open_days
    assert not DailyFiguresDay.objects.filter(
        final=False, day__lte=TODAY - timedelta(days=open_days)
    ).exists()
    assert rollups.rollups_refresh(now=NOW) == open_days


@pytest.mark.parametrize(
    ("query", "shown"),
    [("start=2025-11-30&end=2026-11-30", (date(2025, 11, 30), date(2026, 11, 30)))],  # 366 days
)
def test_insights_shows_a_range_of_up_to_366_days(client_for, staff, query, shown):
    data = client_for(staff).get(f"/insights/?{query}").context["insights"]
    assert (data.start, data.end) == shown


def test_insights_refuses_a_range_of_367_days_with_a_clear_message(client_for, staff):
    response = client_for(staff).get("/insights/?start=2025-11-29&end=2026-11-30")
    body = response.content.decode()
    assert "Choose at most 366 days between “From” and “To”." in body
    assert response.context["insights"].days == 28


@pytest.mark.django_db(transaction=True)
def test_a_refresh_is_skipped_while_another_holds_the_lock():
    require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL=postgres://…")
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [rollups.ADVISORY_LOCK])
        assert rollups.rollups_refresh(now=NOW) == 0
        assert not DailyFiguresDay.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [rollups.ADVISORY_LOCK])
        assert rollups.rollups_refresh(now=NOW) == rollups.FILL_DAYS
    finally:
        other.close()
