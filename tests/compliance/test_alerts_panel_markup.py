"""The Alerts panel written in Python (``compliance.alerts_markup.alerts_panel_html``): byte for byte what
``compliance/_alerts_panel.html`` writes, with and without open alerts and corrections, the correction's note
for clinical roles only, with hostile text."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template.loader import render_to_string

from accounts.models import User
from compliance.alerts_markup import alerts_panel_html
from compliance.models import Alert, CourseCorrection
from journeys.models import Blueprint

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"
NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


def alert(pk: int, *, escalated: bool, reasons: bool) -> Alert:
    return Alert(
        pk=pk, patient_id=1, reason="low_adherence", detail=HOSTILE,
        reasons=[{"reason": "low_adherence", "detail": HOSTILE}, {"reason": "missed_checkins"}] if reasons else [],
        opened_at=NOW - timedelta(days=pk, hours=3), escalated_at=NOW if escalated else None,
    )  # fmt: skip


def correction(pk: int, *, revised: bool) -> CourseCorrection:
    return CourseCorrection(
        pk=pk, alert=alert(40 + pk, escalated=False, reasons=False), change="simplified", note=f"{HOSTILE}\nnext",
        practitioner=User(pk=9, username="p", display_name=HOSTILE), created_at=NOW - timedelta(hours=pk),
        blueprint=Blueprint(pk=5, journey_id=8, version=3) if revised else None,
    )  # fmt: skip


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("role", ["practitioner", "staff"])
def test_the_panel_is_what_its_template_writes(role):
    user = User(pk=2, username="me", role=role, is_active=True)
    for open_alerts in (
        [],
        [alert(1, escalated=True, reasons=True)],
        [alert(2, escalated=False, reasons=False)],
    ):
        for corrections in (
            [],
            [correction(1, revised=True), correction(2, revised=False)],
            [correction(3, revised=True)] * 10,
        ):
            panel = {
                "open_alerts": open_alerts,
                "corrections": corrections,
                "history_limit": 10,
                "can_correct": role == "practitioner",
                "user": user,
            }
            ours = alerts_panel_html(panel)
            assert ours == render_to_string("compliance/_alerts_panel.html", {"panel": panel, "user": user})
            assert "<script>" not in ours
    shown = alerts_panel_html({**panel, "corrections": [correction(1, revised=True)]})
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons<br>next" in shown
    ) is (role == "practitioner")
