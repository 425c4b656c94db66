"""An alert's correction form, rendered by crispy once per look: the same markup as ``{% crispy form %}`` for
every way it can be filled in, each request's own note (clinical text, never kept) and plan versions put in,
escaped; a bound form keeps its errors; the same one query for the versions offered."""

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from compliance.correction_form import correction_form_html
from compliance.forms import CourseCorrectionForm
from compliance.models import Alert
from compliance.selectors import alert_unlinked_version, blueprints_since
from compliance.views import _correction_form
from journeys.models import Blueprint
from tests.compliance.test_corrections import revise
from tests.factories import CareTeamMemberFactory

pytestmark = pytest.mark.django_db

CRISPY = Template("{% load crispy_forms_tags %}{% crispy form %}")
HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë ✓ note918273645marker"
OTHER = "Her <b>sleep</b> & 'energy' came back — ça va"


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


def crispy(form_for) -> str:
    return CRISPY.render(Context({"form": form_for()}))


def test_the_form_is_what_crispy_writes_before_any_version_is_published(alert):
    for _ in range(2):  # the second is written from what was kept
        form_for = lambda: _correction_form(alert, published=None)  # noqa: E731
        assert correction_form_html(form_for()) == crispy(form_for)


def test_each_request_puts_in_its_own_note_and_versions_escaped(alert, practitioner):
    revise(alert.journey, practitioner, reason=OTHER)
    revise(alert.journey, practitioner, reason=HOSTILE)
    for _ in range(2):
        form_for = lambda: _correction_form(alert, published=alert_unlinked_version(alert))  # noqa: E731
        html = correction_form_html(form_for())
        assert html == crispy(form_for)
        assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)" in html
        assert "&quot;Quote&quot; &amp; Sons — Zoë ✓" in html
        assert '" selected>Version 3, published' in html and '">Version 2, published' in html
    older = blueprints_since(alert).get(version=2)
    form_for = lambda: _correction_form(alert, published=older)  # noqa: E731
    html = correction_form_html(form_for())
    assert html == crispy(form_for)
    assert (
        '" selected>Version 2, published' in html
        and '">Version 3, published' in html
        and "Her &lt;b&gt;sleep&lt;/b&gt; &amp; &#x27;energy&#x27;" in html
    )
    assert "&lt;script&gt;" not in html
    for initial in (
        {},
        {"note": OTHER},
        {"note": "", "blueprint": None},
        {"note": "  \n "},
        {"note": "  padded & spaced  "},
        {"change": "simplified", "resolve": False},
    ):
        form_for = lambda: CourseCorrectionForm(blueprints=blueprints_since(alert), initial=dict(initial))  # noqa: E731, B023
        html = correction_form_html(form_for())
        assert html == crispy(form_for)
        assert "&lt;script&gt;" not in html


def test_a_bound_form_keeps_its_values_and_errors(alert, practitioner):
    revise(alert.journey, practitioner, reason=OTHER)
    form = CourseCorrectionForm({"change": "nowhere", "note": HOSTILE}, blueprints=blueprints_since(alert))
    assert not form.is_valid()
    html = correction_form_html(form)
    assert html == CRISPY.render(Context({"form": form}))
    assert "is-invalid" in html and "<script>" not in html and "&lt;script&gt;" in html


def test_the_versions_are_read_by_one_query_as_before(alert, practitioner, django_assert_num_queries):
    revise(alert.journey, practitioner, reason=OTHER)
    correction_form_html(CourseCorrectionForm(blueprints=blueprints_since(alert)))  # kept
    form = CourseCorrectionForm(blueprints=blueprints_since(alert))
    with django_assert_num_queries(1):
        correction_form_html(form)
    form = CourseCorrectionForm(blueprints=blueprints_since(alert))
    with django_assert_num_queries(1):
        CRISPY.render(Context({"form": form}))
