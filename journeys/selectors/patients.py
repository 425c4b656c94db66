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

from django.db.models import Case, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from accounts.paging import COUNT_CAP, Cursor, KeysetPage, capped_count, keyset_page_within
from accounts.queries import AnyOf, Compiled, CountsCompiled, built_per_thread
from patients.models import CareTeamMember, Patient
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
    journeys = Journey.objects.filter(patient=OuterRef("pk"))
    if stage == NO_JOURNEY:
        return patients.filter(~Exists(journeys))
    if stage not in ENDED_STAGES:  # an open journey: the unique index on open journeys finds it
        return patients.filter(Exists(journeys.filter(ended_at__isnull=True, stage=stage)))
    ended = patients.filter(
        ~Exists(journeys.filter(ended_at__isnull=True)), Exists(journeys.filter(stage=stage))
    )
    return with_current_stage(ended).filter(**{"current_stage": stage})


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
    leads = CareTeamMember.objects.current().filter(patient=OuterRef("pk"), role=CareTeamMember.Role.LEAD)
    lead = F("lead_for_order")
    return patients.annotate(lead_for_order=Subquery(leads.values("user__display_name")[:1])).order_by(
        lead.desc(nulls_last=True) if descending else lead.asc(nulls_last=True), *name
    )


@dataclass(frozen=True)
class PatientListing:
    """The ids of the patients the list shows, in its order, and which order that is."""

    ids: QuerySet
    sort: str
    sort_refused: str = ""  # the order asked for and not applied (over ``SORT_BOUND`` patients)
    bound: int = SORT_BOUND
    count: tuple[int, bool] | None = None  # a capped count already made (by the refusal), else None
    searched: bool = False  # a search in an indexed order: paged by ``search_page``, one statement
    open_stage: tuple[str, str] | None = None  # (stage, archived): only a filter on an open stage narrows it

    def counted(self) -> tuple[int, bool]:
        """The list's capped count: the one made already, else an open stage's from its journeys' side
        (``_count_at_open_stage``), else ``capped_count`` of the ids. Asked by the page, never by a download."""
        if self.count is not None:
            return self.count
        if self.open_stage is not None:
            return _count_at_open_stage(*self.open_stage)
        return capped_count(self.ids)

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

    def search_page(self, cursor: Cursor, *, per_page: int) -> KeysetPage:
        """A search's page and count, one statement (``keyset_page_within``): with at most ``bound`` matches,
        their ids and sort keys read by the trigram index and the page the rows after (or before) the cursor's
        among them, the count exact; with more, the page after the cursor from the index serving the order, the count
        capped. The same pages either way."""
        return keyset_page_within(self.ids, cursor, per_page=per_page, bound=self.bound)


def patient_listing(
    *,
    query: str = "",
    lead_id: int | None = None,
    source: str = "",
    archived: str = "active",
    stage: str = "",
    sort: str = "name",
) -> PatientListing:
    """The list's ids, searched, filtered and sorted: one query when read (a search: its page and count, by
    ``PatientListing.search_page``), plus one capped count for the stage and lead orders."""
    indexed = sort if sort in SORTS_BY_INDEX else "name"
    patients = patient_list(query=query, lead_id=lead_id, source=source, archived=archived, sort=indexed)
    open_stage = None
    if stage:
        patients = at_stage(patients, stage)
        if stage != NO_JOURNEY and stage not in ENDED_STAGES and not (query or lead_id is not None or source):
            open_stage = (stage, archived)
    if sort not in BOUNDED_SORTS:
        ids = patients.values_list("pk", flat=True)
        if not query:
            return PatientListing(ids=ids, sort=indexed, open_stage=open_stage)
        # Whether a search's matches are few enough to read whole is decided by the statement that reads its
        # page and counts it (``search_page``): one query either way.
        return PatientListing(ids=ids, sort=indexed, searched=True, bound=SEARCH_BOUND)
    # One capped count decides the refusal and, when it refuses, is the list's count too: the same number of
    # queries whether the clinic has 2,000 such patients or 200,000.
    count = _count_at_open_stage(*open_stage) if open_stage else capped_count(patients)
    if count[1] or count[0] > SORT_BOUND:
        return PatientListing(
            ids=patients.values_list("pk", flat=True), sort="name", sort_refused=sort, count=count
        )
    return PatientListing(ids=_ordered(patients, sort).values_list("pk", flat=True), sort=sort, count=count)


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
        return self.patient.pk

    @property
    def stage_label(self) -> str:
        return Stage(self.stage).label if self.stage else ""


def patient_rows(
    patient_ids: list[int], *, fetch: Callable[[list[int]], Iterable[Patient]] = patient_list_rows
) -> list[PatientRow]:
    """The patients of one page with their lead, consent and stage: two queries (``fetch`` reads the
    patients; a download passes ``patient_export_rows``)."""
    stages = stages_of(patient_ids)
    return [PatientRow(patient=patient, stage=stages.get(patient.pk, "")) for patient in fetch(patient_ids)]


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
