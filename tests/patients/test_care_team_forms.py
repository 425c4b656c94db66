"""The care team's two forms on the Contact tab: what ``{% crispy %}`` writes for an untouched
``ChangeLeadForm()`` and ``CareTeamMemberForm()`` as the practitioners change (renamed, added, leaving, a staff
member made a practitioner), every name escaped, both forms' options read by one query (two before), rendered
once per list of names; and ``care_team_candidates`` is the two querysets' rows."""

import pytest
from django.template import Context, Template

from accounts.form_once import crispy_form_class_once
from patients.forms import CareTeamMemberForm, ChangeLeadForm, practitioner_options
from patients.panels import care_team_forms_html
from patients.selectors import care_team_candidates, lead_candidates, team_candidates
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons — Zoë ✓"
CRISPY = Template("{% load crispy_forms_tags %}{% crispy form %}")


def crispy(form_class) -> str:
    return CRISPY.render(Context({"form": form_class()}))


def test_the_forms_are_what_crispy_writes_as_the_practitioners_change(
    practitioner, staff, django_assert_num_queries
):
    hostile = UserFactory(role="practitioner", username="hostile<&>", display_name=HOSTILE)
    nameless = UserFactory(role="admin", username="admin\"'", display_name="")

    def changes():
        yield "as they are"
        UserFactory(role="practitioner", username="newcomer", display_name="Dr. New & Co")
        yield "one more"
        hostile.display_name = "Zed <i>Renamed</i>"
        hostile.save()
        yield "renamed"
        staff.role = "practitioner"
        staff.save()
        yield "staff made a practitioner"
        nameless.is_active = False
        nameless.save()
        yield "one leaving"

    for change in changes():
        for _ in range(2):  # the second from what was kept
            with django_assert_num_queries(1):
                lead_html, member_html = care_team_forms_html()
            assert lead_html == crispy(ChangeLeadForm), change
            assert member_html == crispy(CareTeamMemberForm), change
            for html in (lead_html, member_html):
                assert "<script>" not in html and "<i>" not in html


def test_every_name_is_escaped_in_both_forms(practitioner, staff):
    UserFactory(role="practitioner", username="hostile", display_name=HOSTILE)
    UserFactory(role="staff", username="desk<b>", display_name="")
    lead_html, member_html = care_team_forms_html()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons" in lead_html
    assert "desk&lt;b&gt;" in member_html and "desk&lt;b&gt;" not in lead_html  # staff only on the team's
    assert ">Charlie Desk</option>" in member_html and ">Charlie Desk</option>" not in lead_html


def test_the_candidates_are_the_querysets_rows_in_their_order(practitioner, staff):
    UserFactory(role="practitioner", username="aaa", display_name="Same Name")
    UserFactory(role="staff", username="bbb", display_name="Same Name")
    UserFactory(role="admin", username="ccc", display_name="")
    UserFactory(role="practitioner", username="gone", is_active=False)
    leads, team = care_team_candidates()
    assert leads == list(lead_candidates().values_list("pk", "display_name", "username"))
    assert team == list(team_candidates().values_list("pk", "display_name", "username"))
    assert len(team) > len(leads) >= 3


def test_a_form_is_kept_per_list_of_names(practitioner):
    field = ChangeLeadForm.base_fields["lead"]
    first = practitioner_options(field, [(practitioner.pk, "Dr. Bob Moss", "bob")])
    other = practitioner_options(field, [(practitioner.pk, "Dr. Robert Moss", "bob")])
    assert first[0] == ("", str(field.empty_label))
    assert crispy_form_class_once(ChangeLeadForm, {"lead": first}) != crispy_form_class_once(
        ChangeLeadForm, {"lead": other}
    )
    assert "Dr. Robert Moss" in crispy_form_class_once(ChangeLeadForm, {"lead": other})
