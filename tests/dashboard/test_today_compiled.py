"""Today's reads and counts compiled once per thread (``accounts.queries.Compiled`` and ``CountsCompiled``) and
run with each user's id and each day's moments: the ORM's rows and counts, by the ORM's SQL, for each kind of
page (one's own day, the practice's, by someone who practises or not), and nothing of one user or day left
for the next. And the day's visits written in Python: the markup the template's loop wrote."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Model
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.dates import hour_minute
from accounts.queries import counts_at_once
from dashboard import selectors
from dashboard.selectors import _VISIT_COLUMNS, VisitRow
from dashboard.today_rows import visit_rows
from journeys.models import Journey, Stage, Visit
from patients.models import CareTeamMember
from tests.dashboard.test_today import NOW, add_day
from tests.factories import PatientFactory, UserFactory
from tests.support.markup import squeezed

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


def snapshot(row):
    """A row as plain values: a model's fields and, in turn, the related rows read with it (not the flag
    ``today_for`` sets on an inquiry, compared on its own)."""
    if not isinstance(row, Model):
        return row
    fields = {k: v for k, v in vars(row).items() if k not in ("_state", "call_booked")}
    related = {f"→{name}": snapshot(obj) for name, obj in row._state.fields_cache.items()}
    return (type(row).__name__, fields, related)


def orms_day(user, scope, now):
    """Today's lists and counts through the ORM's own querysets, as before they were compiled."""
    mine = selectors.today_scope(user, scope) == selectors.MINE
    local = timezone.localtime(now)
    start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    at = selectors._Moments(
        user=user.pk,
        start=start,
        end=start + timedelta(days=1),
        since=start - timedelta(days=1),
        now=now,
        day=local.date(),
    )
    lists, counted = selectors._reads(at, mine=mine, practises=user.role in ("practitioner", "admin"))
    rows = {name: [snapshot(row) for row in queryset] for name, queryset in lists.items()}
    return rows, counts_at_once(counted, cap=selectors.COUNT_CAP)


def ours(today):
    rows = {
        "visits": today.visits,
        "next_visits": today.next_visits,
        "alerts": today.alerts,
    }
    if today.practises:
        rows["notes_to_sign"] = today.notes_to_sign
    if today.mine:
        rows["answered"] = today.answered
    else:
        rows["without_lead"] = today.without_lead
        rows["inquiries"] = [row[:-1] for row in today.inquiries]  # not the flag, compared on its own
    return {name: [tuple(row) for row in found] for name, found in rows.items()}


@pytest.fixture
def clinic(practitioner, other_practitioner):
    add_day(practitioner, 3)
    add_day(other_practitioner, 2, on_team=False)
    waiting = PatientFactory(first_name=HOSTILE)  # an inquiry with a call booked, and no lead
    Journey.objects.create(patient=waiting, stage=Stage.INQUIRY)
    Visit.objects.create(
        patient=waiting, practitioner=other_practitioner, kind="discovery", starts_at=NOW + timedelta(days=3)
    )
    CareTeamMember.objects.create(patient=PatientFactory(), user=other_practitioner, role="support")


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        ("practitioner", None),
        ("practitioner", "practice"),
        ("other_practitioner", None),
        ("staff", None),
        ("admin_user", "mine"),
        ("admin_user", "practice"),
    ],
)
def test_each_read_and_count_is_the_orms_for_each_user_and_day(request, clinic, who, scope):
    user = request.getfixturevalue(who)
    moments = (NOW, NOW + timedelta(days=3), NOW - timedelta(hours=20), NOW + timedelta(days=400))
    for now in moments * 2:  # the second round from the SQL compiled in the first
        with time_machine.travel(now, tick=False):
            with CaptureQueriesContext(connection) as compiled:
                today = selectors.today_for(user, scope=scope, now=now)
            with CaptureQueriesContext(connection) as orms:
                rows, counts = orms_day(user, scope, now)
        booked = rows.pop("booked", [])
        assert ours(today) == rows
        assert {j.patient_id for j in today.inquiries if j.call_booked} == set(booked)
        assert {name: getattr(today, name) for name in counts} == counts
        assert [q["sql"] for q in compiled.captured_queries] == [q["sql"] for q in orms.captured_queries]


def test_the_pages_show_what_they_showed_before_with_a_call_booked(clinic, staff, practitioner):
    today = selectors.today_for(staff, now=NOW)
    assert today.visit_count == 5 and today.inquiry_count == 6 and len(today.without_lead) == 4
    assert [j.call_booked for j in today.inquiries] == [True] * 6  # each visit of the day is still to come
    later = selectors.today_for(staff, now=NOW + timedelta(hours=1))
    assert [j.call_booked for j in later.inquiries] == [False] * 5 + [True]
    mine = selectors.today_for(practitioner, now=NOW)
    assert mine.visit_count == 3 and mine.alert_count == 3 and mine.answered_count == 3
    assert {v.practitioner_id for v in mine.visits} == {practitioner.pk}


# The loop ``dashboard/today.html`` ran for the day's visits before they were written in Python.
TEMPLATE_LOOP = Template(
    """{% load links %}{% for visit in visits %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <span>
          <strong>{{ visit.starts_at|time:"H:i" }}</strong>
          <a href="{% id_url 'journeys:visit_detail' visit.pk %}">{{ visit.get_kind_display }}</a>
          with <a href="{{ visit.patient.get_absolute_url }}">{{ visit.patient.display_name }}</a>
        </span>
        <span class="small text-body-secondary text-nowrap">
          {% if not mine %}{{ visit.practitioner }} ·{% endif %}
          {{ visit.get_status_display }}
        </span>
      </li>
    {% endfor %}"""
)


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("mine", [True, False])
def test_the_visit_rows_are_what_the_template_wrote(zone, mine):
    who = UserFactory(role="practitioner", username="hostile", display_name=HOSTILE)
    patient = PatientFactory(first_name=HOSTILE, preferred_name="", last_name="O'Neil & <i>")
    visits = [
        Visit.objects.create(patient=patient, practitioner=who, kind=kind, status=status, starts_at=at)
        for kind, status, at in (
            ("intake", "scheduled", datetime(2026, 3, 8, 6, 59, tzinfo=UTC)),  # the day DST starts
            ("follow_up", "completed", datetime(2026, 7, 4, 23, 30, 59, tzinfo=UTC)),
            ("discovery", "no_show", datetime(2026, 12, 31, 0, 5, tzinfo=UTC)),
        )
    ]
    visits = list(
        Visit.objects.filter(pk__in=[v.pk for v in visits]).select_related("patient", "practitioner")
    )
    rows = [
        VisitRow(*row)
        for row in Visit.objects.filter(pk__in=[v.pk for v in visits]).values_list(*_VISIT_COLUMNS)
    ]
    with timezone.override(zone):
        expected = TEMPLATE_LOOP.render(Context({"visits": visits, "mine": mine}))
        html = visit_rows(rows, mine=mine)
    assert squeezed(html) == squeezed(expected)
    assert "<script>" not in html and "<i>" not in html
    assert ("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html) and (
        "O&#x27;Neil &amp; &lt;i&gt;" in html
    )
    assert visit_rows([], mine=mine) == ""


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Asia/Kolkata"])
def test_hour_minute_is_the_time_filters(zone):
    moments = [datetime(2026, 3, 8, 6, 59, tzinfo=UTC), datetime(2026, 11, 1, 5, 30, 1, 9, tzinfo=UTC)]
    with timezone.override(zone):
        for moment in moments:
            assert hour_minute(moment) == Template('{{ m|time:"H:i" }}').render(Context({"m": moment}))


def test_a_date_marks_a_count_compiled_once():
    from accounts.queries import CountsCompiled
    from journeys.models import CheckIn

    day = date(2001, 2, 3)
    counts = CountsCompiled({"due": CheckIn.objects.filter(due_on=day)}, day)
    assert counts.counts(NOW.date()) == {"due": 0}


def test_a_practitioners_patients_are_read_from_the_index_alone_unsorted(postgres, clinic, practitioner):
    """ "My patients" in Today's reads: the ids of the practitioner's current care teams, from the partial index
    ``careteam_current_by_user`` (user, patient) alone and not sorted (the model's default order sorted ~500 ids
    at 100,000 patients, and the rows were fetched one heap block each). The planner is kept off sequential
    scans: a tiny table is read whole. (Their answered check-ins' ``checkin_answered_by_journey`` is the
    planner's choice at scale only: measured in ``make bench``.)"""
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ran:
        selectors.today_for(practitioner, now=NOW)
    mine = [q["sql"] for q in ran.captured_queries if '"patients_careteammember"' in q["sql"]]
    assert mine
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plans = []
        for sql in mine:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    care_team = [line for plan in plans for line in plan.splitlines() if "patients_careteammember" in line]
    # The lists of "my patients" (``_among_my_patients``) from the index (alone where the table's pages are all
    # visible, as on a vacuumed clinic; a test's fresh rows may need their heap looked at); an EXISTS on one
    # patient's team may take the patient's index instead.
    assert any(re.search(r"Index (Only )?Scan using careteam_current_by_user", line) for line in care_team), (
        "\n\n".join(plans)
    )
    assert not any("Sort Key" in line and "ended_at" in line for plan in plans for line in plan.splitlines())


# The loops ``dashboard/today.html`` ran for its other lists before they were written in Python
# (``dashboard.today_rows``), each over the models it read then.
LOOPS = {
    "next_visits": """{% load links %}{% for visit in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <span>
          <strong>{{ visit.starts_at|date:"D j M, H:i" }}</strong>
          <a href="{% id_url 'journeys:visit_detail' visit.pk %}">{{ visit.get_kind_display }}</a>
          with <a href="{{ visit.patient.get_absolute_url }}">{{ visit.patient.display_name }}</a>
        </span>
        {% if not mine %}<span class="small text-body-secondary text-nowrap">{{ visit.practitioner }}</span>{% endif %}
      </li>
    {% endfor %}""",
    "notes_to_sign": """{% load links %}{% for note in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <span>
          <a href="{% id_url 'journeys:note_detail' note.pk %}">{{ note.title }}</a>
          · <a href="{{ note.visit.patient.get_absolute_url }}">{{ note.visit.patient.display_name }}</a>
        </span>
        <span class="small text-body-secondary text-nowrap">visit {{ note.visit.starts_at|date:"j M" }}</span>
      </li>
    {% endfor %}""",
    "alerts": """{% load links %}{% for alert in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <span>
          <a href="{% id_url 'compliance:alert' alert.pk %}">{{ alert.patient.display_name }}</a>
          {% if alert.escalated_at %}<span class="badge text-bg-danger">Call the patient</span>{% endif %}
          {% for row in alert.all_reasons %}
            <span class="small text-body-secondary">· {{ row.label }}: {{ row.detail }}</span>
          {% endfor %}
        </span>
        <span class="small text-body-secondary text-nowrap">{{ alert.opened_at|timesince }} ago</span>
      </li>
    {% endfor %}""",
    "without_lead": """{% for patient in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between">
        <a href="{{ patient.get_absolute_url }}">{{ patient.display_name }}</a>
        <span class="small text-body-secondary">since {{ patient.created_at|date:"j M" }}</span>
      </li>
    {% endfor %}""",
    "answered": """{% for checkin in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <a href="{{ checkin.journey.patient.get_absolute_url }}">{{ checkin.journey.patient.display_name }}</a>
        <span class="small text-body-secondary text-nowrap">{{ checkin.answered_at|timesince }} ago</span>
      </li>
    {% endfor %}""",
    "inquiries": """{% for journey in rows %}
      <li class="list-group-item px-0 d-flex justify-content-between gap-2">
        <span>
          <a href="{{ journey.patient.get_absolute_url }}">{{ journey.patient.display_name }}</a>
          {% if journey.call_booked %}<span class="badge badge-soft">Call booked</span>{% endif %}
        </span>
        <span class="small text-body-secondary text-nowrap">waiting {{ journey.stage_entered_at|timesince }}</span>
      </li>
    {% endfor %}""",
}

_BLOCKS = re.compile(r"</?(?:li|ul|div|p|h[1-6])\b[^>]*>")


def visible(html: str) -> str:
    """The text a browser shows, with block boundaries marked: the spaces between inline elements count."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", _BLOCKS.sub(" | ", str(html)))).strip()


@pytest.fixture
def hostile_day(practitioner, other_practitioner):
    """A day whose every list holds rows named with markup: an escalated alert with two reasons and one from
    before reasons were kept, a note to sign, an answered check-in, an inquiry with its call booked and one
    without, patients without a lead, and visits ahead."""
    from compliance.models import Alert
    from journeys.models import CheckIn, VisitNote

    other_practitioner.display_name = HOSTILE
    other_practitioner.save()
    patients = [
        PatientFactory(first_name=HOSTILE, preferred_name="", last_name="O'Neil & <i>"),
        PatientFactory(first_name="Ann", preferred_name=HOSTILE, last_name="<b>Lee</b>"),
    ]
    for patient in patients:
        CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
        journey = Journey.objects.create(patient=patient, stage=Stage.INQUIRY)
        CheckIn.objects.create(
            journey=journey,
            due_on=NOW.date(),
            closes_at=NOW + timedelta(days=1),
            answered_at=NOW - timedelta(hours=3),
        )
        Journey.objects.filter(pk=journey.pk).update(stage_entered_at=NOW - timedelta(days=9, hours=2))
    Alert.objects.create(
        patient=patients[0],
        reason="low_adherence",
        detail="below <60%> & falling",
        reasons=[
            {"reason": "low_adherence", "detail": "below <60%> & falling"},
            {"reason": "missed_checkins", "detail": HOSTILE},
        ],
        escalated_at=NOW - timedelta(hours=1),
        opened_at=NOW - timedelta(days=2, hours=5),
    )
    Alert.objects.create(
        patient=patients[1],
        reason="missed_checkins",
        detail="3 in a row",
        opened_at=NOW - timedelta(minutes=4),
    )
    visit = Visit.objects.create(
        patient=patients[0], practitioner=practitioner, kind="intake", starts_at=NOW - timedelta(days=2)
    )
    VisitNote.objects.create(visit=visit, author=practitioner, title=HOSTILE)
    for at, who in (
        (NOW + timedelta(days=1, hours=2), practitioner),
        (NOW + timedelta(days=2), other_practitioner),
    ):
        Visit.objects.create(patient=patients[1], practitioner=who, kind="discovery", starts_at=at)
    PatientFactory(first_name="No", last_name="<u>Lead</u> & co")


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize(
    ("who", "scope"), [("practitioner", "mine"), ("practitioner", "practice"), ("staff", None)]
)
def test_each_list_is_what_the_templates_loop_wrote_with_every_name_escaped(
    request, hostile_day, zone, who, scope
):
    from compliance.models import Alert
    from dashboard.today_rows import today_rows
    from journeys.models import CheckIn, VisitNote
    from patients.models import Patient

    user = request.getfixturevalue(who)
    with time_machine.travel(NOW, tick=False), timezone.override(zone):
        today = selectors.today_for(user, scope=scope, now=NOW)
        html = today_rows(today)
        models = {
            "next_visits": Visit.objects.select_related("patient", "practitioner").in_bulk(
                [row.pk for row in today.next_visits]
            ),
            "notes_to_sign": VisitNote.objects.select_related("visit__patient").in_bulk(
                [row.pk for row in today.notes_to_sign]
            ),
            "alerts": Alert.objects.select_related("patient").in_bulk([row.pk for row in today.alerts]),
            "without_lead": Patient.objects.in_bulk([row.pk for row in today.without_lead]),
            "answered": CheckIn.objects.select_related("journey__patient").in_bulk(
                [row.pk for row in today.answered]
            ),
            "inquiries": Journey.objects.select_related("patient").in_bulk(
                [row.pk for row in today.inquiries]
            ),
        }
        shown = {
            "next_visits": [] if today.visits else today.next_visits,
            "notes_to_sign": today.notes_to_sign,
            "alerts": today.alerts,
            "without_lead": today.without_lead,
            "answered": today.answered,
            "inquiries": today.inquiries,
        }
        compared = 0
        for name, rows in shown.items():
            if name not in html:
                continue
            found = []
            for row in rows:
                model = models[name][row.pk]
                if name == "inquiries":
                    model.call_booked = row.call_booked
                found.append(model)
            expected = Template(LOOPS[name]).render(Context({"rows": found, "mine": today.mine}))
            assert squeezed(html[name]) == squeezed(expected), name
            assert visible(html[name]) == visible(expected), name
            assert "<script>" not in html[name] and "<b>" not in html[name] and "<u>" not in html[name]
            compared += bool(rows)
    assert compared >= 3
    everything = "".join(html.values())
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in everything


def test_the_lists_cover_every_row_kind(hostile_day, practitioner, staff):
    """The fixture fills every list the comparison above checks, for one page or the other."""
    with time_machine.travel(NOW, tick=False):
        mine = selectors.today_for(practitioner, scope="mine", now=NOW)
        practice = selectors.today_for(staff, now=NOW)
    assert mine.next_visits and mine.notes_to_sign and mine.answered and len(mine.alerts) == 2
    assert practice.without_lead and len(practice.inquiries) == 2
    assert [row.call_booked for row in practice.inquiries] == [False, True]
    assert [bool(row.escalated_at) for row in mine.alerts] == [True, False]


def test_the_days_visits_are_read_in_the_order_of_the_index_unsorted(postgres, staff, practitioner):
    """The practice's visits of the day and the next ones, ``ORDER BY starts_at, id``, straight from the index
    ``visit_start_id`` (starts_at, id): on (starts_at) alone, a clinic group's morning of a hundred visits at 9:00
    was read and sorted whole for a LIMIT of 5. The planner is kept off sequential scans (tiny tables)."""
    for hour in (9, 9, 9, 10):
        Visit.objects.create(
            patient=PatientFactory(),
            practitioner=practitioner,
            kind="follow_up",
            starts_at=NOW + timedelta(days=1, hours=hour),
        )
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ran:
        selectors.today_for(staff, now=NOW)
    reads = [q["sql"] for q in ran.captured_queries if q["sql"].startswith('SELECT "journeys_visit"."id"')]
    assert len(reads) == 2  # the day's, and the next ones
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for sql in reads:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "visit_start_id" in plan and "Sort" not in plan, plan


def test_the_patients_without_a_lead_are_walked_in_the_flags_index_order_not_joined(postgres, staff):
    """Today's first ten patients flagged as without a lead are read in ``patient_active_without_lead``'s order
    and each checked for a current lead as it is read (``accounts.queries.ExistsEach``): planned as an
    anti-join, PostgreSQL guessed ~100 × too few rows left and read and sorted every flagged patient (584 at
    100,000 patients) to show ten."""
    for n in range(12):
        PatientFactory(last_name=f"Waiting {n}")
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ran:
        today = selectors.today_for(staff, now=NOW)
    assert len(today.without_lead) == 10 and today.without_lead_count == 12
    listed = [q["sql"] for q in ran.captured_queries if q["sql"].startswith('SELECT "patients_patient"."id"')]
    assert len(listed) == 1 and "OFFSET 0)" in listed[0]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {listed[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Anti Join" not in plan and "Sort" not in plan and "patient_active_without_lead" in plan, plan
