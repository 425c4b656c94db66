from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import CheckInAnswer
from compliance.panels import adherence_panel_context
from compliance.selectors import current_plan_items, describe_trend, item_weekly_scores
from journeys.models import Blueprint, BlueprintItem
from patients.models import Patient
from tests.compliance.conftest import MONDAY, week
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

# Sunday 29 Nov 2026, noon in New York (the patients' time zone): the 28-day window is MONDAY … today.
NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
WORDS = "The magnesium upset my stomach, so I stopped on Wednesday."


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def context_for(user, patient):
    request = RequestFactory().get(f"/patients/{patient.pk}/")
    request.user = user
    return adherence_panel_context(request, patient)


def answer_with_words(journey):
    checkin = week(journey, MONDAY + timedelta(days=7), ["done", "missed", "partial"])
    CheckInAnswer.objects.filter(checkin=checkin).update(
        where_it_failed=WORDS, barriers=["side_effects", "cost"], energy=4, sleep=7
    )
    return checkin


def page(client, patient) -> str:
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_panel_shows_the_score_the_trend_in_kind_words_and_engagement(plan, practitioner, client_for):
    journey, _ = plan
    week(journey, MONDAY - timedelta(days=7), ["done", "missed", "missed"])  # the window before: 33.3
    week(journey, MONDAY, ["done", "done", "done"])
    week(journey, MONDAY + timedelta(days=7), ["done", "partial", "done"])  # this window: 91.7
    week(journey, MONDAY + timedelta(days=14), missed=True)

    panel = context_for(practitioner, journey.patient)
    assert panel["adherence"].score == 91.7
    assert panel["adherence"].trend == 58.4
    assert panel["trend_words"] == "Steadier than last month (+58.4 points)"
    assert panel["adherence"].engagement == 66.7

    body = page(client_for(practitioner), journey.patient)
    assert 'id="panel-adherence"' in body
    assert "92%" in body
    assert "Steadier than last month (+58.4 points)" in body
    assert "answered 2 of 3 check-ins" in body
    assert "At or above the clinic's 70% threshold" in body


def test_a_falling_score_is_described_without_blame():
    for trend in (-40.0, -5.0, -1.0, 0.0, 3.0):
        words = describe_trend(trend, window_days=28).lower()
        assert "fail" not in words
        assert "poor" not in words
    assert describe_trend(-12.5, window_days=28) == "A harder stretch than last month (−12.5 points)"
    assert describe_trend(2.0, window_days=28) == "About the same as last month (+2 points)"
    assert describe_trend(None, window_days=14) == "Nothing from the 2 weeks before to compare with yet"


def test_the_panel_draws_twelve_weeks_and_a_row_per_current_plan_item(plan, practitioner):
    journey, items = plan
    week(journey, MONDAY, ["done", "paused", "missed"])
    week(journey, MONDAY + timedelta(days=14), ["done", "done", "done"])
    panel = context_for(practitioner, journey.patient)
    weekly = str(panel["weekly_chart"])
    assert weekly.count('<g class="bar">') == 2
    assert weekly.count('<g class="gap">') == 10
    heatmap = str(panel["heatmap"])
    for item in items:
        assert f"<title>{item.title}</title>" in heatmap
    assert "No gluten, week of 2 Nov 2026: no report, or paused on purpose" in heatmap


def test_a_stopped_item_leaves_the_heat_map_and_a_revised_item_keeps_its_history(plan, practitioner):
    journey, items = plan
    week(journey, MONDAY, ["done", "partial", "missed"])
    BlueprintItem.objects.filter(pk=items[2].pk).update(status=BlueprintItem.Status.STOPPED)
    Blueprint.objects.filter(journey=journey).update(status=Blueprint.Status.SUPERSEDED)
    revised = Blueprint.objects.create(
        journey=journey, version=2, status="published", created_by=practitioner, published_at=timezone.now()
    )
    BlueprintItem.objects.create(blueprint=revised, kind="supplement", title="Magnesium", position=0)
    BlueprintItem.objects.create(blueprint=revised, kind="diet", title="No gluten", position=1)

    current = current_plan_items(patient_id=journey.patient_id)
    assert [item.blueprint_id for item in current] == [revised.pk, revised.pk]
    rows = item_weekly_scores(items=current, weeks=[MONDAY, MONDAY + timedelta(days=7)])
    assert rows == [
        ("Magnesium", [(MONDAY, 100.0), (MONDAY + timedelta(days=7), None)]),
        ("No gluten", [(MONDAY, 50.0), (MONDAY + timedelta(days=7), None)]),
    ]


def test_staff_see_that_an_answer_came_and_its_barriers_but_never_the_patients_words(plan, staff, client_for):
    journey, _ = plan
    answer_with_words(journey)
    body = page(client_for(staff), journey.patient)
    assert "Answer received" in body
    assert "Side effects" in body
    assert "Cost" in body
    assert "upset my stomach" not in body
    assert "Energy 4/10" not in body

    [answer] = context_for(staff, journey.patient)["answers"]
    assert answer.words is None
    assert answer.ratings == []


@pytest.mark.parametrize("role", ["practitioner", "admin_user"])
def test_practitioners_and_admins_read_the_patients_own_words_and_ratings(plan, client_for, role, request):
    journey, _ = plan
    answer_with_words(journey)
    body = page(client_for(request.getfixturevalue(role)), journey.patient)
    assert "The magnesium upset my stomach, so I stopped on Wednesday." in body
    assert "Side effects" in body
    assert "Energy 4/10" in body
    assert "Sleep 7/10" in body
    assert "Answer received" not in body


def test_the_patients_words_are_escaped(plan, practitioner, client_for):
    journey, _ = plan
    checkin = answer_with_words(journey)
    CheckInAnswer.objects.filter(checkin=checkin).update(where_it_failed="<script>alert(1)</script>")
    body = page(client_for(practitioner), journey.patient)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_patient_without_check_ins_gets_a_kind_empty_state(staff, client_for):
    patient = PatientFactory()
    body = page(client_for(staff), patient)
    assert "No check-ins yet." in body
    assert "<svg" not in body.split('id="panel-adherence"')[1].split("</section>")[0]


def count_queries(user, patient) -> int:
    patient = Patient.objects.get(
        pk=patient.pk
    )  # as a request reads it: a patient object is read once per request
    with CaptureQueriesContext(connection) as queries:
        context_for(user, patient)
    return len(queries)


def test_the_panel_runs_the_same_queries_for_2_and_20_weeks_of_answers(plan, practitioner):
    journey, _ = plan
    for n in range(2):
        week(journey, MONDAY - timedelta(weeks=n), ["done", "partial", "missed"])
    few = count_queries(practitioner, journey.patient)
    for n in range(2, 20):
        checkin = week(journey, MONDAY - timedelta(weeks=n), ["done", "paused", "missed"])
        CheckInAnswer.objects.filter(checkin=checkin).update(barriers=["time"], where_it_failed="Busy week.")
    many = count_queries(practitioner, journey.patient)
    assert many == few
    assert few <= 8
