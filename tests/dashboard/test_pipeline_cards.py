"""The board's cards, read as rows and written in Python, are the markup the renderer they replaced wrote from
journeys (with their patients and programs as models), byte for byte, with every text the clinic typed escaped."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from dashboard.pipeline_cards import board_cards, board_columns, paused_section
from journeys.models import Journey, Program, Stage
from journeys.selectors import pipeline as selectors
from tests.factories import UserFactory
from tests.journeys.test_pipeline import started, walk

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"

# The card ``dashboard/pipeline_cards.py`` wrote from a journey before, and its loop.
OLD_CARD = (
    '<article class="card mb-2 pipeline-card" id="journey-{pk}" data-move-url="{move}"'
    ' aria-label="{name}, {days} at {stage}">'
    '<div class="card-body p-2">'
    '<a href="{patient}" class="fw-semibold">{name}</a>'
    '<div class="small text-body-secondary">'
    '<span class="badge badge-soft text-nowrap" title="Days in {stage}">{days}</span> {lead} · {program}'
    "</div>"
    '<button type="button" class="btn btn-outline-primary btn-sm py-0 mt-1" hx-get="{move}?next={here}"'
    ' hx-target="#move-{pk}" hx-swap="innerHTML">Move…</button>'
    '<div id="move-{pk}" data-move-slot></div>'
    "</div></article>"
)


def old_cards(journeys, *, stage, here, now):
    parts = []
    for journey in journeys:
        days = (now - journey.stage_entered_at).days
        lead = journey.lead_name
        parts.append(
            OLD_CARD.format(
                pk=journey.pk,
                move=escape(reverse("journeys:move", args=[journey.pk])),
                patient=escape(reverse("dashboard:patient", args=[journey.patient_id])),
                name=escape(journey.patient.display_name),
                days=f"{days} day{'' if days == 1 else 's'}",
                stage=escape(stage),
                here=escape(here),
                lead=escape(lead) if lead else '<span class="badge text-bg-warning">No lead yet</span>',
                program=escape(journey.program.name) if journey.program_id else "no program yet",
            )
        )
    return "".join(parts)


def journeys_at(stage):
    return (
        Journey.objects.filter(stage=stage)
        .select_related("patient", "program")
        .annotate(lead_name=selectors._lead_name())
        .order_by("stage_entered_at", "pk")
    )


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def hostile_board(staff):
    lead = UserFactory(role="practitioner", username="hostile", display_name=HOSTILE)
    nameless = UserFactory(role="practitioner", username="o'neil&<i>", display_name="")
    program = Program.objects.create(name=f"{HOSTILE} reset", weeks=12)
    started(staff, days_ago=1, name=HOSTILE, lead=lead, program=program)
    started(staff, days_ago=2, name="Ann", lead=nameless)
    started(staff, days_ago=0, name="  spaced  ", lead=lead)
    walk(started(staff, days_ago=9, name=HOSTILE, program=program), staff, (Stage.DISCOVERY, 1))
    journey = started(staff, days_ago=30, name="Paula", lead=lead)
    journey.patient.preferred_name, journey.patient.last_name = "P & 'Q'", "<O'Neil>"
    journey.patient.save()
    walk(journey, staff, (Stage.DISCOVERY, 20), (Stage.PAUSED, 10))


@pytest.mark.parametrize("here", ["/pipeline/", "/pipeline/?lead=1&x=%22%3C%3E%27", "/p/?\"<>'&"])
def test_the_cards_are_the_old_renderers_byte_for_byte(hostile_board, here):
    board = selectors.pipeline_board()
    columns, paused = board_cards(board, here=here, now=timezone.now())
    for column, html in columns:
        assert html == old_cards(journeys_at(column.stage), stage=column.label, here=here, now=timezone.now())
    assert paused == old_cards(journeys_at(Stage.PAUSED), stage="Paused", here=here, now=timezone.now())
    shown = "".join(html for _, html in columns) + paused
    assert "<script>" not in shown and "<O'Neil>" not in shown and "<i>" not in shown
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons" in shown
    assert "P &amp; &#x27;Q&#x27; &lt;O&#x27;Neil&gt;" in shown and "o&#x27;neil&amp;&lt;i&gt;" in shown
    assert "No lead yet" in shown and "no program yet" in shown and ">1 day<" in shown and ">0 days<" in shown


def test_a_card_is_the_journeys_row(hostile_board):
    cards = selectors.whole_clinic_cards(per_column=25, closed_since=None)
    for card in cards[Stage.INQUIRY] + cards[Stage.PAUSED]:
        journey = journeys_at(card.stage).get(pk=card.pk)
        assert card.display_name == journey.patient.display_name
        assert card.days_in_stage == journey.days_in_stage
        assert (card.patient_id, card.program_id, card.lead_name) == (
            journey.patient_id,
            journey.program_id,
            journey.lead_name,
        )
    assert timedelta(0) <= timezone.now() - max(c.stage_entered_at for c in cards[Stage.INQUIRY])


# The filter bar's options, and the summary's row


def test_the_filter_bars_options_are_what_djangos_setters_make(staff, practitioner):
    from journeys.forms.move import PipelineFilterForm

    UserFactory(role="practitioner", username="o'neil", display_name=HOSTILE)
    Program.objects.create(name=f"{HOSTILE} reset", weeks=12)
    Program.objects.create(name="Autumn", weeks=8, active=False)
    for data in (None, {"lead": str(practitioner.pk)}, {"lead": "nobody"}, {"program": "0"}):
        ours, django = PipelineFilterForm(data), PipelineFilterForm(data)
        for field in django.fields.values():
            field.choices = list(field.choices)  # Django's setters: the field's and its widget's
        for name in ("lead", "program"):
            assert ours.fields[name].choices == django.fields[name].choices
            assert ours.fields[name].widget.choices == django.fields[name].widget.choices
            assert str(ours[name]) == str(django[name])
        assert ours.is_valid() == django.is_valid() and ours.errors == django.errors
        assert ours.filters() == django.filters()
    assert "&lt;script&gt;" in str(PipelineFilterForm()["lead"]) and "(retired)" in str(
        PipelineFilterForm()["program"]
    )


def test_the_filter_bars_options_are_not_walked_by_djangos_normalizing(staff, practitioner, monkeypatch):
    import django.forms.fields
    import django.forms.widgets

    from journeys.forms.move import PipelineFilterForm

    def refused(value, **kwargs):
        if value:  # copying the form's fields normalizes their empty options: no walk
            raise AssertionError("the options were normalized")
        return []

    monkeypatch.setattr(django.forms.fields, "normalize_choices", refused)
    monkeypatch.setattr(django.forms.widgets, "normalize_choices", refused)
    form = PipelineFilterForm({"lead": str(practitioner.pk)})
    assert form.is_valid() and form.filters()["lead_id"] == practitioner.pk
    assert f'<option value="{practitioner.pk}" selected>Dr. Bob Moss</option>' in str(form["lead"])


def test_the_summarys_row_is_read_by_sql_compiled_once(monkeypatch):
    from django.db.models.sql.compiler import SQLCompiler

    from dashboard import figures

    figures._stored(figures.PIPELINE_FLOW)  # compiled (once per thread)

    def refused(self, *args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(SQLCompiler, "as_sql", refused)
    assert figures._stored(figures.PIPELINE_FLOW) is None


def test_the_summarys_row_is_read_by_the_orms_sql(time_machine):
    import json

    from django.db import connection
    from django.db.models import TextField
    from django.db.models.functions import Cast
    from django.test.utils import CaptureQueriesContext

    from dashboard import figures
    from dashboard.models import Figures

    Figures.objects.create(key=figures.PIPELINE_FLOW, computed_at=timezone.now(), data={"a": 1})
    Figures.objects.create(key="other", computed_at=timezone.now() - timedelta(days=1), data={})
    for key in (figures.PIPELINE_FLOW, "other", "absent", figures.PIPELINE_FLOW):
        since = figures._fresh_since(timezone.now())
        with CaptureQueriesContext(connection) as ours:
            got = figures._stored(key)
        with CaptureQueriesContext(connection) as orms:
            expected = list(
                Figures.objects.filter(key__in=[key], computed_at__gte=since).values_list(
                    "key", "computed_at", Cast("data", TextField())
                )
            )
        assert ([tuple(vars(got).values())] if got else []) == expected
        assert [q["sql"] for q in ours] == [q["sql"] for q in orms]
    assert (
        json.loads(figures._stored(figures.PIPELINE_FLOW).text) == {"a": 1}
        and figures._stored("other") is None
    )


# The loop ``dashboard/pipeline.html`` ran over the path's columns before they were written in Python.
COLUMNS_LOOP = Template(
    """{% for column, cards in columns %}
          <section class="pipeline-column"
                   id="stage-{{ column.stage }}"
                   aria-labelledby="stage-{{ column.stage }}-title">
            <details open data-collapse-stage="{{ column.stage }}">
              <summary class="pipeline-column-head"
                       title="Fold or unfold {{ column.label }}">
                <h2 class="h6 mb-0" id="stage-{{ column.stage }}-title">{{ column.label }}</h2>
                <span class="badge text-bg-secondary"
                      title="{{ column.count }} patient{{ column.count|pluralize }} at {{ column.label }}">{{ column.count }}</span>
              </summary>
              <div class="pipeline-column-stats small">
                <div class="text-body-secondary fst-italic">{{ column.tagline }}</div>
                {% if column.recent_days %}
                  <div class="text-body-secondary">
                    Last {{ column.recent_days }} days · <a href="?{{ closed_toggle }}">show all</a>
                  </div>
                {% elif all_closed and column.stage == "graduated" or all_closed and column.stage == "advocate" %}
                  <div class="text-body-secondary">
                    All time · <a href="?{{ closed_toggle }}">recent only</a>
                  </div>
                {% endif %}
                {% if column.next_stage %}
                  <div title="Of {{ column.entered }} journey{{ column.entered|pluralize }} that reached {{ column.label }} in the last year, {{ column.went_on }} went on to {{ column.next_label }}">
                    On to {{ column.next_label }}:
                    <strong>
                      {% if column.conversion is None %}
                        —
                      {% else %}
                        {{ column.conversion_percent }}%
                      {% endif %}
                    </strong>
                  </div>
                {% endif %}
                <div title="The middle length of a finished stay at {{ column.label }}">
                  Median stay:
                  <strong>
                    {% if column.median_days is None %}
                      —
                    {% else %}
                      {{ column.median_days|floatformat:"-1" }} day{{ column.median_days|pluralize }}
                    {% endif %}
                  </strong>
                </div>
              </div>
              <div class="pipeline-cards"
                   data-stage-list="{{ column.stage }}"
                   data-moves="{{ column.moves }}"
                   data-empty="No one at this step right now.">
                {{ cards }}
              </div>
              {% if column.more %}<p class="small text-body-secondary px-1 mb-0">and {{ column.more }} more</p>{% endif %}
            </details>
          </section>
        {% endfor %}"""
)


def a_column(stage, **figures):
    return selectors.StageColumn(stage=stage, count=figures.pop("count", 0), cards=[], **figures)


COLUMNS = [
    a_column(Stage.INQUIRY, count=12345, next_stage=Stage.DISCOVERY, entered=1, went_on=0, median_days=4.0),
    a_column(Stage.DISCOVERY, count=1, next_stage=Stage.INTAKE, entered=3, went_on=2, median_days=1.0),
    a_column(Stage.INTAKE, next_stage=Stage.COMMITMENT, median_days=4.5),
    a_column(Stage.COMMITMENT, count=2, next_stage=Stage.BLUEPRINT, entered=7, went_on=1, median_days=0.1),
    a_column(Stage.BLUEPRINT, count=30, next_stage=Stage.CHECK_INS, entered=2, went_on=2, median_days=112.25),
    a_column(Stage.CHECK_INS, count=5, next_stage=Stage.GRADUATED, entered=6, went_on=5, median_days=0.0),
    a_column(Stage.GRADUATED, count=40, next_stage=Stage.ADVOCATE, entered=1, went_on=1, recent_days=90),
    a_column(Stage.ADVOCATE, count=3, median_days=2.0),
]


@pytest.mark.parametrize("all_closed", [True, False])
@pytest.mark.parametrize("toggle", ["closed=all", "lead=3&closed=recent", "q=%22%3C&x=\"<>'&"])
def test_the_columns_are_what_the_templates_loop_wrote(all_closed, toggle):
    columns = [
        (column, mark_safe(f'<article id="journey-{n}">{HOSTILE}</article>' if n % 2 else ""))  # noqa: S308
        for n, column in enumerate(
            COLUMNS
            if all_closed
            else [c if c.stage != Stage.ADVOCATE else replace(c, recent_days=90) for c in COLUMNS]
        )
    ]
    expected = COLUMNS_LOOP.render(
        Context({"columns": columns, "closed_toggle": toggle, "all_closed": all_closed})
    )
    html = board_columns(columns, closed_toggle=toggle, all_closed=all_closed)
    assert html == expected
    assert ("&quot;&lt;&gt;&#x27;&amp;" in html) == ("<" in toggle)
    assert ("recent only" in html) == all_closed and "12345 patients" in html and "1 patient at" in html


def test_the_boards_columns_on_the_page_are_the_templates(client_for, staff, hostile_board):
    response = client_for(staff).get("/pipeline/?closed=all&x=%22%3C%3E")
    here = quote(response.wsgi_request.get_full_path(), safe="/")
    columns, paused = board_cards(response.context["board"], here=here, now=timezone.now())
    context = {"columns": columns, "closed_toggle": "closed=recent&x=%22%3C%3E", "all_closed": True}
    body = response.content.decode()
    assert COLUMNS_LOOP.render(Context(context)) in body
    assert (
        PAUSED_SECTION.render(Context({"board": response.context["board"], "paused_cards": paused})) in body
    )


# The paused section ``dashboard/pipeline.html`` wrote before it was written in Python.
PAUSED_SECTION = Template(
    """<section class="card mt-3" id="stage-paused" aria-labelledby="stage-paused-title">
        <div class="card-body">
          <div class="d-flex flex-wrap justify-content-between align-items-baseline gap-2 mb-2">
            <h2 class="h6 mb-0" id="stage-paused-title">
              Paused <span class="badge text-bg-secondary">{{ board.paused.count }}</span>
            </h2>
            <div class="small text-body-secondary">
              Left the path in the last {{ board.recent_exit_days }} days:
              {% for label, count in board.recent_exit_list %}
                {{ label|lower }} <strong>{{ count }}</strong>
                {% if not forloop.last %}·{% endif %}
              {% endfor %}
            </div>
          </div>
          <div class="pipeline-cards pipeline-cards-row"
               data-stage-list="paused"
               data-moves="{{ board.paused.moves }}"
               data-empty="No one is paused. Drop a card here to pause a journey.">
            {{ paused_cards }}
          </div>
          {% if board.paused.more %}<p class="small text-body-secondary mb-0">and {{ board.paused.more }} more</p>{% endif %}
        </div>
      </section>"""
)


@pytest.mark.parametrize(
    "exits", [{"declined": 3, "withdrawn": 0}, {"withdrawn": 12345}, {}, {"declined": 1, "withdrawn": 1}]
)
@pytest.mark.parametrize("count, shown", [(0, 0), (1, 1), (30, 25)])
def test_the_paused_section_is_what_the_template_wrote(exits, count, shown):
    paused = selectors.StageColumn(stage=Stage.PAUSED, count=count, cards=[None] * shown)
    board = selectors.PipelineBoard(columns=COLUMNS, paused=paused, recent_exits=exits, total=count)
    cards = mark_safe(f"<article>{HOSTILE}</article>" * shown)  # noqa: S308 — the cards' markup, as given
    expected = PAUSED_SECTION.render(Context({"board": board, "paused_cards": cards}))
    assert paused_section(board, cards) == expected
    assert ("and 5 more" in expected) == (count == 30)


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Asia/Kolkata"])
def test_the_summarys_time_is_the_time_filters(client_for, staff, hostile_board, monkeypatch, settings, zone):
    from journeys.models import PATH

    settings.TIME_ZONE = zone
    moment = datetime(2026, 3, 8, 6, 59, 30, tzinfo=UTC)  # the morning DST starts in New York
    flow = selectors.Flow(conversion={stage: (0, 0) for stage in PATH}, medians={}, as_of=moment)
    monkeypatch.setattr("dashboard.views.pipeline_flow_stored", lambda: flow)
    body = client_for(staff).get("/pipeline/").content.decode()
    with timezone.override(zone):
        expected = Template('{{ m|time:"H:i" }}').render(Context({"m": moment}))
    assert f"Conversion and median days as of {expected}.</span>" in body


@pytest.mark.parametrize(
    "texts",
    [[], [""], [HOSTILE, "", "a&b", "<O'Neil>"], ["nul\x00inside", HOSTILE], ["\x00", "\x00\x00", "x"]],
)
def test_texts_escaped_at_once_are_each_escaped(texts):
    from accounts.markup import escaped
    from dashboard.pipeline_cards import _escaped_all

    assert _escaped_all(texts) == [escaped(text) for text in texts]
