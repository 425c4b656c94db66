"""The message page's reads compiled once per thread (the nudge with its patient, authors and lead in one query;
its replies, of each shape; the one wording it may render), the Messages tab's rows written in Python
(nudges/rows.py), and both pages' markup as it was: the ORM's rows by the ORM's SQL, the templates' output
(whitespace aside) for hostile text, every read still audited."""

import re
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.template import engines
from django.test.utils import CaptureQueriesContext

from accounts.models import AccessEvent
from accounts.queries import Compiled
from nudges import rendering, rows, selectors
from nudges.models import InboundMessage, Kind, MessageTemplate, Nudge
from patients.selectors import patients_with_lead
from patients.services import care_team_set_lead
from tests.factories import PatientFactory, UserFactory
from tests.nudges.test_pages import NOON_NY, make
from tests.nudges.test_rows import _every_kind_of_row, collapsed

pytestmark = pytest.mark.django_db

HOSTILE = "<b>&\"'</b><script>alert(1)</script>"
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def _hostile_patient(staff):
    patient = PatientFactory(
        first_name=HOSTILE, last_name=HOSTILE, preferred_name=HOSTILE, time_zone="Asia/Kolkata"
    )
    care_team_set_lead(
        patient=patient, user=UserFactory(role="practitioner", display_name=HOSTILE), actor=staff
    )
    return patient


def _hostile_nudges(patient, staff):
    author = UserFactory(role="staff", display_name=HOSTILE)
    sent = make(
        patient, "sent", kind="one_off", subject=HOSTILE, body_text=f"{HOSTILE}\nline two", created_by=author
    )
    failed = make(
        patient, "failed", channel="sms", status_reason=HOSTILE, last_error=HOSTILE * 30, reviewed_by=staff,
        reviewed_at=NOON_NY, context={"subject": HOSTILE, "message": HOSTILE},
    )  # fmt: skip
    pending = make(patient, "pending", kind=Kind.VISIT_REMINDER, context={"message": HOSTILE})
    for n, action in enumerate(("kept", "opted_out", "help")):
        InboundMessage.objects.create(
            patient=patient, channel="sms", from_address="+13125550100", body=f"{HOSTILE}\r\n{n}",
            action=action, auto_reply=HOSTILE if n else "", in_reply_to=sent if n != 1 else None,
            received_at=NOON_NY + timedelta(minutes=n),
        )  # fmt: skip
    InboundMessage.objects.create(
        patient=patient, channel="sms", from_address="+1", body=HOSTILE, in_reply_to=failed, action="kept"
    )
    return [sent, failed, pending]


# --- The nudge with its patient and lead: one read, compiled once ------------------------------------------


def _old_read(pk):
    """``nudge_get_for``'s read as it was: the nudge with its authors, then its patient with the lead."""
    nudge = Nudge.objects.select_related("created_by", "reviewed_by").get(pk=pk)
    return nudge, patients_with_lead().get(pk=nudge.patient_id)


def _fields(model) -> dict:
    return {field.attname: getattr(model, field.attname) for field in model._meta.concrete_fields}


def test_the_message_read_is_the_old_two_reads_in_one(staff):
    patient, bare = _hostile_patient(staff), PatientFactory()
    nudges = [*_hostile_nudges(patient, staff), make(bare, "sent")]
    for nudge in nudges * 2:  # the second round from the SQL compiled in the first
        ours = selectors.nudge_get_for(user=staff, pk=nudge.pk)
        theirs, their_patient = _old_read(nudge.pk)
        assert _fields(ours) == _fields(theirs)
        assert _fields(ours.patient) == _fields(their_patient)
        assert (ours.patient.lead_name, ours.patient.lead_user_id) == (
            their_patient.lead_name,
            their_patient.lead_user_id,
        )
        for author in ("created_by", "reviewed_by"):
            mine, old = getattr(ours, author), getattr(theirs, author)
            assert (mine and _fields(mine)) == (old and _fields(old))
    assert selectors.nudge_get_for(user=staff, pk=nudges[0].pk).patient.lead_name == HOSTILE
    assert selectors.nudge_get_for(user=staff, pk=nudges[-1].pk).patient.lead_name is None


def test_the_message_read_runs_the_orms_sql_in_one_query(staff):
    nudge = _hostile_nudges(_hostile_patient(staff), staff)[0]
    selectors.nudge_get_for(user=staff, pk=nudge.pk)  # compiled
    with CaptureQueriesContext(connection) as ours:
        selectors.nudge_get_for(user=staff, pk=nudge.pk)
    with CaptureQueriesContext(connection) as orm:
        selectors._detail_queryset().get(pk=nudge.pk)
    reads = [q["sql"] for q in ours.captured_queries if "nudges_nudge" in q["sql"]]
    assert reads == [q["sql"] for q in orm.captured_queries]
    assert f'"nudges_nudge"."id" = {nudge.pk}' in reads[0]


def test_the_message_read_is_audited_and_an_unknown_id_is_404(staff):
    from django.http import Http404

    nudge = make(_hostile_patient(staff), "sent")
    before = AccessEvent.objects.count()
    selectors.nudge_get_for(user=staff, pk=nudge.pk)
    event = AccessEvent.objects.order_by("-pk").first()
    assert AccessEvent.objects.count() == before + 1
    assert (event.action, event.patient_id, event.detail) == ("view", nudge.patient_id, "message")
    with pytest.raises(Http404):
        selectors.nudge_get_for(user=staff, pk=nudge.pk + 1000)
    with pytest.raises(Http404):
        selectors.nudge_get_for(user=staff, pk=str(nudge.pk + 1000))  # not an int: the ORM's own way
    assert AccessEvent.objects.count() == before + 1


# --- Its replies, of each shape ------------------------------------------------------------------------------


def _old_replies(nudge, clinical):
    replies = (
        InboundMessage.objects.filter(in_reply_to=nudge)
        .only(*selectors.REPLY_FIELDS, "body")
        .order_by("received_at", "id")
    )
    return replies if clinical else replies.defer("body")


@pytest.mark.parametrize("clinical", [True, False])
def test_the_replies_are_the_orms_rows_by_the_orms_sql(staff, clinical):
    nudges = _hostile_nudges(_hostile_patient(staff), staff)
    for nudge in nudges * 2:
        ours = selectors.nudge_replies(nudge, clinical=clinical)
        assert ours == list(_old_replies(nudge, clinical)[:20])
        assert all(("body" in reply.get_deferred_fields()) is not clinical for reply in ours)
    assert len(selectors.nudge_replies(nudges[0], clinical=clinical)) == 2
    with CaptureQueriesContext(connection) as compiled:
        selectors.nudge_replies(nudges[0], clinical=clinical)
    with CaptureQueriesContext(connection) as orm:
        list(_old_replies(nudges[0], clinical)[:20])
    assert [q["sql"] for q in compiled.captured_queries] == [q["sql"] for q in orm.captured_queries]


# --- The one wording a message page renders ------------------------------------------------------------------


def test_the_wording_of_one_kind_and_channel_is_the_orms_and_sees_changes():
    MessageTemplate.objects.update_or_create(
        kind=Kind.VISIT_REMINDER, channel="email", defaults={"subject": "S", "body": "B", "active": True}
    )
    MessageTemplate.objects.update_or_create(
        kind=Kind.ONE_OFF, channel="sms", defaults={"subject": "", "body": "X", "active": True}
    )
    for kind in Kind.values:
        for channel in ("email", "sms"):
            ours = rendering.active_templates_for(kind, channel)
            whole = rendering.active_templates()
            assert ours == {key: t for key, t in whole.items() if key == (kind, channel)}
    with CaptureQueriesContext(connection) as compiled:
        rendering.active_templates_for(Kind.VISIT_REMINDER, "email")
    with CaptureQueriesContext(connection) as orm:
        list(MessageTemplate.objects.filter(active=True, kind=Kind.VISIT_REMINDER, channel="email"))
    assert [q["sql"] for q in compiled.captured_queries] == [q["sql"] for q in orm.captured_queries]
    MessageTemplate.objects.filter(kind=Kind.VISIT_REMINDER, channel="email").update(subject="New")
    assert rendering.active_templates_for(Kind.VISIT_REMINDER, "email")[
        (Kind.VISIT_REMINDER, "email")
    ].subject == ("New")
    MessageTemplate.objects.filter(kind=Kind.VISIT_REMINDER, channel="email").update(active=False)
    assert rendering.active_templates_for(Kind.VISIT_REMINDER, "email") == {}
    assert rendering.active_templates_for("no such kind", "email") == rendering.active_templates()


def test_a_message_already_sent_reads_no_wording(client_for, staff, consenting_patient):
    sent = make(consenting_patient, "sent", body_text="Hi", subject="S")
    pending = make(consenting_patient, "pending", kind=Kind.VISIT_REMINDER)
    client = client_for(staff)
    for nudge, reads in ((sent, 0), (pending, 1)):
        client.get(f"/nudges/{nudge.pk}/")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/nudges/{nudge.pk}/").status_code == 200
        assert sum("nudges_messagetemplate" in q["sql"] for q in queries.captured_queries) == reads


# --- The message page's markup, as the includes wrote it -----------------------------------------------------

# The tags that replaced templates/nudges/nudge_detail.html's includes, and the includes they replaced.
DETAIL_INCLUDES = {
    "{% load links nudge_rows %}": "{% load links %}",
    "<div> {% nudge_badge nudge %} </div>": '<div>{% include "nudges/_status_badge.html" with nudge=nudge %}</div>',
    "{% nudge_when nudge.sent_at patient.time_zone clinic_time_zone %}": (
        '{% include "nudges/_when.html" with when=nudge.sent_at time_zone=patient.time_zone %}'
    ),
    "{% nudge_when nudge.send_at patient.time_zone clinic_time_zone %}": (
        '{% include "nudges/_when.html" with when=nudge.send_at time_zone=patient.time_zone %}'
    ),
    "{% nudge_reason nudge %}": '{% include "nudges/_reason.html" with nudge=nudge %}',
    "{% nudge_when reply.received_at patient.time_zone clinic_time_zone %}": (
        '{% include "nudges/_when.html" with when=reply.received_at time_zone=patient.time_zone %}'
    ),
}


def _as_it_was(source: str, replaced: dict[str, str]) -> str:
    for ours, theirs in replaced.items():
        assert source.count(ours) == 1, ours
        source = source.replace(ours, theirs)
    return source


def _unmasked(html: str) -> str:
    """The page without its CSRF tokens, masked afresh each time one is written."""
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "(token)", html)


def _flat(response) -> dict:
    """What the view gave its template (not the wording's own contexts, rendered before it)."""
    names = ("nudge", "patient", "message", "replies", "reads_replies", "needs_review", "clinic_time_zone")
    shown = [t.name for t in response.templates].index("nudges/nudge_detail.html")
    return {name: response.context[shown][name] for name in names}


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_the_message_page_is_the_markup_the_includes_wrote(request, client_for, staff, role):
    user = request.getfixturevalue(role)
    client = client_for(user)
    old = engines["django"].from_string(
        _as_it_was((TEMPLATES / "nudges/nudge_detail.html").read_text(), DETAIL_INCLUDES)
    )
    for nudge in _hostile_nudges(_hostile_patient(staff), staff):
        response = client.get(f"/nudges/{nudge.pk}/")
        body = response.content.decode()
        assert response.status_code == 200
        theirs = old.render(_flat(response), request=response.wsgi_request)
        assert collapsed(_unmasked(body)) == collapsed(_unmasked(theirs))
        assert "<script>alert" not in body and "&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;" in body


# --- The Messages tab's rows, as the template wrote them -----------------------------------------------------

# templates/nudges/_patient_panel.html's loops before nudges/rows.py wrote them (the badge then rendered from
# nudges/_status_badge.html once a status, as this include writes it).
TEMPLATE_REPLIES = """{% load nudge_rows %}{% for reply in panel.replies %}
      <li class="border-bottom py-2" id="reply-{{ reply.pk }}">
        <div class="d-flex flex-wrap align-items-center gap-2">
          <span class="badge {% if reply.action == 'kept' %}text-bg-info{% else %}text-bg-secondary{% endif %}">{{ reply.get_action_display }}</span>
          <span class="text-body-secondary">by {{ reply.get_channel_display }}{% if reply.in_reply_to %}, after the {{ reply.in_reply_to.get_kind_display|lower }}{% endif %}</span>
          <span class="small">
            {% nudge_when reply.received_at patient.time_zone panel.clinic_time_zone %}
          </span>
        </div>
        {% if panel.reads_replies %}
          <div class="small text-break reply-body">{{ reply.body|linebreaksbr }}</div>
        {% else %}
          <div class="small text-body-secondary">What the patient wrote is for practitioners and the patient’s care team to read.</div>
        {% endif %}
        {% if reply.auto_reply %}
          <div class="small text-body-secondary">Answered automatically: {{ reply.auto_reply }}</div>
        {% endif %}
      </li>
    {% endfor %}
"""
TEMPLATE_MESSAGES = """{% load nudge_rows links %}{% for nudge in panel.nudges %}
      <li class="border-bottom py-2" id="nudge-{{ nudge.pk }}">
        <div class="d-flex flex-wrap align-items-center gap-2">
          {% include "nudges/_status_badge.html" with nudge=nudge %}
          <a class="fw-semibold" href="{% id_url 'nudges:detail' nudge.pk %}">{{ nudge.get_kind_display }}</a>
          <span class="text-body-secondary">by {{ nudge.get_channel_display }}</span>
          {% if nudge.created_by %}<span class="text-body-secondary small">· written by {{ nudge.created_by }}</span>{% endif %}
        </div>
        <div class="small">
          {% if nudge.sent_at %}
            Sent
            {% nudge_when nudge.sent_at patient.time_zone panel.clinic_time_zone %}
          {% else %}
            {% if nudge.status == "pending" %}
              Due
            {% else %}
              Was due
            {% endif %}
            {% nudge_when nudge.send_at patient.time_zone panel.clinic_time_zone %}
          {% endif %}
        </div>
        <div class="small text-break">{% nudge_preview nudge 160 %}</div>
        <div class="small text-body-secondary">{% nudge_reason nudge %}</div>
      </li>
    {% endfor %}
"""
PANEL_LOOPS = {
    "{% load links crispy_forms_tags tz %}": "{% load nudge_rows links crispy_forms_tags tz %}",
    "    {{ panel.replies_html }}\n": TEMPLATE_REPLIES.partition("%}")[2],
    "    {{ panel.nudges_html }}\n": TEMPLATE_MESSAGES.partition("%}")[2],
}


def _rendered(source, **context):
    return engines["django"].from_string(source).render({"clinic_time_zone": settings.TIME_ZONE, **context})


@time_machine.travel(NOON_NY + timedelta(days=30), tick=False)
@pytest.mark.parametrize("reads", [True, False])
def test_the_tabs_rows_are_the_templates_rows(staff, reads):
    hostile = _hostile_patient(staff)
    _hostile_nudges(hostile, staff)
    others = {nudge.patient for nudge in _every_kind_of_row(staff)}
    for patient in [hostile, *sorted(others, key=lambda p: p.pk)]:
        for zone in (patient.time_zone, settings.TIME_ZONE):
            patient.time_zone = zone
            replies = selectors.patient_replies(patient, clinical=reads)
            nudges = selectors.patient_messages(patient)
            panel = {
                "replies": replies, "nudges": nudges, "reads_replies": reads,
                "clinic_time_zone": settings.TIME_ZONE,
            }  # fmt: skip
            ours = rows.patient_reply_items(
                replies, time_zone=zone, clinic_time_zone=settings.TIME_ZONE, reads_replies=reads
            )
            assert collapsed(ours) == collapsed(_rendered(TEMPLATE_REPLIES, panel=panel, patient=patient))
            ours = rows.patient_message_items(nudges, time_zone=zone, clinic_time_zone=settings.TIME_ZONE)
            assert collapsed(ours) == collapsed(_rendered(TEMPLATE_MESSAGES, panel=panel, patient=patient))
    replies = selectors.patient_replies(hostile, clinical=reads)
    written = rows.patient_reply_items(
        replies, time_zone=hostile.time_zone, clinic_time_zone=settings.TIME_ZONE, reads_replies=reads
    ) + rows.patient_message_items(
        selectors.patient_messages(hostile), time_zone=hostile.time_zone, clinic_time_zone=settings.TIME_ZONE
    )
    assert (
        len(replies) == 4 and "<script>" not in written and "&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;" in written
    )
    assert ("&lt;br&gt;" not in written) and (("<br>" in written) is reads)
    assert all(("body" in reply.get_deferred_fields()) is not reads for reply in replies)


@pytest.mark.parametrize("role", ["staff", "practitioner"])
def test_the_messages_tab_is_the_markup_the_templates_loops_wrote(request, client_for, staff, role):
    from tests.support.patient_page import panel_context

    patient = _hostile_patient(staff)
    _hostile_nudges(patient, staff)
    client = client_for(request.getfixturevalue(role))
    old = _as_it_was((TEMPLATES / "nudges/_patient_panel.html").read_text(), PANEL_LOOPS)
    for url in (f"/patients/{patient.pk}/panels/messages/", f"/patients/{patient.pk}/?tab=messages"):
        response = client.get(url)
        assert response.status_code == 200
        panel = panel_context(response, "messages")
        ours = engines["django"].from_string((TEMPLATES / "nudges/_patient_panel.html").read_text())
        theirs = engines["django"].from_string(old)
        context = {"patient": patient, "panel": panel}
        written = ours.render(context, request=response.wsgi_request)
        assert collapsed(written) == collapsed(theirs.render(context, request=response.wsgi_request))
        body = response.content.decode()
        assert str(panel["nudges_html"]) in body and str(panel["replies_html"]) in body
        assert "<script>alert" not in body


def test_the_messages_tab_runs_as_many_queries_for_50_rows_as_for_5(client_for, staff, consenting_patient):
    from tests.nudges.test_pages import count_queries

    client = client_for(staff)
    url = f"/patients/{consenting_patient.pk}/panels/messages/"
    for n in range(5):
        sent = make(
            consenting_patient, "sent", body_text="Hi", created_by=staff, send_at=NOON_NY - timedelta(n)
        )
        InboundMessage.objects.create(
            patient=consenting_patient, channel="sms", from_address="+1", body="b", in_reply_to=sent
        )
    few = count_queries(client, url)
    for n in range(45):
        sent = make(
            consenting_patient, "failed", body_text="Hi", send_at=NOON_NY - timedelta(days=n, hours=1)
        )
        InboundMessage.objects.create(
            patient=consenting_patient, channel="sms", from_address="+1", body="b", in_reply_to=sent
        )
    assert count_queries(client, url) == few


# --- Compiled reads find their columns' converters once ------------------------------------------------------


def test_a_compiled_read_finds_its_converters_once_a_connection(staff):
    nudge = make(PatientFactory(), "pending", context={"message": HOSTILE, "n": 3})
    read = Compiled(Nudge.objects.filter(pk=918_273_645), 918_273_645)
    real = SQLCompiler.get_converters
    with mock.patch.object(SQLCompiler, "get_converters", autospec=True, side_effect=real) as found:
        first = read.rows(nudge.pk)
        again = read.rows(nudge.pk)
        assert found.call_count == 1
        read.converters[0] = None  # as for another connection (an async context's): found again
        third = read.rows(nudge.pk)
        assert found.call_count == 2
    assert [n.context for n in (*first, *again, *third)] == [{"message": HOSTILE, "n": 3}] * 3
    assert first == again == third == [nudge]
