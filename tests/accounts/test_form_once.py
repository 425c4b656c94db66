"""``crispy_form_once`` / ``as_crispy_form_once``: what ``{% crispy form %}`` and ``{{ form|crispy }}`` write for
an untouched form, kept per look and reused only where the form would look the same; a bound form renders
afresh with its errors, and a form's model choices are read by the one query its widget would run."""

import pytest
from django.template import Context, Template

from accounts.form_once import as_crispy_form_once, crispy_form_once
from patients.forms import CareTeamMemberForm, ChangeLeadForm, MarketingConsentForm, TestimonialForm
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë ✓"
CRISPY = Template("{% load crispy_forms_tags %}{% crispy form %}")
CRISPY_FILTER = Template("{% load crispy_forms_tags %}{{ form|crispy }}")


def test_the_care_team_forms_are_what_crispy_writes_as_the_practitioners_change(practitioner):
    UserFactory(role="practitioner", username="hostile", display_name=HOSTILE)
    for form_class in (ChangeLeadForm, CareTeamMemberForm):
        for _ in range(2):  # the second is written from what was kept
            html = crispy_form_once(form_class())
            assert html == CRISPY.render(Context({"form": form_class()}))
            assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)" in html
        UserFactory(role="practitioner", username="newcomer", display_name="Dr. New & Co")
        html = crispy_form_once(form_class())
        assert html == CRISPY.render(Context({"form": form_class()}))
        assert "Dr. New &amp; Co" in html
        UserFactory(role="practitioner", username=f"third{form_class.__name__}")


def test_the_filter_is_what_crispy_writes_for_the_advocacy_forms():
    for form_class in (TestimonialForm, MarketingConsentForm):
        for _ in range(2):
            assert as_crispy_form_once(form_class()) == CRISPY_FILTER.render(Context({"form": form_class()}))


def test_a_bound_form_shows_its_own_values_and_errors(practitioner):
    form = CareTeamMemberForm({"role": "nowhere", "external_name": HOSTILE})
    assert not form.is_valid()
    html = crispy_form_once(form)
    assert html == CRISPY.render(Context({"form": form}))
    assert "is-invalid" in html and "<script>" not in html and "&lt;script&gt;" in html
    untouched = crispy_form_once(CareTeamMemberForm())
    assert "is-invalid" not in untouched and "&lt;script&gt;" not in untouched
    bound = TestimonialForm({"words": HOSTILE})
    assert as_crispy_form_once(bound) == CRISPY_FILTER.render(Context({"form": bound}))


def test_the_choices_are_read_by_one_query_a_form_as_before(practitioner, django_assert_num_queries):
    crispy_form_once(ChangeLeadForm())  # kept
    with django_assert_num_queries(1):
        crispy_form_once(ChangeLeadForm())
    with django_assert_num_queries(1):
        CRISPY.render(Context({"form": ChangeLeadForm()}))
