"""The patient page's tab written in Python (``dashboard.patient_page.tab_html``): byte for byte what
``dashboard/_patient_tab.html`` wrote when it looped over the panels and included ``_patient_panel.html`` for
each, for every tab, on the page and as htmx loads it, for staff and practitioners, with hostile text."""

import re

import pytest
from django.template import engines

from compliance.models import CheckInAnswer
from dashboard.patient_page import PATIENT_TABS, tabs_html
from journeys.models import BlueprintItem, CheckIn
from tests.dashboard.test_patient_page import patient  # noqa: F401 — the fixture
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"

# dashboard/_patient_tab.html as it was before tab_html wrote it.
OLD_TAB = """{# One tab of the patient page: its main panels, with the shorter side ones beside them on wide screens and before them on narrow ones. #}
<div class="row g-3 patient-tab" id="patient-tab" data-tab="{{ tab.key }}">
  {% if panels.side %}
    <div class="col-xl-4 order-xl-2 d-flex flex-column gap-3">
      {% for panel, panel_context in panels.side %}
        {% include "dashboard/_patient_panel.html" %}
      {% endfor %}
    </div>
  {% endif %}
  <div class="{% if panels.side %}col-xl-8 order-xl-1{% else %}col-12{% endif %} d-flex flex-column gap-3">
    {% for panel, panel_context in panels.main %}
      {% include "dashboard/_patient_panel.html" %}
    {% endfor %}
  </div>
</div>
{% if swap_tabs %}
  {{ tabs_html }}
{% endif %}
"""
_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def tokenless(html: str) -> str:
    return _TOKEN.sub(r'\1"', html)


@pytest.fixture
def hostile(patient):  # noqa: F811 — the fixture imported above
    patient.first_name = patient.preferred_name = HOSTILE
    patient.save()
    BlueprintItem.objects.filter(blueprint__journey__patient=patient).update(title=HOSTILE)
    checkin = CheckIn.objects.filter(journey__patient=patient, status="answered").order_by("due_on").last()
    CheckInAnswer.objects.filter(checkin=checkin).update(where_it_failed=HOSTILE, barriers=["cost"], energy=3)
    patient.alerts.update(detail=HOSTILE)
    return patient


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_each_tab_is_what_its_template_wrote(request, client_for, hostile, role):
    client = client_for(request.getfixturevalue(role))
    old = engines["django"].from_string(OLD_TAB)
    for tab in PATIENT_TABS:
        for url, swap in (
            (tab_url(hostile, tab.key), False),
            (f"/patients/{hostile.pk}/panels/{tab.key}/", True),
        ):
            response = client.get(url)
            assert response.status_code == 200
            context = {
                "patient": hostile,
                "tab": tab,
                "panels": response.context["panels"],
                "tabs_html": tabs_html(hostile, tab, swap=True),
                "swap_tabs": swap,
            }
            written = old.render(context, request=response.wsgi_request)
            body = response.content.decode()
            assert "<script>alert" not in body
            if swap:
                assert tokenless(body) == tokenless(written), (tab.key, url)
            else:  # the page: the tab below its header, summary and tabs
                assert tokenless(written) in tokenless(body), (tab.key, url)
