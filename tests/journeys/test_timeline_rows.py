"""The timeline's rows, written in Python: the markup its template loop wrote, every text escaped."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.template import Context, Template
from django.utils import timezone

from journeys.panels.timeline import timeline_rows
from journeys.selectors.timeline import TimelineEntry
from tests.support.markup import squeezed

# The loop the template ran before the rows were written in Python, kept here to hold them to it.
TEMPLATE_LOOP = Template(
    """{% for entry in entries %}
      <li class="border-bottom py-2"
          id="{{ entry.anchor }}"
          data-kind="{{ entry.kind }}">
        <div class="d-flex flex-wrap align-items-center gap-2">
          <span class="badge text-bg-{{ entry.tone }}{% if entry.tone == 'light' %} border{% endif %}">{{ entry.badge }}</span>
          {% if entry.url %}
            <a class="fw-semibold" href="{{ entry.url }}">{{ entry.title }}</a>
          {% else %}
            <span class="fw-semibold">{{ entry.title }}</span>
          {% endif %}
          {% if entry.by %}<span class="text-body-secondary">{{ entry.by }}</span>{% endif %}
          {% if not entry.date_only %}
            <time class="ms-auto small text-body-secondary"
                  datetime="{{ entry.at|date:'c' }}">{{ entry.at|date:"j M Y, H:i" }}</time>
          {% endif %}
        </div>
        {% if entry.detail %}<div class="small text-break">{{ entry.detail }}</div>{% endif %}
      </li>
    {% endfor %}"""
)

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"

ENTRIES = [
    TimelineEntry(
        kind="visit",
        pk=7,
        at=datetime(2026, 3, 1, 14, 5, tzinfo=UTC),
        title="Intake",
        detail="60 minutes",
        by="with Dr. Ana Ruiz",
        badge="Completed",
        tone="success",
        url="/visits/7/",
    ),
    TimelineEntry(
        kind="note",
        pk=8,
        at=datetime(2026, 7, 4, 3, 59, 30, 120, tzinfo=UTC),  # DST in the clinic's zone, microseconds
        title=HOSTILE,
        detail=HOSTILE,
        by=f"by {HOSTILE}",
        badge="Unsigned",
        tone="light",
        url='/notes/8/?a=1&b="2"',
    ),
    TimelineEntry(
        kind="checkin",
        pk=9,
        at=datetime(2026, 1, 9, 5, 0, tzinfo=UTC),
        title="Check-in due 9 Jan 2026",
        badge="Missed",
        tone="warning",
        date_only=True,
    ),
    TimelineEntry(
        kind="stage", pk=10, at=datetime(2026, 12, 31, 23, 0, tzinfo=UTC), title="Inquiry → Discovery"
    ),
]


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "Asia/Kolkata"])
def test_the_rows_are_what_the_template_wrote(zone):
    with time_machine.travel(datetime(2026, 8, 1, tzinfo=UTC), tick=False), timezone.override(zone):
        expected = TEMPLATE_LOOP.render(Context({"entries": ENTRIES}))
        assert squeezed(timeline_rows(ENTRIES)) == squeezed(expected)


def test_every_text_in_a_row_is_escaped():
    html = timeline_rows(ENTRIES)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons" in html
    assert 'href="/notes/8/?a=1&amp;b=&quot;2&quot;"' in html


def test_no_entries_write_nothing():
    assert timeline_rows([]) == ""
