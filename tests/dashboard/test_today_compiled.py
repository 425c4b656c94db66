"""Today's reads and counts compiled once per thread (``accounts.queries.Compiled`` and ``CountsCompiled``) and
run with each user's id and each day's moments: the ORM's rows and counts, by the ORM's SQL, for each kind of
page (one's own day, the practice's, by someone who practises or not), and nothing of one user or day left
for the next. And the day's visits written in Python: the markup the template's loop wrote."""

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
        rows["inquiries"] = today.inquiries
    return {name: [snapshot(row) for row in found] for name, found in rows.items()}


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
    with timezone.override(zone):
        expected = TEMPLATE_LOOP.render(Context({"visits": visits, "mine": mine}))
        html = visit_rows(visits, mine=mine)
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
    # The lists of "my patients" (``_among_my_patients``) from the index alone; an EXISTS on one patient's team
    # may take the patient's index instead.
    assert any("Index Only Scan using careteam_current_by_user" in line for line in care_team)
    assert not any("Sort Key" in line and "ended_at" in line for plan in plans for line in plan.splitlines())
