"""Insights: the clinic's figures over a date range — adherence (and by week), check-in response rates by channel
and by the patient's own hour, what gets in the way, the journey funnel from inquiry to advocate — each chart
beside a table of its numbers, and every table as CSV. A fixed number of queries, whatever the range holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from accounts.audit import record_export, record_list
from accounts.once import looks_kept, rendered_once
from accounts.permissions import EVERYONE, role_required
from accounts.queries import CountsCompiled, built_per_thread
from accounts.refusals import validation_message
from accounts.reports import csv_lines
from compliance import selectors as compliance_selectors
from compliance.context_processors import OpenAlerts
from compliance.models import ClinicSettings
from journeys.selectors.advocates import AdvocacyFigures, advocacy_counts, advocacy_figures
from journeys.selectors.funnel import FunnelStep

from . import charts
from .figures import insights_figures
from .forms import InsightsRangeForm, preset_ranges


@dataclass(frozen=True)
class Insights:
    start: date
    end: date
    threshold: float
    adherence: compliance_selectors.ClinicAdherence
    weekly: list[compliance_selectors.WeekAdherence]
    responses: compliance_selectors.ResponseRates
    barriers: list[tuple[str, int]]
    funnel: list[FunnelStep]
    open_alerts: int
    advocacy: AdvocacyFigures  # counted live, but for the referred patients added (kept by beat when fresh)
    as_of: datetime | None = None  # when the figures were counted (the beat task's summary); None: now

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


# Days no range reaches: where a range's first and last moments go in the counts compiled once per thread.
_SINCE, _UNTIL = datetime(1901, 1, 1, tzinfo=UTC), datetime(1901, 1, 2, tzinfo=UTC)


@built_per_thread
def _counts() -> CountsCompiled:
    """The advocacy figures' counts and the open alerts, in one query (``accounts.queries.counts_at_once``)."""
    counted = {
        **advocacy_counts(since=_SINCE, until=_UNTIL),
        "open_alerts": compliance_selectors.open_alerts(),
    }
    return CountsCompiled(counted, _SINCE, _UNTIL)


def insights_for(*, start: date, end: date, clinic: ClinicSettings) -> Insights:
    """The figures for the days ``start`` to ``end`` (the clinic's days, both included): from the summary
    the beat task keeps when it holds this range, else summed from its daily roll-ups, else counted now
    (``dashboard.figures``). The open alerts are counted with the advocacy figures, in one query."""
    figures, referred = insights_figures(start=start, end=end)
    since = timezone.make_aware(datetime.combine(start, time.min))
    until = min(timezone.now(), timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min)))
    counted = _counts().counts(since, until)
    return Insights(
        start=start,
        end=end,
        threshold=clinic.adherence_threshold,
        adherence=figures.adherence,
        weekly=figures.weekly,
        responses=figures.responses,
        barriers=figures.barriers,
        funnel=figures.funnel,
        open_alerts=counted["open_alerts"],
        as_of=figures.as_of,
        advocacy=advocacy_figures(since=since, until=until, referred=referred, counted=counted),
    )


def _rate_bars(rates) -> list[charts.Bar]:
    return [
        charts.Bar(
            label=rate.label,
            share=(rate.percent or 0) / 100,
            value="—" if rate.percent is None else f"{round(rate.percent)}%",
            note=f"{rate.answered} of {rate.sent} answered" if rate.sent else "none sent",
            faint=not rate.sent,
        )
        for rate in rates
    ]


def _charts(data: Insights) -> dict:
    funnel_most = max((step.entered for step in data.funnel), default=0) or 1
    barrier_most = max((count for _, count in data.barriers), default=0) or 1
    entered = [step for step in data.funnel if step.entered]
    return {
        "funnel": charts.bars_svg(
            [
                charts.Bar(
                    label=step.label,
                    share=step.entered / funnel_most,
                    value=str(step.entered),
                    note=" · ".join(
                        part
                        for part in (
                            f"{round(step.conversion)}% went on" if step.conversion is not None else "",
                            f"median {step.median_days:g} days" if step.median_days is not None else "",
                        )
                        if part
                    ),
                    faint=not step.entered,
                )
                for step in data.funnel
            ]
            if entered
            else [],
            title="The journey funnel",
            summary="The journey funnel: "
            + "; ".join(
                f"{step.label} {step.entered}"
                + (f", {round(step.conversion)}% went on" if step.conversion is not None else "")
                for step in data.funnel
            )
            + ".",
            css_class="chart-funnel",
            empty="No journey moved in these days.",
        ),
        "weekly": charts.weekly_svg(
            [(week.week, week.score) for week in data.weekly], threshold=data.threshold
        ),
        "channels": charts.bars_svg(
            _rate_bars(data.responses.by_channel) if data.responses.sent else [],
            title="Check-ins answered, by channel",
            summary="Check-ins answered, by channel: "
            + "; ".join(
                f"{rate.label} {rate.answered} of {rate.sent}"
                for rate in data.responses.by_channel
                if rate.sent
            )
            + ".",
            css_class="chart-channels",
            empty="No check-in requests went out in these days.",
        ),
        "hours": charts.bars_svg(
            _rate_bars(data.responses.by_hour),
            title="Check-ins answered, by the patient's local hour",
            summary="Check-ins answered, by the hour the request reached the patient in their own time: "
            + "; ".join(f"{rate.label} {rate.answered} of {rate.sent}" for rate in data.responses.by_hour)
            + ".",
            css_class="chart-hours",
            empty="No check-in requests went out in these days.",
        ),
        "barriers": charts.bars_svg(
            [
                charts.Bar(label=label, share=count / barrier_most, value=str(count))
                for label, count in data.barriers
            ],
            title="What gets in the way",
            summary="What gets in the way: "
            + "; ".join(f"{label} {count}" for label, count in data.barriers)
            + ".",
            css_class="chart-barriers",
            empty="No barriers named in these days.",
        ),
    }


# The figures' markup is ~40 kB a look, and a look lasts until the next refresh (or is a custom range): a few
# dozen kept, apart from the shared looks.
FIGURES_LOOKS_KEPT = 32
_figures_once = looks_kept(FIGURES_LOOKS_KEPT)


def figures_html(data: Insights, *, trend_words: str, range_query: str) -> SafeString:
    """The page below the range form (``dashboard/_insights_figures.html``: the cards, charts and tables),
    drawn once per look. The look is every value drawn — the figures' ``repr`` (dataclasses of counts,
    rates and dates of the whole clinic, naming no patient), the words and links made of them, the language
    and time zone — so a refresh that changes any figure draws it again."""
    look = (
        "insights figures",
        repr(data),
        trend_words,
        range_query,
        translation.get_language(),
        timezone.get_current_timezone_name(),
    )

    def draw() -> str:
        context = {
            "insights": data,
            "charts": _charts(data),
            "threshold": data.threshold,
            "responses": data.responses,
            "adherence": data.adherence,
            "trend_words": trend_words,
            "barriers": data.barriers,
            "open_alerts": data.open_alerts,
            "range_query": range_query,
        }
        return render_to_string("dashboard/_insights_figures.html", context).strip("\n")

    return mark_safe(_figures_once(look, draw))  # noqa: S308 — the template's own escaped output, kept


def range_form_html(form: InsightsRangeForm, presets: list[tuple[str, str]]) -> SafeString:
    """The range form (``dashboard/_insights_range_form.html``): its two date inputs and the quick ranges,
    drawn once per look — the inputs' names, ids and values (a day each, as given or the default) and the
    quick ranges' days. A form with errors is drawn as usual (its inputs say they are invalid)."""

    def draw() -> str:
        return render_to_string(
            "dashboard/_insights_range_form.html", {"form": form, "presets": presets}
        ).removesuffix("\n")

    if form.is_bound and form.errors:
        return mark_safe(draw())  # noqa: S308 — the template's own escaped output
    look: tuple = ("insights range form", form.auto_id, tuple(presets))
    for name in ("start", "end"):
        bound = form[name]
        look += (bound.html_name, bound.auto_id, repr(bound.value()))
    return mark_safe(rendered_once(look, draw))  # noqa: S308 — the template's own escaped output, kept


def _range_form(request, clinic: ClinicSettings) -> InsightsRangeForm:
    asked = request.GET if ("start" in request.GET or "end" in request.GET) else None
    return InsightsRangeForm(asked, today=timezone.localdate(), default_days=clinic.window_days)


@role_required(*EVERYONE)
def insights(request):
    clinic = ClinicSettings.load()
    form = _range_form(request, clinic)
    if form.is_bound and not form.is_valid():
        messages.error(
            request, f"{validation_message(form)} Showing the last {clinic.window_days} days instead."
        )
    start, end = form.range()
    data = insights_for(start=start, end=end, clinic=clinic)
    # Clinic-wide figures name no patient; the read of everyone's adherence is still on the trail.
    record_list(patient_ids=[], query=request.GET.urlencode(), what="insights")
    range_query = f"start={start.isoformat()}&end={end.isoformat()}"
    trend_words = compliance_selectors.describe_trend(data.adherence.trend, window_days=data.days)
    return render(
        request,
        "dashboard/insights.html",
        {
            "form": form,
            "insights": data,
            "figures_html": figures_html(data, trend_words=trend_words, range_query=range_query),
            # What the figures are drawn from, named as before for whoever reads the page's context.
            "responses": data.responses,
            "adherence": data.adherence,
            "barriers": data.barriers,
            "open_alerts": data.open_alerts,
            # The navigation's badge from the count just taken, not a query of its own.
            "nav_open_alerts": OpenAlerts.counted(data.open_alerts),
            "range_form_html": range_form_html(form, preset_ranges(timezone.localdate())),
        },
    )


# --- Every table as CSV ------------------------------------------------------------------------------


def _rate_rows(rates) -> list[list]:
    return [
        [rate.label, rate.sent, rate.answered, "" if rate.percent is None else rate.percent] for rate in rates
    ]


def table_rows(name: str, data: Insights) -> list[list]:
    """One of the page's tables, header first, exactly as the page shows its numbers."""
    if name == "funnel":
        return [
            ["stage", "entered", "went on to", "went on", "conversion %", "median days in stage"],
            *(
                [
                    step.label,
                    step.entered,
                    step.next_label,
                    step.went_on if step.next_stage else "",
                    "" if step.conversion is None else step.conversion,
                    "" if step.median_days is None else step.median_days,
                ]
                for step in data.funnel
            ),
        ]
    if name == "adherence":
        return [
            ["week beginning", "adherence %", "item reports"],
            *(
                [week.week.isoformat(), "" if week.score is None else week.score, week.reports]
                for week in data.weekly
            ),
        ]
    if name == "barriers":
        return [["barrier", "answers naming it"], *([label, count] for label, count in data.barriers)]
    if name == "channels":
        return [["channel", "requests", "answered", "rate %"], *_rate_rows(data.responses.by_channel)]
    if name == "hours":
        return [["their local hour", "requests", "answered", "rate %"], *_rate_rows(data.responses.by_hour)]
    raise Http404("No such table.")


TABLES = ("funnel", "adherence", "barriers", "channels", "hours")


@role_required(*EVERYONE)
def insights_csv(request, table: str):
    """One of Insights' tables, for the same range, as CSV. Figures only, naming no patient; audited as an
    export all the same."""
    if table not in TABLES:
        raise Http404("No such table.")
    clinic = ClinicSettings.load()
    start, end = _range_form(request, clinic).range()
    rows = table_rows(table, insights_for(start=start, end=end, clinic=clinic))
    record_export(patient_ids=[], query=request.GET.urlencode(), what=f"insights {table} CSV")
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="insights-{table}-{start.isoformat()}-to-{end.isoformat()}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response
