"""Insights' daily roll-ups: a range read from them equals the range counted now, a day that changes is counted
again, the fill goes chunk by chunk, and a page costs the same queries whatever the clinic or the range holds."""

import random
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import CheckInAnswer, ComplianceLog
from compliance.services import answer_tallies_refresh
from dashboard import figures, rollups
from dashboard.models import (
    DailyFigures,
    DailyFiguresDay,
    DailyLengths,
    DailyPatients,
    MonthlyFigures,
    MonthlyLengths,
    MonthlyPatients,
    MonthlyRollup,
)
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


def request_and_answer(journey, *, sent_at, channel, wait, statuses, barriers, n, now=NOW):
    """A check-in due the day its request went out (the patient's own day): answered ``wait`` later, missed
    when ``wait`` is None, or still open when it closes after ``now``."""
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
    if answered_at is not None and answered_at > now:
        answered_at = None
    status = CheckIn.Status.ANSWERED if answered_at else CheckIn.Status.MISSED
    if answered_at is None and closes_at > now:
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


def history(practitioner, *, first, last, now, zones, moves=12, seed=23):
    """Patients in ``zones`` with check-ins from ``first`` to ``last`` (every two or three days, sent at any
    hour, answered after minutes to days, or missed), barriers, and ``moves`` journeys moving along the path.
    Returns each answer's (sent_at, seconds to the answer)."""
    rng = random.Random(seed)
    waits: list[tuple[datetime, float]] = []
    n = Nudge.objects.count()
    for zone in zones:
        journey = journey_for(PatientFactory(time_zone=zone), practitioner)
        day = first
        while day <= last:
            sent_at = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), tzinfo=UTC)
            wait = rng.choice(
                [None, timedelta(minutes=rng.randrange(1, 110)), timedelta(hours=rng.uniform(2, 47)),
                 timedelta(hours=rng.uniform(48, 70))]
            )  # fmt: skip
            statuses = [rng.choice(STATUSES) for _ in range(3)]
            barriers = rng.sample(BARRIERS, rng.randrange(3))
            if sent_at <= now:
                n += 1
                _, answer = request_and_answer(
                    journey, sent_at=sent_at, channel=rng.choice(["email", "sms"]), wait=wait,
                    statuses=statuses, barriers=barriers, n=n, now=now,
                )  # fmt: skip
                if answer is not None:
                    waits.append((sent_at, (answer.answered_at - sent_at).total_seconds()))
            day += timedelta(days=rng.randrange(2, 4))  # never two on one of the patient's days
    answer_tallies_refresh()
    path = [Stage.INQUIRY, Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT]
    hours = ((last - first).days - 1) * 24
    for _ in range(moves):
        at = datetime.combine(first, datetime.min.time(), tzinfo=UTC) + timedelta(hours=rng.uniform(0, hours))
        stages = path[: rng.randrange(1, len(path) + 1)]
        journey = Journey.objects.create(patient=PatientFactory(), stage=stages[-1])
        moments = [at]
        for _ in stages[1:]:
            moments.append(min(moments[-1] + timedelta(hours=rng.uniform(3, 9 * 24)), now))
        for i, stage in enumerate(stages):
            StageChange.objects.create(
                journey=journey,
                from_stage=stages[i - 1] if i else "",
                to_stage=stage,
                at=moments[i],
                left_at=moments[i + 1] if i + 1 < len(moments) else None,
            )
    return waits


@pytest.fixture
def clinic(practitioner):
    """Five patients in New York and London, 45 days of check-ins, barriers, and journeys moving along the
    path."""
    zones = ["America/New_York", "Europe/London", "America/New_York", "Europe/London", "America/New_York"]
    return history(practitioner, first=FIRST, last=TODAY, now=NOW, zones=zones)


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


def test_a_chunk_with_rows_runs_at_most_eighteen_statements_and_the_months_fifteen(monkeypatch, clinic):
    empty = fill_queries(monkeypatch, 0)
    # A chunk: seven counts (six off PostgreSQL), four deletes and the removal of its months' markers, four
    # inserts at most (one with no rows is not sent), the savepoint and its release. Then the months (October
    # and November here): their markers read, four deletes, three reads, four inserts at most, the savepoint
    # and its release.
    assert fill_queries(monkeypatch, 62) - empty <= 2 * 18 + 15


def test_the_months_are_summed_in_the_same_statements_however_many_there_are(monkeypatch, clinic):
    monkeypatch.setattr(rollups, "FILL_DAYS", 124)  # 31 July to today: August to November are complete
    rollups.rollups_refresh(now=NOW)

    def refresh_without(months: list[date]) -> tuple[int, list[date]]:
        MonthlyRollup.objects.filter(month__in=months).delete()
        with CaptureQueriesContext(connection) as captured:
            rollups.rollups_refresh(now=NOW)
        return len(captured.captured_queries), list(
            MonthlyRollup.objects.order_by("month").values_list("month", flat=True)
        )

    months = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
    one = refresh_without([])  # November alone: its last days can still change, so they are counted again
    four = refresh_without(months[:3])
    assert one == four == (one[0], months)


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


# --- Month roll-ups: a range's whole months read from month rows, its other days from day rows --------------

EDGES = [  # (request sent, answered after): near the clinic's midnight at a month's end, across a clock change
    (datetime(2026, 9, 1, 3, 59, tzinfo=UTC), timedelta(minutes=20)),  # 23:59 on 31 August in New York
    (datetime(2026, 10, 1, 4, 0, tzinfo=UTC), timedelta(minutes=3)),  # midnight on 1 October
    (
        datetime(2026, 11, 1, 3, 30, tzinfo=UTC),
        timedelta(minutes=45),
    ),  # 31 October 23:30, answered on 1 November
    (datetime(2026, 11, 1, 5, 40, tzinfo=UTC), timedelta(minutes=30)),  # 01:40 EDT, answered at 01:10 EST
    (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), timedelta(minutes=80)),  # 01:30 EST: the hour that came twice
]


@pytest.fixture
def long_clinic(practitioner):
    """Three patients with check-ins from 20 June to today, twenty journeys moving, and requests, answers and
    a move at the clinic's month edges (New York)."""
    waits = history(
        practitioner,
        first=date(2026, 6, 20),
        last=TODAY,
        now=NOW,
        zones=["America/New_York", "Europe/London", "America/New_York"],
        moves=20,
        seed=29,
    )
    for i, (sent_at, wait) in enumerate(EDGES):
        journey = journey_for(PatientFactory(time_zone="America/New_York"), practitioner)
        request_and_answer(
            journey, sent_at=sent_at, channel="sms", wait=wait, statuses=["done", "missed"], barriers=["cost"],
            n=10_000 + i,
        )  # fmt: skip
    answer_tallies_refresh()
    journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.DISCOVERY)
    StageChange.objects.create(
        journey=journey,
        from_stage="",
        to_stage=Stage.INQUIRY,
        at=datetime(2026, 10, 1, 3, 30, tzinfo=UTC),  # 30 September 23:30
        left_at=datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 1 November 01:30 EDT
    )
    StageChange.objects.create(
        journey=journey,
        from_stage=Stage.INQUIRY,
        to_stage=Stage.DISCOVERY,
        at=datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    )
    return waits


LONG_RANGES = [
    (date(2026, 7, 15), date(2026, 11, 20)),  # across month edges: August to October whole
    (date(2026, 9, 3), date(2026, 9, 27)),  # inside one month
    (date(2026, 8, 1), date(2026, 10, 31)),  # whole months only, and whole months before it
    (
        date(2026, 10, 1),
        date(2026, 11, 30),
    ),  # the clocks change on 1 November; November's last days still open
    (date(2026, 10, 25), date(2026, 11, 8)),  # both clocks change, no whole month
    (date(2025, 12, 1), date(2026, 11, 30)),  # a year of whole months
    (date(2026, 6, 20), TODAY),  # ending today: December, still growing, from its day
]


def stored_months(start: date, end: date) -> list[date]:
    return list(
        MonthlyRollup.objects.filter(month__gte=start, month__lte=end)
        .order_by("month")
        .values_list("month", flat=True)
    )


@pytest.mark.parametrize(("start", "end"), LONG_RANGES, ids=[f"{s}..{e}" for s, e in LONG_RANGES])
def test_a_range_read_through_the_month_rollups_equals_the_range_counted_now(long_clinic, start, end):
    rollups.rollups_refresh(now=NOW)
    whole = rollups.whole_months(start, end, today=TODAY)
    assert set(whole) <= set(stored_months(start, end))
    counted = rollups.figures_count(start=start, end=end, now=NOW)
    stored = rollups.figures_stored(start=start, end=end, now=NOW)
    assert stored is not None
    assert stored[0] == counted
    assert stored[1] == NOW
    assert counted.adherence.reports and counted.responses.sent


def test_whole_months_are_read_from_the_month_rows_and_the_other_days_from_the_day_rows(long_clinic):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 8, 1), date(2026, 10, 31)  # the range before it: May to July
    counted = rollups.figures_count(start=start, end=end, now=NOW)
    inside = rollups.figures_count(start=date(2026, 9, 3), end=date(2026, 9, 27), now=NOW)
    # The day rows of whole months, gone: all of them before the range, all but adherence (read by week) in it.
    before = Q(day__gte=date(2026, 5, 1), day__lte=date(2026, 7, 31))
    DailyFigures.objects.filter(
        before | Q(day__gte=start, day__lte=end) & ~Q(measure=rollups.ADHERENCE)
    ).delete()
    for model in (DailyLengths, DailyPatients):
        model.objects.filter(before | Q(day__gte=start, day__lte=end)).delete()
    stored = rollups.figures_stored(start=start, end=end, now=NOW)
    assert stored is not None and stored[0] == counted
    assert counted.adherence.previous_score is not None and counted.responses.median_to_answer is not None
    # A range inside September is read from its days, now gone.
    days = rollups.figures_stored(start=date(2026, 9, 3), end=date(2026, 9, 27), now=NOW)
    assert days is not None and days[0] != inside


def test_a_month_holds_the_sums_of_its_days_and_its_last_day(long_clinic):
    rollups.rollups_refresh(now=NOW)
    october = date(2026, 10, 1)
    marker = MonthlyRollup.objects.get(month=october)
    assert (marker.through, marker.counted_at) == (date(2026, 10, 31), NOW)
    days = Q(day__gte=october, day__lte=marker.through)
    assert {
        (measure, key): n
        for measure, key, n in MonthlyFigures.objects.filter(month=october).values_list("measure", "key", "n")
    } == {
        (measure, key): n
        for measure, key, n in DailyFigures.objects.filter(days)
        .values("measure", "key")
        .annotate(total=Sum("n"))
        .values_list("measure", "key", "total")
    }
    assert {
        (measure, key, length): n
        for measure, key, length, n in MonthlyLengths.objects.filter(month=october).values_list(
            "measure", "key", "length", "n"
        )
    } == {
        (measure, key, length): n
        for measure, key, length, n in DailyLengths.objects.filter(days)
        .values("measure", "key", "length")
        .annotate(total=Sum("n"))
        .values_list("measure", "key", "length", "total")
    }
    bits = 0
    for day_bits in DailyPatients.objects.filter(days).values_list("bits", flat=True):
        bits |= int.from_bytes(bytes(day_bits), "little")
    month_bits = MonthlyPatients.objects.get(month=october).bits
    assert (
        int.from_bytes(bytes(month_bits), "little") == bits and bits.bit_count() == 5
    )  # the three, and two at the edges
    # The answer given at 23:30 on 31 October (New York) is October's; the request at 01:40 on 1 November is not.
    edge = DailyFigures.objects.get(day=date(2026, 10, 31), measure=rollups.SENT, key="sms:23")
    assert MonthlyFigures.objects.get(month=october, measure=rollups.SENT, key="sms:23").n >= edge.n >= 1


def test_a_late_answer_on_a_day_of_a_past_month_changes_that_month_at_the_next_refresh(
    long_clinic, time_machine
):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 10, 1), date(2026, 11, 30)
    before = rollups.figures_stored(start=start, end=end, now=NOW)
    assert before is not None
    october = MonthlyRollup.objects.get(month=date(2026, 10, 1))
    # A check-in of late November, still open, answered now (in December): November's days change.
    checkin = (
        CheckIn.objects.filter(status=CheckIn.Status.SCHEDULED, due_on__lte=end).order_by("due_on").first()
    )
    assert checkin is not None and checkin.due_on.month == 11
    later = NOW + timedelta(minutes=10)
    time_machine.move_to(later, tick=False)
    CheckIn.objects.filter(pk=checkin.pk).update(status=CheckIn.Status.ANSWERED, answered_at=later)
    answer = CheckInAnswer.objects.create(
        checkin=checkin, patient=checkin.journey.patient, answered_at=later, barriers=["time"]
    )
    item = BlueprintItem.objects.filter(blueprint__journey=checkin.journey).first()
    ComplianceLog.objects.create(answer=answer, checkin=checkin, item=item, status="done")
    answer_tallies_refresh(answer_ids=[answer.pk])
    counted = rollups.figures_count(start=start, end=end, now=later)
    assert counted != before[0]
    rollups.rollups_refresh(now=later)
    after = rollups.figures_stored(start=start, end=end, now=later)
    assert after is not None and after[0] == counted
    assert MonthlyRollup.objects.get(month=date(2026, 11, 1)).counted_at == later
    assert MonthlyRollup.objects.get(month=date(2026, 10, 1)) == october  # not summed again
    assert MonthlyRollup.objects.get(month=date(2026, 10, 1)).counted_at == NOW


def test_a_day_of_a_past_month_counted_again_sums_its_month_again(long_clinic, time_machine):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 8, 1), date(2026, 10, 31)
    before = rollups.figures_stored(start=start, end=end, now=NOW)
    assert before is not None
    # A move recorded for a September day long final (an import): unseen until that day is counted again.
    journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.DISCOVERY)
    StageChange.objects.create(
        journey=journey,
        from_stage=Stage.INQUIRY,
        to_stage=Stage.DISCOVERY,
        at=datetime(2026, 9, 10, 15, tzinfo=UTC),
    )
    later = NOW + timedelta(minutes=10)
    time_machine.move_to(later, tick=False)
    counted = rollups.figures_count(start=start, end=end, now=later)
    assert counted != before[0]
    rollups.rollups_refresh(now=later)
    unchanged = rollups.figures_stored(start=start, end=end, now=later)
    assert unchanged is not None and unchanged[0] == before[0]
    DailyFiguresDay.objects.filter(day=date(2026, 9, 10)).delete()  # that day, to be counted again
    assert rollups.rollups_refresh(now=later) == rollups.recount_days(amend_hours=24) + 1
    after = rollups.figures_stored(start=start, end=end, now=later)
    assert after is not None and after[0] == counted
    assert MonthlyRollup.objects.get(month=date(2026, 9, 1)).counted_at == later
    assert MonthlyRollup.objects.get(month=date(2026, 8, 1)).counted_at == NOW
    assert rollups.rollups_refresh(now=later, everything=True) == rollups.FILL_DAYS
    everything = rollups.figures_stored(start=start, end=end, now=later)
    assert everything is not None and everything[0] == counted
    assert set(MonthlyRollup.objects.values_list("counted_at", flat=True)) == {later}


def test_the_month_still_growing_is_read_from_its_days_until_it_is_complete(
    long_clinic, practitioner, time_machine
):
    rollups.rollups_refresh(now=NOW)
    journey = journey_for(PatientFactory(time_zone="Europe/London"), practitioner)
    sent = [0]

    def grow(now: datetime, *days: int) -> None:
        time_machine.move_to(now, tick=False)
        for day in days:
            sent[0] += 1
            request_and_answer(
                journey, sent_at=datetime(2026, 12, day, 9, 15, tzinfo=UTC), channel="email",
                wait=timedelta(minutes=25 + day), statuses=["done", "partial"], barriers=["forgot"],
                n=20_000 + sent[0], now=now,
            )  # fmt: skip
        answer_tallies_refresh()
        rollups.rollups_refresh(now=now)

    december, start = date(2026, 12, 1), date(2026, 11, 1)
    for now, days in [
        (datetime(2026, 12, 12, 17, tzinfo=UTC), (2, 5, 9, 11)),
        (datetime(2026, 12, 14, 17, tzinfo=UTC), (13, 14)),
        (datetime(2027, 1, 2, 17, tzinfo=UTC), (20, 31)),
    ]:
        grow(now, *days)
        end = timezone.localdate(now, rollups.clinic_zone())
        if end.month == 1:
            end = date(2026, 12, 31)
        counted = rollups.figures_count(start=start, end=end, now=now)
        stored = rollups.figures_stored(start=start, end=end, now=now)
        assert stored is not None and stored[0] == counted
        december_sent = sum(
            rate.sent for rate in rollups.figures_count(start=december, end=end, now=now).responses.by_channel
        )
        assert december_sent == sent[0]
        assert MonthlyRollup.objects.filter(month=december).exists() == (now.year == 2027)
    assert MonthlyRollup.objects.get(month=december).through == date(2026, 12, 31)


def test_a_month_is_stored_once_and_a_refresh_that_counts_none_of_its_days_stores_nothing(time_machine):
    later = datetime(2026, 12, 20, 17, tzinfo=UTC)  # November's days are all final
    time_machine.move_to(later, tick=False)
    rollups.rollups_refresh(now=later)
    months = list(MonthlyRollup.objects.order_by("month").values_list("pk", "month", "through", "counted_at"))
    assert len(months) == 24  # December 2024 (the fill starts on 18 November) to November 2026
    assert (months[0][1], months[-1][1]) == (date(2024, 12, 1), date(2026, 11, 1))
    assert all(through == rollups.month_last(month) for _, month, through, _ in months)
    with CaptureQueriesContext(connection) as captured:
        rollups.rollups_refresh(now=later + timedelta(minutes=10))
    stored = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("INSERT") and "dashboard_monthly" in q["sql"]
    ]
    assert stored == []
    assert (
        list(MonthlyRollup.objects.order_by("month").values_list("pk", "month", "through", "counted_at"))
        == months
    )


def test_a_second_refresh_sums_again_only_the_month_whose_days_it_counted_again():
    rollups.rollups_refresh(now=NOW)
    months = dict(MonthlyRollup.objects.values_list("month", "pk"))
    later = NOW + timedelta(minutes=10)
    rollups.rollups_refresh(now=later)
    again = dict(MonthlyRollup.objects.values_list("month", "pk"))
    november = date(2026, 11, 1)  # its last days can still change
    assert again.keys() == months.keys()
    assert {month for month in months if again[month] != months[month]} == {november}
    assert MonthlyRollup.objects.get(month=november).counted_at == later


READS = [
    (TODAY, TODAY),
    (date(2026, 11, 3), date(2026, 11, 30)),  # 28 days, inside a month
    (date(2026, 10, 1), date(2026, 10, 31)),  # one whole month
    (date(2026, 2, 4), date(2026, 11, 30)),  # 300 days
    (date(2025, 11, 30), date(2026, 11, 30)),  # 366 days
]


@pytest.mark.parametrize(("start", "end"), READS, ids=[f"{s}..{e}" for s, e in READS])
def test_a_range_is_read_in_seven_queries_whatever_its_length(
    long_clinic, django_assert_num_queries, start, end
):
    rollups.rollups_refresh(now=NOW)
    with django_assert_num_queries(7):
        stored = rollups.figures_stored(start=start, end=end, now=NOW)
    assert stored is not None


def day_lengths(start: date, end: date) -> dict[tuple[str, str], dict[int, int]]:
    """The range's histograms summed from its own day rows, and nothing else."""
    lengths: dict[tuple[str, str], dict[int, int]] = {}
    for measure, key, length, n in DailyLengths.objects.filter(day__gte=start, day__lte=end).values_list(
        "measure", "key", "length", "n"
    ):
        histogram = lengths.setdefault((measure, key), {})
        histogram[length] = histogram.get(length, 0) + n
    return lengths


def test_a_histogram_read_as_months_less_their_days_outside_the_range_is_the_sum_of_its_days(long_clinic):
    rollups.rollups_refresh(now=NOW)
    stored = rollups.months_stored(date(2025, 11, 1), TODAY, today=TODAY)
    assert stored == {date(2025 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(13)}  # to November
    rng = random.Random(5)
    subtracted = 0
    for _ in range(60):
        start = date(2026, 6, 1) + timedelta(days=rng.randrange(180))
        end = min(TODAY, start + timedelta(days=rng.randrange(120)))
        read = rollups.reading(start, end, stored=stored, subtract=True)
        subtracted += read.outside != Q(pk__in=[])
        assert rollups.lengths_stored(start=start, end=end, stored=stored) == day_lengths(start, end), (
            start,
            end,
        )
    assert subtracted > 20  # most ranges start or end in a month they cover more than half of
    # And the figures of ranges cut that way are those counted now.
    for start, end in [(date(2026, 7, 5), date(2026, 9, 25)), (date(2026, 9, 2), date(2026, 9, 29))]:
        assert rollups.reading(start, end, stored=stored, subtract=True).outside != Q(pk__in=[])
        stored_figures = rollups.figures_stored(start=start, end=end, now=NOW)
        assert stored_figures is not None
        assert stored_figures[0] == rollups.figures_count(start=start, end=end, now=NOW)


def test_a_month_whose_day_was_counted_again_without_it_is_read_from_its_days(long_clinic, time_machine):
    rollups.rollups_refresh(now=NOW)
    start, end = date(2026, 8, 1), date(2026, 10, 31)
    september = MonthlyRollup.objects.get(month=date(2026, 9, 1))
    # A day of September counted again by a refresh that did not sum its month again (one cut short, or a
    # worker still running code from before the month roll-ups): the month's marker outlived its day's count.
    journey = Journey.objects.create(patient=PatientFactory(), stage=Stage.DISCOVERY)
    StageChange.objects.create(
        journey=journey,
        from_stage=Stage.INQUIRY,
        to_stage=Stage.DISCOVERY,
        at=datetime(2026, 9, 10, 15, tzinfo=UTC),
    )
    later = NOW + timedelta(minutes=10)
    time_machine.move_to(later, tick=False)
    rollups._store(date(2026, 9, 10), date(2026, 9, 10), now=later, final_before=TODAY - timedelta(days=11))
    september.save(force_insert=True)
    counted = rollups.figures_count(start=start, end=end, now=later)
    assert date(2026, 9, 1) not in rollups.months_stored(start, end, today=TODAY)
    assert date(2026, 8, 1) in rollups.months_stored(start, end, today=TODAY)
    stored = rollups.figures_stored(start=start, end=end, now=later)
    assert stored is not None and stored[0] == counted
    rollups.rollups_refresh(now=later)  # and the next refresh sums it again
    assert date(2026, 9, 1) in rollups.months_stored(start, end, today=TODAY)
