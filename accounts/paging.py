"""Paging for the staff lists: a capped count, so no list page counts every row of a large table."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows (``qs[:cap + 1].count()``, cheap on an indexed order).

    Past the cap, ``capped`` is true, the count reads as ``cap`` and the pages stop there: the list
    says "more than 10,000" and the filters reach the rest.
    """

    def __init__(
        self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, cap: int = COUNT_CAP
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.cap = cap
        self.capped = False

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        rows = self.object_list
        if hasattr(rows, "values"):  # a QuerySet: count bare ids, unsorted, never the annotations
            rows = rows.order_by().values("pk")
        seen = rows[: self.cap + 1].count() if hasattr(rows, "count") else len(rows[: self.cap + 1])
        if seen > self.cap:
            self.capped = True
            return self.cap
        return seen


def page_rows(page, fetch) -> None:
    """Ids first, then the page: replace ``page.object_list`` (a list of ids in order) with the rows
    ``fetch(ids)`` returns, kept in the page's order. The costly annotations run for the page only."""
    ids = list(page.object_list)
    rows = {row.pk: row for row in fetch(ids)}
    page.object_list = [rows[pk] for pk in ids if pk in rows]
