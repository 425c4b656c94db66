"""An alert's page reads its journey's plan once: the open draft and the versions published since the alert
opened (``selectors.alert_plan``) are what ``plan_draft``, ``blueprints_since`` and ``alert_unlinked_version``
read in three queries (four with the form's first version), by the ORM's SQL; the correction form offered the
versions read is the form that read them itself, and the page runs none of those queries more (nor reads the
replies to the latest answers, which it does not show)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import selectors
from compliance.correction_form import correction_form_html
from compliance.models import Alert, CourseCorrection
from compliance.views import _correction_form
from journeys.models import Blueprint
from journeys.services.blueprints import blueprint_start_draft
from tests.compliance.test_corrections import revise
from tests.factories import CareTeamMemberFactory

pytestmark = pytest.mark.django_db

CRISPY = Template("{% load crispy_forms_tags %}{% crispy form %}")
HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"


@pytest.fixture
def alert(plan, practitioner):
    journey, _ = plan
    CareTeamMemberFactory(patient=journey.patient, user=practitioner, role="lead")
    Blueprint.objects.filter(journey=journey).update(published_at=timezone.now() - timedelta(days=30))
    return Alert.objects.create(
        patient=journey.patient,
        journey=journey,
        reason=Alert.Reason.LOW_ADHERENCE,
        detail="55% over the last two check-ins",
        opened_at=timezone.now() - timedelta(minutes=5),
    )


def _version(blueprint) -> tuple | None:
    return blueprint and (blueprint.pk, blueprint.version, blueprint.published_at, blueprint.revision_reason)


def _as_the_orm_read_it(alert):
    draft = selectors.plan_draft(alert.journey)
    return (
        draft and (draft.pk, draft.version),
        [_version(blueprint) for blueprint in selectors.blueprints_since(alert)],
        _version(selectors.alert_unlinked_version(alert)),
    )


def _as_read_at_once(alert):
    plan = selectors.alert_plan(alert)
    return (
        plan.draft and (plan.draft.pk, plan.draft.version),
        [_version(version) for version in plan.since],
        _version(plan.unlinked(selectors.alert_corrections(alert))),
    )


def _states(alert, practitioner):
    """The plan before any revision, with versions published since (one linked by a correction), a draft."""
    yield "published before the alert only"
    first = revise(alert.journey, practitioner, reason=HOSTILE)
    yield "one version since"
    second = revise(alert.journey, practitioner, reason="Gentler, & shorter")
    yield "two versions since"
    CourseCorrection.objects.create(
        alert=alert, practitioner=practitioner, change=CourseCorrection.Change.SIMPLIFIED, note="n",
        blueprint=second,
    )  # fmt: skip
    CourseCorrection.objects.create(
        alert=alert, practitioner=practitioner, change=CourseCorrection.Change.OTHER, note="a call booked"
    )
    yield "the newest linked"
    blueprint_start_draft(journey=alert.journey, actor=practitioner)
    yield "a draft open"
    CourseCorrection.objects.filter(blueprint__isnull=True).update(blueprint=first)
    yield "a draft open, every version since linked"


def test_the_plan_read_at_once_is_what_the_three_reads_said(alert, practitioner):
    for state in _states(alert, practitioner):
        for _ in range(2):  # the second from the SQL compiled in the first
            assert _as_read_at_once(alert) == _as_the_orm_read_it(alert), state
    with CaptureQueriesContext(connection) as ours:
        selectors.alert_plan(alert)
    with CaptureQueriesContext(connection) as orms:
        list(selectors._alert_plan_query(alert.journey_id, alert.opened_at))
    assert [q["sql"] for q in ours.captured_queries] == [q["sql"] for q in orms.captured_queries]


def test_an_alert_without_a_journey_reads_no_plan(alert, django_assert_num_queries):
    alert.journey = None
    with django_assert_num_queries(0):
        assert selectors.alert_plan(alert) == selectors.AlertPlan(None, [])


def test_the_form_offered_the_versions_read_is_the_form_that_read_them(
    alert, practitioner, django_assert_num_queries
):
    for state in _states(alert, practitioner):
        plan = selectors.alert_plan(alert)
        published = plan.unlinked(selectors.alert_corrections(alert))
        by_queryset = _correction_form(alert, published=selectors.alert_unlinked_version(alert))
        expected = correction_form_html(by_queryset)
        assert expected == CRISPY.render(
            Context({"form": _correction_form(alert, published=selectors.alert_unlinked_version(alert))})
        )
        with django_assert_num_queries(0):
            offered = _correction_form(alert, published=published, offered=plan.since)
            assert correction_form_html(offered) == expected, state
        assert "<script>" not in expected


def test_the_practitioners_page_shows_the_plan_read_once(client_for, alert, practitioner):
    client = client_for(practitioner)
    client.get(f"/alerts/{alert.pk}/")
    for state in _states(alert, practitioner):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/alerts/{alert.pk}/")
        html = response.content.decode()
        blueprints = [q["sql"] for q in captured.captured_queries if 'FROM "journeys_blueprint"' in q["sql"]]
        assert len(blueprints) == 1, state  # one read of the plan, none for the form's versions
        # The latest answers' replies, which the page does not show, are not read.
        assert not any("nudges_inboundmessage" in q["sql"] for q in captured.captured_queries)
        published = selectors.alert_unlinked_version(alert)
        assert correction_form_html(_correction_form(alert, published=published)) in html
        assert ('id="published-from-alert"' in html) == (published is not None)
        if published is not None:
            assert f"Version {published.version} of the plan was published since this alert opened." in html
        draft = selectors.plan_draft(alert.journey)
        shown = f"Continue the draft (version {draft and draft.version})" in html
        assert shown == (draft is not None and published is None), state
        assert "<script>alert" not in html
