"""dashboard.patient_rows: the patient list's rows and headers written in Python are the markup the template
wrote (compared as a browser reads it: runs of white space are one, none at a cell's edges), every text a
person typed comes out escaped, and writing them reads nothing from the database."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory

from dashboard.patient_list import _headers
from dashboard.patient_rows import header_cells_html, patient_rows_html
from journeys.models import Journey, Stage
from journeys.selectors.patients import patient_rows
from patients.models import CareTeamMember, ConsentEvent
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

# The rows and headers as templates/patients/patient_list.html wrote them before they moved to Python.
OLD_ROWS = """{% load patients %}{% for row in rows %}
              {% with patient=row.patient %}
                <tr>
                  <td>
                    <a href="{{ patient.get_absolute_url }}" class="fw-semibold">{{ patient.display_name }}</a>
                    {% if patient.pronouns %}<span class="text-body-secondary small">({{ patient.pronouns }})</span>{% endif %}
                    {% if patient.archived %}<span class="badge text-bg-secondary ms-1">Archived</span>{% endif %}
                    {% if patient.preferred_name %}<div class="small text-body-secondary">{{ patient.legal_name }}</div>{% endif %}
                  </td>
                  <td class="small text-nowrap">
                    {% if row.stage %}
                      <span class="badge badge-soft stage-{{ row.stage }}">{{ row.stage_label }}</span>
                    {% else %}
                      <span class="text-body-secondary">No journey yet</span>
                    {% endif %}
                  </td>
                  <td class="small">
                    {% if patient.email %}<div>{{ patient.email }}</div>{% endif %}
                    {% if patient.phone %}<div>{{ patient.phone|phone }}</div>{% endif %}
                  </td>
                  <td>
                    {% if patient.lead_name %}
                      {{ patient.lead_name }}
                    {% else %}
                      <span class="badge text-bg-warning">No lead yet</span>
                    {% endif %}
                  </td>
                  <td class="small text-nowrap">{{ patient.created_at|date:"j M Y" }}</td>
                  <td class="small">
                    {% if patient.unsubscribed_at %}
                      <span class="badge text-bg-secondary">Unsubscribed</span>
                    {% else %}
                      {% if patient.email_consent_granted and patient.email_consent_address == patient.email %}
                        <span class="badge badge-soft">Email</span>
                      {% endif %}
                      {% if patient.sms_consent_granted and patient.sms_consent_address == patient.phone %}
                        <span class="badge badge-soft">SMS</span>
                      {% endif %}
                    {% endif %}
                  </td>
                  <td class="small">{{ patient.time_zone }}</td>
                  <td class="small">{{ patient.get_source_display }}</td>
                </tr>
              {% endwith %}
            {% endfor %}"""
OLD_HEADERS = """{% for header in headers %}
                <th scope="col"
                    id="sort-{{ header.key }}"
                    {% if header.aria_sort %}aria-sort="{{ header.aria_sort }}"{% endif %}>
                  <a class="sort-link" href="{{ header.url }}">
                    {{ header.label }}
                    {% if header.aria_sort == "ascending" %}
                      <span aria-hidden="true">▲</span>
                    {% elif header.aria_sort == "descending" %}
                      <span aria-hidden="true">▼</span>
                    {% endif %}
                    <span class="visually-hidden">(sort {{ header.next }})</span>
                  </a>
                </th>
                {% if header.key == "stage" %}
                  <th scope="col">Contact</th>
                {% endif %}
              {% endfor %}"""
BLOCKS = "tr|td|th|div"


def as_read(html: str) -> str:
    """Markup as a browser lays it out: white space collapsed, none inside a tag's end, at a cell's or
    block's edges, or just inside a link."""
    html = re.sub(r"\s+", " ", html).replace(" >", ">")
    html = re.sub(rf"\s*(</?(?:{BLOCKS})\b[^>]*>)\s*", r"\1", html)
    return re.sub(r"(<a\b[^>]*>) ", r"\1", html).replace(" </a>", "</a>").strip()


@pytest.fixture
def patients(practitioner):
    """Patients covering every branch of a row, some named with hostile text."""
    hostile_lead = UserFactory(
        username="evil", display_name='<img src=x onerror="alert(1)"> & Co', role="practitioner"
    )
    made = []
    specs = [
        # (fields, stage, lead, consents)
        ({"first_name": "Ana", "last_name": "Ames"}, Stage.CHECK_INS, practitioner, [("email", True, None)]),
        (
            {
                "first_name": "<script>alert('x')</script>",
                "last_name": 'O\'Brien & "Sons"',
                "pronouns": "<b>they</b>",
            },
            Stage.PAUSED,
            hostile_lead,
            [("email", True, None), ("sms", True, None)],
        ),
        (
            {"first_name": "Robert", "preferred_name": "Bob & <i>", "last_name": "Baker", "archived": True},
            None,
            None,
            [("sms", True, "+12025550000")],  # consent to an older number: no badge
        ),
        (
            {
                "first_name": "Chen",
                "last_name": "Li",
                "email": "",
                "phone": "+442079460958",
                "time_zone": "Europe/London",
            },
            Stage.GRADUATED,
            practitioner,
            [],
        ),
        (
            {"first_name": "Dee", "last_name": "Diaz", "phone": "", "source": "referral"},
            Stage.INQUIRY,
            None,
            [("email", True, None), ("email", False, None)],  # withdrawn since
        ),
        (
            {"first_name": "Eve", "last_name": "Evans", "unsubscribed_at": datetime(2026, 5, 1, tzinfo=UTC)},
            Stage.ADVOCATE,
            practitioner,
            [("email", True, None)],
        ),
    ]
    # Added just after midnight UTC: the evening before on the clinic's clock (America/New_York).
    with time_machine.travel(datetime(2026, 3, 1, 2, 30, tzinfo=UTC), tick=False):
        for fields, stage, lead, consents in specs:
            patient = PatientFactory(**fields)
            if stage:
                Journey.objects.create(
                    patient=patient, stage=stage, started_at=datetime(2026, 1, 1, tzinfo=UTC)
                )
            if lead:
                CareTeamMember.objects.create(patient=patient, user=lead, role="lead")
            for channel, granted, address in consents:
                ConsentEvent.objects.create(
                    patient=patient,
                    channel=channel,
                    granted=granted,
                    address=address or (patient.email if channel == "email" else patient.phone),
                    via="test",
                )
            made.append(patient)
    return made


def test_the_rows_are_the_markup_the_template_wrote(patients):
    rows = patient_rows([patient.pk for patient in patients])
    old = Template(OLD_ROWS).render(Context({"rows": rows}))
    assert as_read(patient_rows_html(rows)) == as_read(old)
    assert as_read(patient_rows_html(rows)).count("<tr>") == len(patients)
    for branch in (
        "Archived",
        "(&lt;b&gt;",
        "Unsubscribed",
        ">SMS<",
        ">Email<",
        "+44 20",
        "No lead yet",
        "Referral",
    ):
        assert branch in old  # every branch of a row is compared
    assert "No journey yet" in old and "Bob &amp; &lt;i&gt; Baker" in old and "Robert Baker" in old


def test_every_typed_text_comes_out_escaped(patients):
    html = patient_rows_html(patient_rows([patient.pk for patient in patients]))
    assert "<script>" not in html and "<b>" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; O&#x27;Brien &amp; &quot;Sons&quot;" in html
    assert "(&lt;b&gt;they&lt;/b&gt;)" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co" in html
    assert "Bob &amp; &lt;i&gt; Baker" in html
    assert "29 Feb 2026" not in html and "28 Feb 2026" in html  # the clinic's day, not UTC's


def test_writing_the_rows_reads_nothing(patients, django_assert_num_queries):
    rows = patient_rows([patient.pk for patient in patients])
    with django_assert_num_queries(0):
        patient_rows_html(rows)


@pytest.mark.parametrize("sort", ["name", "-name", "stage", "-added", "lead"])
def test_the_headers_are_the_markup_the_template_wrote(sort):
    request = RequestFactory().get("/patients/", QueryDict("q=a%26b&lead=3&after=9"))
    headers = _headers(request, sort)
    old = Template(OLD_HEADERS).render(Context({"headers": headers}))
    assert as_read(header_cells_html(headers)) == as_read(old)
    assert "after=" not in header_cells_html(headers) and "q=a%26b&amp;lead=3" in header_cells_html(headers)


def test_the_page_shows_the_rows_it_wrote(client_for, staff, patients):
    body = client_for(staff).get("/patients/?archived=all").content.decode()
    for row in patient_rows([patient.pk for patient in patients]):
        assert str(patient_rows_html([row])) in body


def test_each_page_reads_its_own_patients_from_the_one_annotated_queryset(
    patients, django_assert_num_queries
):
    from patients import selectors

    first, second = {patients[0].pk, patients[1].pk}, {patients[2].pk}
    with django_assert_num_queries(2):
        assert {p.pk for p in selectors.patient_list_rows(list(first))} == first
        assert {p.pk for p in selectors.patient_list_rows(list(second))} == second
    assert selectors._list_rows()._result_cache is None  # only ever filtered, never read
