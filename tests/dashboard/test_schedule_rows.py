"""dashboard.schedule_rows: the schedule's day cards and week rows written in Python are the markup the
templates wrote (compared as a browser reads it: runs of white space are one, none at a block's edges),
over every branch — visits of each status, a patient on another clock, a place, time off, a day off, a
day with nothing free — with what people wrote escaped, and writing them reads nothing."""

import cProfile
import pstats
import re
from datetime import UTC, date, datetime, time, timedelta
from html import escape

import pytest
import time_machine
from django.template import Context, Template
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils.safestring import mark_safe

from dashboard import schedule_rows
from journeys.models import TimeOff, Visit, WorkingHours
from journeys.selectors.schedule import at, schedule_for, week_of
from journeys.services.visits import visit_cancel, visit_complete, visit_no_show, visit_schedule
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 14, 12, 0, tzinfo=UTC)  # Tuesday 14 April, 08:00 in the clinic (New York, EDT)
MONDAY, TUESDAY, WEDNESDAY = date(2026, 4, 13), date(2026, 4, 14), date(2026, 4, 15)

# The day cards and the week's rows as the templates wrote them before they moved to Python; the rows of
# a day's list (``day.rows_html``) and a week cell's visit lines came from the same Python as now.
OLD_DAY = """{% for row in schedule.rows %}
  {% with day=row.days.0 %}
    <section class="card mb-3 schedule-day"
             id="day-{{ row.practitioner.pk }}"
             aria-labelledby="day-{{ row.practitioner.pk }}-heading">
      <div class="card-body">
        <div class="d-flex flex-wrap justify-content-between align-items-baseline gap-2 mb-2">
          <h2 class="h5 mb-0" id="day-{{ row.practitioner.pk }}-heading">{{ day.name }}</h2>
          <span class="small text-body-secondary">
            {% if day.works %}
              Working {{ day.hours }}
            {% else %}
              Not working this day
            {% endif %}
            · {{ day.booked_count }} visit{{ day.booked_count|pluralize }}
            {% if day.works %}· {{ day.free|length }} free time{{ day.free|length|pluralize }}{% endif %}
          </span>
        </div>
        {% if day.entries %}
          <ol class="list-unstyled schedule-entries mb-0">
            {{ day.rows_html }}
          </ol>
        {% else %}
          <p class="text-body-secondary mb-0">
            {% if day.works %}
              Fully booked.
            {% else %}
              No visits this day.
            {% endif %}
          </p>
        {% endif %}
      </div>
    </section>
  {% endwith %}
{% endfor %}"""
OLD_WEEK = """{% for row in schedule.rows %}
            <tr>
              <th scope="row" class="text-nowrap">{{ row.days.0.name }}</th>
              {% for day in row.days %}
                <td{% if day.is_today %} class="schedule-today"{% endif %}>
                  {{ day.rows_html }}
                  {% for off in day.away %}
                    <div class="small text-body-secondary">Away{% if off.reason %}: {{ off.reason }}{% endif %}</div>
                  {% endfor %}
                  {% if day.free %}
                    <a class="small no-print" href="?{{ day.link }}">{{ day.free|length }} free time{{ day.free|length|pluralize }}</a>
                  {% elif not day.works and not day.visits %}
                    <span class="small text-body-secondary">Not working</span>
                  {% elif not day.visits and not day.away %}
                    <span class="small text-body-secondary">No free time</span>
                  {% endif %}
                </td>
              {% endfor %}
            </tr>
          {% endfor %}"""
BLOCKS = "tr|td|th|div|li|ol|section|p|h2"


def as_read(html: str) -> str:
    html = re.sub(r"\s+", " ", html).replace(" >", ">")
    html = re.sub(rf"\s*(</?(?:{BLOCKS})\b[^>]*>)\s*", r"\1", html)
    # White space just inside the day's summary, after a heading and before the end of its block.
    return re.sub(r'(<span class="small text-body-secondary">) ', r"\1", html).replace(
        " </span></div>", "</span></div>"
    )


def old_day_rows(shown, *, book, booking_query):
    """What ``day.rows_html`` held: the entries as the list's items, from the same item writers."""
    tail = escape(f"&{booking_query}")
    for row in shown.rows:
        head = escape(f"{book}?practitioner={row.practitioner.pk}&starts_at=")
        for day in row.days:
            items = []
            for entry in day.entries:
                if entry.visit is not None:
                    items.append(schedule_rows._visit_item(entry.visit, escape(entry.visit.patient_name), {}))
                elif entry.slots:
                    items.append(schedule_rows._free_item(entry, escape(day.name), head, tail))
                else:
                    items.append(schedule_rows._away_item(entry))
            day.rows_html = mark_safe("\n".join(items))  # noqa: S308 — escaped by the writers


def old_week_lines(shown):
    """What ``day.rows_html`` held in a week: each visit's line, as the old ``week_lines`` wrote it."""
    for row in shown.rows:
        for day in row.days:
            lines = []
            for visit in day.visits:
                status = (
                    f' <span class="text-body-secondary">({escape(visit.status_label.lower())})</span>'
                    if visit.marked
                    else ""
                )
                lines.append(
                    f'<div class="small schedule-week-visit schedule-{escape(visit.status)}">'
                    f'<span class="fw-semibold">{visit.clinic_start}</span> '
                    f'<a href="{visit.url}">{escape(visit.patient_name)}</a> '
                    f'<span class="text-body-secondary">{escape(visit.kind_label)}</span>{status} '
                    f"{schedule_rows._their_time(visit, zone=False, written={})}</div>"
                )
            day.rows_html = mark_safe("\n".join(lines))  # noqa: S308 — escaped above


@pytest.fixture
def clinic(practitioner, other_practitioner, admin_user):
    """Bob works weekdays and has a varied Tuesday; Dana works Wednesdays only, fully booked; an admin
    practises with no hours at all."""
    with time_machine.travel(NOW - timedelta(days=7), tick=False):  # booked ahead, marked afterwards
        for weekday in range(5):
            WorkingHours.objects.create(
                practitioner=practitioner, weekday=weekday, starts=time(9), ends=time(12)
            )
            WorkingHours.objects.create(
                practitioner=practitioner, weekday=weekday, starts=time(13), ends=time(17)
            )
        WorkingHours.objects.create(practitioner=other_practitioner, weekday=2, starts=time(9), ends=time(10))
        sly = PatientFactory(first_name="<b>Ana</b>", last_name='O\'Hara & "Co"', time_zone="Europe/London")
        ben = PatientFactory(first_name="Ben", preferred_name="Benny <3", last_name="Okafor")
        cy = PatientFactory(first_name="Cy", last_name="Park", time_zone="Asia/Tokyo")

        def book(patient, who, day, hour, kind="follow_up", minute=0):
            return visit_schedule(
                patient=patient, practitioner=who, kind=kind, starts_at=at(day, time(hour, minute)), actor=who
            )

        intake = book(sly, practitioner, TUESDAY, 10, kind="intake")
        Visit.objects.filter(pk=intake.pk).update(location='Room "7" <i>')
        visit_cancel(visit=book(ben, practitioner, TUESDAY, 13), actor=practitioner)
        book(cy, practitioner, TUESDAY, 14, kind="discovery")
        done = book(ben, practitioner, MONDAY, 9)
        missed = book(cy, practitioner, MONDAY, 11)
        book(ben, other_practitioner, WEDNESDAY, 9)
        book(cy, other_practitioner, WEDNESDAY, 9, minute=30)
    with time_machine.travel(NOW - timedelta(hours=20), tick=False):
        visit_complete(visit=done, actor=practitioner)
        visit_no_show(visit=missed, actor=practitioner)
    TimeOff.objects.create(
        practitioner=practitioner,
        starts_at=at(TUESDAY, time(15)),
        ends_at=at(TUESDAY, time(16)),
        reason="<script>x",
    )
    TimeOff.objects.create(
        practitioner=practitioner,
        starts_at=at(WEDNESDAY, time(9)),
        ends_at=at(WEDNESDAY, time(17)),
        reason="",
    )
    admin_user.role = "admin"
    return [practitioner, other_practitioner]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.parametrize(
    "day", [MONDAY, TUESDAY, WEDNESDAY, WEDNESDAY - timedelta(days=7), date(2026, 4, 18)]
)
def test_the_day_cards_are_the_markup_the_template_wrote(clinic, day):
    book, query = reverse("journeys:slot_book"), "kind=follow_up&next=%2Fschedule%2F%3Fday%3D1"
    shown = schedule_for(days=[day], practitioners=clinic, whole_clinic=True)
    new = schedule_rows.day_sections(shown, book=book, booking_query=query)
    old_day_rows(shown, book=book, booking_query=query)
    old = Template(OLD_DAY).render(Context({"schedule": shown}))
    assert as_read(new) == as_read(old)


def test_the_day_cards_cover_every_branch(clinic):
    bodies = []
    for day in (TUESDAY, WEDNESDAY - timedelta(days=7), date(2026, 4, 18)):
        shown = schedule_for(days=[day], practitioners=clinic, whole_clinic=True)
        bodies.append(schedule_rows.day_sections(shown, book="/book/", booking_query="k=1"))
    tuesday, past_wednesday, saturday = bodies
    for branch in (
        "schedule-cancelled",
        "Cancelled",
        "their time (Europe/London)",
        "Room &quot;7&quot;",
        "Away: ",
    ):
        assert branch in tuesday
    assert (
        "Fully booked." in past_wednesday
        and "No visits this day." in saturday
        and "Not working this day" in saturday
    )


@pytest.mark.parametrize("week_of", [MONDAY - timedelta(days=7), MONDAY])
def test_the_week_rows_are_the_markup_the_template_wrote(clinic, week_of):
    days = [week_of + timedelta(days=offset) for offset in range(5)]
    shown = schedule_for(days=days, practitioners=clinic, whole_clinic=True)
    for row in shown.rows:
        for day in row.days:
            day.is_today = day.day == TUESDAY
            day.link = f"view=day&day={day.day.isoformat()}&practitioner={row.practitioner.pk}"
    new = schedule_rows.week_rows(shown)
    old_week_lines(shown)
    old = Template(OLD_WEEK).render(Context({"schedule": shown}))
    assert as_read(new) == as_read(old)
    if week_of == MONDAY:
        for branch in (
            "(completed)",
            "(no-show)",
            "(cancelled)",
            "Away: &lt;script&gt;x",
            "Away<",
            "schedule-today",
        ):
            assert branch in new
        assert "free times</a>" in new and "Not working" in new and "&amp;day=" in new
    else:
        assert "No free time" in new


def test_what_people_wrote_is_escaped_in_the_day_and_the_week(clinic):
    day = schedule_rows.day_sections(
        schedule_for(days=[TUESDAY], practitioners=clinic), book="/book/", booking_query="a=<b>"
    )
    week = schedule_rows.week_rows(schedule_for(days=[MONDAY, TUESDAY], practitioners=clinic))
    for html in (day, week):
        assert "<b>" not in html and "<script>" not in html and "<3" not in html
        assert "&lt;b&gt;Ana&lt;/b&gt; O&#x27;Hara &amp; &quot;Co&quot;" in html
        assert "Benny &lt;3 Okafor" in html
    assert "&amp;a=&lt;b&gt;" in day and "Room &quot;7&quot; &lt;i&gt;" in day


@pytest.mark.parametrize("view", ["day", "week"])
def test_writing_the_rows_reads_nothing(clinic, view, django_assert_num_queries):
    shown = schedule_for(days=[MONDAY, TUESDAY] if view == "week" else [TUESDAY], practitioners=clinic)
    shown.rows[0].days[0].entries  # noqa: B018 — worked out by the selector's data, no query
    with django_assert_num_queries(0):
        if view == "week":
            schedule_rows.week_rows(shown)
        else:
            schedule_rows.day_sections(shown, book="/book/", booking_query="k=1")


def test_the_pages_dates_are_the_templates_date_filter():
    first = date(2026, 1, 1)
    for offset in range(3 * 366):  # 2028 a leap year
        day = first + timedelta(days=offset)
        assert schedule_rows.long_day(day) == date_filter(day, "l j F Y")
        assert schedule_rows.day_of_month(day) == date_filter(day, "j F Y")
        assert schedule_rows.short_day(day) == date_filter(day, "D j M")


def test_the_names_are_escaped_at_once_as_one_by_one(clinic):
    shown = schedule_for(days=week_of(MONDAY), practitioners=clinic, whole_clinic=True)
    visits = [visit for row in shown.rows for day in row.days for visit in day.visits]
    assert len(visits) > 5 and any("<" in visit.patient_name for visit in visits)
    assert schedule_rows._escaped_names(shown) == {visit.pk: escape(visit.patient_name) for visit in visits}
    saturday = schedule_for(days=[date(2026, 4, 18)], practitioners=clinic)
    assert schedule_rows._escaped_names(saturday) == {}


# The filters' labelled controls as the page's template wrote them before ``ScheduleFilterForm.controls``.
OLD_CONTROL = (
    '<label class="form-label small mb-1" for="{{ field.id_for_label }}">{{ field.label }}</label>\n'
    "        {{ field }}"
)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"view": "week", "practitioner": "", "kind": "intake"},
        {"day": "2026-04-15", "page": "2"},
        {
            "day": "not a date",
            "kind": "<script>",
        },  # errors: the bound field writes them, aria-invalid and all
        {"practitioner": '"><b>&', "view": "nope"},
        {"practitioner": "999999"},
    ],
)
def test_the_filters_controls_are_the_bound_fields_markup(clinic, practitioner, staff, query):
    from django.http import QueryDict

    from journeys.forms.schedule import ScheduleFilterForm

    data = QueryDict(mutable=True)
    data.update(query)
    for user in (practitioner, staff):
        filters = ScheduleFilterForm(data, user=user)
        controls = filters.controls()
        assert list(controls) == ["practitioner", "day", "kind"]
        for name, written in controls.items():
            assert written == Template(OLD_CONTROL).render(Context({"field": filters[name]}))
    assert "aria-invalid" in ScheduleFilterForm(QueryDict("day=x"), user=staff).controls()["day"]


OLD_COLUMNS = """{% for link, is_today, label in columns %}
              <th scope="col"{% if is_today %} class="schedule-today"{% endif %}>
                <a href="?{{ link }}">{{ label }}</a>
              </th>
            {% endfor %}"""


def test_the_week_columns_are_the_templates_loop():
    columns = [
        ("view=day&day=2026-04-13&kind=follow_up", False, "Mon 13 Apr"),
        ("view=day&day=2026-04-14", True, "Tue 14 Apr"),
        ('a=<script>"x"&b=\'', False, "<b>&amp;</b>"),
    ]
    written = schedule_rows.week_columns(columns)
    assert written == Template(OLD_COLUMNS).render(Context({"columns": columns}))
    assert "<script>" not in written and "&amp;amp;" in written
    assert schedule_rows.week_columns([]) == ""


def test_the_clock_and_slot_caches_change_nothing(clinic):
    """The moments, patients' clocks and free slots kept for the process write what fresh ones do: a second
    look (every cache warm) is the first (every cache empty), the day and the week."""
    from journeys.selectors import schedule as selectors

    def written():
        week = schedule_for(days=week_of(MONDAY), practitioners=clinic, whole_clinic=True)
        day = schedule_for(days=[TUESDAY], practitioners=clinic, whole_clinic=True)
        return (
            schedule_rows.week_rows(week),
            schedule_rows.day_sections(day, book="/book/", booking_query="kind=intake&next=%2F"),
            [
                (visit.patient_name, visit.patient_clock)
                for row in week.rows
                for d in row.days
                for visit in d.visits
            ],
        )

    for kept in (selectors._clocks_kept, selectors._their_clocks_kept, selectors._slots_kept):
        kept.clear()
    schedule_rows._day_clocks.clear()
    schedule_rows._week_clocks.clear()
    first = written()
    assert selectors._clocks_kept and selectors._their_clocks_kept and selectors._slots_kept
    assert schedule_rows._day_clocks and schedule_rows._week_clocks
    assert written() == first
    assert "their time" in first[0] and "their time" in first[1] and "schedule-slot" in first[1]
    assert "Europe/London" in first[0] and "<b>Ana</b>" not in first[0] + first[1]


def test_the_white_space_a_name_is_stripped_of_is_strs():
    from journeys.selectors.schedule import _SPACE

    assert {chr(code) for code in range(0x110000) if chr(code).isspace()} == _SPACE


def test_names_are_stripped_as_before(practitioner):
    """A name is stripped only when it starts or ends with white space: as ``str.strip`` stripped each."""
    with time_machine.travel(NOW - timedelta(days=7), tick=False):
        WorkingHours.objects.create(practitioner=practitioner, weekday=1, starts=time(9), ends=time(17))
        for hour, (first, last, preferred) in enumerate(
            [
                ("\u3000Ann", "Lee ", ""),
                ("", "Solo", ""),
                ("Al", "", ""),
                ("A\tb", "c\nd", " P "),
                ("x", "y", ""),
            ]
        ):
            patient = PatientFactory(first_name=first, last_name=last, preferred_name=preferred)
            visit_schedule(
                patient=patient,
                practitioner=practitioner,
                kind="follow_up",
                starts_at=at(TUESDAY, time(9 + hour)),
                actor=practitioner,
            )
    shown = schedule_for(days=[TUESDAY], practitioners=[practitioner])
    names = [visit.patient_name for visit in shown.rows[0].days[0].visits]
    assert names == ["Ann Lee", "Solo", "Al", "P  c\nd", "x y"]


def _python_calls(write) -> int:
    profile = cProfile.Profile()
    profile.runcall(write)
    return pstats.Stats(profile).total_calls


def test_a_visit_more_costs_a_call_or_two(practitioner, monkeypatch):
    """Working out and writing the schedule costs about a call a visit (its row), not ten (its clocks, its
    practitioner's lists, its name, its cell's lines): 20 visits more on the week cost at most 2 calls each
    in the week and 4 in the days' lists, the reads aside (replayed) and no free slot to count (all past)."""
    from journeys.selectors import schedule as selectors

    real, read = selectors._read, {}

    def replayed(query, ids, start, end):
        key = (query, tuple(ids), start, end)
        if key not in read:
            read[key] = real(query, ids, start, end)
        return list(read[key])

    monkeypatch.setattr(selectors, "_read", replayed)
    zones = ["America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Sydney"]
    patients = [
        PatientFactory(first_name=f"<i>P{n}</i>", last_name='O\'Neil & "Co"', time_zone=zones[n % 4])
        for n in range(8)
    ]
    week, after = week_of(MONDAY), at(date(2026, 4, 20), time(0))

    def book(hours):
        with time_machine.travel(NOW - timedelta(days=7), tick=False):
            for n, (day, hour) in enumerate((day, hour) for day in week[:5] for hour in hours):
                visit_schedule(
                    patient=patients[n % 8],
                    practitioner=practitioner,
                    kind="follow_up",
                    starts_at=at(day, time(hour)),
                    actor=practitioner,
                )

    def calls() -> tuple[int, int]:
        def the_week():
            schedule_rows.week_rows(schedule_for(days=week, practitioners=[practitioner], now=after))

        def the_days():
            for day in week[:5]:
                shown = schedule_for(days=[day], practitioners=[practitioner], now=after)
                schedule_rows.day_sections(shown, book="/book/", booking_query="kind=follow_up")

        read.clear()
        the_week(), the_days()  # the reads made once, every moment's clock kept
        return _python_calls(the_week), _python_calls(the_days)

    book([8, 9, 10, 11])
    week_before, days_before = calls()
    book([13, 14, 15, 16])
    week_after, days_after = calls()
    assert (week_after - week_before) / 20 <= 2
    assert (days_after - days_before) / 20 <= 4


def test_each_filter_form_has_its_own_practitioners_and_shares_the_rest(practitioner, staff):
    """A form's copy of its fields is cheap (a handful of calls, where deep-copying them cost ~400) and
    still its own where a form changes it: the practitioner's options; the shared fields are never changed."""
    import copy

    from django.http import QueryDict

    from journeys.forms.schedule import ScheduleFilterForm
    from tests.factories import UserFactory

    assert _python_calls(lambda: copy.deepcopy(ScheduleFilterForm.base_fields)) < 60
    base = ScheduleFilterForm.base_fields
    before = {name: dict(field.widget.attrs) for name, field in base.items()}
    first = ScheduleFilterForm(QueryDict(""), user=staff)
    UserFactory(role="practitioner", username="zed", display_name='Zed <"Z"> & co')
    second = ScheduleFilterForm(QueryDict("practitioner=&kind=intake"), user=staff)
    assert first.fields["practitioner"].widget is not second.fields["practitioner"].widget
    assert first.fields["practitioner"].widget is not base["practitioner"].widget
    assert (
        len(second.fields["practitioner"].widget.choices)
        == len(first.fields["practitioner"].widget.choices) + 1
    )
    assert "Zed &lt;&quot;Z&quot;&gt; &amp; co" in second.controls()["practitioner"]
    assert "Zed" not in first.controls()["practitioner"]
    assert {name: dict(field.widget.attrs) for name, field in base.items()} == before
    assert not hasattr(base["practitioner"].widget, "_choices") or base["practitioner"].widget.choices == []
