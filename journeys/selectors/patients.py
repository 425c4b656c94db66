"""The patient list with each patient's journey stage: filtered and sorted by it, a page at a time or all of it
(the CSV export).

A patient's stage is the stage of their current journey: the open one, else the latest that ended (graduated,
advocate, declined, withdrawn). Patients with no journey yet have none.

The list pages ids first and annotates only the page (``accounts.paging.page_rows``). Name and date added are
read from the partial indexes over active patients a keyset page at a time (``accounts.paging.keyset_page``:
the rows after the last one shown, never an OFFSET), however many there are; the stage and lead orders need a
per-patient lookup, so they sort at most ``SORT_BOUND`` patients — a longer list stays in name order and says
so, and a filter brings it under the bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import connection
from django.db.models import Case, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.lookups import Contains

from accounts.paging import (
    COUNT_CAP,
    Cursor,
    KeysetPage,
    capped_count,
    keyset_page,
    keyset_page_compiled,
    keyset_page_of_ids,
    keyset_page_within_compiled,
)
from accounts.queries import AnyOf, Compiled, CountsCompiled, built_per_thread
from patients.models import CareTeamMember, Patient, search_terms
from patients.selectors import SORTS, patient_export_rows, patient_list, patient_list_rows

from ..models import CLOSING, Journey, Stage

NO_JOURNEY = "none"
# The stages in the order the list sorts them: the path, then off it.
STAGE_ORDER: list[str] = [
    Stage.INQUIRY,
    Stage.DISCOVERY,
    Stage.INTAKE,
    Stage.COMMITMENT,
    Stage.BLUEPRINT,
    Stage.CHECK_INS,
    Stage.GRADUATED,
    Stage.ADVOCATE,
    Stage.PAUSED,
    Stage.DECLINED,
    Stage.WITHDRAWN,
]
ENDED_STAGES = {*CLOSING, Stage.ADVOCATE}  # a journey at these has ended
SORT_BOUND = 2_000
# A search with at most this many matches is read whole by the trigram index and paged in order: walking the
# name index for the first 25 matches of "kim" read 13,000 patients at 100,000 (22 ms), the matches sorted 9 ms.
# Only their ids and sort keys, once: the page among them, their count and the choice between the two ways
# are one statement (``accounts.paging.keyset_page_within``).
SEARCH_BOUND = 5_000
SORTS_BY_INDEX = set(SORTS)
BOUNDED_SORTS = {"stage", "-stage", "lead", "-lead"}
EXPORT_CHUNK = 2_000


def _current_journey():
    return Journey.objects.filter(patient=OuterRef("pk")).order_by(
        F("ended_at").asc(nulls_first=True), "-started_at", "-id"
    )


def with_current_stage(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """``current_stage`` on each patient: their open journey's stage, else their latest journey's."""
    return patients.annotate(current_stage=Subquery(_current_journey().values("stage")[:1]))


def at_stage(patients: QuerySet[Patient], stage: str) -> QuerySet[Patient]:
    """The patients whose current journey is at ``stage`` (``NO_JOURNEY``: those without any journey)."""
    return _at_stage(patients, stage, ended=stage in ENDED_STAGES)


def _at_stage(patients: QuerySet[Patient], stage: str, *, ended: bool) -> QuerySet[Patient]:
    """``at_stage`` for a stage that ``ended`` says is one a journey ends at or not (so that a marker can
    stand for the stage: ``_listing_shape``)."""
    journeys = Journey.objects.filter(patient=OuterRef("pk"))
    if stage == NO_JOURNEY:
        return patients.filter(~Exists(journeys))
    if not ended:  # an open journey: the unique index on open journeys finds it
        return patients.filter(Exists(journeys.filter(ended_at__isnull=True, stage=stage)))
    ended_journeys = patients.filter(
        ~Exists(journeys.filter(ended_at__isnull=True)), Exists(journeys.filter(stage=stage))
    )
    return with_current_stage(ended_journeys).filter(**{"current_stage": stage})


_STAGE_MARKER = "~stage~"  # a value no stage has and nothing else in the count spells


@built_per_thread
def _open_stage_counts() -> dict[str, CountsCompiled]:
    """``_count_at_open_stage``'s three reads (active, archived, everyone) compiled once per thread, the stage
    their one marked parameter: building the EXISTS and the count cost more Python than the count costs."""
    journeys = Journey.objects.filter(ended_at__isnull=True, stage=_STAGE_MARKER)
    archived_patient = Exists(Patient.objects.filter(pk=OuterRef("patient_id"), archived=True))
    return {
        archived: CountsCompiled({"at_stage": read}, _STAGE_MARKER, cap=COUNT_CAP)
        for archived, read in (
            ("active", journeys.filter(~archived_patient)),
            ("archived", journeys.filter(archived_patient)),
            ("all", journeys),
        )
    }


def _count_at_open_stage(stage: str, archived: str) -> tuple[int, bool]:
    """``capped_count(at_stage(patient_list(archived=archived), stage))`` for a stage an open journey is at,
    counted from the journeys' side: the open journeys at ``stage`` (one per patient), less those of archived
    patients (or only those), both read from partial indexes alone (``journey_open_stage_patient``,
    ``patient_archived_ids``). Counted from the patients' side it hashed the stage's journeys and scanned
    every active patient (24 ms at 100,000 patients for 4,109 paused; 3 ms this way)."""
    read = _open_stage_counts().get(archived, _open_stage_counts()["all"])
    seen = read.counts(stage)["at_stage"]
    return (COUNT_CAP, True) if seen > COUNT_CAP else (seen, False)


def _stage_rank():
    return Case(
        *(When(current_stage=stage, then=Value(rank)) for rank, stage in enumerate(STAGE_ORDER)),
        default=Value(len(STAGE_ORDER)),
        output_field=IntegerField(),
    )


def _ordered(patients: QuerySet[Patient], sort: str) -> QuerySet[Patient]:
    descending = sort.startswith("-")
    name = ("-last_name", "-first_name", "-id") if descending else ("last_name", "first_name", "id")
    if sort.lstrip("-") == "stage":
        rank = _stage_rank()
        return with_current_stage(patients).order_by(rank.desc() if descending else rank.asc(), *name)
    # Unsorted: one current lead a patient (``careteam_one_current_lead``); the model's order sorted each.
    leads = (
        CareTeamMember.objects.current()
        .filter(patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD)
        .order_by()
    )
    lead = F("lead_for_order")
    return patients.annotate(lead_for_order=Subquery(leads.values("user__display_name")[:1])).order_by(
        lead.desc(nulls_last=True) if descending else lead.asc(nulls_last=True), *name
    )


_LEAD_MARKER = 918_273_647  # an id no user has and nothing else in a listing's SQL spells
_SOURCE_MARKER = "~source~"  # a value no source has and nothing else in a listing's SQL spells
_SHAPES_KEPT = 128  # compiled counts and sorted reads a thread keeps (a shape each, of a few dozen)


@dataclass(frozen=True)
class _Asked:
    """What a listing was asked for, less the order: the search and the filters."""

    query: str = ""
    lead_id: int | None = None
    source: str = ""
    archived: str = "active"
    stage: str = ""
    # whether ``stage`` is one a journey ends at (None: as it says; else it is a marker's)
    ended: bool | None = None
    terms: tuple[str, ...] | None = None  # the search's terms as given (markers), in place of the query's

    def patients(self, sort: str) -> QuerySet[Patient]:
        """The patients asked for, in ``sort`` (an order an index serves)."""
        patients = patient_list(
            query=self.query,
            lead_id=self.lead_id,
            source=self.source,
            archived=self.archived,
            sort=sort,
            terms=None if self.terms is None else list(self.terms),
        )
        if not self.stage:
            return patients
        ended = self.stage in ENDED_STAGES if self.ended is None else self.ended
        return _at_stage(patients, self.stage, ended=ended)

    def shape(self) -> tuple[tuple, _Asked, tuple, tuple]:
        """(what the SQL depends on but the values, these filters with markers for the values, the markers,
        the values): a lead's id, a source, a stage and each of a search's terms are parameters of the same
        SQL whatever they are (a term as its LIKE pattern: ``_contains``); an ended stage is read another way
        than an open one, and a search of two words than one of one."""
        markers: list[int | str] = []
        values: list[int | str] = []
        terms = None
        if self.query:
            found = search_terms(self.query)
            terms = tuple(f"~term{n}~" for n in range(len(found)))
            markers.extend(_contains(term) for term in terms)
            values.extend(_contains(term) for term in found)
        lead = self.lead_id
        if lead:
            markers.append(_LEAD_MARKER)
            values.append(lead)
            lead = _LEAD_MARKER
        source = self.source
        if source:
            markers.append(_SOURCE_MARKER)
            values.append(source)
            source = _SOURCE_MARKER
        stage, ended = self.stage, self.stage in ENDED_STAGES
        if stage and stage != NO_JOURNEY:
            markers.append(_STAGE_MARKER)
            values.append(stage)
            stage = _STAGE_MARKER
        shape = (self.archived, "one" if lead else lead, bool(source), stage, ended, terms and len(terms))
        marked = _Asked(
            lead_id=lead, source=source, archived=self.archived, stage=stage, ended=ended, terms=terms
        )
        return shape, marked, tuple(markers), tuple(values)


@built_per_thread
def _shapes_compiled() -> dict[tuple, Any]:
    """The listings' counts and sorted reads compiled once per thread, by their shape (``_Asked.shape``)."""
    return {}


def _kept_for_shape[T](key: tuple, build: Callable[[], T]) -> T:
    """``build()`` once per thread for ``key`` (at most ``_SHAPES_KEPT`` kept: past that they start again)."""
    kept = _shapes_compiled()
    found = kept.get(key)
    if found is None:
        if len(kept) >= _SHAPES_KEPT:
            kept.clear()
        found = kept[key] = build()
    return found


@dataclass(frozen=True)
class PatientListing:
    """The patients the list shows, in its order, and which order that is: its count and page read by SQL
    compiled once per thread for each shape of filters (``_Asked.shape``), its ids (``ids``) a queryset."""

    asked: _Asked
    sort: str
    sort_refused: str = ""  # the order asked for and not applied (over ``SORT_BOUND`` patients)
    bound: int = SORT_BOUND
    count: tuple[int, bool] | None = None  # a capped count already made (by the refusal), else None
    searched: bool = False  # a search in an indexed order: paged by ``search_page``, one statement
    open_stage: tuple[str, str] | None = None  # (stage, archived): only a filter on an open stage narrows it

    @cached_property
    def ids(self) -> QuerySet:
        """The ids of the list, in its order (a queryset: the download reads it whole)."""
        if self.bounded:
            return _ordered(self.asked.patients("name"), self.sort).values_list("pk", flat=True)
        return self.asked.patients(self.sort).values_list("pk", flat=True)

    def counted(self) -> tuple[int, bool]:
        """The list's capped count: the one made already, else an open stage's from its journeys' side
        (``_count_at_open_stage``), else ``capped_count`` of the ids. Asked by the page, never by a download."""
        if self.count is not None:
            return self.count
        if self.open_stage is not None:
            return _count_at_open_stage(*self.open_stage)
        if self.searched:
            return capped_count(self.ids)
        return _capped_count_of(self.asked)

    @property
    def bounded(self) -> bool:
        """Sorted by a per-patient lookup: at most ``bound`` ids, read whole and paged in order."""
        return self.sort in BOUNDED_SORTS

    @property
    def few(self) -> bool:
        """A search with at most ``bound`` matches, which ``search_page`` reads whole and pages in order (it
        decides so in its own statement; this counts them apart, for a test or a look)."""
        seen, more = capped_count(self.ids)
        return self.searched and not more and seen <= self.bound

    def page(self, cursor: Cursor, *, per_page: int) -> KeysetPage:
        """The page ``cursor`` names, with the list's count: a search's by ``search_page``; a bounded sort's
        from its ids read once, in order, by SQL compiled once per shape; an indexed order's keyset read,
        compiled once per shape, order and kind of cursor (``keyset_page_compiled``)."""
        if self.searched:  # the page and its count in one statement, whatever the number of matches
            return self.search_page(cursor, per_page=per_page)
        if self.asked.query:  # a search in an order it refused or bounded: the ORM's reads, as built
            if self.bounded:
                return keyset_page_of_ids(list(self.ids), cursor, per_page=per_page)
            return keyset_page(self.ids, cursor, per_page=per_page, count=self.counted())
        shape, marked, markers, values = self.asked.shape()
        if self.bounded:  # a bounded sort: its ids read once, paged in order
            sorted_ids = _kept_for_shape(
                ("sorted ids", shape, self.sort), lambda: _sorted_ids_compiled(marked, self.sort, markers)
            )
            ids: list[int] = sorted_ids.rows(*values)  # a flat values_list: its rows are ids
            return keyset_page_of_ids(ids, cursor, per_page=per_page)
        return keyset_page_compiled(
            lambda: marked.patients(self.sort).values_list("pk", flat=True),
            cursor,
            per_page=per_page,
            name=("patient list", shape, self.sort),
            markers=markers,
            values=values,
            count=self.counted(),
        )

    def search_page(self, cursor: Cursor, *, per_page: int) -> KeysetPage:
        """A search's page and count, one statement (``keyset_page_within``): with at most ``bound`` matches,
        their ids and sort keys read by the trigram index and the page the rows after (or before) the cursor's
        among them, the count exact; with more, the page after the cursor from the index serving the order, the count
        capped. The same pages either way. Its statement is built once per thread for each shape of search
        (``keyset_page_within_compiled``: the number of words, the filters, the order), the terms markers."""
        shape, marked, markers, values = self.asked.shape()
        return keyset_page_within_compiled(
            lambda: marked.patients(self.sort).values_list("pk", flat=True),
            cursor,
            per_page=per_page,
            bound=self.bound,
            name=("patient search", shape, self.sort),
            markers=markers,
            values=values,
        )


def _contains(term: str) -> str:
    """The parameter ``search_text__contains=term`` gives the database: the term's ``%``, ``_`` and ``\\``
    escaped (``prep_for_like_query``), between ``%`` (``Contains.param_pattern``)."""
    return Contains.param_pattern % connection.ops.prep_for_like_query(term)


def _sorted_ids_compiled(marked: _Asked, sort: str, markers: tuple) -> Compiled:
    """The ids of a bounded sort (``_ordered``), in its order, compiled with the shape's markers."""
    return Compiled(_ordered(marked.patients("name"), sort).values_list("pk", flat=True), *markers)


def _capped_count_of(asked: _Asked) -> tuple[int, bool]:
    """``capped_count`` of the patients asked for (not a search), by SQL compiled once per shape."""
    shape, marked, markers, values = asked.shape()
    counts = _kept_for_shape(
        ("count", shape),
        lambda: CountsCompiled({"listed": marked.patients("name")}, *markers, cap=COUNT_CAP),
    )
    seen = counts.counts(*values)["listed"]
    return (COUNT_CAP, True) if seen > COUNT_CAP else (seen, False)


def patient_listing(
    *,
    query: str = "",
    lead_id: int | None = None,
    source: str = "",
    archived: str = "active",
    stage: str = "",
    sort: str = "name",
) -> PatientListing:
    """The list's patients, searched, filtered and sorted: its page one query when read (a search: its page
    and count, by ``PatientListing.search_page``), plus one capped count (for the stage and lead orders, made
    here)."""
    asked = _Asked(query=query, lead_id=lead_id, source=source, archived=archived, stage=stage)
    indexed = sort if sort in SORTS_BY_INDEX else "name"
    open_stage = None
    if (
        stage
        and stage != NO_JOURNEY
        and stage not in ENDED_STAGES
        and not (query or lead_id is not None or source)
    ):
        open_stage = (stage, archived)
    if sort not in BOUNDED_SORTS:
        if not query:
            return PatientListing(asked=asked, sort=indexed, open_stage=open_stage)
        # Whether a search's matches are few enough to read whole is decided by the statement that reads its
        # page and counts it (``search_page``): one query either way.
        return PatientListing(asked=asked, sort=indexed, searched=True, bound=SEARCH_BOUND)
    # One capped count decides the refusal and, when it refuses, is the list's count too: the same number of
    # queries whether the clinic has 2,000 such patients or 200,000.
    if open_stage:
        count = _count_at_open_stage(*open_stage)
    elif query:
        count = capped_count(asked.patients("name"))
    else:
        count = _capped_count_of(asked)
    if count[1] or count[0] > SORT_BOUND:
        return PatientListing(asked=asked, sort="name", sort_refused=sort, count=count)
    return PatientListing(asked=asked, sort=sort, count=count)


_IDS_MARKER = [918_273_645]  # ids no stage query spells otherwise


@built_per_thread
def _stages_compiled() -> Compiled:
    """``stages_of``' read compiled once per thread, the patients' ids one array parameter (``AnyOf``)."""
    return Compiled(
        Journey.objects.filter(AnyOf("patient_id", _IDS_MARKER))
        .order_by("patient_id", F("ended_at").asc(nulls_first=True), "-started_at", "-id")
        .values_list("patient_id", "stage"),
        _IDS_MARKER,
    )


def stages_of(patient_ids: list[int]) -> dict[int, str]:
    """Each patient's current stage, for the patients of one page: one query (none for no patients)."""
    stages: dict[int, str] = {}
    for patient_id, stage in _stages_compiled().rows(list(patient_ids)) if patient_ids else ():
        stages.setdefault(patient_id, stage)
    return stages


@dataclass(frozen=True)
class PatientRow:
    """One patient of the list, with their lead and consent (``patient``) and their current stage."""

    patient: Patient
    stage: str  # a value of ``Stage``, or "" with no journey yet

    @property
    def pk(self) -> int:
        return self.patient.id  # the primary key's column: ``Model.pk`` is three calls a row

    @property
    def stage_label(self) -> str:
        return Stage(self.stage).label if self.stage else ""


def patient_rows(
    patient_ids: list[int], *, fetch: Callable[[list[int]], Iterable[Patient]] = patient_list_rows
) -> list[PatientRow]:
    """The patients of one page with their lead, consent and stage: two queries (``fetch`` reads the
    patients; a download passes ``patient_export_rows``)."""
    stages = stages_of(patient_ids)
    return [PatientRow(patient=patient, stage=stages.get(patient.id, "")) for patient in fetch(patient_ids)]


def patient_export(
    listing: PatientListing, *, chunk: int = EXPORT_CHUNK
) -> tuple[list[int], Iterator[PatientRow]]:
    """Every patient of the listing, in its order: their ids at once (for the audit trail, before anything
    leaves) and the rows as they are read, ``chunk`` patients and four queries at a time (patients, leads,
    consent, stages: each by index, no per-patient subquery), so memory and each query stay bounded."""
    ids = list(listing.ids)

    def rows() -> Iterator[PatientRow]:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            by_id = {row.pk: row for row in patient_rows(part, fetch=patient_export_rows)}
            yield from (by_id[pk] for pk in part if pk in by_id)

    return ids, rows()
