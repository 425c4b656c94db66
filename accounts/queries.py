"""Query expressions the floors above share, for plans PostgreSQL gets wrong when written the usual way, and
querysets built once per thread for the pages that run them on every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache, wraps

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import BooleanField, Exists, F, Func, Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.query import ModelIterable, ValuesListIterable
from django.db.models.signals import post_init, pre_init
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.constants import GET_ITERATOR_CHUNK_SIZE
from django.db.models.sql.query import Query


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


@lru_cache(maxsize=16)
def _replaying(compiler_class: type[SQLCompiler]) -> type[SQLCompiler]:
    """``compiler_class`` whose ``as_sql()`` is the SQL compiled once, with this request's parameters."""

    def as_sql(self, with_limits=True, with_col_aliases=False):
        return self.replayed

    def get_converters(self, expressions):
        # The columns' converters, found once for this connection: the same select each time, whose
        # lookup over every column (two calls a column) cost a read as much as making its rows.
        key = (self.connection, *map(id, expressions))
        kept = self.kept_converters
        if kept[0] != key:
            kept[:] = [key, compiler_class.get_converters(self, expressions)]
        return kept[1]

    def has_composite_fields(self, expressions):
        # Whether the select has a composite primary key's columns, found once for this connection as the
        # converters are (a walk over every column of each read, again).
        key = (self.connection, *map(id, expressions))
        kept = self.kept_composite
        if kept[0] != key:
            kept[:] = [key, compiler_class.has_composite_fields(self, expressions)]
        return kept[1]

    return type(
        f"Replaying{compiler_class.__name__}",
        (compiler_class,),
        {"as_sql": as_sql, "get_converters": get_converters, "has_composite_fields": has_composite_fields},
    )


class PlainModelIterable(ModelIterable):
    """``ModelIterable``'s instances, each made as ``Model.from_db`` makes it but by filling its ``__dict__``
    (the columns' attribute names, its state, then the annotations), where ``Model.__init__`` sets each column
    by ``setattr`` and sends two signals: ~50 calls a row of a list page's patients. Only for a read of every
    concrete column of one model (no ``select_related``, no deferred column, no known related objects, fetch
    mode without peers), a model without ``from_db`` of its own or ``pre_init``/``post_init`` receivers, and
    annotations no class attribute shadows; any other read is ``ModelIterable``'s own."""

    def __iter__(self):
        queryset = self.queryset
        model = queryset.model
        fetch_mode = queryset._fetch_mode
        if (
            queryset.query.select_related
            or queryset._known_related_objects
            or fetch_mode.track_peers
            or model.from_db.__func__ is not Model.from_db.__func__
            or pre_init.has_listeners(model)
            or post_init.has_listeners(model)
        ):
            yield from super().__iter__()
            return
        db = queryset.db
        compiler = queryset.query.get_compiler(using=db)
        results = compiler.execute_sql(chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)
        select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        plain = (
            klass_info["model"] is model
            and not klass_info.get("related_klass_infos")
            and names == [field.attname for field in model._meta.concrete_fields]
            and not any(hasattr(model, name) for name in annotations or ())
        )
        new = object.__new__
        for row in compiler.results_iter(results):
            if not plain:
                obj = model.from_db(db, names, row[start:end], fetch_mode=fetch_mode)
                for name, place in (annotations or {}).items():
                    setattr(obj, name, row[place])
                yield obj
                continue
            obj = new(model)
            state = ModelState()
            state.adding, state.db, state.fetch_mode = False, db, fetch_mode
            values = obj.__dict__
            values["_state"] = state
            values.update(zip(names, row[start:end], strict=True))
            if annotations:
                for name, place in annotations.items():
                    values[name] = row[place]
            yield obj


class _Replayed(Query):
    """A query whose compiler is the one given (``replay``): its SQL compiled once, not again."""

    replay: SQLCompiler

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        return self.replay


class Compiled[M: Model]:
    """A queryset's SQL compiled once, run again with other values in its marked parameters: for a read on
    every request whose subqueries cost the ORM more to compile than PostgreSQL to run (the patient record's
    eight). ``Compiled(queryset, marker, …)``: each marker is a value the queryset was filtered on (an id that
    nothing else in it spells, an aware datetime, a date, the ids given to ``AnyOf``); ``rows(value, …)`` runs
    the same SQL with each value in its marker's places and makes its rows into models (or values) by the
    ORM's own iterable, as iterating the queryset would. Keep one per thread (``built_per_thread``): the
    compiler holds the thread's connection. Only values whose SQL does not change with them: an id, a moment,
    a day, a string compared for equality (an API key's prefix: a marker no other parameter spells),
    ``AnyOf``'s ids (one array parameter); never ``None`` or the list of an ``__in``."""

    def __init__(
        self, queryset: QuerySet[M], *markers: int | date | str | list[int], plain_models: bool = False
    ) -> None:
        self.queryset = queryset
        self.plain_models = plain_models  # its models made by PlainModelIterable
        self.replayed: tuple[QuerySet, _Replayed] | None = None  # (the queryset rows() reads, its query)
        self.compiler = queryset.query.get_compiler(using=queryset.db)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        self.converters: list = [None, None]  # (the connection and the select's columns, their converters)
        self.composite: list = [None, None]  # (the same, whether any is a composite key's)
        # A ``values_list()`` read's tuples come straight from the compiler, as ``ValuesListIterable`` takes them.
        self.tuples = (
            queryset._iterable_class is ValuesListIterable and not queryset._prefetch_related_lookups
        )
        self.places = []
        for marker in markers:
            spelled = self._adapted(marker)
            places = [
                n for n, param in enumerate(self.params) if type(param) is type(spelled) and param == spelled
            ]
            if not places:
                raise ValueError(f"{marker!r} is not a parameter of the query")
            self.places.append(places)

    def _adapted(self, value: int | date | str | list[int]):
        return adapted(value, self.queryset.db)

    def rows(self, *values: int | date | str | list[int]) -> list[M]:
        params = list(self.params)
        for places, value in zip(self.places, values, strict=True):
            value_now = self._adapted(value)
            for n in places:
                params[n] = value_now
        compiler = object.__new__(_replaying(type(self.compiler)))
        compiler.__dict__.update(self.compiler.__dict__)
        # This moment's connection, not the one it was compiled on: Django keeps a connection per thread and
        # per async context, so code run under async_to_sync (or a test's other context) has its own.
        compiler.connection = connections[self.queryset.db]
        compiler.replayed = (self.sql, tuple(params))
        compiler.kept_converters = self.converters
        compiler.kept_composite = self.composite
        if self.tuples:
            # What ``ValuesListIterable`` returns, with no queryset and query cloned to run it (~200 calls).
            return list(compiler.results_iter(tuple_expected=True, chunk_size=GET_ITERATOR_CHUNK_SIZE))
        if self.replayed is None:
            self.replayed = self._replayed_queryset()
        replayed, query = self.replayed
        query.replay = compiler
        replayed._result_cache, replayed._prefetch_done = None, False
        try:
            return list(replayed)
        finally:  # the queryset is this Compiled's, for its next rows: it keeps neither rows nor compiler
            replayed._result_cache, query.replay = None, None

    def _replayed_queryset(self) -> tuple[QuerySet, _Replayed]:
        """The queryset ``rows()`` reads, made once (two clones of the query a read cost ~60 calls): a clone
        of the compiled one whose query replays the compiler each read puts in (``_Replayed``)."""
        query = self.queryset.query.chain(klass=_Replayed)
        replayed = self.queryset._chain()
        iterable = replayed._iterable_class
        if self.plain_models and iterable is ModelIterable:
            iterable = PlainModelIterable
        replayed.query = query  # which makes any values query's rows dicts: ``values_list()``'s stay tuples
        replayed._iterable_class = iterable
        return replayed, query


class AnyOf(Func):
    """``column = ANY(%s)``, the ids one array parameter: the same SQL for any number of them, so a query
    filtered on a page's ids can be compiled once (``Compiled``), where ``__in`` writes a placeholder an id.
    PostgreSQL plans it as it plans ``IN (…)``, which it reads as this. On SQLite (``make run``'s database) the
    parameter is the ids as one JSON array, read by ``json_each``: one parameter there too. Unlike ``__in``, no
    ids is still a query (that matches nothing): a caller skips it."""

    output_field = BooleanField()

    def __init__(self, column: str, ids: Iterable[int]) -> None:
        super().__init__(F(column))
        self.ids = [int(one) for one in ids]

    @staticmethod
    def parameter(connection, ids: Iterable[int]) -> list[int] | str:
        """The ids as the one parameter ``AnyOf`` gives this connection's database."""
        ids = [int(one) for one in ids]
        return ids if connection.vendor == "postgresql" else json.dumps(ids)

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context):
        lhs, lhs_params = compiler.compile(self.source_expressions[0])
        shape = (
            "%s = ANY(%%s)"
            if connection.vendor == "postgresql"
            else "%s IN (SELECT value FROM json_each(%%s))"
        )
        return shape % lhs, (*lhs_params, self.parameter(connection, self.ids))


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


class ExistsEach(Exists):
    """``EXISTS (subquery)`` that PostgreSQL checks row by row as it reads the outer rows: written with an
    ``OFFSET 0`` in the subquery, which keeps the planner from making a join of it. For a list read in an
    index's order up to a LIMIT whose rows almost never match (patients flagged as having no lead, of whom a
    ``NOT EXISTS`` lead is the check): planned as an anti-join, its estimate of the rows left was ~100 × too
    low, so it read every flagged patient and sorted them (584 at 100,000 patients, 2.3 ms) to show ten.
    Elsewhere it is plain ``EXISTS``."""

    def as_sql(self, compiler, connection, template=None, **extra_context):
        sql, params = super().as_sql(compiler, connection, template=template, **extra_context)
        if connection.vendor == "postgresql" and sql.endswith(")"):
            sql = f"{sql[:-1]} OFFSET 0)"
        return sql, params


def _counts_sql(querysets: dict[str, QuerySet], cap: int | None) -> tuple[str, list]:
    quote = connection.ops.quote_name
    parts: list[str] = []
    params: list = []
    for name, qs in querysets.items():
        counted = qs.order_by().values("pk")
        sql, more = (counted if cap is None else counted[: cap + 1]).query.sql_with_params()
        # Our own compiled querysets and quoted names; the values stay parameters.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) {quote('counted_' + name)}) AS {quote(name)}")  # noqa: S608
        params.extend(more)
    return "SELECT " + ", ".join(parts), params


def _counted(names: list[str], sql: str, params: list) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return {name: int(n) for name, n in zip(names, row, strict=True)}


def counts_at_once(querysets: dict[str, QuerySet], *, cap: int | None = None) -> dict[str, int]:
    """Each queryset's count, in one query of subqueries (a query each cost a page more in Django than in the
    database), each stopping at ``cap + 1`` rows when ``cap`` is given ("1,000+")."""
    return _counted(list(querysets), *_counts_sql(querysets, cap))


class CountsCompiled:
    """``counts_at_once``'s query built once, run again with other values in its marked parameters, as
    ``Compiled`` runs a queryset's: for counts a page takes on every request (Insights' four). Markers as
    ``Compiled``'s: an id nothing else in the queries spells, an aware datetime, a date, or a string nothing
    else spells standing for a choice's value (a stage). Keep one per thread (``built_per_thread``)."""

    def __init__(
        self, querysets: dict[str, QuerySet], *markers: int | date | str, cap: int | None = None
    ) -> None:
        self.names = list(querysets)
        self.sql, self.params = _counts_sql(querysets, cap)
        self.places = []
        for marker in markers:
            spelled = adapted(marker, connection.alias)
            places = [
                n for n, param in enumerate(self.params) if type(param) is type(spelled) and param == spelled
            ]
            if not places:
                raise ValueError(f"{marker!r} is not a parameter of the counts")
            self.places.append(places)

    def counts(self, *values: int | date | str) -> dict[str, int]:
        params = list(self.params)
        for places, value in zip(self.places, values, strict=True):
            value_now = adapted(value, connection.alias)
            for n in places:
                params[n] = value_now
        return _counted(self.names, self.sql, params)


def adapted(value: int | date | str | list[int], using: str = DEFAULT_DB_ALIAS):
    """``value`` as the ORM passes it to the database ``using``: a datetime or a date adapted by the backend
    (on SQLite, a string), a string (a choice's value) as it is, ``AnyOf``'s ids as its one parameter. What a
    marker is looked for as among a compiled query's parameters, and what a value is put in its places as."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return AnyOf.parameter(connections[using], value)
    if isinstance(value, datetime):
        return connections[using].ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connections[using].ops.adapt_datefield_value(value)
    return int(value)
