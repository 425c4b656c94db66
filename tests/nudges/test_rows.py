"""The outbox's rows and the review queue's items, written in Python (nudges/rows.py): the same markup the
templates wrote (the templates as they were are kept below and rendered for comparison, whitespace aside),
every typed text escaped, and the pages' query counts the same with 5 rows as with 50."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.http import QueryDict
from django.template import Context, Engine
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.text import Truncator

from nudges import rows, selectors
from nudges.forms import OutboxFilterForm
from nudges.models import Kind, Nudge
from tests.factories import PatientFactory, UserFactory
from tests.nudges.test_pages import make

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2027, 6, 10, 16, 0, 7, 123456, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> \"Tom\" & Jerry"
CSRF = "token-123"

# The rows as templates/nudges/outbox.html and review.html wrote them before nudges/rows.py.
TEMPLATE_OUTBOX_ROWS = """{% load links %}
{% for nudge in page.object_list %}
  <tr id="nudge-{{ nudge.pk }}">
    <td class="small outbox-when" data-label="When">
      {% if nudge.sent_at %}
        {% include "nudges/_when.html" with when=nudge.sent_at time_zone=nudge.patient.time_zone %}
      {% else %}
        {% include "nudges/_when.html" with when=nudge.send_at time_zone=nudge.patient.time_zone %}
      {% endif %}
    </td>
    <td class="outbox-patient" data-label="Patient">
      <a href="{{ nudge.patient.get_absolute_url }}" class="fw-semibold">{{ nudge.patient.display_name }}</a>
    </td>
    <td class="small text-break outbox-message" data-label="Message">
      <div>
        {{ nudge.get_kind_display }} by {{ nudge.get_channel_display }}
        {% if nudge.created_by %}<span class="text-body-secondary">· written by {{ nudge.created_by }}</span>{% endif %}
      </div>
      <a class="outbox-line" href="{% id_url 'nudges:detail' nudge.pk %}">
        {% if nudge.message.line %}
          {{ nudge.message.line }}
        {% else %}
          Open the {{ nudge.get_kind_display|lower }}
        {% endif %}
      </a>
    </td>
    <td class="outbox-status" data-label="Status">
      {% include "nudges/_status_badge.html" with nudge=nudge %}
      {% if nudge.attempts > 1 %}<div class="small text-body-secondary">{{ nudge.attempts }} attempts</div>{% endif %}
    </td>
    <td class="small text-body-secondary text-break outbox-why" data-label="Why">
      {% include "nudges/_reason.html" with nudge=nudge %}
    </td>
  </tr>
{% endfor %}
"""
TEMPLATE_REVIEW_ITEMS = """{% load links %}
{% for nudge in nudges %}
  <section class="card" id="nudge-{{ nudge.pk }}" aria-labelledby="nudge-{{ nudge.pk }}-heading">
    <div class="card-body">
      <div class="d-flex flex-wrap justify-content-between align-items-start gap-2">
        <div>
          <h2 class="h6 mb-1" id="nudge-{{ nudge.pk }}-heading">
            {% include "nudges/_status_badge.html" with nudge=nudge %}
            <a href="{% id_url 'nudges:detail' nudge.pk %}">{{ nudge.get_kind_display }}</a> by {{ nudge.get_channel_display }} to
            <a href="{{ nudge.patient.get_absolute_url }}">{{ nudge.patient.display_name }}</a>
          </h2>
          <div class="small text-body-secondary">
            Due
            {% include "nudges/_when.html" with when=nudge.send_at time_zone=nudge.patient.time_zone %}
            · {{ nudge.attempts }} attempt{{ nudge.attempts|pluralize }}
          </div>
        </div>
        <div class="d-flex gap-2">
          <form method="post" action="{% id_url 'nudges:retry' nudge.pk %}" class="m-0">
            <input type="hidden" name="csrfmiddlewaretoken" value="{{ csrf }}">
            <button type="submit" class="btn btn-primary btn-sm">Send again</button>
          </form>
          <form method="post"
                action="{% id_url 'nudges:mark_reviewed' nudge.pk %}"
                class="m-0">
            <input type="hidden" name="csrfmiddlewaretoken" value="{{ csrf }}">
            <button type="submit" class="btn btn-outline-secondary btn-sm">Leave as is</button>
          </form>
        </div>
      </div>
      <div class="mt-2 small">
        <strong>What went wrong:</strong>
        {% if nudge.status == "unknown" %}
          It may or may not have reached the patient. Check with them before sending it again.
        {% endif %}
        <div class="text-body-secondary text-break">
          {{ nudge.last_error|default:"No error was recorded." }}
          {% if nudge.status_reason %}<div>{{ nudge.status_reason }}</div>{% endif %}
        </div>
      </div>
      {% if nudge.body_text %}
        <details class="mt-2 small">
          <summary>The message</summary>
          {% if nudge.subject %}<div class="fw-semibold mt-2">{{ nudge.subject }}</div>{% endif %}
          <pre class="mt-2 mb-0 p-2 bg-body-tertiary rounded text-wrap">{{ nudge.body_text }}</pre>
        </details>
      {% else %}
        <div class="mt-2 small text-body-secondary">
          {% include "nudges/_message_preview.html" with nudge=nudge chars=300 %}
        </div>
      {% endif %}
    </div>
  </section>
{% endfor %}
"""


def _engine() -> Engine:
    return Engine.get_default()


def collapsed(html: str) -> list[str]:
    """Markup with each run of whitespace as one space (what a browser shows is the same), tag by tag."""
    return re.sub(r"\s+", " ", html).strip().split("<")


def _templated(source: str, **context) -> str:
    template = _engine().from_string(source)
    return template.render(Context({"clinic_time_zone": settings.TIME_ZONE, **context}))


def _every_kind_of_row(staff):
    """A nudge of each status, kind and channel; an author; retries; reasons and errors; two time zones."""
    here = PatientFactory(first_name="Renée", last_name="Côté", time_zone="America/New_York")
    away = PatientFactory(
        first_name="Ana", last_name="O'Neil & Co", preferred_name="", time_zone="Europe/London"
    )
    made = []
    kinds = list(Kind)
    for index, status in enumerate(Nudge.Status):
        for offset, patient in enumerate((here, away)):
            fields = {}
            if status in ("failed", "unknown", "suppressed", "cancelled"):
                fields["status_reason"] = "no SMS consent" if offset else ""
                fields["last_error"] = ("mailbox full (552) " * 30) if offset else "timeout"
            if status in ("sent", "failed", "unknown"):
                fields["body_text"] = "Hello,\n  your check-in is ready."
                fields["subject"] = "Your check-in" if offset else ""
            made.append(
                make(
                    patient,
                    status,
                    kind=kinds[(2 * index + offset) % len(kinds)],
                    channel="sms" if offset else "email",
                    send_at=NOON_NY + timedelta(days=index, hours=7 * offset, minutes=offset),
                    attempts=index % 3,
                    created_by=staff if offset else None,
                    **fields,
                )
            )
    # A one-off not yet written out: its own words in its context.
    made.append(
        make(here, "failed", kind="one_off", context={"subject": "Labs", "message": "Your results " * 40})
    )
    made.append(make(here, "unknown", kind="one_off", context={"message": "No subject here"}))
    return made


def _outbox_page():
    """The page as the view writes it (``outbox_rows`` and their lines), and the same nudges as models with
    their messages (what the template read)."""
    found = list(selectors.outbox_rows())
    nudges = list(selectors.outbox())
    selectors.outbox_messages(nudges)
    assert [row.pk for row in found] == [nudge.pk for nudge in nudges]
    return found, selectors.outbox_lines(found), nudges


@time_machine.travel(NOON_NY, tick=False)
def test_the_outbox_rows_are_the_templates_rows(staff):
    _every_kind_of_row(staff)
    found, lines, nudges = _outbox_page()
    assert len(nudges) == 16
    assert lines == [nudge.message.line for nudge in nudges]
    nudges[0].message = selectors.Message(subject="", text="", sent=False, error="no wording")  # no line
    lines[0] = ""

    written = rows.outbox_rows(found, lines, clinic_time_zone=settings.TIME_ZONE)

    assert collapsed(written) == collapsed(_templated(TEMPLATE_OUTBOX_ROWS, page={"object_list": nudges}))
    for expected in (
        '<time datetime="2027-06-10T16:00:07.123456+00:00">10 Jun 2027, 12:00</time>',
        '<span class="text-body-secondary">clinic time · 11 Jun, 00:01 their time</span>',
        '<span class="badge text-bg-info">Scheduled</span>',
        '<span class="badge text-bg-light border">Withdrawn</span>',
        '<span class="text-body-secondary">· written by Charlie Desk</span>',
        '<div class="small text-body-secondary">2 attempts</div>',
        '<div class="text-danger-emphasis">mailbox full (552) mailbox full',
        f"> Open the {nudges[0].get_kind_display().lower()} </a>",
    ):
        assert expected in written, expected


@time_machine.travel(NOON_NY, tick=False)
def test_the_review_items_are_the_templates_items(staff):
    _every_kind_of_row(staff)
    nudges = list(selectors.review_list())
    assert len(nudges) == 6

    written = rows.review_items(nudges, clinic_time_zone=settings.TIME_ZONE, csrf_token=CSRF)

    assert collapsed(written) == collapsed(_templated(TEMPLATE_REVIEW_ITEMS, nudges=nudges, csrf=CSRF))
    assert "Check with them before sending it again." in written
    assert '<span class="fw-semibold">Labs</span> — Your results' in written
    assert f'action="{reverse("nudges:retry", args=[nudges[0].pk])}"' in written


@time_machine.travel(NOON_NY, tick=False)
def test_typed_text_is_escaped_in_the_rows_and_items(staff):
    author = UserFactory(role="staff", username="mallory", display_name=HOSTILE)
    patient = PatientFactory(first_name=HOSTILE, last_name="&amp;", time_zone="Europe/London")
    make(
        patient,
        "failed",
        kind="one_off",
        created_by=author,
        status_reason=HOSTILE,
        last_error=HOSTILE,
        subject=HOSTILE,
        body_text=HOSTILE,
    )
    make(patient, "unknown", kind="one_off", context={"subject": HOSTILE, "message": HOSTILE})
    make(patient, "sent", subject=HOSTILE, body_text=HOSTILE, taken_at=NOON_NY)

    found, lines, nudges = _outbox_page()
    outbox = rows.outbox_rows(found, lines, clinic_time_zone=settings.TIME_ZONE)
    review = rows.review_items(
        selectors.review_list(), clinic_time_zone=settings.TIME_ZONE, csrf_token='"><b>'
    )

    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Tom&quot; &amp; Jerry"
    for html in (outbox, review):
        assert "<script>" not in html and '"Tom"' not in html and "'x'" not in html
        assert escaped in html
        assert "&amp;amp;" in html  # the patient's "&amp;" is text, not an entity
    assert "<b>" not in review and 'value="&quot;&gt;&lt;b&gt;"' in review
    assert outbox.count(escaped) == 9  # the name ×3, the author, the lines ×3, the reason, the error
    assert review.count(escaped) == 8  # the name ×2, the reason, the error, the subjects ×2, the words ×2
    assert collapsed(outbox) == collapsed(_templated(TEMPLATE_OUTBOX_ROWS, page={"object_list": nudges}))
    nudges = list(selectors.review_list())
    assert collapsed(review) == collapsed(_templated(TEMPLATE_REVIEW_ITEMS, nudges=nudges, csrf='"><b>'))


def test_an_empty_page_has_no_rows():
    assert rows.outbox_rows([], [], clinic_time_zone=settings.TIME_ZONE) == ""
    assert rows.review_items([], clinic_time_zone=settings.TIME_ZONE, csrf_token=CSRF) == ""


def _rows(count, author):
    for index in range(count):
        patient = PatientFactory(time_zone="Europe/London" if index % 2 else "America/New_York")
        status = ("failed", "unknown", "pending", "sent")[index % 4]
        make(patient, status, created_by=author if index % 3 else None, last_error="x", attempts=index % 3)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


# What each page runs, whatever it lists (as before the rows were written in Python).
QUERY_BUDGETS = {"outbox": 11, "review": 7}


@time_machine.travel(NOON_NY, tick=False)
def test_the_pages_queries_stay_fixed_with_5_rows_and_with_50(client_for, staff):
    author = UserFactory(role="staff", username="writer")
    client = client_for(staff)
    urls = {"outbox": reverse("nudges:outbox") + "?view=all", "review": reverse("nudges:review")}
    _rows(5, author)
    for url in urls.values():
        client.get(url)
    small = {name: _queries(client, url) for name, url in urls.items()}
    _rows(45, author)
    large = {name: _queries(client, url) for name, url in urls.items()}
    assert small == large
    # On SQLite (``make run``'s database) the audit row takes no writer lock first (accounts.chain.lock_chain).
    lock = 1 if connection.vendor == "postgresql" else 0
    assert large == {name: budget - 1 + lock for name, budget in QUERY_BUDGETS.items()}


@pytest.mark.parametrize("view", [view for view, _ in selectors.View.choices])
@pytest.mark.parametrize(
    "query", ["", "view=needs&after=5", "status=failed&kind=one_off", "date_from=nonsense"]
)
def test_the_filter_widgets_are_the_forms_own_each_time(view, query):
    def form():
        made = OutboxFilterForm(QueryDict(query) or None, view=view)
        made.filters()
        return made

    live = form()
    expected = {name: str(live[name]) for name in live.fields}
    assert form().widgets() == expected
    assert form().widgets() == expected  # the second time as the first (kept, when nothing was chosen)


@pytest.mark.parametrize(
    "text", ["", "short", "e\u0301" * 200, "x" * 300, "x" * 301, "é" * 299 + "\u0301", "a\u0301" * 160]
)
def test_truncated_is_truncatechars(text):
    assert rows.truncated(text, 300) == Truncator(text).chars(300)


def test_the_row_tags_write_what_the_includes_write(staff):
    """``{% nudge_when %}``, ``{% nudge_preview %}``, ``{% nudge_reason %}`` and ``{% nudge_badge %}`` (the
    Messages tab, the conversation, an alert's outreach: a row per message) against the includes they replaced, for every kind of row and both zones."""
    hostile = PatientFactory(first_name="<script>x</script>", time_zone="Asia/Kolkata")
    nudges = [*_every_kind_of_row(staff)]
    nudges.append(
        make(hostile, "failed", kind="one_off", status_reason='<b>"why"</b> & how',
             last_error="<img src=x onerror=alert(1)>", context={"subject": "<i>s</i>", "message": "a & <b>"})
    )  # fmt: skip
    include = (
        '{% include "nudges/_when.html" with when=moment time_zone=zone clinic_time_zone=clinic %}|'
        '{% include "nudges/_message_preview.html" with nudge=nudge chars=160 %}|'
        '{% include "nudges/_reason.html" with nudge=nudge %}|'
        '{% include "nudges/_status_badge.html" with nudge=nudge %}'
    )
    tags = (
        "{% load nudge_rows %}{% nudge_when moment zone clinic %}|{% nudge_preview nudge 160 %}|"
        "{% nudge_reason nudge %}|{% nudge_badge nudge %}"
    )
    for nudge in Nudge.objects.filter(pk__in=[n.pk for n in nudges]).select_related("patient"):
        for moment in (nudge.sent_at, nudge.send_at, None):
            for zone in (nudge.patient.time_zone, settings.TIME_ZONE, ""):
                context = {"moment": moment, "zone": zone, "clinic": settings.TIME_ZONE, "nudge": nudge}
                theirs, ours = _templated(include, **context), _templated(tags, **context)
                assert [collapsed(part) for part in ours.split("|")] == [
                    collapsed(part) for part in theirs.split("|")
                ], (nudge.kind, nudge.status, zone)
    body = _templated(tags, moment=None, zone="", clinic="", nudge=nudges[-1])
    assert (
        "<img" not in body
        and "&lt;img src=x" in body
        and "&lt;b&gt;&quot;why&quot;&lt;/b&gt; &amp; how" in body
    )
