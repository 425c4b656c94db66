"""Insights at a fixed cost: the summary's two rows read by one query, the open alerts counted with the advocacy
figures (and the navigation's badge taken from that count), and the figures below the range form drawn once
per look (dashboard.insights.figures_html), drawn again when any figure changes."""

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import once
from accounts.queries import counts_at_once
from compliance.context_processors import NAV_CAP, OpenAlerts
from compliance.models import Alert, ClinicSettings
from compliance.selectors import open_alerts
from dashboard import figures, insights
from journeys.models import Inquiry
from journeys.selectors.advocates import advocacy_counts
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> \"Tom\" & Jerry"


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def alerts(n: int, *, resolved: int = 0) -> None:
    """``n`` open alerts (one a patient, as the clinic allows) and ``resolved`` closed ones."""
    patients = PatientFactory.create_batch(max(n, 1))
    Alert.objects.bulk_create(
        [Alert(patient=patient, reason="low_adherence", detail="") for patient in patients[:n]]
        + [
            Alert(patient=patients[0], reason="low_adherence", detail="", resolved_at=NOW)
            for _ in range(resolved)
        ]
    )


def page_queries(client, url: str = "/insights/") -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), [query["sql"] for query in captured.captured_queries]


def test_the_summary_rows_are_read_by_one_query_and_the_open_alerts_counted_with_the_advocacy_figures(
    client_for, staff
):
    alerts(3, resolved=2)
    figures.figures_refresh()
    html, sql = page_queries(client_for(staff))
    assert sum('"dashboard_figures"' in query for query in sql) == 1
    assert sum('"compliance_alert"' in query for query in sql) == 1  # not the badge's own capped count
    assert 'id="insights-open-alerts"' in html and '<p class="fs-3 fw-semibold mb-1">3</p>' in html
    assert '<span class="badge rounded-pill text-bg-warning">3<span class="visually-hidden"> open' in html


def test_the_summary_read_at_once_gives_the_figures_read_one_by_one():
    figures.figures_refresh()
    today = date(2026, 12, 1)
    start = today - timedelta(days=27)
    with CaptureQueriesContext(connection) as captured:
        both = figures.insights_figures(start=start, end=today)
    assert len(captured) == 1
    assert both == (
        figures.range_figures(start=start, end=today),
        figures.referrals_stored(start=start, end=today),
    )
    assert both[0].as_of == NOW


@pytest.mark.parametrize("open_alerts", [0, 3, NAV_CAP, NAV_CAP + 1, NAV_CAP + 7])
def test_the_badge_from_an_exact_count_is_the_badge_the_navigation_counts(open_alerts):
    alerts(open_alerts, resolved=1)
    counted, queried = OpenAlerts.counted(open_alerts), OpenAlerts()
    assert (counted.count, counted.label) == (queried.count, queried.label)


def insights_of(**changes) -> insights.Insights:
    figures.figures_refresh()
    today = date(2026, 12, 1)
    data = insights.insights_for(start=today - timedelta(days=27), end=today, clinic=ClinicSettings.load())
    return dataclasses.replace(data, **changes)


def drawn(data: insights.Insights) -> str:
    """The figures as the template draws them, every time."""
    return render_to_string(
        "dashboard/_insights_figures.html",
        {
            "insights": data,
            "charts": insights._charts(data),
            "threshold": data.threshold,
            "responses": data.responses,
            "adherence": data.adherence,
            "trend_words": "steady",
            "barriers": data.barriers,
            "open_alerts": data.open_alerts,
            "range_query": "start=2026-11-04&end=2026-12-01",
        },
    ).strip("\n")


def figures_html(data: insights.Insights) -> str:
    return insights.figures_html(data, trend_words="steady", range_query="start=2026-11-04&end=2026-12-01")


def test_the_figures_are_the_templates_drawn_once_per_look_with_hostile_labels_escaped():
    data = insights_of(barriers=[(HOSTILE, 2), ("cost", 1)], open_alerts=4)
    with mock.patch.object(insights, "render_to_string", wraps=render_to_string) as rendering:
        first, second = figures_html(data), figures_html(dataclasses.replace(data))
    assert rendering.call_count == 1
    assert first == second == drawn(data)
    assert "<script>" not in first and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in first
    assert "&quot;Tom&quot; &amp; Jerry" in first


@pytest.mark.parametrize(
    "change",
    [
        lambda data: {"open_alerts": data.open_alerts + 1},
        lambda data: {"threshold": data.threshold + 1},
        lambda data: {"barriers": [*data.barriers, ("time", 9)]},
        lambda data: {"advocacy": dataclasses.replace(data.advocacy, advocates=data.advocacy.advocates + 5)},
        lambda data: {"funnel": [dataclasses.replace(data.funnel[0], entered=data.funnel[0].entered + 2)]},
        lambda data: {"weekly": [dataclasses.replace(data.weekly[-1], score=12.5, reports=8)]},
    ],
    ids=["open alerts", "threshold", "barriers", "advocacy", "funnel", "weekly"],
)
def test_a_changed_figure_is_drawn_again(change):
    data = insights_of()
    before = figures_html(data)
    changed = dataclasses.replace(data, **change(data))
    assert figures_html(changed) == drawn(changed) != before


def test_the_page_shows_a_refreshed_summary_and_a_new_alert(client_for, staff, time_machine):
    client = client_for(staff)
    figures.figures_refresh()
    html, _ = page_queries(client)
    assert '<p class="fs-3 fw-semibold mb-1">0</p>' in html
    alerts(2)
    time_machine.move_to(NOW + timedelta(minutes=10), tick=False)
    figures.figures_refresh()
    html, _ = page_queries(client)
    assert '<p class="fs-3 fw-semibold mb-1">2</p>' in html
    assert "figures as of 07:10" in html  # New York's 12:10 UTC: the header is drawn per request


def test_the_counts_compiled_once_are_counts_at_once_for_any_range():
    advocate = PatientFactory()
    for days_ago in (1, 5, 20, 40):
        Inquiry.objects.create(
            first_name="Ann", last_name="Lee", patient=PatientFactory(), referred_by=advocate,
            received_at=NOW - timedelta(days=days_ago),
        )  # fmt: skip
    alerts(2, resolved=1)
    for since, until in [
        (NOW - timedelta(days=28), NOW),
        (NOW - timedelta(days=7), NOW - timedelta(days=2)),
        (NOW - timedelta(days=91), NOW + timedelta(days=1)),
    ]:
        querysets = {**advocacy_counts(since=since, until=until), "open_alerts": open_alerts()}
        with CaptureQueriesContext(connection) as orm:
            expected = counts_at_once(querysets)
        with CaptureQueriesContext(connection) as compiled:
            got = insights._counts().counts(since, until)
        assert got == expected and got["open_alerts"] == 2
        assert [query["sql"] for query in compiled] == [query["sql"] for query in orm]
    assert insights._counts().counts(NOW - timedelta(days=28), NOW)["referred_inquiries"] == 3


@pytest.fixture
def nothing_kept():
    """No summary row decoded and no markup drawn by an earlier test (both are kept by the process)."""
    figures.decoded_clear()
    once._kept.cache_clear()


def referred_an_hour_ago() -> None:
    patient = PatientFactory(referred_by=PatientFactory())
    Patient.objects.filter(pk=patient.pk).update(created_at=NOW - timedelta(hours=1))


def test_each_summary_row_is_decoded_once_per_refresh_and_again_when_it_changes(nothing_kept, time_machine):
    figures.figures_refresh()
    today = date(2026, 12, 1)
    start = today - timedelta(days=27)

    def read(calls: int):
        with mock.patch.object(figures.json, "loads", wraps=json.loads) as decoding:
            read = figures.insights_figures(start=start, end=today)
        assert decoding.call_count == calls
        return read

    first = read(2)  # the range and the referral days
    again = read(0)
    assert again[0] is first[0] and again == first
    alerts(1)
    referred_an_hour_ago()
    time_machine.move_to(NOW + timedelta(minutes=10), tick=False)
    figures.figures_refresh()
    refreshed = read(2)
    assert refreshed[0].as_of == NOW + timedelta(minutes=10)
    assert refreshed[1] == (first[1][0] + 1, first[1][1])
    assert read(0) == refreshed


def test_a_row_rewritten_at_the_same_moment_is_decoded_again(nothing_kept):
    figures.figures_refresh(now=NOW)
    days = date(2026, 12, 1), date(2026, 12, 1)
    assert figures.referrals_stored(start=days[0], end=days[1]) == (0, 0)
    referred_an_hour_ago()
    figures.figures_refresh(now=NOW)  # the same computed_at, other figures: keyed by what the row holds
    assert figures.referrals_stored(start=days[0], end=days[1]) == (1, 0)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.dates(date(2025, 1, 1), date(2026, 12, 31)).map(date.isoformat),
        st.tuples(st.integers(0, 9), st.integers(0, 9)).map(list),
        max_size=40,
    ),
    st.dates(date(2024, 12, 1), date(2027, 1, 31)),
    st.integers(0, 400),
)
def test_the_referral_days_sum_any_range_as_adding_its_days_up_does(days, first, length):
    last = first + timedelta(days=length)
    added = [
        (n, of_them) for day, (n, of_them) in days.items() if first.isoformat() <= day <= last.isoformat()
    ]
    expected = (sum(n for n, _ in added), sum(of_them for _, of_them in added))
    assert figures._ReferralDays.of({"days": days}).between(first.isoformat(), last.isoformat()) == expected


def range_form(query: dict | None = None) -> insights.InsightsRangeForm:
    form = insights.InsightsRangeForm(query, today=date(2026, 12, 1), default_days=28)
    form.is_valid()
    return form


def drawn_range_form(form) -> str:
    presets = insights.preset_ranges(date(2026, 12, 1))
    return render_to_string("dashboard/_insights_range_form.html", {"form": form, "presets": presets})


def test_the_range_form_is_the_templates_drawn_once_per_look(nothing_kept):
    presets = insights.preset_ranges(date(2026, 12, 1))
    with mock.patch.object(insights, "render_to_string", wraps=render_to_string) as rendering:
        first = insights.range_form_html(range_form(), presets)
        second = insights.range_form_html(range_form(), presets)
        assert rendering.call_count == 1
        asked = insights.range_form_html(range_form({"start": "2026-11-01", "end": "2026-11-30"}), presets)
        assert rendering.call_count == 2
    assert first == second == drawn_range_form(range_form()).removesuffix("\n")
    assert 'name="start" value="2026-11-04"' in first and 'name="end" value="2026-12-01"' in first
    assert asked == drawn_range_form(range_form({"start": "2026-11-01", "end": "2026-11-30"})).removesuffix(
        "\n"
    )
    assert 'name="start" value="2026-11-01"' in asked and 'name="end" value="2026-11-30"' in asked
    assert 'href="?start=2026-11-04&amp;end=2026-12-01"' in first  # a quick range: 28 days


def test_a_range_form_with_errors_is_drawn_each_time_with_what_was_typed_escaped():
    presets = insights.preset_ranges(date(2026, 12, 1))
    typed = {"start": HOSTILE, "end": "2026-11-30"}
    with mock.patch.object(insights, "render_to_string", wraps=render_to_string) as rendering:
        html = insights.range_form_html(range_form(typed), presets)
        insights.range_form_html(range_form(typed), presets)
        assert rendering.call_count == 2
    assert 'aria-invalid="true"' in html and "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Tom&quot; &amp; Jerry" in html
    clean = insights.range_form_html(range_form({"start": "2026-11-01", "end": "2026-11-30"}), presets)
    assert "aria-invalid" not in clean
