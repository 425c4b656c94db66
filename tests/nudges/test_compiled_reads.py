"""The outbox's and the review queue's fixed reads compiled once per thread: the review queue's page, the
counts of what waits for review and of each tab as it opens, the wording in force, and each keyset read of a
tab without filters (accounts.paging.keyset_page(compiled=...)). Each reads what the ORM's query reads, by the
same SQL, and sees rows added after it was compiled."""

import itertools
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from accounts.paging import Cursor, capped_count, keyset_page
from nudges import rendering, selectors, services
from nudges.models import Kind, MessageTemplate, Nudge
from patients.models import Channel, display_name_of
from patients.services import care_team_set_lead
from tests.factories import PatientFactory, UserFactory
from tests.nudges.test_pages import NOON_NY, add_nudges, make

pytestmark = pytest.mark.django_db


def fields(nudge) -> tuple:
    """What a row shows of its nudge and patient: of a ``Nudge``, or of an outbox row (``outbox_rows``)."""
    if not isinstance(nudge, Nudge):
        name = display_name_of(
            nudge.patient__first_name, nudge.patient__last_name, nudge.patient__preferred_name
        )
        return (
            nudge.pk,
            nudge.status,
            nudge.send_at,
            nudge.kind,
            nudge.patient_id,
            name,
            nudge.patient__time_zone,
        )
    patient = nudge.patient
    return (
        nudge.pk,
        nudge.status,
        nudge.send_at,
        nudge.kind,
        patient.pk,
        patient.display_name,
        patient.time_zone,
    )


def seven_cursors(rows) -> list[Cursor]:
    """Cursors over a tab's rows, five a page: the first page, the next, back, the one after, the last, and after
    and before a row that has gone since (a failed nudge, in every tab but Upcoming)."""
    first = keyset_page(rows, Cursor(), per_page=5)
    middle = keyset_page(rows, Cursor(after=first.next_cursor), per_page=5)
    gone = make(PatientFactory(), "failed", reviewed_at=NOON_NY)
    gone_id = gone.pk
    gone.delete()
    return [
        Cursor(),
        Cursor(after=first.next_cursor),
        Cursor(before=middle.previous_cursor),
        Cursor(after=middle.next_cursor),
        Cursor(last=True),
        Cursor(after=gone_id),  # the row has gone: the last page
        Cursor(before=gone_id),  # the row has gone: the first page
    ]


def test_the_review_queue_reads_the_orms_rows_by_the_orms_sql(staff):
    add_nudges(20, staff)
    with CaptureQueriesContext(connection) as orm:
        expected = list(selectors.review_list()[: selectors.REVIEW_LIMIT + 1])
    with CaptureQueriesContext(connection) as compiled:
        got = selectors.review_oldest()
    assert [fields(nudge) for nudge in got] == [fields(nudge) for nudge in expected] and len(got) == 8
    assert [query["sql"] for query in compiled] == [query["sql"] for query in orm]
    make(PatientFactory(), "failed", send_at=NOON_NY - timedelta(days=9))  # added after it was compiled
    assert fields(selectors.review_oldest()[0]) == fields(selectors.review_list()[0])
    assert len(selectors.review_oldest()) == 9


def test_the_review_queue_reads_one_more_than_a_page(staff):
    add_nudges(5 * (selectors.REVIEW_LIMIT + 3) // 2, staff)  # more than a page of failed and unknown
    assert len(selectors.review_oldest()) == selectors.REVIEW_LIMIT + 1


def orm_review_counts(cap: int) -> tuple[int, int]:
    """The counts as the ORM's aggregate took them before they were written once."""
    waiting = Nudge.objects.needs_review().order_by("send_at", "id").values("status")[: cap + 1]
    counts = waiting.aggregate(
        failed=Count("status", filter=Q(status=Nudge.Status.FAILED)),
        unknown=Count("status", filter=Q(status=Nudge.Status.UNKNOWN)),
    )
    return counts["failed"], counts["unknown"]


@pytest.mark.parametrize("cap", [selectors.REVIEW_COUNT_CAP, 6, 3])
def test_the_to_review_counts_are_the_orms(staff, cap):
    add_nudges(5 * 5, staff)  # five failed and five unknown
    make(PatientFactory(), "failed", reviewed_at=NOON_NY)  # looked at already: not counted
    counts = selectors.review_counts(cap=cap)
    assert (counts.failed, counts.unknown) == orm_review_counts(cap)
    assert counts.total == min(10, cap + 1)


@pytest.mark.parametrize("view", [view for view, _ in selectors.View.choices])
def test_each_tabs_count_is_the_capped_count_of_its_rows(staff, view):
    add_nudges(4 * 5, staff)
    assert selectors.tab_count(view) == capped_count(selectors.outbox(view=view), selectors.TAB_COUNT_CAP)
    add_nudges(5, staff)  # counted by the same SQL, compiled before they were added
    assert selectors.tab_count(view) == capped_count(selectors.outbox(view=view), selectors.TAB_COUNT_CAP)


def test_a_tabs_count_stops_at_its_cap():
    patient = PatientFactory()
    keys = itertools.count()
    upcoming = dict(
        kind=Kind.CHECKIN_REQUEST, channel=Channel.EMAIL, send_at=NOON_NY, status=Nudge.Status.PENDING
    )
    Nudge.objects.bulk_create(
        Nudge(patient=patient, dedupe_key=f"cap:{next(keys)}", **upcoming)
        for _ in range(selectors.TAB_COUNT_CAP + 2)
    )
    assert selectors.tab_count("upcoming") == (selectors.TAB_COUNT_CAP, True)
    assert selectors.tab_count("history") == (0, False)


def test_the_wording_in_force_is_read_anew_each_time():
    key = (Kind.CHECKIN_REQUEST, Channel.EMAIL)
    before = rendering.active_templates()
    assert (
        before == {(t.kind, t.channel): t for t in MessageTemplate.objects.filter(active=True)}
        and key in before
    )
    MessageTemplate.objects.filter(kind=key[0], channel=key[1]).update(subject="A new subject")
    assert rendering.active_templates()[key].subject == "A new subject"
    MessageTemplate.objects.filter(kind=key[0], channel=key[1]).update(active=False)
    assert set(rendering.active_templates()) == set(before) - {key}


def page_of(page) -> tuple:
    return ([fields(nudge) for nudge in page.object_list], page.has_next, page.has_previous)


@pytest.mark.parametrize("view", [view for view, _ in selectors.View.choices])
def test_a_compiled_keyset_read_is_the_orms_page_by_the_orms_sql(staff, view):
    add_nudges(13 * 5, staff)
    rows = selectors.outbox(view=view)
    for cursor in seven_cursors(rows):
        with CaptureQueriesContext(connection) as orm:
            expected = keyset_page(rows, cursor, per_page=5)
        with CaptureQueriesContext(connection) as compiled:
            got = keyset_page(rows, cursor, per_page=5, compiled=("test outbox", view))
        assert page_of(got) == page_of(expected), cursor
        assert [query["sql"] for query in compiled] == [query["sql"] for query in orm], cursor
    add_nudges(5, staff)  # read by the SQL compiled before they were added
    assert page_of(
        keyset_page(rows, Cursor(last=True), per_page=5, compiled=("test outbox", view))
    ) == page_of(keyset_page(rows, Cursor(last=True), per_page=5))


def test_the_outbox_pages_are_the_same_with_and_without_a_filter_that_changes_nothing(client_for, staff):
    add_nudges(12 * 5, staff)
    client = client_for(staff)
    for view in ("needs", "upcoming", "history", "all"):
        opened = client.get(f"/nudges/?view={view}").context["page"]
        filtered = client.get(f"/nudges/?view={view}&date_from=2000-01-01").context[
            "page"
        ]  # narrowed: the ORM
        assert page_of(opened) == page_of(filtered)
        assert (opened.count, opened.capped) == (filtered.count, filtered.capped)
        after = f"/nudges/?view={view}&after={opened.next_cursor}"
        assert page_of(client.get(after).context["page"]) == page_of(
            client.get(f"{after}&date_from=2000-01-01").context["page"]
        )


def test_the_inbox_summary_is_the_orms_by_the_orms_sql_for_each_reader(practitioner, staff):
    patients = PatientFactory.create_batch(4)
    for patient in patients[:3]:
        care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    for hour, patient in enumerate(patients):
        with time_machine.travel(NOON_NY + timedelta(hours=hour), tick=False):
            services.sms_inbound(from_number=patient.phone, body=f"note {hour}", provider_id=f"SM-{hour}")
    with time_machine.travel(NOON_NY + timedelta(hours=9), tick=False):
        services.conversation_mark_read(patient=patients[0], user=practitioner)
    other = UserFactory(role="practitioner")
    for user, everyone in itertools.product((practitioner, staff, other), (False, True)):
        with CaptureQueriesContext(connection) as compiled:
            got = selectors._inbox_summaries()[everyone].rows(user.pk)
        with CaptureQueriesContext(connection) as orm:
            expected = list(
                selectors._inbox_summary(user=user, everyone=everyone, limit=selectors.INBOX_PAGE)
            )
        assert got == expected, (user, everyone)
        assert [query["sql"] for query in compiled] == [query["sql"] for query in orm]
        assert [row.patient.pk for row in selectors.inbox(user=user, everyone=everyone)] == [
            row["patient_id"] for row in expected
        ]
    assert [row["unread"] for row in selectors._inbox_summaries()[False].rows(practitioner.pk)] == [1, 1, 0]
    assert selectors._inbox_summaries()[False].rows(other.pk) == []
