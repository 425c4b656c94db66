"""The Adherence panel's markup written in Python (``compliance.adherence_markup``): byte for byte what its
template ``compliance/_adherence_panel.html`` writes, for every branch, with hostile text escaped, and the
patient's own words written for clinical roles only."""

import itertools
from datetime import UTC, date, datetime

import pytest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from compliance.adherence_markup import adherence_panel_html, whole
from compliance.scoring import Adherence
from compliance.selectors import AnswerSummary
from nudges.models import InboundMessage

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"
SVG = mark_safe('<svg role="img"><title>A chart</title></svg>')


def template(panel: dict) -> str:
    return render_to_string("compliance/_adherence_panel.html", {"panel": panel})


def adherence(score, answered, missed) -> Adherence:
    return Adherence(
        window_start=date(2026, 11, 2),
        window_end=date(2026, 11, 29),
        score=score,
        reports=3,
        answered=answered,
        missed=missed,
        previous_score=None,
    )


def reply(n: int, body: str) -> InboundMessage:
    return InboundMessage(
        pk=n,
        channel="sms" if n % 2 else "email",
        body=body,
        received_at=datetime(2026, 11, 20, 23, 30 + n, tzinfo=UTC),  # the next day in UTC, not in New York
    )


def answers(clinical: bool) -> list[AnswerSummary]:
    words = f"{HOSTILE}\r\nsecond line\rthird\nfourth" if clinical else None
    return [
        AnswerSummary(
            pk=11,
            answered_at=datetime(2026, 11, 23, 3, 15, tzinfo=UTC),  # 22 Nov in the clinic's zone
            amended_at=datetime(2026, 11, 24, 12, tzinfo=UTC),
            due_on=date(2026, 11, 22),
            via=HOSTILE,
            barriers=[HOSTILE, "Cost"],
            words=words,
            ratings=[("Energy", 4), ("Sleep", 0), ("Mood", 10)] if clinical else [],
            replies=[reply(1, HOSTILE), reply(2, "ok\r\nthanks")] if clinical else [],
        ),
        AnswerSummary(
            pk=12,
            answered_at=datetime(2026, 11, 16, 15, tzinfo=UTC),
            amended_at=None,
            due_on=date(2026, 11, 15),
            via="Text message",
            barriers=[],
            words="" if clinical else None,
            ratings=[("Digestion", 6)] if clinical else [],
        ),
    ]


SCORES = [None, 0.0, 44.5, 69.9, 92.5, 100.0]


@pytest.mark.parametrize("clinical", [True, False], ids=["clinical", "staff"])
def test_the_panel_is_what_its_template_writes_in_every_branch(clinical):
    compared = 0
    for score, (answered, missed), charts, with_answers, threshold in itertools.product(
        SCORES, [(0, 0), (1, 0), (2, 3), (0, 1)], [False, True], [False, True], [70, 85]
    ):
        shown = adherence(score, answered, missed)
        panel = {
            "adherence": shown,
            "threshold": threshold,
            "below_threshold": score is not None and score < threshold,
            "trend_words": HOSTILE,
            "closed_checkins": answered + missed,
            "chart_weeks": 12,
            "weekly_chart": SVG if charts else "",
            "heatmap": SVG if charts and score else "",
            "answers": answers(clinical) if with_answers else [],
            "clinical": clinical,
            "has_history": bool(score is not None or with_answers or answered or missed),
        }
        assert adherence_panel_html(panel) == template(panel), panel
        compared += 1
    assert compared == len(SCORES) * 4 * 2 * 2 * 2


def test_every_text_is_escaped_and_the_words_are_only_for_clinical_roles():
    base = {
        "adherence": adherence(80.0, 2, 0),
        "threshold": 70,
        "below_threshold": False,
        "trend_words": "About the same",
        "closed_checkins": 2,
        "chart_weeks": 12,
        "weekly_chart": "",
        "heatmap": "",
        "has_history": True,
    }
    clinical = adherence_panel_html(base | {"answers": answers(True), "clinical": True})
    staff = adherence_panel_html(base | {"answers": answers(False), "clinical": False})
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons"
    for html in (clinical, staff):
        assert "<script>" not in html
        assert escaped in html
    assert f"{escaped}<br>second line<br>third<br>fourth" in clinical
    assert "Energy 4/10" in clinical and "Wrote back by sms, 20 Nov 18:31:" in clinical
    assert "second line" not in staff and "Energy" not in staff and "Wrote back" not in staff
    assert "Answer received" in staff and "Answer received" not in clinical


def test_a_whole_percent_rounds_half_up_as_floatformat_does():
    from django.template.defaultfilters import floatformat

    for value in (0.0, 0.5, 1.5, 2.5, 44.5, 69.95, 92.5, 99.5, 100.0, 33.3):
        assert whole(value) == floatformat(value, "0")


def test_then_and_now_is_what_its_template_writes():
    from compliance.adherence_markup import then_and_now_panel_html
    from compliance.selectors import ThenAndNow, Week

    def week(day: int, score, ratings) -> Week:
        return Week(due_on=date(2026, 3, day), score=score, ratings=ratings)

    rated = [("Energy", 3), ("Sleep", None), ("Mood", 0), ("Digestion", 10)]
    cases = [
        None,
        ThenAndNow(then=week(2, None, rated), now=week(30, 92.5, rated[::-1]), follow_ups=[]),
        ThenAndNow(
            then=week(2, 44.5, [("Energy", None)]),
            now=week(30, None, []),
            follow_ups=[(date(2026, 5, 1), HOSTILE, rated), (date(2026, 6, 1), "Missed", [("Energy", None)])],
        ),
    ]
    for tn in cases:
        for clinical in (True, False):
            panel = {"then_and_now": tn, "clinical": clinical}
            ours = then_and_now_panel_html(panel)
            assert ours == render_to_string("compliance/_then_and_now_panel.html", {"panel": panel})
            assert "<script>" not in ours
            assert ("Energy" in ours) is (clinical and tn is not None)
