"""accounts.links: a row's link built from one reversal is the link ``reverse()`` builds."""

import pytest
from django.template import Context, Template
from django.urls import clear_script_prefix, reverse, set_script_prefix

from accounts.links import url_for, url_for_id

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


ROUTES = ["dashboard:today", "dashboard:schedule", "patients:list", "compliance:alerts", "nudges:outbox",
          "dashboard:insights", "accounts:logout", "admin:index"]  # fmt: skip


@pytest.mark.parametrize("name", ROUTES)
def test_a_link_without_arguments_is_the_one_reverse_builds(name):
    assert url_for(name) == reverse(name)


def test_a_link_without_arguments_follows_the_script_prefix():
    set_script_prefix("/clinic/")
    try:
        assert url_for("dashboard:today") == reverse("dashboard:today") == "/clinic/"
    finally:
        clear_script_prefix()
    assert url_for("dashboard:today") == "/"


def test_route_is_in_every_template_without_a_load():
    rendered = Template("{% route 'patients:list' %}|{% id_url 'nudges:detail' 3 %}").render(Context({}))
    assert rendered == f"{reverse('patients:list')}|{reverse('nudges:detail', args=[3])}"


def test_no_template_reverses_an_argumentless_link_on_every_render():
    """Every ``{% url 'app:name' %}`` without arguments is a ``{% route %}`` (one reversal a process)."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    found = [
        f"{path.relative_to(templates)}: {match}"
        for path in templates.rglob("*.html")
        for match in re.findall(r"\{% url '[a-z_]+:[a-z_]+' %\}", path.read_text())
    ]
    assert not found


def test_every_id_url_in_the_templates_is_the_link_reverse_builds():
    """Every ``{% id_url 'app:name' … %}`` names a URL of one integer id, and writes what ``{% url %}`` did."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    names = {
        name
        for path in templates.rglob("*.html")
        for name in re.findall(r"\{% id_url '([a-z_:]+)' ", path.read_text())
    }
    assert "dashboard:patient" in names and "compliance:alert_correct" in names
    for name in sorted(names):
        for pk in (1, 42, 918_273_645):
            assert url_for_id(name, pk) == reverse(name, args=[pk]), name


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        ".eJyrVipQslIKMDBW0lHKU7IyMqoFAEN0BQY:1vSqZk:9x4Qe-3tXn_Lr0cZp8a2w",  # signing.dumps(compress=True)'s
        "token918273645marker",
        "a b&c?d#e%f",
        "zoë—",
    ],
)
@pytest.mark.parametrize("name", ["unsubscribe", "compliance:checkin_answer"])
def test_a_tokens_link_is_the_one_reverse_builds(name, token):
    from accounts.links import url_for_token

    assert url_for_token(name, token) == reverse(name, args=[token])


def test_a_tokens_link_follows_the_script_prefix():
    from accounts.links import url_for_token

    set_script_prefix("/clinic/")
    try:
        assert url_for_token("unsubscribe", "abc") == reverse("unsubscribe", args=["abc"]) == "/clinic/u/abc/"
    finally:
        clear_script_prefix()


@pytest.mark.parametrize("debug", [True, False])
def test_an_asset_is_the_static_tags_url_kept(settings, debug):
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.template import Context, Template

    settings.DEBUG = debug
    for path in ("js/pipeline.js", "vendor/sortablejs-1.15.7/Sortable.min.js", "css/alliance.css"):
        expected = Template(f"{{% load static %}}{{% static '{path}' %}}").render(Context())
        for _ in range(2):  # then from what was kept
            assert Template(f"{{% asset '{path}' %}}").render(Context()) == expected
        assert staticfiles_storage.kept_urls[(path, debug)] == staticfiles_storage.url(path)


def test_an_asset_is_kept_per_debug_mode_and_storage(settings):
    from django.contrib.staticfiles.storage import staticfiles_storage

    from accounts.links import static_url

    settings.DEBUG = False
    static_url("js/pipeline.js")
    settings.DEBUG = True
    assert static_url("js/pipeline.js") == staticfiles_storage.url("js/pipeline.js")
    settings.STATIC_URL = "/elsewhere/"  # a new storage: nothing kept
    assert static_url("js/pipeline.js") == staticfiles_storage.url("js/pipeline.js")
    assert static_url("js/pipeline.js").startswith("/elsewhere/")
