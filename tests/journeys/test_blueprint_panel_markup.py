"""The Care plan panel written in Python (``journeys.panels.blueprints.blueprint_panel_html``): byte for byte
what ``journeys/_blueprint_panel.html`` writes, published or not, with a draft or not, for a role that edits
plans and one that does not, with hostile text."""

import itertools
from datetime import UTC, datetime

from django.template.loader import render_to_string

from accounts.models import User
from journeys.models import Blueprint, Journey
from journeys.panels.blueprints import blueprint_panel_html

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def blueprint(status: str, version: int, items: int, *, by: bool, summary: str) -> Blueprint:
    made = Blueprint(
        pk=version, journey_id=7, version=version, status=status, summary=summary,
        published_at=datetime(2026, 11, 2, 3, 30, tzinfo=UTC) if status == "published" else None,
        published_by=User(pk=3, username="u", display_name=HOSTILE) if by else None,
    )  # fmt: skip
    made.item_count = items
    return made


def test_the_panel_is_what_its_template_writes_in_every_branch():
    journey = Journey(pk=7, patient_id=1)
    compared = 0
    for published, draft, can_edit, items, by, summary in itertools.product(
        [True, False], [True, False], [True, False], [0, 1, 12], [True, False], ["", HOSTILE, HOSTILE * 20]
    ):
        panel = {
            "journey": journey,
            "published": blueprint("published", 2, items, by=by, summary=summary) if published else None,
            "draft": blueprint("draft", 3, items + 1, by=False, summary="") if draft else None,
            "can_edit": can_edit,
        }
        ours = blueprint_panel_html(panel)
        assert ours == render_to_string("journeys/_blueprint_panel.html", {"panel": panel}), panel
        assert "<script>" not in ours
        compared += 1
    nothing = {"journey": None, "published": None, "draft": None, "can_edit": True}
    assert blueprint_panel_html(nothing) == render_to_string(
        "journeys/_blueprint_panel.html", {"panel": nothing}
    )
    assert compared == 144
