"""Admin for message wording, nudge rules and the read-only outbox."""

import html
import re
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import AccessEvent
from nudges import rendering
from nudges.models import MessageTemplate, Nudge, NudgeRule

pytestmark = pytest.mark.django_db

ADD_TEMPLATE = "/admin/nudges/messagetemplate/add/"


@pytest.fixture
def nudge(consenting_patient):
    return Nudge.objects.create(
        patient=consenting_patient,
        kind="checkin_request",
        channel="email",
        send_at="2027-06-10T16:00Z",
        status="failed",
        dedupe_key="checkin:42",
        last_error="mailbox full",
        body_text="Hi Renée",
    )


@pytest.fixture
def template(admin_user):
    """The check-in email's wording (shipped by a migration), as an admin rewrote it."""
    template = MessageTemplate.objects.get(kind="checkin_request", channel="email")
    template.subject = "Checking in, {{ first_name }}"
    template.body = "Hi {{ first_name }},\n\nHow did this week go?\n\n{{ practitioner_name }}"
    template.save()
    return template


def add_data(**changes):
    """A new template needs a kind and channel nobody has worded yet: free one from the shipped rows."""
    MessageTemplate.objects.filter(kind="checkin_request").delete()
    data = {"kind": "checkin_request", "channel": "email", "subject": "Hello", "body": "Hi", "active": "on"}
    return data | changes


@pytest.mark.parametrize(
    "url",
    [
        "/admin/nudges/",
        "/admin/nudges/messagetemplate/",
        ADD_TEMPLATE,
        "/admin/nudges/nudgerule/",
        "/admin/nudges/nudgerule/add/",
        "/admin/nudges/nudge/",
        "/admin/nudges/nudge/?status__exact=failed&channel__exact=email",
    ],
)
def test_the_admin_pages_load(client_for, admin_user, nudge, template, url):
    assert client_for(admin_user).get(url).status_code == 200


def test_the_template_and_nudge_pages_load(client_for, admin_user, nudge, template):
    client = client_for(admin_user)
    assert client.get(f"/admin/nudges/messagetemplate/{template.pk}/change/").status_code == 200
    assert client.get(f"/admin/nudges/nudge/{nudge.pk}/change/").status_code == 200


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_only_admins_reach_the_nudge_admin(client_for, request, role):
    response = client_for(request.getfixturevalue(role)).get("/admin/nudges/messagetemplate/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    ("field", "wording", "message"),
    [
        ("body", "Hi {% if %} there", "mistake in its markers"),
        ("body", "Hi {% if practitioner_name %}there", "ends with {% endif %}"),
        ("subject", "Hi {{ first_name|shout }}", "Invalid filter"),
        ("body", "Hi {{ first_name", "is not closed"),
        ("body", 'Hi {% include "nudges/email.html" %}', "cannot be used in a message"),
        ("body", 'Hi {% url "no-such-page" %}', "cannot be used in a message"),
    ],
)
def test_wording_with_a_mistake_is_refused_with_a_clear_message(
    client_for, admin_user, field, wording, message
):
    response = client_for(admin_user).post(ADD_TEMPLATE, add_data(**{field: wording}))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not MessageTemplate.objects.filter(kind="checkin_request").exists()


def test_a_text_message_with_a_subject_is_refused(client_for, admin_user):
    response = client_for(admin_user).post(ADD_TEMPLATE, add_data(channel="sms", body="Hi {{ first_name }}"))
    assert "Text messages have no subject" in response.content.decode()
    assert not MessageTemplate.objects.filter(kind="checkin_request").exists()


def test_good_wording_is_saved_with_who_changed_it(client_for, admin_user):
    data = add_data(channel="sms", subject="", body="Well done, {{ first_name }}!")
    response = client_for(admin_user).post(ADD_TEMPLATE, data)

    assert response.status_code == 302
    saved = MessageTemplate.objects.get(kind="checkin_request")
    assert saved.updated_by == admin_user and saved.body == "Well done, {{ first_name }}!"


def test_the_change_page_previews_the_saved_wording_on_a_sample_patient(client_for, admin_user, template):
    body = client_for(admin_user).get(f"/admin/nudges/messagetemplate/{template.pk}/change/").content.decode()

    assert "Checking in, Renée" in body
    assert "Dr. Maya Rivera" in body
    assert '<iframe sandbox="" srcdoc="&lt;!doctype html&gt;' in body  # the whole email, inside the attribute
    assert "&lt;title&gt;Checking in, Renée&lt;/title&gt;" in body
    assert "Where did my plan fail you this week?" in body  # the shipped wording, for comparison


def test_the_preview_escapes_the_wording(client_for, admin_user, template):
    template.body = "Hi <script>alert(1)</script> {{ first_name }}"
    template.save()
    body = client_for(admin_user).get(f"/admin/nudges/messagetemplate/{template.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt; Renée" in body


def test_rules_can_be_switched_off_from_the_list(client_for, admin_user):
    rules = list(NudgeRule.objects.order_by("kind"))
    data = {"form-TOTAL_FORMS": str(len(rules)), "form-INITIAL_FORMS": str(len(rules)), "_save": "Save"}
    for i, rule in enumerate(rules):
        data[f"form-{i}-id"] = str(rule.pk)
        if rule.kind != "visit_reminder":
            data[f"form-{i}-enabled"] = "on"

    response = client_for(admin_user).post("/admin/nudges/nudgerule/", data)

    assert response.status_code == 302
    assert set(NudgeRule.objects.filter(enabled=False).values_list("kind", flat=True)) == {"visit_reminder"}


def change_rule(client, rule, timing):
    return client.post(
        f"/admin/nudges/nudgerule/{rule.pk}/change/",
        {"kind": rule.kind, "enabled": "on", "offsets_minutes": timing, "note": rule.note},
    )


def test_rule_timings_are_shown_and_written_in_words(client_for, admin_user):
    client = client_for(admin_user)
    rule = NudgeRule.objects.get(kind="visit_reminder")

    page = client.get(f"/admin/nudges/nudgerule/{rule.pk}/change/").content.decode()
    assert 'value="1 day before, 2 hours before"' in page
    assert "-1440" not in page
    assert "1 day before, 2 hours before" in client.get("/admin/nudges/nudgerule/").content.decode()

    response = change_rule(client, rule, "2 days before, 1 hour 30 minutes before, an hour before")
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.offsets_minutes == [-2880, -90, -60]


@pytest.mark.parametrize(
    ("kind", "timing", "message"),
    [
        ("visit_reminder", "[-1440, -120]", "could not be read"),
        ("visit_reminder", "a day before, soonish", "“soonish” could not be read"),
        ("visit_reminder", "1 day after", "goes before the visit"),
        ("visit_reminder", "40 days before", "within 30 days"),
        (
            "visit_reminder",
            "4 days before, 3 days before, 2 days before, 1 day before, 1 hour before",
            "At most 4",
        ),
        ("checkin_missed", "1 day before", "goes once, after its event"),
        ("checkin_missed", "1 day after, 2 days after", "goes once, after its event"),
        ("graduation", "1 day after", "leave “at the time”"),
    ],
)
def test_a_timing_that_cannot_be_read_or_does_not_fit_the_kind_is_refused_and_changes_nothing(
    client_for, admin_user, kind, timing, message
):
    rule = NudgeRule.objects.get(kind=kind)
    before = rule.offsets_minutes

    response = change_rule(client_for(admin_user), rule, timing)

    assert response.status_code == 200
    assert message in response.content.decode()
    rule.refresh_from_db()
    assert rule.offsets_minutes == before


def test_a_follow_up_timing_in_words(client_for, admin_user):
    rule = NudgeRule.objects.get(kind="checkin_missed")
    assert change_rule(client_for(admin_user), rule, "2 days after").status_code == 302
    rule.refresh_from_db()
    assert rule.offsets_minutes == [2880]


def test_the_outbox_in_admin_is_read_only(client_for, admin_user, nudge):
    client = client_for(admin_user)
    change_url = f"/admin/nudges/nudge/{nudge.pk}/change/"

    changelist = client.get("/admin/nudges/nudge/").content.decode()
    page = client.get(change_url).content.decode()

    assert "/admin/nudges/nudge/add/" not in changelist
    assert "mailbox full" in page and 'name="_save"' not in page
    assert client.get("/admin/nudges/nudge/add/").status_code == 403
    assert client.post(change_url, {"status": "sent"}).status_code == 403
    assert client.post(f"/admin/nudges/nudge/{nudge.pk}/delete/", {"post": "yes"}).status_code == 403
    nudge.refresh_from_db()
    assert nudge.status == "failed"


def test_opening_a_nudge_in_admin_is_audited(client_for, admin_user, nudge):
    client_for(admin_user).get(f"/admin/nudges/nudge/{nudge.pk}/change/")
    event = AccessEvent.objects.get(action="view")
    assert (event.actor, event.patient_id) == (admin_user, nudge.patient_id)


@pytest.mark.parametrize("query", ["Côté", "renee@example.com", "checkin:42"])
def test_the_outbox_in_admin_searches_by_patient_or_key(client_for, admin_user, nudge, query):
    response = client_for(admin_user).get("/admin/nudges/nudge/", {"q": query})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [nudge]


def stylesheet_rules() -> dict[str, str]:
    css = (Path(settings.BASE_DIR) / "static" / rendering.PREVIEW_STYLESHEET).read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return {
        name: rendering.style_declarations(body)
        for name, body in re.findall(r"\.([\w-]+)\s*\{([^}]*)\}", css)
    }


@pytest.mark.parametrize("kind", ["checkin_request", "one_off", "visit_reminder"])
def test_every_style_of_the_email_layout_has_its_preview_class(kind):
    """The preview frame inherits the page's CSP, which refuses style attributes: each becomes a class that
    static/css/email-preview.css must define with the same declarations."""
    email = rendering.preview(kind, "email", "Hi", "Hello {{ first_name }}").html
    styles = dict.fromkeys(re.findall(r'\sstyle="([^"]*)"', email))
    assert styles, "the email layout carries its styles inline, for mail clients"
    rules = stylesheet_rules()
    missing = [
        f".{rendering.preview_class(style)} {{ {rendering.style_declarations(style).replace(';', '; ')}; }}"
        for style in styles
        if rules.get(rendering.preview_class(style)) != rendering.style_declarations(style)
    ]
    assert not missing, "add to static/css/email-preview.css:\n" + "\n".join(missing)


def test_the_preview_frame_holds_no_style_attribute_and_links_the_preview_stylesheet(
    client_for, admin_user, template
):
    response = client_for(admin_user).get(f"/admin/nudges/messagetemplate/{template.pk}/change/")
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', response.content.decode())[1])
    assert " style=" not in srcdoc
    assert f'<link rel="stylesheet" href="/static/{rendering.PREVIEW_STYLESHEET}"></head>' in srcdoc
    assert 'class="email-' in srcdoc


def test_a_quote_in_the_wording_cannot_open_a_style_attribute_in_the_preview():
    document = rendering.preview_document(
        rendering.preview("one_off", "email", "Hi", 'x" style="color:red').html
    )
    assert 'style="color:red' not in document
    assert "x&quot; style=&quot;color:red" in document
