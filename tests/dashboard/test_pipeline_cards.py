"""The board's cards, read as rows and written in Python, are the markup the renderer they replaced wrote from
journeys (with their patients and programs as models), byte for byte, with every text the clinic typed escaped."""

from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.pipeline_cards import board_cards
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
