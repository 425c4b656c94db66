"""patients.rows: the Contact tab's contact and consent section and its care team section, written in Python,
are the markup templates/patients/_contact_panel.html and _care_team_panel.html wrote from the ORM's rows
(compared as a browser reads it: runs of white space are one, none at a block's edges or just inside a link),
for every branch and in any time zone, every text a person typed escaped, their reads compiled; and the tab's
forms carry one CSRF token of the request's, which each form's post is accepted with."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import CareTeamMember, ConsentRequest, Patient
from patients.panels import care_team_forms_html
from patients.rows import care_team_panel_html, contact_panel_html
from patients.selectors import (
    _record_queryset,
    care_team,
    consent_history,
    consent_requests_waiting,
    patient_consent,
    recent_consent,
)
from tests.factories import CareTeamMemberFactory, ConsentEventFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = "<script>x</script> \"Quote\" & 'Sons'"
TOKEN = 'tok<&>"en'

# templates/patients/_contact_panel.html as it was before the section moved to Python.
OLD = """{% load patients %}
<dl class="row small mb-0">
  <dt class="col-5">Email</dt>
  <dd class="col-7">
    {{ patient.email|default:"—" }}
  </dd>
  <dt class="col-5">Mobile</dt>
  <dd class="col-7">
    {{ patient.phone|phone|default:"—" }}
  </dd>
  <dt class="col-5">Prefers</dt>
  <dd class="col-7">
    {{ patient.get_preferred_channel_display }}
  </dd>
  <dt class="col-5">Time zone</dt>
  <dd class="col-7">
    {{ patient.time_zone }}
  </dd>
  <dt class="col-5">Quiet hours</dt>
  <dd class="col-7" id="quiet-hours">
    {{ patient.quiet_hours_start|time:"H:i" }}–{{ patient.quiet_hours_end|time:"H:i" }} their time
  </dd>
  <dt class="col-5">Check-ins asked</dt>
  <dd class="col-7" id="checkin-hour">
    {{ patient.get_checkin_hour_display }} their time
  </dd>
  <dt class="col-5">Source</dt>
  <dd class="col-7">
    {{ patient.get_source_display }}
    {% if patient.referred_by %}
      · referred by <a href="{{ patient.referred_by.get_absolute_url }}">{{ patient.referred_by.display_name }}</a>
    {% endif %}
  </dd>
</dl>
{% if patient.unsubscribed_at %}
  <div class="alert alert-secondary small mt-3 mb-0">
    Unsubscribed from all messages on {{ patient.unsubscribed_at|date:"j M Y" }}.
  </div>
{% endif %}
<h3 class="h6 mt-4">Consent</h3>
<ul class="list-unstyled small mb-2">
  {% for channel, state in panel.consent.items %}
    <li class="d-flex justify-content-between align-items-center py-1 border-bottom"
        id="consent-{{ channel }}">
      <span>
        {% if channel == "email" %}
          Email
        {% else %}
          SMS
        {% endif %}
        :
        {% if state.active %}
          <span class="badge text-bg-success">given</span>
        {% elif state.granted %}
          <span class="badge text-bg-warning" title="Given for {{ state.address }}">given for an old address</span>
        {% elif state.at %}
          <span class="badge text-bg-secondary">withdrawn</span>
        {% else %}
          <span class="badge text-bg-light border">not asked</span>
        {% endif %}
      </span>
      <form method="post" action="{% id_url 'patients:consent' patient.pk %}" class="m-0">
        {% csrf_token %}
        <input type="hidden" name="channel" value="{{ channel }}">
        {% if state.active %}
          <input type="hidden" name="granted" value="no">
          <button type="submit" class="btn btn-link btn-sm p-0">Record withdrawal</button>
        {% else %}
          <input type="hidden" name="granted" value="yes">
          <button type="submit" class="btn btn-link btn-sm p-0">Record consent</button>
        {% endif %}
      </form>
    </li>
  {% endfor %}
</ul>
{% if panel.consent_requests %}
  <ul class="list-unstyled small mb-2" id="consent-requests">
    {% for asked in panel.consent_requests %}
      <li class="text-body-secondary">
        {{ asked.requested_at|date:"j M Y" }}: {{ asked.get_channel_display }} to {{ asked.address }} asked for via {{ asked.via }} —
        {% if asked.confirmation_sent_at and asked.channel == "sms" %}
          waiting for the patient to reply YES to the text we sent
        {% elif asked.confirmation_sent_at %}
          waiting for the patient to confirm from the link we emailed
        {% else %}
          not consent until the patient confirms it to you
        {% endif %}
      </li>
    {% endfor %}
  </ul>
{% endif %}
{% if panel.consent_history %}
  <details class="small">
    <summary>Consent history</summary>
    <ul class="list-unstyled mt-2 mb-0">
      {% for event in panel.consent_history %}
        <li class="mb-1">
          {{ event.at|date:"j M Y, H:i" }} —
          {% if event.granted %}
            granted
          {% else %}
            withdrew
          {% endif %}
          {{ event.get_channel_display }} for {{ event.address }} · {{ event.via }}
          {% if event.recorded_by %}by {{ event.recorded_by }}{% endif %}
        </li>
      {% endfor %}
    </ul>
  </details>
{% endif %}"""
# templates/patients/_care_team_panel.html as it was, its two forms given as they are now.
OLD_TEAM = """<ul class="list-group list-group-flush mb-3" id="care-team">
  {% for member in panel.care_team %}
    <li class="list-group-item px-0 d-flex justify-content-between align-items-center">
      <span>
        <strong>{{ member.name }}</strong>
        <span class="badge {% if member.role == 'lead' %}text-bg-success{% else %}badge-soft{% endif %} ms-1">{{ member.get_role_display }}</span>
        {% if member.external_practice or member.external_contact %}
          <div class="small text-body-secondary">{{ member.external_practice }} {{ member.external_contact }}</div>
        {% endif %}
      </span>
      {% if member.role != "lead" %}
        <form method="post"
              action="{% url 'patients:care_team_remove' patient.pk member.pk %}"
              class="m-0">
          {% csrf_token %}
          <button type="submit"
                  class="btn btn-link btn-sm text-danger p-0"
                  aria-label="Remove {{ member.name }}">Remove</button>
        </form>
      {% endif %}
    </li>
  {% empty %}
    <li class="list-group-item px-0 text-body-secondary">No one on the care team yet: choose a lead below.</li>
  {% endfor %}
</ul>
<details class="mb-2" {% if not patient.lead_name %}open{% endif %}>
  <summary>
    {% if patient.lead_name %}
      Change lead practitioner
    {% else %}
      Choose a lead practitioner
    {% endif %}
  </summary>
  <form method="post"
        action="{% id_url 'patients:change_lead' patient.pk %}"
        class="mt-2"
        id="change-lead-form">
    {% csrf_token %}
    {{ panel.lead_form_html }}
    <button type="submit" class="btn btn-primary btn-sm">Change lead</button>
  </form>
</details>
<details>
  <summary>Add to the care team</summary>
  <form method="post"
        action="{% id_url 'patients:care_team_add' patient.pk %}"
        class="mt-2">
    {% csrf_token %}
    {{ panel.member_form_html }}
    <button type="submit" class="btn btn-outline-primary btn-sm">Add</button>
  </form>
</details>
{% if panel.former_team %}
  <details class="small mt-3">
    <summary>Former care team</summary>
    <ul class="list-unstyled mt-2 mb-0">
      {% for member in panel.former_team %}
        <li>
          {{ member.name }} — {{ member.get_role_display }}, {{ member.started_at|date:"j M Y" }} to {{ member.ended_at|date:"j M Y" }}
        </li>
      {% endfor %}
    </ul>
  </details>
{% endif %}"""
BLOCKS = "dl|dt|dd|ul|li|h3|div|details|summary|form|input"


def as_read(html: str) -> str:
    """Markup as a browser lays it out: white space collapsed, none inside a tag's end, at a block's edges,
    or just inside a link."""
    html = re.sub(r"\s+", " ", html).replace(" >", ">")
    html = re.sub(rf"\s*(</?(?:{BLOCKS})\b[^>]*>)\s*", r"\1", html)
    return re.sub(r"(<a\b[^>]*>) ", r"\1", html).replace(" </a>", "</a>").strip()


def old_markup(patient: Patient) -> str:
    panel = {
        "consent": patient_consent(patient),
        "consent_history": consent_history(patient)[:10],
        "consent_requests": list(consent_requests_waiting(patient)[:10]),
    }
    return Template(OLD).render(Context({"patient": patient, "panel": panel, "csrf_token": TOKEN}))


def new_markup(patient: Patient, django_assert_num_queries) -> str:
    consent = patient_consent(patient)
    history, requests = recent_consent(patient)
    with django_assert_num_queries(0):  # what it writes was read before
        return contact_panel_html(
            patient, consent=consent, requests=requests, history=history, csrf_token=TOKEN
        )


def record(pk: int) -> Patient:
    return _record_queryset().get(pk=pk)  # as the page's record reads it: its lead, its referrer


@pytest.fixture
def patients(staff):
    """Patients covering every branch of the section, some written with hostile text."""
    referrer = PatientFactory(first_name=HOSTILE, last_name="<b>Lee</b>", preferred_name="")
    hostile = PatientFactory(
        email="<script>x</script>\"&'@example.com",
        phone="+15551234567",
        time_zone="Europe/Paris",
        preferred_channel="sms",
        quiet_hours_start=time(22, 15),
        quiet_hours_end=time(6, 5),
        checkin_hour=18,
        source="referral",
        referred_by=referrer,
        unsubscribed_at=datetime(2026, 3, 1, 3, 30, tzinfo=UTC),
    )
    bare = PatientFactory(email="", phone="", checkin_hour=7, source="website")
    busy = PatientFactory()
    recorder = UserFactory(display_name=HOSTILE)
    nameless = UserFactory(display_name="", username="desk<&>")
    start = timezone.now() - timedelta(days=40)
    # hostile: email consent for an old address, SMS given then withdrawn
    ConsentEventFactory(patient=hostile, channel="email", address="old@example.com", via=HOSTILE, at=start)
    ConsentEventFactory(patient=hostile, channel="sms", recorded_by=recorder, at=start + timedelta(hours=1))
    ConsentEventFactory(
        patient=hostile, channel="sms", granted=False, via="SMS STOP", at=start + timedelta(hours=2)
    )
    # busy: more history than the section shows, and each kind of request waiting
    for day in range(12):
        ConsentEventFactory(
            patient=busy,
            channel="email" if day % 2 else "sms",
            granted=day % 3 != 0,
            recorded_by=nameless if day % 4 == 0 else recorder,
            at=start + timedelta(days=day, minutes=7 * day),
        )
    for n, (channel, sent) in enumerate([("sms", True), ("email", True), ("email", False), ("sms", False)]):
        ConsentRequest.objects.create(
            patient=busy,
            channel=channel,
            address=f"{HOSTILE}{n}",
            via=HOSTILE,
            requested_at=start + timedelta(days=n),
            confirmation_sent_at=start + timedelta(days=n, minutes=1) if sent else None,
        )
    ConsentRequest.objects.create(
        patient=busy, channel="sms", address="+15550000000", via="form", confirmed_at=timezone.now()
    )
    return [record(p.pk) for p in (hostile, bare, busy, referrer)]


def test_the_section_is_what_the_template_wrote_for_each_patient(patients, django_assert_num_queries):
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        new = new_markup(patient, django_assert_num_queries)
        assert as_read(new) == as_read(old_markup(patient)), patient.pk


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Pacific/Auckland", "UTC"])
def test_the_times_are_on_the_clinics_clock_as_the_date_filter_writes_them(
    patients, zone, django_assert_num_queries
):
    with timezone.override(zone):
        for patient in patients:
            assert as_read(new_markup(patient, django_assert_num_queries)) == as_read(old_markup(patient))


def test_every_text_a_person_typed_is_escaped(patients, django_assert_num_queries):
    hostile, _bare, busy, _referrer = patients
    for patient in (hostile, busy):
        html = new_markup(patient, django_assert_num_queries)
        assert "<script>" not in html and "<b>" not in html and TOKEN not in html
        assert "&lt;script&gt;x&lt;/script&gt; &quot;Quote&quot; &amp; &#x27;Sons&#x27;" in html
        assert 'value="tok&lt;&amp;&gt;&quot;en"' in html
    assert 'referred by <a href="/patients/' in new_markup(hostile, django_assert_num_queries)
    assert "desk&lt;&amp;&gt;" in new_markup(busy, django_assert_num_queries)


def test_the_latest_rows_are_the_orms_by_the_orms_sql(patients):
    for patient in patients * 2:
        history, requests = recent_consent(patient)
        assert history == list(consent_history(patient)[:10])
        assert [e.recorded_by for e in history] == [e.recorded_by for e in consent_history(patient)[:10]]
        assert requests == list(consent_requests_waiting(patient)[:10])
        assert all(row.patient is patient for row in [*history, *requests])
    busy = patients[2]
    assert len(recent_consent(busy)[0]) == 10 and len(recent_consent(busy)[1]) == 4
    with CaptureQueriesContext(connection) as ours:
        recent_consent(busy)
    with CaptureQueriesContext(connection) as orms:
        list(consent_history(busy)[:10])
        list(consent_requests_waiting(busy)[:10])
    assert [q["sql"] for q in ours] == [q["sql"] for q in orms]


def test_the_consent_form_carries_the_requests_csrf_token(staff, patients):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    patient = patients[2]
    body = client.get(f"/patients/{patient.pk}/panels/contact/").content.decode()
    form = re.search(r'<form method="post" action="(/patients/\d+/consent/)".*?</form>', body, re.S)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0)).group(1)
    fields = dict(
        re.findall(r'<input type="hidden" name="(channel|granted)" value="([^"]+)">', form.group(0))
    )
    assert client.post(form.group(1), fields).status_code == 403
    before = patient.consent_events.count()
    response = client.post(form.group(1), {"csrfmiddlewaretoken": token, **fields})
    assert response.status_code == 302
    assert patient.consent_events.count() == before + 1


def old_team_markup(patient: Patient, lead_form_html: str, member_form_html: str) -> str:
    current = list(patient.care_team.current().select_related("user"))
    order = {role: i for i, role in enumerate(CareTeamMember.Role.values)}
    current.sort(key=lambda m: (order.get(m.role, len(order)), m.started_at))
    former = sorted(
        patient.care_team.filter(ended_at__isnull=False).select_related("user"),
        key=lambda m: m.ended_at,
        reverse=True,
    )
    panel = {
        "care_team": current,
        "former_team": former,
        "lead_form_html": lead_form_html,
        "member_form_html": member_form_html,
    }
    return Template(OLD_TEAM).render(Context({"patient": patient, "panel": panel, "csrf_token": TOKEN}))


@pytest.fixture
def teams(practitioner, other_practitioner):
    """Care teams covering every branch of the section: led or not, external members, former ones."""
    hostile_user = UserFactory(role="practitioner", display_name=HOSTILE)
    led = PatientFactory()
    start = timezone.now() - timedelta(days=90)
    CareTeamMemberFactory(patient=led, user=hostile_user, role="lead", started_at=start)
    CareTeamMemberFactory(patient=led, user=other_practitioner, role="practitioner", started_at=start)
    CareTeamMemberFactory(
        patient=led,
        user=None,
        role="specialist",
        external_name=HOSTILE,
        external_practice="<i>Clinic</i> & Co",
        external_contact='"+1 555" <x@y>',
    )
    coach = UserFactory(role="staff", display_name="", username="coach<&>")
    CareTeamMemberFactory(patient=led, user=coach, role="health_coach", external_contact="c@x")
    CareTeamMemberFactory(
        patient=led,
        user=practitioner,
        role="practitioner",
        started_at=start - timedelta(days=30),
        ended_at=start - timedelta(days=1, hours=5),
    )
    unled = PatientFactory()
    CareTeamMemberFactory(patient=unled, user=coach, role="nurse<&>")  # a role no form offers
    CareTeamMemberFactory(
        patient=unled, user=hostile_user, role="lead", started_at=start, ended_at=start + timedelta(days=3)
    )
    nobody = PatientFactory()
    return [record(p.pk) for p in (led, unled, nobody)]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_the_care_team_section_is_what_the_template_wrote(teams, zone, django_assert_num_queries):
    lead_form_html, member_form_html = care_team_forms_html()
    with timezone.override(zone):
        for patient in teams * 2:
            current, former = care_team(patient)
            with django_assert_num_queries(0):
                new = care_team_panel_html(
                    patient,
                    current=current,
                    former=former,
                    lead_form_html=lead_form_html,
                    member_form_html=member_form_html,
                    csrf_token=TOKEN,
                )
            assert as_read(new) == as_read(old_team_markup(patient, lead_form_html, member_form_html))
            assert "<script>" not in new.replace(lead_form_html, "").replace(member_form_html, "")
    led = care_team_panel_html(
        teams[0],
        **dict(zip(("current", "former"), care_team(teams[0]), strict=True)),
        lead_form_html="",
        member_form_html="",
        csrf_token=TOKEN,
    )
    assert "&lt;i&gt;Clinic&lt;/i&gt; &amp; Co &quot;+1 555&quot; &lt;x@y&gt;" in led
    assert (
        'aria-label="Remove &lt;script&gt;x&lt;/script&gt; &quot;Quote&quot; &amp; &#x27;Sons&#x27;"' in led
    )


def test_every_form_of_the_tab_carries_the_same_csrf_token_which_its_post_is_accepted_with(staff, teams):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    patient = teams[0]
    body = client.get(f"/patients/{patient.pk}/panels/contact/").content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert len(tokens) == 2 + 2 + 3 and len(set(tokens)) == 1  # consent, lead and add forms, three removable
    specialist = CareTeamMember.objects.get(patient=patient, role="specialist")
    url = f"/patients/{patient.pk}/care-team/{specialist.pk}/remove/"
    assert f'action="{url}"' in body
    assert client.post(url).status_code == 403
    assert client.post(url, {"csrfmiddlewaretoken": tokens[0]}).status_code == 302
    specialist.refresh_from_db()
    assert specialist.ended_at is not None
