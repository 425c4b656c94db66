"""Query expressions the floors above share, for plans PostgreSQL gets wrong when written the usual way, and
querysets built once per thread for the pages that run them on every request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps

from django.db import connection
from django.db.models import BooleanField, Func, QuerySet


def built_per_thread[T](build: Callable[[], T]) -> Callable[[], T]:
    """``build()`` once per thread, then the same object: for a queryset whose annotations cost the ORM more to
    build than the database to run, kept unevaluated and only ever cloned (``.filter()``, ``.get()``). Per
    thread, not per process: compiling a query adjusts the alias counts of the subqueries it shares with its
    clones while it runs, so two threads compiling clones of one queryset at once could write each other's SQL."""
    local = threading.local()

    @wraps(build)
    def built() -> T:
        try:
            return local.value
        except AttributeError:
            local.value = build()
            return local.value

    return built


class InSmallSet(Func):
    """``column IN (subquery)``, which on PostgreSQL is written ``column = ANY(ARRAY(subquery))``: the planner
    then runs the subquery once for its handful of values and probes the column's index for each, where for
    ``IN`` or ``EXISTS`` it hashed the subquery and scanned the whole outer table (every journey of the clinic
    to find one practitioner's ~500; every patient to find the ~5,000 who referred someone). Elsewhere it is
    plain ``IN``."""

    arity = 2
    output_field = BooleanField()

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context):
        column, subquery = self.source_expressions
        lhs, lhs_params = compiler.compile(column)
        rhs, rhs_params = compiler.compile(subquery)
        shape = "%s = ANY(ARRAY%s)" if connection.vendor == "postgresql" else "%s IN %s"
        return shape % (lhs, rhs), (*lhs_params, *rhs_params)


def counts_at_once(querysets: dict[str, QuerySet], *, cap: int | None = None) -> dict[str, int]:
    """Each queryset's count, in one query of subqueries (a query each cost a page more in Django than in the
    database), each stopping at ``cap + 1`` rows when ``cap`` is given ("1,000+")."""
    quote = connection.ops.quote_name
    parts: list[str] = []
    params: list = []
    for name, qs in querysets.items():
        counted = qs.order_by().values("pk")
        sql, more = (counted if cap is None else counted[: cap + 1]).query.sql_with_params()
        # Our own compiled querysets and quoted names; the values stay parameters.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) {quote('counted_' + name)}) AS {quote(name)}")  # noqa: S608
        params.extend(more)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {name: int(n) for name, n in zip(querysets, row, strict=True)}
