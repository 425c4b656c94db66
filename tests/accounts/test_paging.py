"""CappedPaginator: a list page counts at most the cap, and says so."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.paging import CappedPaginator, page_rows


@pytest.fixture
def users(db):
    return User.objects.bulk_create(User(username=f"user{n:02d}") for n in range(12))


def test_a_short_list_is_counted_exactly(users):
    paginator = CappedPaginator(User.objects.order_by("username"), 5, cap=20)
    assert paginator.count == 12 and not paginator.capped and paginator.num_pages == 3


def test_a_long_list_is_counted_up_to_the_cap_and_says_so(users):
    paginator = CappedPaginator(User.objects.order_by("username"), 5, cap=10)
    assert paginator.count == 10 and paginator.capped and paginator.num_pages == 2


def test_the_count_reads_bare_ids_without_the_annotations(users):
    from django.db.models import Value

    qs = User.objects.annotate(label=Value("x")).order_by("username")
    with CaptureQueriesContext(connection) as captured:
        assert CappedPaginator(qs, 5, cap=100).count == 12
    sql = captured.captured_queries[0]["sql"]
    assert "ORDER BY" not in sql and "label" not in sql


def test_page_rows_keeps_the_page_order(users):
    ids = User.objects.order_by("-username").values_list("pk", flat=True)
    page = CappedPaginator(ids, 5).page(1)
    page_rows(page, lambda pks: User.objects.filter(pk__in=pks))
    assert [u.username for u in page.object_list] == [f"user{n:02d}" for n in range(11, 6, -1)]


@pytest.mark.parametrize("order", [("username", "id"), ("-username", "-id"), ("id",), ("-id",)])
@pytest.mark.parametrize(("bound", "cap"), [(0, 10), (5, 10), (11, 11), (12, 12), (12, 100)])
def test_keyset_page_within_pages_as_the_ids_read_whole_or_the_keyset_read(users, order, bound, cap):
    """Any list in a keyset order (one key, or only the id): up to ``bound`` rows, the pages
    ``keyset_page_of_ids`` makes of all their ids; past it, ``keyset_page``'s with the count capped."""
    from accounts.paging import Cursor, capped_count, keyset_page, keyset_page_of_ids, keyset_page_within

    ids = User.objects.order_by(*order).values_list("pk", flat=True)
    every = [*ids, max(ids) + 1]
    cursors = [
        Cursor(),
        Cursor(last=True),
        *(Cursor(after=i) for i in every),
        *(Cursor(before=i) for i in every),
    ]
    for cursor in cursors:
        if len(ids) <= bound:
            expected = keyset_page_of_ids(list(ids), cursor, per_page=5)
        else:
            expected = keyset_page(ids, cursor, per_page=5, count=capped_count(ids, cap))
        got = keyset_page_within(ids, cursor, per_page=5, bound=bound, cap=cap)
        assert (got.object_list, got.has_next, got.has_previous, got.count, got.capped) == (
            expected.object_list,
            expected.has_next,
            expected.has_previous,
            expected.count,
            expected.capped,
        ), cursor
