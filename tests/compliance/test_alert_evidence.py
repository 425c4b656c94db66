"""The evidence on an alert's page written in Python (``compliance.alert_evidence``): byte for byte what the
page's template loops wrote, hostile text escaped, in every time zone; the facts' moments as the filters wrote
them."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.template import Context, Template
from django.utils import timezone

from compliance.alert_evidence import alert_moments, answers_html, outreach_html
from compliance.models import Alert
from compliance.selectors import AnswerSummary
from nudges.models import Kind, Nudge

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons"

# The loops compliance/alert_detail.html ran before they were written in Python, as they were, to hold them to it.
ANSWERS_LOOP = Template(
    """{% for answer in evidence_answers %}
                <li class="border-top py-2">
                  <span class="fw-semibold">{{ answer.answered_at|date:"j M" }}</span>
                  <span class="text-body-secondary">check-in due {{ answer.due_on|date:"j M" }} · {{ answer.via }}</span>
                  <div>
                    {% for barrier in answer.barriers %}
                      <span class="badge badge-soft">{{ barrier }}</span>
                    {% empty %}
                      <span class="text-body-secondary">No barriers chosen</span>
                    {% endfor %}
                  </div>
                  {% if clinical and answer.words %}
                    <blockquote class="border-start border-3 ps-2 my-1 text-break answer-words">
                      {{ answer.words|linebreaksbr }}
                    </blockquote>
                  {% endif %}
                </li>
              {% endfor %}"""
)
OUTREACH_LOOP = Template(
    """{% load nudge_rows %}{% for nudge in evidence_outreach %}
                <li class="border-top py-2">
                  {% nudge_badge nudge %}
                  {{ nudge.get_kind_display }} by {{ nudge.get_channel_display }},
                  {% if nudge.sent_at %}
                    sent {{ nudge.sent_at|date:"j M, H:i" }}
                  {% else %}
                    due {{ nudge.send_at|date:"j M, H:i" }}
                  {% endif %}
                  <div class="text-body-secondary">{% nudge_reason nudge %}</div>
                </li>
              {% endfor %}"""
)
AT = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # the clinic's spring-forward night


def _answers(clinical: bool) -> list[AnswerSummary]:
    words = [f"{HOSTILE}\r\nline two\rthree\n\nfour", "", "  plain  ", None]
    return [
        AnswerSummary(
            pk=n,
            answered_at=AT + timedelta(days=n, hours=n * 5),
            amended_at=None,
            due_on=date(2026, 2, 27) + timedelta(days=n),
            via=[HOSTILE, "Check-in link", "Phone"][n % 3],
            barriers=[[], ["Forgot", HOSTILE], ["Time"]][n % 3],
            words=words[n % 4] if clinical else None,
        )
        for n in range(7)
    ]


def _nudges() -> list[Nudge]:
    nudges = []
    for n, (status, _) in enumerate(Nudge.Status.choices):
        nudges.append(
            Nudge(
                pk=n + 1, patient_id=1, kind=[Kind.ADHERENCE_OUTREACH, Kind.CHECKIN_MISSED, "gone"][n % 3],
                channel=["email", "sms", "pigeon"][n % 3], status=status, send_at=AT + timedelta(hours=n),
                sent_at=AT + timedelta(hours=n, minutes=7) if status == "sent" else None,
                status_reason=HOSTILE if n % 2 else "", last_error=("x" * 400 + HOSTILE) if n % 3 else "",
            )
        )  # fmt: skip
    return nudges


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Auckland"])
@pytest.mark.parametrize("clinical", [True, False])
def test_the_answers_are_what_the_template_wrote(zone, clinical):
    answers = _answers(clinical)
    with timezone.override(zone):
        expected = ANSWERS_LOOP.render(Context({"evidence_answers": answers, "clinical": clinical}))
        html = answers_html(answers, clinical=clinical)
    assert html == expected
    assert (
        "<script>" not in html
        and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot;" in html
    )
    assert ("line two<br>three<br><br>four" in html) == clinical
    assert answers_html([], clinical=clinical) == ""


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_the_outreach_is_what_the_template_wrote(zone):
    nudges = _nudges()
    with timezone.override(zone):
        expected = OUTREACH_LOOP.render(Context({"evidence_outreach": nudges}))
        html = outreach_html(nudges)
    assert html == expected
    assert "<script>" not in html and "Held back" in html and "pigeon" in html
    assert outreach_html([]) == ""


FACTS = Template(
    '{{ alert.opened_at|date:"j M Y, H:i" }} ({{ alert.opened_at|timesince }} ago)'
    '|{% if alert.outreach_nudge.sent_at %}{{ alert.outreach_nudge.sent_at|date:"j M, H:i" }}'
    '{% elif alert.outreach_nudge %}{{ alert.outreach_nudge.send_at|date:"j M, H:i" }}{% endif %}'
    '|{% if not alert.is_open %}{{ alert.resolved_at|date:"j M Y, H:i" }}{% endif %}'
)


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Auckland"])
def test_the_facts_moments_are_what_the_filters_wrote(zone):
    now = AT + timedelta(days=40, minutes=3)
    nudges = [None, *_nudges()[:3]]
    with time_machine.travel(now, tick=False), timezone.override(zone):
        for n, nudge in enumerate(nudges):
            for opened in (now - timedelta(minutes=n), now - timedelta(days=9 * n + 1, hours=n), now):
                alert = Alert(
                    patient_id=1, reason="low_adherence", opened_at=opened, outreach_nudge=nudge,
                    resolved_at=now - timedelta(hours=n) if n % 2 else None,
                )  # fmt: skip
                moments = alert_moments(alert, now=timezone.now())
                ours = f"{moments['opened']}|{moments['outreach_at']}|{moments['answered_at']}"
                assert ours == FACTS.render(Context({"alert": alert}))
