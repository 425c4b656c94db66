"""accounts.links: a row's link built from one reversal is the link ``reverse()`` builds."""

import pytest
from django.template import Context, Template
from django.urls import clear_script_prefix, reverse, set_script_prefix

from accounts.links import url_for_id

ID_URLS = [
    "dashboard:patient",
    "nudges:detail",
    "compliance:alert",
    "journeys:visit_detail",
    "journeys:note_detail",
]


@pytest.mark.parametrize("name", ID_URLS)
@pytest.mark.parametrize("pk", [1, 7, 42, 918_273_645, 10**12])
def test_a_rows_link_is_the_one_reverse_builds(name, pk):
    assert url_for_id(name, pk) == reverse(name, args=[pk])


def test_it_follows_the_script_prefix_a_deployment_mounts_it_under():
    set_script_prefix("/clinic/")
    try:
        assert url_for_id("dashboard:patient", 5) == reverse("dashboard:patient", args=[5])
        assert url_for_id("dashboard:patient", 5).startswith("/clinic/")
    finally:
        clear_script_prefix()
    assert url_for_id("dashboard:patient", 5) == reverse("dashboard:patient", args=[5])


def test_a_url_that_takes_no_id_is_refused():
    with pytest.raises(Exception):  # noqa: B017 — reverse's NoReverseMatch, or our ValueError
        url_for_id("dashboard:today", 5)


def test_the_template_tag_writes_the_same_link():
    rendered = Template("{% load links %}{% id_url 'nudges:detail' pk %}").render(Context({"pk": 9}))
    assert rendered == reverse("nudges:detail", args=[9])
