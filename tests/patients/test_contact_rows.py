"""patients.rows.contact_panel_html: the Contact tab's contact and consent section written in Python is the
markup templates/patients/_contact_panel.html wrote from the ORM's rows (compared as a browser reads it: runs of
white space are one, none at a block's edges or just inside a link), for every branch and in any time zone,
every text a person typed escaped, its reads compiled; and the tab's forms still carry the request's CSRF
token, which the consent form's post is accepted with."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import ConsentRequest, Patient
from patients.rows import contact_panel_html
from patients.selectors import (
    consent_history,
    consent_requests_waiting,
    patient_consent,
    recent_consent,
)
from tests.factories import ConsentEventFactory, PatientFactory, UserFactory

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
    return Patient.objects.select_related("referred_by").get(pk=pk)  # as the page's record reads it


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
