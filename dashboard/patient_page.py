"""The patient page's composition: a summary header, then the record behind tabs, each tab one or two apps'
panels, loaded on demand.

``PATIENT_TABS`` lists the tabs in order; each holds the panels it shows, top to bottom. A panel is a plain
context function in its app's panels module (``context(request, patient)``, a fixed number of queries), so
a tab costs only what its own panels cost and the page costs the header and one tab. Nothing registers
itself: a new panel is a function and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from accounts.markup import escaped
from accounts.once import rendered_once
from compliance import panels as compliance_panels
from compliance import selectors as compliance_selectors
from compliance.adherence_markup import adherence_panel_html, then_and_now_panel_html
from compliance.alerts_markup import alerts_panel_html
from compliance.models import Alert, ClinicSettings
from journeys.forms.move import MoveForm
from journeys.models import OFF_PATH, Visit
from journeys.panels import blueprints as blueprint_panels
from journeys.panels import intake as intake_panels
from journeys.panels import timeline as timeline_panels
from journeys.panels import visits as visit_panels
from journeys.selectors.timeline import JourneySummary, patient_journey
from journeys.selectors.visits import patient_next_visit
from journeys.services.stages import allowed_moves
from nudges import panels as nudge_panels
from nudges.selectors import Reach, patient_reach
from patients import panels as patient_panels
from patients.models import Patient

from .move_form import unbound_move_form_html

# ``?tab=<key>`` on the patient's page: the tab shown, and the no-JS way to every other one.
TAB_PARAM = "tab"


@dataclass(frozen=True)
class Panel:
    """One section of the patient page: ``context(request, patient)`` gives ``template_name`` its ``panel``,
    in a fixed number of queries whatever the patient's history holds. ``markup``, where a panel has it,
    writes from that context in Python what ``template_name`` wrote (for the panels of the first tab, whose
    templates cost every patient page more than its queries)."""

    key: str
    title: str
    template_name: str
    context: Callable[..., dict]
    markup: Callable[[dict], str | None] | None = None  # None from it: the template writes this one


@dataclass(frozen=True)
class Tab:
    """One tab of the patient page: its main panels, top to bottom, and the shorter ``side`` ones, shown
    beside them on wide screens and before them on narrow ones."""

    key: str
    title: str
    panels: tuple[Panel, ...]
    side: tuple[Panel, ...] = ()

    @property
    def all_panels(self) -> tuple[Panel, ...]:
        return (*self.side, *self.panels)


CONTACT = Panel(
    "contact", "Contact and consent", "patients/_contact_panel.html", patient_panels.contact_panel_context
)
TEAM = Panel("team", "Care team", "patients/_care_team_panel.html", patient_panels.care_team_panel_context)
JOURNEY = Panel(
    "journey",
    "Journey",
    "journeys/_journey_panel.html",
    timeline_panels.journey_panel_context,
    markup=timeline_panels.journey_panel_html,
)
BLUEPRINT = Panel(
    "blueprint",
    "Care plan",
    "journeys/_blueprint_panel.html",
    blueprint_panels.blueprint_panel_context,
    markup=blueprint_panels.blueprint_panel_html,
)
VISITS = Panel("visits", "Visits", "journeys/_visits_panel.html", visit_panels.visits_panel_context)
INTAKE = Panel(
    "intake", "Intake questionnaire", "journeys/_intake_panel.html", intake_panels.intake_panel_context
)
MESSAGES = Panel("messages", "Messages", "nudges/_patient_panel.html", nudge_panels.messages_panel_context)
ALERTS = Panel(
    "alerts",
    "Alerts and course corrections",
    "compliance/_alerts_panel.html",
    compliance_panels.alerts_panel_context,
    markup=alerts_panel_html,
)
ADHERENCE = Panel(
    "adherence",
    "Adherence",
    "compliance/_adherence_panel.html",
    compliance_panels.adherence_panel_context,
    markup=adherence_panel_html,
)
TIMELINE = Panel("timeline", "Timeline", "journeys/_timeline.html", timeline_panels.timeline_panel_context)
CONVERSATION = Panel(
    "conversation", "Conversation", "nudges/_conversation_panel.html", nudge_panels.conversation_panel_context
)
THEN_AND_NOW = Panel(
    "then-and-now",
    "Then and now",
    "compliance/_then_and_now_panel.html",
    compliance_panels.then_and_now_panel_context,
    markup=then_and_now_panel_html,
)
ADVOCACY = Panel(
    "advocacy", "Advocacy", "patients/_advocacy_panel.html", patient_panels.advocacy_panel_context
)

PATIENT_TABS = (
    Tab("plan", "Plan and adherence", (ADHERENCE,), side=(BLUEPRINT, ALERTS)),
    Tab("visits", "Visits", (VISITS,), side=(INTAKE,)),
    Tab("conversation", "Conversation", (CONVERSATION,)),
    Tab("messages", "Messages", (MESSAGES,)),
    Tab("journey", "Journey", (TIMELINE,), side=(JOURNEY, THEN_AND_NOW, ADVOCACY)),
    Tab("contact", "Contact and team", (CONTACT,), side=(TEAM,)),
)
TABS_BY_KEY = {tab.key: tab for tab in PATIENT_TABS}
DEFAULT_TAB = PATIENT_TABS[0]


def tab_named(key: str | None) -> Tab | None:
    return TABS_BY_KEY.get(key or "")


_MARKER = 918_273_645  # an id that no tab's key, title or link spells


def tabs_html(patient: Patient, tab: Tab, *, swap: bool = False) -> SafeString:
    """``dashboard/_patient_tabs.html`` with ``tab`` current (``swap``: as htmx's out-of-band swap), rendered by
    its template once per tab and look with a marker for the patient's id, which is put in its place: its
    eighteen ``{% url %}`` tags cost every tab ~1.7 ms."""
    look = ("patient tabs", tab.key, swap, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    context = {"tabs": PATIENT_TABS, "tab": tab, "patient": {"pk": _MARKER}, "swap_tabs": swap}
    html = rendered_once(look, lambda: render_to_string("dashboard/_patient_tabs.html", context))
    return mark_safe(html.replace(str(_MARKER), str(int(patient.pk))))  # noqa: S308 — the template's output, an integer put in


@dataclass(frozen=True)
class TabContent:
    main: list[tuple[Panel, dict]]
    side: list[tuple[Panel, dict]]


def tab_panels(request, patient: Patient, tab: Tab) -> TabContent:
    """Each panel of ``tab`` with its context: the side panels, then the main ones."""
    side = [(panel, panel.context(request, patient)) for panel in tab.side]
    return TabContent(main=[(panel, panel.context(request, patient)) for panel in tab.panels], side=side)


_PANEL = (
    '<section class="card" aria-labelledby="{key}-heading" id="panel-{key}">\n  <div class="card-body">\n'
    '    <h2 id="{key}-heading" class="h5">{title}</h2>\n    {inner}\n  </div>\n</section>\n'
)


def _panel_html(request, patient: Patient, panel: Panel, context: dict) -> str:
    """``dashboard/_patient_panel.html``'s section: the panel's own markup (``markup``), else its template's,
    which sees the patient, its ``panel`` context and the request's (the user, the CSRF token)."""
    inner = panel.markup(context) if panel.markup is not None else None
    if inner is None:
        inner = render_to_string(panel.template_name, {"patient": patient, "panel": context}, request=request)
    return _PANEL.format(key=escaped(panel.key), title=escaped(panel.title), inner=inner)


def tab_html(request, patient: Patient, tab: Tab, content: TabContent, *, swap: bool = False) -> SafeString:
    """What ``dashboard/_patient_tab.html`` wrote for ``tab`` (without its first and last line break, which the
    template that holds it now writes): the side panels' column, the main one, and for htmx (``swap``) the
    tabs with this one current, swapped out of band."""
    parts = ['<div class="row g-3 patient-tab" id="patient-tab" data-tab="', escaped(tab.key), '">\n  ']
    if content.side:
        parts.append('\n    <div class="col-xl-4 order-xl-2 d-flex flex-column gap-3">\n      ')
        for panel, context in content.side:
            parts += ["\n        ", _panel_html(request, patient, panel, context), "\n      "]
        parts.append("\n    </div>\n  ")
    parts.append(
        f'\n  <div class="{"col-xl-8 order-xl-1" if content.side else "col-12"} d-flex flex-column gap-3">\n    '
    )
    for panel, context in content.main:
        parts += ["\n      ", _panel_html(request, patient, panel, context), "\n    "]
    parts.append("\n  </div>\n</div>\n")
    if swap:
        parts += ["\n  ", tabs_html(patient, tab, swap=True), "\n"]
    # Every text is escaped, a panel's own markup (its template's, or written as it and escaped) or the tabs'.
    return mark_safe("".join(parts))  # noqa: S308


@dataclass(frozen=True)
class PatientSummary:
    """What the header says about the patient at a glance."""

    journey: JourneySummary | None
    moves: tuple[str, ...]  # where the journey may move now (none once it has ended)
    adherence_score: float | None
    adherence_window_days: int
    adherence_trend: str
    below_threshold: bool
    next_visit: Visit | None
    open_alert: Alert | None
    open_alerts: int
    reach: list[Reach]
    clinic_time_zone: str = settings.TIME_ZONE

    @property
    def offers_exit(self) -> bool:
        return any(stage in OFF_PATH for stage in self.moves)

    @property
    def move_form(self) -> MoveForm | None:
        """The move form (an unbound one): what ``move_form_html`` writes the fields of."""
        if self.journey is None or not self.journey.journey.is_open:
            return None
        return MoveForm(journey=self.journey.journey, moves=list(self.moves))

    @property
    def move_form_html(self) -> SafeString:
        """The move form's fields, as ``{% crispy %}`` writes them (rendered once per set of moves, and the form
        made only then)."""
        if not self.moves or self.journey is None:
            return SafeString("")
        return unbound_move_form_html(journey=self.journey.journey, moves=self.moves)

    @property
    def step(self) -> int:
        """Which step of the path the journey is at (or left from), counting from 1; 0 before any."""
        if self.journey is None:
            return 0
        return next((n for n, s in enumerate(self.journey.steps, 1) if s.state in ("current", "left")), 0)

    @property
    def steps(self) -> int:
        return len(self.journey.steps) if self.journey else 0


def patient_summary(
    patient: Patient, *, today: date | None = None, clinic: ClinicSettings | None = None
) -> PatientSummary:
    """The header: stage and its progress, a move form, adherence and its trend, the next visit, the open
    alert, which channels reach the patient. A fixed number of queries (seven; eight for a paused journey,
    whose move form asks where it paused from), whatever the patient's history holds."""
    journey = patient_journey(patient)
    moves: tuple[str, ...] = ()
    if journey is not None and journey.journey.is_open:
        journey.journey.patient = patient  # the form names the patient: no second read of them
        moves = tuple(allowed_moves(journey.journey))
    clinic = clinic or ClinicSettings.load()  # the page's own read (``clinic_settings_for``), else one here
    today = today or timezone.now().astimezone(patient.tz).date()  # check-ins fall due in their calendar
    adherence = compliance_selectors.patient_adherence_of(
        patient, today=today, window_days=clinic.window_days
    )
    alerts = compliance_selectors.patient_open_alerts(patient)
    return PatientSummary(
        journey=journey,
        moves=moves,
        adherence_score=adherence.score,
        adherence_window_days=clinic.window_days,
        adherence_trend=compliance_selectors.describe_trend(adherence.trend, window_days=clinic.window_days)
        if adherence.score is not None
        else "",
        below_threshold=adherence.score is not None and adherence.score < clinic.adherence_threshold,
        next_visit=patient_next_visit(patient),
        open_alert=alerts[0] if alerts else None,
        open_alerts=len(alerts),
        reach=patient_reach(patient),
    )
