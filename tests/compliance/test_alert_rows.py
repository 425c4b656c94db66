"""The alerts list's rows, written in Python from tuples: the markup the list's template loops wrote from the
alerts as models, every text escaped, and the page's queries the same for 5 alerts as for 50."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template import Context, Template

from accounts.models import User
from compliance import selectors
from compliance.alert_rows import open_alert_rows, resolved_alert_rows
from compliance.models import Alert
from nudges.models import Kind, Nudge
from patients.models import CareTeamMember
from tests.factories import PatientFactory, UserFactory
from tests.support.markup import squeezed

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 15, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"

# The loops the template ran before the rows were written in Python, kept here to hold them to it.
OPEN_LOOP = Template(
    """{% load links %}{% for alert in alerts %}
                <tr id="alert-{{ alert.pk }}">
                  <td>
                    <a href="{% id_url 'compliance:alert' alert.pk %}">{{ alert.patient.display_name }}</a>
                    {% if alert.patient.archived %}<span class="badge text-bg-secondary">Archived</span>{% endif %}
                  </td>
                  <td>
                    {% for row in alert.all_reasons %}
                      {{ row.label }}
                      {% if not forloop.last %}<br>{% endif %}
                    {% endfor %}
                    {% if alert.escalated_at %}<span class="badge text-bg-danger">Call the patient</span>{% endif %}
                  </td>
                  <td class="text-break">
                    {% for row in alert.all_reasons %}
                      {{ row.detail }}
                      {% if not forloop.last %}<br>{% endif %}
                    {% endfor %}
                  </td>
                  <td>{{ alert.lead_name|default:"—" }}</td>
                  <td class="text-nowrap">{{ alert.opened_at|timesince }}</td>
                  <td>
                    {% if alert.outreach_nudge %}
                      {% include "nudges/_status_badge.html" with nudge=alert.outreach_nudge %}
                    {% else %}
                      <span class="text-body-secondary">—</span>
                    {% endif %}
                  </td>
                </tr>
              {% endfor %}"""
)
RESOLVED_LOOP = Template(
    """{% load links %}{% for alert in resolved %}
            <li class="list-group-item px-0 d-flex flex-wrap justify-content-between gap-2">
              <span>
                <a href="{% id_url 'compliance:alert' alert.pk %}">{{ alert.patient.display_name }}</a>
                <span class="small text-body-secondary">· {{ alert.get_reason_display }}</span>
              </span>
              <span class="small text-body-secondary">
                answered {{ alert.resolved_at|date:"j M Y" }}
                {% if alert.resolved_by %}by {{ alert.resolved_by }}{% endif %}
              </span>
            </li>
          {% endfor %}"""
)


def _nudge(patient, status, n):
    return Nudge.objects.create(
        patient=patient, kind=Kind.ADHERENCE_OUTREACH, channel="email", send_at=NOW, status=status,
        dedupe_key=f"outreach:{n}", sent_at=NOW if status == "sent" else None,
        claimed_at=NOW if status == "sending" else None,
    )  # fmt: skip


@pytest.fixture
def alerts(practitioner):
    hostile = PatientFactory(first_name=HOSTILE, preferred_name=HOSTILE, archived=True)
    plain = PatientFactory()
    leadless = PatientFactory()
    CareTeamMember.objects.create(patient=hostile, user=UserFactory(display_name=HOSTILE), role="lead")
    CareTeamMember.objects.create(patient=plain, user=practitioner, role="lead")
    Alert.objects.create(
        patient=hostile,
        reason="low_adherence",
        detail=HOSTILE,
        reasons=[
            {"reason": "low_adherence", "detail": HOSTILE},
            {"reason": "missed_checkins", "detail": "2 in a row & counting"},
        ],
        opened_at=NOW - timedelta(days=3, hours=4),
        escalated_at=NOW - timedelta(days=1),
        outreach_nudge=_nudge(hostile, "failed", 1),
    )
    Alert.objects.create(
        patient=plain, reason="missed_checkins", detail="2 missed", opened_at=NOW - timedelta(minutes=5),
        outreach_nudge=_nudge(plain, "sent", 2),
    )  # fmt: skip
    Alert.objects.create(
        patient=leadless, reason="low_adherence", detail="40%", opened_at=NOW - timedelta(weeks=9)
    )
    Alert.objects.create(
        patient=plain, reason="low_adherence", detail="", opened_at=NOW - timedelta(days=30),
        resolved_at=NOW - timedelta(days=2), resolved_by=UserFactory(display_name=HOSTILE),
    )  # fmt: skip
    Alert.objects.create(
        patient=hostile, reason="missed_checkins", detail="", opened_at=NOW - timedelta(days=40),
        resolved_at=datetime(2026, 3, 8, 4, 30, tzinfo=UTC),  # the day before, in the clinic's zone
    )  # fmt: skip


@time_machine.travel(NOW, tick=False)
def test_the_open_rows_are_what_the_template_wrote(alerts):
    shown = list(selectors.alerts_open())
    rows = list(selectors.alerts_open_rows())
    assert len(shown) == 3 and [row[0] for row in rows] == [alert.pk for alert in shown]
    expected = OPEN_LOOP.render(Context({"alerts": shown}))
    assert squeezed(open_alert_rows(rows)) == squeezed(expected)
    assert squeezed(open_alert_rows(rows, now=NOW)) == squeezed(expected)


@time_machine.travel(NOW, tick=False)
def test_an_alert_from_before_its_reasons_were_kept_shows_its_first_reason(alerts):
    Alert.objects.filter(detail="40%").update(reasons=[])
    shown = list(selectors.alerts_open())
    expected = OPEN_LOOP.render(Context({"alerts": shown}))
    assert "40%" in expected
    assert squeezed(open_alert_rows(selectors.alerts_open_rows())) == squeezed(expected)


@time_machine.travel(NOW, tick=False)
def test_every_outreach_status_shows_the_badge_the_template_wrote(alerts):
    alert = Alert.objects.get(detail="40%")
    for n, (status, _) in enumerate(Nudge.Status.choices):
        Alert.objects.filter(pk=alert.pk).update(outreach_nudge=_nudge(alert.patient, status, 10 + n))
        expected = OPEN_LOOP.render(Context({"alerts": list(selectors.alerts_open())}))
        assert squeezed(open_alert_rows(selectors.alerts_open_rows())) == squeezed(expected)


@time_machine.travel(NOW, tick=False)
def test_the_resolved_rows_are_what_the_template_wrote(alerts):
    shown = list(selectors.alerts_recently_resolved())
    rows = selectors.alerts_recently_resolved_rows()
    assert len(shown) == 2 and [row[0] for row in rows] == [alert.pk for alert in shown]
    expected = RESOLVED_LOOP.render(Context({"resolved": shown}))
    assert squeezed(resolved_alert_rows(rows)) == squeezed(expected)
    User.objects.filter(display_name=HOSTILE).update(display_name="")  # str(user): the username then
    expected = RESOLVED_LOOP.render(Context({"resolved": list(selectors.alerts_recently_resolved())}))
    assert squeezed(resolved_alert_rows(selectors.alerts_recently_resolved_rows())) == squeezed(expected)


@time_machine.travel(NOW, tick=False)
def test_every_text_in_the_rows_is_escaped(alerts):
    html = open_alert_rows(selectors.alerts_open_rows()) + resolved_alert_rows(
        selectors.alerts_recently_resolved_rows()
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons" in html
    assert "2 in a row &amp; counting" in html


@time_machine.travel(NOW, tick=False)
def test_the_page_shows_the_rows_in_the_same_queries_for_5_and_50_alerts(
    client_for, staff, practitioner, django_assert_max_num_queries
):
    client = client_for(staff)

    def add(n):
        for patient in PatientFactory.create_batch(n):
            CareTeamMember.objects.create(patient=patient, user=practitioner, role="lead")
            Alert.objects.create(
                patient=patient, reason="low_adherence", detail=HOSTILE, opened_at=NOW - timedelta(hours=n),
                outreach_nudge=_nudge(patient, "pending", patient.pk),
            )  # fmt: skip

    add(5)
    with django_assert_max_num_queries(9):
        few = client.get("/alerts/")
    add(45)
    with django_assert_max_num_queries(9):
        many = client.get("/alerts/")
    assert few.content.count(b'<tr id="alert-') == 5 and many.content.count(b'<tr id="alert-') == 50
    assert b"<script>alert" not in many.content


@time_machine.travel(NOW, tick=False)
def test_the_recently_resolved_are_the_orms_rows_by_its_sql(alerts):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # the second from the SQL compiled in the first
        got = selectors.alerts_recently_resolved_rows()
        assert len(got) == 2 and got == list(selectors.alerts_recently_resolved_values())
    with CaptureQueriesContext(connection) as ours:
        selectors.alerts_recently_resolved_rows()
    with CaptureQueriesContext(connection) as orms:
        list(selectors.alerts_recently_resolved_values())
    assert ours.captured_queries[0]["sql"] == orms.captured_queries[0]["sql"]


@time_machine.travel(NOW, tick=False)
def test_the_open_count_is_the_capped_count_of_the_open_alerts(alerts):
    from accounts.paging import capped_count

    for cap in (1, 2, 3, 10_000):
        assert selectors.alerts_open_count(cap) == capped_count(selectors.alerts_open(), cap)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("opened", "label"), [(3, b"3"), (99, b"99"), (100, b"99+"), (120, b"99+")])
def test_the_navigation_shows_the_count_the_page_counted_without_counting_again(
    client_for, staff, opened, label
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for patient in PatientFactory.create_batch(opened):
        Alert.objects.create(patient=patient, reason="low_adherence", detail="55%", opened_at=NOW)
    with CaptureQueriesContext(connection) as captured:
        response = client_for(staff).get("/alerts/")
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and "compliance_alert" in counts[0]
    badge = b'<span class="badge rounded-pill text-bg-warning">' + label + b'<span class="visually-hidden">'
    assert badge in response.content
    assert f"Open ({opened})".encode() in response.content
