"""Paging for the staff lists: keyset pages and a capped count, so no list page counts every row of a large
table or skips rows with OFFSET.

A keyset page is read from where the last one stopped: the link to the next page names the last row shown
(``?after=<id>``), and the page is the rows after that row in the list's order, read straight from the index
that serves the order. Page 200 and the last page cost what page 1 costs. Cursors are row ids, so no name or
date reaches a URL or the audit trail's query string, and a link still works after rows are added.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, QuerySet

# Django's tuple comparisons (the machinery of composite primary keys): ``(a, b, id) > (SELECT a, b, id ...)``,
# which PostgreSQL and SQLite both read as a range of the index over (a, b, id).
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from .markup import escaped
from .once import looks_kept
from .queries import Compiled

COUNT_CAP = 10_000
LAST = "last"


def capped_count(rows, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows, counting at most ``cap`` (``qs[:cap + 1].count()``: bare ids, unsorted); and whether
    there are more."""
    if hasattr(rows, "values"):  # a QuerySet: count bare ids, unsorted, never the annotations
        rows = rows.order_by().values("pk")
    seen = rows[: cap + 1].count() if hasattr(rows, "count") else len(rows[: cap + 1])
    return (cap, True) if seen > cap else (seen, False)


class CappedPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows (``qs[:cap + 1].count()``, cheap on an indexed order).

    Past the cap, ``capped`` is true, the count reads as ``cap`` and the pages stop there: the list
    says "more than 10,000" and the filters reach the rest. Django admin's changelists use it.
    """

    def __init__(
        self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, cap: int = COUNT_CAP
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.cap = cap
        self.capped = False

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        seen, self.capped = capped_count(self.object_list, self.cap)
        return seen


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page starts: after a row, before a row, the last page, or (none of them) the first."""

    after: int | None = None
    before: int | None = None
    last: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> Cursor:
        """``?after=<id>``, ``?before=<id>`` or ``?page=last``; anything else (an old ``?page=3``, a
        cursor that is not an id) opens the first page."""

        def row_id(name: str) -> int | None:
            value = str(query.get(name) or "")
            return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None

        if after := row_id("after"):
            return cls(after=after)
        if before := row_id("before"):
            return cls(before=before)
        return cls(last=query.get("page") == LAST)

    @property
    def first(self) -> bool:
        return not (self.after or self.before or self.last)


@dataclass
class KeysetPage:
    """One page of a list read by keyset; ``object_list`` holds its rows (or ids) in the list's order."""

    object_list: list
    has_next: bool
    has_previous: bool
    count: int  # rows in the whole list, up to the cap
    capped: bool = False  # there are more than ``count``
    key: Callable[[Any], int] = field(default=lambda row: row if isinstance(row, int) else row.pk, repr=False)

    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_cursor(self) -> int | None:
        return self.key(self.object_list[-1]) if self.has_next and self.object_list else None

    @property
    def previous_cursor(self) -> int | None:
        return self.key(self.object_list[0]) if self.has_previous and self.object_list else None

    def __len__(self) -> int:
        return len(self.object_list)


def _key_fields(rows: QuerySet, order: Sequence[str] | None) -> tuple[list[str], bool]:
    order = list(order or rows.query.order_by)
    if not order or any(not isinstance(name, str) for name in order):
        raise ValueError("a keyset page needs the list ordered by field names")
    descending = {name.startswith("-") for name in order}
    if len(descending) != 1:
        raise ValueError(f"a keyset order runs one way: {order}")
    fields = [name.lstrip("-") for name in order]
    if fields[-1] not in ("id", "pk"):
        raise ValueError(f"a keyset order ends with the id, so every row has its own place: {order}")
    return fields, descending.pop()


# An id no row has (past any sequence a clinic reaches): where a compiled read's cursor goes.
_CURSOR_MARKER = 2**62 + 1_234_567
_compiled_reads = threading.local()


@dataclass(frozen=True)
class _KeysetRead:
    """The one read a cursor's keyset page takes: its kind (first, after, before, last), the queryset with the
    cursor's id put in (``build``), that id, and the order it reads in (backwards for before and last)."""

    kind: str
    build: Callable[[int], QuerySet]
    row_id: int | None
    order: list[str]
    fields: tuple[str, ...]
    descending: bool


def _keyset_read(
    rows: QuerySet, cursor: Cursor, *, per_page: int, order: Sequence[str] | None
) -> _KeysetRead:
    fields, descending = _key_fields(rows, order)
    forward = [f"-{name}" if descending else name for name in fields]
    backward = [name if descending else f"-{name}" for name in fields]
    key = Tuple(*(F(name) for name in fields))

    def beyond(row_id: int, *, later: bool):
        at = rows.model._base_manager.filter(pk=row_id).order_by().values(*fields)
        lookup = TupleGreaterThan if later != descending else TupleLessThan
        return rows.filter(lookup(key, at.query))

    def after(row_id: int) -> QuerySet:
        return beyond(row_id, later=True).order_by(*forward)[: per_page + 1]

    def before(row_id: int) -> QuerySet:
        return beyond(row_id, later=False).order_by(*backward)[: per_page + 1]

    def last(_: int) -> QuerySet:
        return rows.order_by(*backward)[: per_page + 1]

    def first(_: int) -> QuerySet:
        return rows.order_by(*forward)[: per_page + 1]

    if cursor.after:
        kind, build, row_id, reading = "after", after, cursor.after, forward
    elif cursor.before:
        kind, build, row_id, reading = "before", before, cursor.before, backward
    elif cursor.last:
        kind, build, row_id, reading = "last", last, None, backward
    else:
        kind, build, row_id, reading = "first", first, None, forward
    return _KeysetRead(kind, build, row_id, reading, tuple(fields), descending)


# Where a keyset page goes when its cursor's row has gone: after it, the last page; before it, the first.
_CURSOR_GONE = {"after": Cursor(last=True), "before": Cursor()}


def _keyset_got(kind: str, got: list, *, per_page: int, count: tuple[int, bool]) -> KeysetPage | None:
    """The page made of what its read got (``per_page + 1`` rows at most, in the read's order); None when an
    after or before read got nothing (its cursor's row has gone)."""
    if kind == "after":
        return KeysetPage(got[:per_page], len(got) > per_page, True, *count) if got else None
    if kind == "before":
        return KeysetPage(got[:per_page][::-1], True, len(got) > per_page, *count) if got else None
    if kind == "last":
        return KeysetPage(got[:per_page][::-1], False, len(got) > per_page, *count)
    return KeysetPage(got[:per_page], len(got) > per_page, False, *count)


def keyset_page(
    rows: QuerySet,
    cursor: Cursor,
    *,
    per_page: int,
    order: Sequence[str] | None = None,
    count: tuple[int, bool] = (0, False),
    compiled: Hashable | None = None,
) -> KeysetPage:
    """The page of ``rows`` that ``cursor`` names, in ``order`` (default: the queryset's own order, which
    must be field names running one way and ending with the id). One query, whichever page; one more only
    when the cursor's row has gone (the nearest end of the list is shown instead).

    ``compiled``: a fixed name for ``rows`` when their SQL is always the same (a list's tab without filters,
    never a value of a request): each of its four reads (first, after, before, last) is compiled once per
    thread under that name (``accounts.queries.Compiled``, the cursor's id put in), the same SQL."""
    read = _keyset_read(rows, cursor, per_page=per_page, order=order)
    if compiled is None:
        got = list(read.build(read.row_id or 0))
    else:
        reads = _compiled_reads.__dict__.setdefault("reads", {})
        name = (compiled, read.kind, read.fields, read.descending, per_page)
        if name not in reads:
            marked = read.build(_CURSOR_MARKER)
            reads[name] = Compiled(marked, _CURSOR_MARKER) if read.row_id is not None else Compiled(marked)
        got = reads[name].rows(read.row_id) if read.row_id is not None else reads[name].rows()
    page = _keyset_got(read.kind, got, per_page=per_page, count=count)
    if page is None:
        gone = _CURSOR_GONE[read.kind]
        return keyset_page(rows, gone, per_page=per_page, order=order, count=count, compiled=compiled)
    return page


_READS_KEPT = 256  # compiled reads a thread keeps for keyset_page_compiled (a list's filters make many)


def _cursor_read(cursor: Cursor) -> tuple[str, int | None]:
    """(kind, row id) of the read ``cursor`` names, as ``_keyset_read`` reads it."""
    if cursor.after:
        return "after", cursor.after
    if cursor.before:
        return "before", cursor.before
    return ("last" if cursor.last else "first"), None


def keyset_page_compiled(
    build: Callable[[], QuerySet],
    cursor: Cursor,
    *,
    per_page: int,
    name: Hashable,
    markers: Sequence[int | str] = (),
    values: Sequence[int | str] = (),
    count: tuple[int, bool] = (0, False),
) -> KeysetPage:
    """``keyset_page(rows, cursor, per_page=…, count=…)`` for rows whose SQL changes with a request's values
    only in parameters (a list's filters: a lead's id, a stage): its read compiled once per thread under
    ``name`` (which must name everything the SQL depends on but those values: the filters present, the order)
    and kind of cursor, with ``build()`` (called only then) returning the rows filtered on ``markers`` in place
    of this request's ``values`` (``accounts.queries.Compiled``'s markers: an id nothing else spells, a string
    nothing else spells), and replayed with the values and the cursor's id put in. The same SQL and page as
    ``keyset_page`` over the rows filtered on the values; no ORM compile a request."""
    kind, row_id = _cursor_read(cursor)
    reads = _compiled_reads.__dict__.setdefault("marked", {})
    key = (name, kind, per_page)
    compiled = reads.get(key)
    if compiled is None:
        if len(reads) >= _READS_KEPT:
            reads.clear()
        read = _keyset_read(build(), cursor, per_page=per_page, order=None)
        marked = read.build(_CURSOR_MARKER)
        cursor_marker = (_CURSOR_MARKER,) if row_id is not None else ()
        compiled = reads[key] = Compiled(marked, *markers, *cursor_marker)
    got = compiled.rows(*values, *((row_id,) if row_id is not None else ()))
    page = _keyset_got(kind, got, per_page=per_page, count=count)
    if page is None:
        return keyset_page_compiled(
            build,
            _CURSOR_GONE[kind],
            per_page=per_page,
            name=name,
            markers=markers,
            values=values,
            count=count,
        )
    return page


def keyset_page_of_ids(ids: Sequence[int], cursor: Cursor, *, per_page: int) -> KeysetPage:
    """The same page read from a short list of ids already in order (a bounded sort): the cursor's place in
    the list, no query. A cursor not in the list opens the first page."""
    ids = list(ids)
    place = {row_id: n for n, row_id in enumerate(ids)}
    stop = None
    if cursor.after in place:
        start = place[cursor.after] + 1  # type: ignore[index]
    elif cursor.before in place:
        stop = place[cursor.before]  # type: ignore[index]
        start = max(0, stop - per_page)
    elif cursor.last:
        start = max(0, len(ids) - per_page)
    else:
        start = 0
    shown = ids[start : start + per_page if stop is None else stop]
    end = start + len(shown)
    return KeysetPage(shown, end < len(ids), start > 0, len(ids))


def keyset_page_within(
    rows: QuerySet,
    cursor: Cursor,
    *,
    per_page: int,
    bound: int,
    cap: int = COUNT_CAP,
    order: Sequence[str] | None = None,
) -> KeysetPage:
    """The page of ``rows`` (ids in a keyset order, as for ``keyset_page``) that ``cursor`` names, with their
    capped count, in one statement whatever their number (``bound`` at most ``cap``). Up to ``bound`` rows are
    read whole — their ids and sort keys only, by whatever path the planner likes (a search: the trigram
    index) — counted, and the page is the rows after (or before) the cursor's among them, a top-N sort in the
    database: exactly the page ``keyset_page_of_ids`` makes of the list of their ids (the count exact; a
    cursor not among them opens the first page; none after the last is an empty page), with no Python a row
    and no second pass to count. Past ``bound`` the same statement is ``keyset_page``'s read (from the index
    serving the order, never run otherwise: a one-time filter) and the count stops at ``cap``; one more query
    only when the cursor's row has gone, as there."""
    fields, _ = _key_fields(rows, order)
    by_key = rows.values_list("pk", *fields[:-1])
    read = _keyset_read(by_key, cursor, per_page=per_page, order=order)
    with connections[rows.db].cursor() as db:
        db.execute(*_within_sql(by_key, read, fields[:-1], per_page=per_page, bound=bound, cap=cap))
        got = db.fetchall()

    def gone(count: tuple[int, bool]) -> KeysetPage:
        return keyset_page(rows, _CURSOR_GONE[read.kind], per_page=per_page, order=order, count=count)

    return _within_got(got, read.kind, per_page=per_page, bound=bound, cap=cap, gone=gone)


def keyset_page_within_compiled(
    build: Callable[[], QuerySet],
    cursor: Cursor,
    *,
    per_page: int,
    bound: int,
    name: Hashable,
    markers: Sequence[int | str] = (),
    values: Sequence[int | str] = (),
    cap: int = COUNT_CAP,
) -> KeysetPage:
    """``keyset_page_within(build(), cursor, …)`` with its statement built once per thread under ``name``
    (everything its SQL depends on but the values: the filters present, the number of a search's words, the
    order) and kind of cursor, as ``keyset_page_compiled`` keeps a keyset read: ``build()`` (called only then)
    returns the rows filtered on ``markers`` (each spelled as the statement's parameter spells it) in place of
    this request's ``values``, which are put in their places with the cursor's id. The same statement, page and
    count; no ORM compile a request."""
    kind, row_id = _cursor_read(cursor)
    reads = _compiled_reads.__dict__.setdefault("within", {})
    key = (name, kind, per_page, bound, cap)
    kept = reads.get(key)
    marked_values = (*markers, *((_CURSOR_MARKER,) if row_id is not None else ()))
    if kept is None:
        if len(reads) >= _READS_KEPT:
            reads.clear()
        rows = build()
        fields, _ = _key_fields(rows, None)
        by_key = rows.values_list("pk", *fields[:-1])
        marked = {"after": Cursor(after=_CURSOR_MARKER), "before": Cursor(before=_CURSOR_MARKER)}.get(
            kind, cursor
        )
        read = _keyset_read(by_key, marked, per_page=per_page, order=None)
        sql, params = _within_sql(by_key, read, fields[:-1], per_page=per_page, bound=bound, cap=cap)
        places = []
        for marker in marked_values:
            found = [n for n, param in enumerate(params) if type(param) is type(marker) and param == marker]
            if not found:
                raise ValueError(f"{marker!r} is not a parameter of the statement")
            places.append(found)
        kept = reads[key] = (sql, params, places, rows.db)
    sql, params, places, using = kept
    params = list(params)
    for spots, value in zip(places, (*values, *((row_id,) if row_id is not None else ())), strict=True):
        for n in spots:
            params[n] = value
    with connections[using].cursor() as db:
        db.execute(sql, params)
        got = db.fetchall()

    def gone(count: tuple[int, bool]) -> KeysetPage:
        return keyset_page_compiled(
            build,
            _CURSOR_GONE[kind],
            per_page=per_page,
            name=name,
            markers=markers,
            values=values,
            count=count,
        )

    return _within_got(got, kind, per_page=per_page, bound=bound, cap=cap, gone=gone)


def _within_got(
    got: list,
    kind: str,
    *,
    per_page: int,
    bound: int,
    cap: int,
    gone: Callable[[tuple[int, bool]], KeysetPage],
) -> KeysetPage:
    """The page ``keyset_page_within``'s statement read (``got``) for a cursor of ``kind``; ``gone(count)`` the
    page past ``bound`` when the cursor's row has gone."""
    read_by: dict[str, list[tuple[int, int]]] = {"found": [], "end": [], "many": []}
    total, found = 0, False
    for branch, row_id, place in got:
        if branch == "total":
            total, found = place, bool(row_id)
        else:
            read_by[branch].append((place, row_id))
    ids = {branch: [row_id for _, row_id in sorted(placed)] for branch, placed in read_by.items()}
    if total > bound:
        count = (cap, True) if total > cap else (total, False)
        page = _keyset_got(kind, ids["many"], per_page=per_page, count=count)
        if page is None:
            return gone(count)
        return page
    if found:
        got_kind, rows = kind, ids["found"]
    else:  # first or last, or a cursor not among them: the first page
        got_kind, rows = ("last" if kind == "last" else "first"), ids["end"]
    page = _keyset_got(got_kind, rows, per_page=per_page, count=(total, False))
    if page is None:  # the cursor's row is the last (after it) or the first (before it): an empty page
        return KeysetPage([], got_kind == "before", got_kind == "after", total)
    return page


def _within_sql(
    by_key: QuerySet, read: _KeysetRead, keys: list[str], *, per_page: int, bound: int, cap: int
) -> tuple[str, list]:
    """``keyset_page_within``'s statement and its parameters, in the order the SQL spells them. Its rows are
    (branch, id, place in the branch's read): ``total`` (the count, and whether the cursor is among them),
    ``found`` (with a cursor: the page's read after or before its keys among the rows), ``end`` (from an end
    of them), ``many`` (``keyset_page``'s read, past ``bound``)."""
    named = {name: f"key_{n}" for n, name in enumerate(keys)} | {"id": "row_id", "pk": "row_id"}

    def spelled(order: Sequence[str]) -> str:
        return ", ".join(
            named[name.lstrip("-")] + (" DESC" if name.startswith("-") else "") for name in order
        )

    def compiled(queryset: QuerySet) -> tuple[str, tuple]:
        return queryset.query.get_compiler(using=queryset.db).as_sql()

    columns = ", ".join(["row_id", *(named[name] for name in keys)])  # as ``by_key`` selects them
    key = ", ".join(named[name] for name in read.fields)  # in the order's order
    forward = [f"-{name}" if read.descending else name for name in read.fields]
    from_end = read.order if read.kind == "last" else forward
    matches_sql, matches_params = compiled(by_key.order_by()[: cap + 1])
    keyset_sql, keyset_params = compiled(read.build(read.row_id or 0))
    few = "(SELECT total FROM page_counted) <= %s"
    beyond = ">" if (read.kind == "after") != read.descending else "<"
    row_id = read.row_id or 0
    at_cursor = read.kind in ("after", "before")
    # The cursor's row is looked for among the rows only when there is one and they are few.
    among = "EXISTS (SELECT 1 FROM page_matches WHERE row_id = %s)"
    found = f"CASE WHEN total <= %s AND {among} THEN 1 ELSE 0 END" if at_cursor else "0"
    # Our own compiled querysets and fixed names; every value stays a parameter.
    sql = f"""WITH page_matches ({columns}) AS ({matches_sql}),
page_counted (total) AS (SELECT COUNT(*) FROM page_matches),
page_keyset ({columns}) AS ({keyset_sql})
SELECT 'total', {found}, total FROM page_counted
UNION ALL
SELECT 'end', row_id, ROW_NUMBER() OVER (ORDER BY {spelled(from_end)}) FROM (
    SELECT {columns} FROM page_matches WHERE {few}{f" AND NOT {among}" if at_cursor else ""}
    ORDER BY {spelled(from_end)} LIMIT %s
) AS page_end"""  # noqa: S608
    params = [*matches_params, *keyset_params, *((bound, row_id) if at_cursor else ())]
    params += [bound, *((row_id,) if at_cursor else ()), per_page + 1]
    if at_cursor:
        sql += f"""
UNION ALL
SELECT 'found', row_id, ROW_NUMBER() OVER (ORDER BY {spelled(read.order)}) FROM (
    SELECT {columns} FROM page_matches
    WHERE {few} AND ({key}) {beyond} (SELECT {key} FROM page_matches WHERE row_id = %s)
    ORDER BY {spelled(read.order)} LIMIT %s
) AS page_found"""  # noqa: S608
        params += [bound, row_id, per_page + 1]
    sql += f"""
UNION ALL
SELECT 'many', row_id, ROW_NUMBER() OVER (ORDER BY {spelled(read.order)}) FROM page_keyset
WHERE (SELECT total FROM page_counted) > %s"""  # noqa: S608
    return sql, [*params, bound]


def page_rows(page, fetch) -> None:
    """Ids first, then the page: replace ``page.object_list`` (a list of ids in order) with the rows
    ``fetch(ids)`` returns, kept in the page's order. The costly annotations run for the page only."""
    ids = list(page.object_list)
    rows = {row.pk: row for row in fetch(ids)}
    page.object_list = [rows[pk] for pk in ids if pk in rows]


_NAV = (
    '\n\n  <nav class="d-flex flex-wrap justify-content-between align-items-center p-3 border-top"\n'
    '       aria-label="Pages">\n    <span class="small text-body-secondary">'
)
_FIRST_PREVIOUS = (
    '\n        <li class="page-item">\n          <a class="page-link" href="?{query}">First</a>\n        </li>'
    '\n        <li class="page-item">\n          <a class="page-link"\n             rel="prev"'
    '\n             href="?{joined}before={cursor}">Previous</a>\n        </li>\n      '
)
_NEXT_LAST = (
    '\n        <li class="page-item">\n          <a class="page-link"\n             rel="next"'
    '\n             href="?{joined}after={cursor}">Next</a>\n        </li>\n        <li class="page-item">'
    '\n          <a class="page-link"\n             href="?{joined}page=last">Last</a>\n        </li>\n      '
)


def pagination_written(page: KeysetPage, *, querystring: str, noun: str) -> SafeString:
    """``{% include "_pagination.html" with page=page querystring=querystring noun=noun %}`` written in Python,
    byte for byte: the include's context, its four links' tags and its count's filter cost a list page ~400
    calls. The query string and noun escaped as the template escapes them; the cursors are integers."""
    query, words = escaped(querystring), escaped(noun)
    if not page.has_other_pages():
        if not page.count:
            return mark_safe("\n\n")
        return mark_safe(  # noqa: S308 — escaped above; the count a number
            f'\n\n  <div class="p-3 border-top small text-body-secondary">{floatformat(page.count, "g")} {words}'
            "</div>\n\n"
        )
    joined = f"{query}&amp;" if querystring else ""
    more = "more than " if page.capped else ""
    parts = [
        _NAV,
        f"{len(page)} shown of {more}{floatformat(page.count, 'g')} {words}</span>\n"
        '    <ul class="pagination pagination-sm mb-0">\n      ',
    ]
    if page.has_previous:
        parts.append(_FIRST_PREVIOUS.format(query=query, joined=joined, cursor=page.previous_cursor))
    parts.append("\n      ")
    if page.has_next:
        parts.append(_NEXT_LAST.format(joined=joined, cursor=page.next_cursor))
    parts.append("\n    </ul>\n  </nav>\n\n")
    return mark_safe("".join(parts))  # noqa: S308 — escaped above; the counts and cursors numbers


# Where a kept page's links put their cursors: ids no row has (past any sequence a clinic reaches).
_PREVIOUS_MARKER, _NEXT_MARKER = 2**62 + 7_001, 2**62 + 7_003
_pagination_kept = looks_kept(256)


def _links(previous: int | None, following: int | None) -> tuple[str, str]:
    """How _pagination.html writes the Previous and Next links' cursors."""
    return f'before={previous}">Previous', f'after={following}">Next'


def pagination_html(page: KeysetPage, *, querystring: str, noun: str, kept: bool = False) -> SafeString:
    """``{% include "_pagination.html" with page=page querystring=querystring noun=noun %}``. With ``kept``, for
    a list whose ``querystring`` holds nothing a request chose (a tab as it opens: ``view=upcoming``): every
    page of it with as many rows, the same count and the same ways on looks the same but for its two cursors,
    so the first such page's markup is kept with markers for its cursors, and each page's put in. Never
    ``kept`` for a query string of a request's own words, which would be kept in the process."""
    context = {"page": page, "querystring": querystring, "noun": noun}
    if not kept or not page.object_list:
        return mark_safe(render_to_string("_pagination.html", context))  # noqa: S308 — the template's own output
    ways = (page.has_previous, page.has_next)
    marked = _links(_PREVIOUS_MARKER, _NEXT_MARKER)
    own = _links(page.previous_cursor, page.next_cursor)

    def first() -> str:
        html = render_to_string("_pagination.html", context)
        for way, theirs, marker in zip(ways, own, marked, strict=True):
            if way:
                if html.count(theirs) != 1:  # not kept with this page's cursor in it: the template changed
                    raise RuntimeError(f"_pagination.html no longer writes {theirs!r} once")
                html = html.replace(theirs, marker)
        return html

    look = ("keyset pagination", len(page.object_list), *ways, page.count, page.capped, querystring, noun)
    html = _pagination_kept(look, first)
    for way, theirs, marker in zip(ways, own, marked, strict=True):
        if way:
            html = html.replace(marker, theirs)
    return mark_safe(html)  # noqa: S308 — the template's own escaped output, kept; the cursors integers
