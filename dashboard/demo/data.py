"""The demo clinic's content, read from the TOML files in ``data/`` (stdlib ``tomllib``).

The files are meant to be edited by hand: the patients and where their journeys stand, the stories heard
at intake, what visit notes and answers say, the plans and their revisions, and the dials that shape the
rest. Reading them checks every key and every choice, so that a typo fails the demo loudly, naming the
file and the entry, instead of quietly leaving something out.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accounts.models import Role
from compliance.detection import reports_side_effect
from compliance.models import Barrier, ComplianceLog, CourseCorrection
from journeys.models import OFF_PATH, PATH, ExitReason, ItemKind, Stage, Visit
from patients.models import Patient

DATA_DIR = Path(__file__).resolve().parent / "data"


class DemoError(Exception):
    """The demo cannot be built: in this database (say, it has no practitioner to lead care), or from
    this data."""


class DemoDataError(DemoError):
    """A data file says something the demo cannot use."""


# --- The shapes of the data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Colleague:
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class Team:
    coach: str
    coordinator: str
    coach_share: float
    specialist_share: float
    specialists: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class ProgramOffer:
    name: str
    weeks: int
    checkin_every_days: int
    fee: int
    description: str


@dataclass(frozen=True)
class Contact:
    email_domains: tuple[str, ...]
    no_phone_share: float
    sydney_mobiles: tuple[str, ...]
    area_codes: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Sources:
    referral_share: float
    weights: dict[str, int]
    start_notes: dict[str, str]


@dataclass(frozen=True)
class Consent:
    granted_via: tuple[str, ...]
    patterns: dict[str, tuple[int, str]]  # pattern: (weight, words for the summary)


@dataclass(frozen=True)
class Visits:
    rooms: tuple[str, ...]
    hours: tuple[int, ...]
    far_away: tuple[str, ...]


@dataclass(frozen=True)
class Clinic:
    seed: int
    reference_date: date
    stay_days: dict[str, tuple[int, int]]
    colleagues: tuple[Colleague, ...]
    team: Team
    programs: tuple[ProgramOffer, ...]
    contact: Contact
    sources: Sources
    consent: Consent
    visits: Visits


@dataclass(frozen=True)
class JourneyPlan:
    """Where a demo patient's journey stands, and the few things that make their history their own."""

    stage: str
    days: int  # in the current stage (at least 1: entered on an earlier day)
    theme: str = ""  # the story heard at intake (stories.toml), which also picks the program; "" before it
    left_from: str = ""  # off the path: the stage the patient left from
    reason: str = ""
    note: str = ""
    upcoming: str = ""  # a kind of visit booked in the next two weeks
    no_show: bool = False  # missed a discovery call
    unsigned: bool = False  # the intake note is still a draft
    addendum: bool = False  # the signed intake note has an addendum
    draft_only: bool = False  # the plan is still being written
    revised: bool = False  # the plan has a version 2
    item_paused: bool = False  # one item of the plan is paused
    faltering: bool = False  # let their latest check-in close unanswered
    escalated: bool = False  # faltering for two check-ins: silent after the follow-up, so a person calls
    side_effect: bool = False  # their latest answer tells of a side effect (the lead is alerted at once)
    struggling: bool = False  # answered their latest two check-ins, and little of the plan fitted those weeks
    corrected: bool = False  # struggled at first; the revision (``revised``) answered their alert

    @property
    def stages(self) -> list[str]:
        """Every stage the journey has been in, in order, ending where it stands."""
        if self.stage in OFF_PATH:
            return [*PATH[: PATH.index(self.left_from) + 1], self.stage]
        return PATH[: PATH.index(self.stage) + 1]


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    time_zone: str
    journey: JourneyPlan
    preferred_name: str = ""
    pronouns: str = ""
    quiet_hours: tuple[time, time] | None = None
    archived: bool = False
    lead_changed: bool = False

    @property
    def legal_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def name(self) -> str:
        """What the clinic calls them in notes."""
        return self.preferred_name or self.first_name


@dataclass(frozen=True)
class Theme:
    """One kind of story a patient brings to intake ("Listen as Diagnosis"), and what their plan adds."""

    program: str
    story: str
    tried: str
    fears: str
    goals: str
    summary: str
    items: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Notes:
    inquiry_messages: tuple[str, ...]
    discovery_title: str
    discovery_notes: tuple[str, ...]
    discovery_deciding: str
    discovery_left: str
    intake_title: str
    intake_body: str
    intake_addenda: tuple[str, ...]
    commitment_title: str
    commitment_notes: tuple[str, ...]
    commitment_thinking: str
    commitment_left: str
    follow_up_title: str
    follow_up_after_days: int
    follow_up_notes: tuple[str, ...]


@dataclass(frozen=True)
class Revision:
    reason: str
    item: str | None = None  # the title of the item to change with ``fields``; None: ``add`` an item
    fields: dict = field(default_factory=dict)
    add: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Plans:
    template_name: str
    template_program: str
    template_summary: str
    template_items: tuple[dict, ...]
    revisions: tuple[Revision, ...]
    paused_item: str
    paused_reason: str
    correction_revision: str
    correction_note: str
    correction_changes: dict[str, str]

    def revision_of(self, title: str) -> Revision:
        return next(revision for revision in self.revisions if revision.item == title)

    @property
    def added_revision(self) -> Revision:
        """The revision that adds an item (also used when the item to change is not in the plan)."""
        return next(revision for revision in self.revisions if revision.item is None)


@dataclass(frozen=True)
class Answers:
    share: float
    after_hours: tuple[int, ...]
    words_share: float
    phone_share: float
    changed_share: float
    steady_week: dict[str, int]
    hard_week: dict[str, int]
    steady_floor: int
    hard_range: tuple[int, int]
    ratings: dict[str, int]
    skip_digestion_share: float
    good_week_words: tuple[str, ...]
    mixed_week_words: tuple[str, ...]
    hard_week_words: tuple[str, ...]
    morning_words: tuple[str, ...]
    side_effect_words: tuple[str, ...]
    changed_words: str
    steady_barriers: tuple[str, ...]
    hard_barriers: tuple[str, ...]
    paused_reasons: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class DemoData:
    clinic: Clinic
    patients: tuple[Person, ...]
    themes: dict[str, Theme]
    notes: Notes
    plans: Plans
    answers: Answers

    def program(self, name: str) -> ProgramOffer:
        return next(program for program in self.clinic.programs if program.name == name)


# --- Reading the files ---------------------------------------------------------------------------------


@cache
def demo_data() -> DemoData:
    """The demo's data, read and checked once per process."""
    return read(DATA_DIR)


def read(folder: Path) -> DemoData:
    tables = {}
    for name in ("clinic", "patients", "stories", "notes", "plans", "answers"):
        path = folder / f"{name}.toml"
        try:
            tables[name] = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise DemoDataError(f"{path.name}: {error}") from error
    clinic = _clinic(tables["clinic"])
    themes = {
        key: _build(Theme, table, f"stories.toml [themes.{key}]")
        for key, table in _only(tables["stories"], "stories.toml", "themes")["themes"].items()
    }
    patients = tuple(
        _person(table, f"patients.toml, patient {n} ({table.get('first_name')} {table.get('last_name')})")
        for n, table in enumerate(_only(tables["patients"], "patients.toml", "patients")["patients"], 1)
    )
    data = DemoData(
        clinic=clinic,
        patients=patients,
        themes=themes,
        notes=_notes(tables["notes"]),
        plans=_plans(tables["plans"]),
        answers=_build(Answers, tables["answers"], "answers.toml"),
    )
    _check(data)
    return data


def _clinic(table: dict) -> Clinic:
    where = "clinic.toml"
    table = dict(table)
    team = _build(Team, table.pop("team", {}), f"{where} [team]")
    contact = _build(Contact, table.pop("contact", {}), f"{where} [contact]")
    sources = _build(Sources, table.pop("sources", {}), f"{where} [sources]")
    consent = _build(Consent, table.pop("consent", {}), f"{where} [consent]")
    visits = _build(Visits, table.pop("visits", {}), f"{where} [visits]")
    colleagues = tuple(
        _build(Colleague, entry, f"{where} [[colleagues]] {n}")
        for n, entry in enumerate(table.pop("colleagues", []), 1)
    )
    programs = tuple(
        _build(ProgramOffer, entry, f"{where} [[programs]] {n}")
        for n, entry in enumerate(table.pop("programs", []), 1)
    )
    return _build(
        Clinic,
        table,
        where,
        team=team,
        contact=contact,
        sources=sources,
        consent=consent,
        visits=visits,
        colleagues=colleagues,
        programs=programs,
    )


def _person(table: dict, where: str) -> Person:
    table = dict(table)
    journey = _build(JourneyPlan, table.pop("journey", {}), f"{where} [patients.journey]")
    return _build(Person, table, where, journey=journey)


def _notes(table: dict) -> Notes:
    flat = {}
    for section, entries in table.items():
        if not isinstance(entries, dict):
            raise DemoDataError(f"notes.toml: “{section}” belongs in a [section]")
        flat |= {f"{section}_{key}": value for key, value in entries.items()}
    return _build(Notes, flat, "notes.toml")


def _plans(table: dict) -> Plans:
    where = "plans.toml"
    table = dict(table)
    template = _only(table.pop("template", {}), f"{where} [template]", "name", "program", "summary", "items")
    paused = _only(table.pop("paused", {}), f"{where} [paused]", "item", "reason")
    correction = _only(table.pop("correction", {}), f"{where} [correction]", "revision", "note", "changes")
    revisions = tuple(
        _build(Revision, entry, f"{where} [[revisions]] {n}")
        for n, entry in enumerate(table.pop("revisions", []), 1)
    )
    _only(table, where)
    return Plans(
        template_name=template["name"],
        template_program=template["program"],
        template_summary=template["summary"],
        template_items=_freeze(template["items"]),
        revisions=revisions,
        paused_item=paused["item"],
        paused_reason=paused["reason"],
        correction_revision=correction["revision"],
        correction_note=correction["note"],
        correction_changes=dict(correction["changes"]),
    )


def _only(table: dict, where: str, *keys: str) -> dict:
    """``table``, which must hold exactly ``keys``."""
    unknown, missing = set(table) - set(keys), set(keys) - set(table)
    if unknown:
        raise DemoDataError(f"{where}: unknown {', '.join(sorted(unknown))}")
    if missing:
        raise DemoDataError(f"{where}: missing {', '.join(sorted(missing))}")
    return table


def _build(cls, table: dict, where: str, **given):
    """An instance of the dataclass ``cls`` from a TOML table: no unknown keys, none missing."""
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise DemoDataError(f"{where}: unknown {', '.join(sorted(unknown))}")
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    missing = required - set(table) - set(given)
    if missing:
        raise DemoDataError(f"{where}: missing {', '.join(sorted(missing))}")
    values = {name: _freeze(value) for name, value in table.items()}
    return cls(**(values | given))


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return {key: _freeze(item) for key, item in value.items()}
    return value


# --- Checking what the files say ------------------------------------------------------------------------

ITEM_KEYS = {"kind", "title", "instructions", "dose", "frequency"}


def _check(data: DemoData) -> None:
    clinic, problems = data.clinic, []

    def check(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    def check_item(item: dict, where: str, *, partial: bool = False) -> None:
        check(set(item) <= ITEM_KEYS, f"{where}: unknown {', '.join(sorted(set(item) - ITEM_KEYS))}")
        check(partial or {"kind", "title"} <= set(item), f"{where}: an item needs a kind and a title")
        check(
            item.get("kind", ItemKind.DIET) in ItemKind.values,
            f"{where}: no kind of item “{item.get('kind')}”",
        )

    def check_zone(zone: str, where: str) -> None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{where}: no time zone “{zone}”")

    programs = {program.name for program in clinic.programs}
    usernames = {colleague.username for colleague in clinic.colleagues}
    check(
        set(clinic.stay_days) == set(PATH) - {Stage.CHECK_INS, Stage.ADVOCATE},
        "clinic.toml [stay_days]: one per stage",
    )
    for colleague in clinic.colleagues:
        check(
            colleague.role in Role.values, f"clinic.toml: no role “{colleague.role}” ({colleague.username})"
        )
    check({clinic.team.coach, clinic.team.coordinator} <= usernames, "clinic.toml [team]: not a colleague")
    for pattern in ("both", "email", "sms", "none", "withdrew_sms", "withdrew_email", "unsubscribed"):
        check(pattern in clinic.consent.patterns, f"clinic.toml [consent.patterns]: missing {pattern}")
    for source in [*clinic.sources.weights, *clinic.sources.start_notes]:
        check(source in Patient.Source.values, f"clinic.toml [sources]: no source “{source}”")
    for zone in [*clinic.contact.area_codes, *clinic.visits.far_away]:
        check_zone(zone, "clinic.toml")

    for key, theme in data.themes.items():
        check(theme.program in programs, f"stories.toml [themes.{key}]: no program “{theme.program}”")
        for item in theme.items:
            check_item(item, f"stories.toml [themes.{key}]")

    check(
        data.plans.template_program in programs,
        f"plans.toml [template]: no program “{data.plans.template_program}”",
    )
    for item in data.plans.template_items:
        check_item(item, "plans.toml [template]")
    for revision in data.plans.revisions:
        if revision.item is None:
            check_item(revision.add, f"plans.toml revision “{revision.reason}”")
        else:
            check_item(revision.fields, f"plans.toml revision of “{revision.item}”", partial=True)
    check(
        sum(revision.item is None for revision in data.plans.revisions) == 1,
        "plans.toml: one revision adds an item",
    )
    check(
        data.plans.correction_revision in {revision.item for revision in data.plans.revisions},
        "plans.toml [correction]: `revision` names no revision",
    )
    for change in data.plans.correction_changes.values():
        check(
            change in CourseCorrection.Change.values, f"plans.toml [correction.changes]: no change “{change}”"
        )

    answers = data.answers
    for weights in (answers.steady_week, answers.hard_week):
        check(set(weights) <= set(ComplianceLog.Status.values), "answers.toml: weeks weigh item statuses")
    for barrier in [*answers.steady_barriers, *answers.hard_barriers]:
        check(barrier in Barrier.values, f"answers.toml: no barrier “{barrier}”")
    check(set(answers.paused_reasons) == set(ItemKind.values), "answers.toml [paused_reasons]: one per kind")
    check(set(answers.ratings) == {"energy", "sleep", "mood", "digestion"}, "answers.toml: the four ratings")
    # A side effect alerts the lead at answer time: only the patients meant to tell of one do.
    check(
        Barrier.SIDE_EFFECTS not in [*answers.steady_barriers, *answers.hard_barriers],
        "answers.toml: side effects are no ordinary barrier (they alert the lead at once)",
    )
    everyday = [
        *answers.good_week_words, *answers.mixed_week_words, *answers.hard_week_words,
        *answers.morning_words, answers.changed_words,
    ]  # fmt: skip
    for words in everyday:
        check(
            not reports_side_effect(barriers=[], words=words),
            f"answers.toml: “{words}” tells of a side effect",
        )
    for words in answers.side_effect_words:
        check(
            reports_side_effect(barriers=[], words=words), f"answers.toml: “{words}” tells of no side effect"
        )
    check(
        bool(answers.side_effect_words), "answers.toml: `side_effect_words` for the patient who tells of one"
    )

    names = [person.legal_name for person in data.patients]
    check(bool(names), "patients.toml: the demo needs at least one patient")
    check(len(set(names)) == len(names), "patients.toml: two patients share a name")
    for person in data.patients:
        plan, who = person.journey, f"patients.toml, {person.legal_name}"
        check_zone(person.time_zone, who)
        check(plan.stage in Stage.values, f"{who}: no stage “{plan.stage}”")
        check(plan.days >= 1, f"{who}: a journey is in its stage for at least a day")
        check(not plan.theme or plan.theme in data.themes, f"{who}: no theme “{plan.theme}”")
        check(
            not plan.upcoming or plan.upcoming in Visit.Kind.values,
            f"{who}: no kind of visit “{plan.upcoming}”",
        )
        if plan.stage in OFF_PATH:
            check(plan.left_from in PATH, f"{who}: off the path, `left_from` names the stage left")
            check(
                plan.reason in ExitReason.values and bool(plan.note.strip()),
                f"{who}: leaving needs a reason and a note",
            )
        else:
            check(
                not (plan.left_from or plan.reason or plan.note),
                f"{who}: only a journey off the path has a reason",
            )
        known = plan.stage in PATH or (plan.stage in OFF_PATH and plan.left_from in PATH)
        check(
            not known or Stage.INTAKE not in plan.stages or bool(plan.theme),
            f"{who}: a journey that reached intake has a theme",
        )
        check(
            not (plan.escalated or plan.side_effect) or plan.stage == Stage.CHECK_INS,
            f"{who}: only a journey at check-ins is escalated or tells of a side effect",
        )
        check(not plan.escalated or plan.faltering, f"{who}: an escalated patient is faltering")
        check(
            not person.archived or plan.stage in OFF_PATH - {Stage.PAUSED},
            f"{who}: only a patient whose journey is over is archived",
        )
    if problems:
        raise DemoDataError("; ".join(problems))
