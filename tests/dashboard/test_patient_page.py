"""The patient page at /patients/<pk>/: a summary header, then the record behind tabs, each loaded on demand
(htmx, from /patients/<pk>/panels/<tab>/) or through its plain ?tab= link."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from accounts.models import AccessEvent
from compliance.models import Alert
from dashboard.patient_page import DEFAULT_TAB, PATIENT_TABS
from dashboard.views import patient_detail, patient_panel
from journeys.models import Blueprint, BlueprintItem, Journey, Program, Stage, Visit
from journeys.services.stages import journey_move, journey_start
from journeys.services.visits import visit_schedule
from nudges.models import Nudge
from patients.models import CareTeamMember, ConsentEvent, ConsentRequest
from patients.services import care_team_set_lead, consent_record
from tests.compliance.conftest import week
from tests.factories import PatientFactory, UserFactory
from tests.journeys.test_stages import journey_at
from tests.support.patient_page import tab_url

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def heading(panel) -> str:
    return f'<h2 id="{panel.key}-heading" class="h5">{panel.title}</h2>'


def panel_url(patient, tab: str) -> str:
    return f"/patients/{patient.pk}/panels/{tab}/"


@pytest.fixture
def patient(practitioner, staff):
    """A patient at check-ins: a lead, a published plan answered for three weeks, a visit booked in two
    days, an open alert and email consent."""
    patient = PatientFactory(first_name="Renée", last_name="Côté")
    care_team_set_lead(patient=patient, user=practitioner, actor=staff)
    consent_record(patient=patient, channel="email", granted=True, via="test")
    program = Program.objects.create(name="Gut reset", weeks=12)
    journey = journey_start(patient=patient, actor=staff, program=program)
    for stage in (Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT, Stage.CHECK_INS):
        journey_move(journey=journey, to_stage=stage, actor=staff)
    blueprint = Blueprint.objects.create(
        journey=journey, version=1, status="published", created_by=practitioner, published_at=timezone.now()
    )
    for n, title in enumerate(["Magnesium", "No gluten"]):
        BlueprintItem.objects.create(blueprint=blueprint, kind="supplement", title=title, position=n)
    today = timezone.localdate()
    for weeks_ago, statuses in ((3, ["done", "done"]), (2, ["done", "partial"]), (1, ["missed", "done"])):
        week(journey, today - timedelta(weeks=weeks_ago), statuses)
    visit_schedule(
        patient=patient,
        practitioner=practitioner,
        kind="follow_up",
        starts_at=timezone.now() + timedelta(days=2),
        actor=staff,
        journey=journey,
    )
    Alert.objects.create(patient=patient, journey=journey, reason="low_adherence", detail="45% over two")
    return patient


def test_the_patient_page_is_the_dashboards():
    match = resolve("/patients/1/")
    assert (match.func, match.view_name) == (patient_detail, "dashboard:patient")
    assert PatientFactory.build(pk=1).get_absolute_url() == "/patients/1/"
    match = resolve("/patients/1/panels/messages/")
    assert (match.func, match.view_name) == (patient_panel, "dashboard:patient_panel")


def test_every_panel_is_in_exactly_one_tab():
    panels = [panel.key for tab in PATIENT_TABS for panel in tab.all_panels]
    assert len(panels) == len(set(panels))
    assert set(panels) == {
        "contact",
        "team",
        "journey",
        "blueprint",
        "visits",
        "messages",
        "alerts",
        "adherence",
        "timeline",
        "conversation",
        "then-and-now",
        "advocacy",
        "intake",
    }


def test_the_page_shows_the_summary_then_the_first_tab_and_links_every_other(client_for, staff, patient):
    body = client_for(staff).get(f"/patients/{patient.pk}/").content.decode()

    assert (
        body.index('id="patient-summary"') < body.index('id="patient-tabs"') < body.index('id="patient-tab"')
    )
    for panel in DEFAULT_TAB.all_panels:
        assert heading(panel) in body
    for tab in PATIENT_TABS[1:]:
        for panel in tab.all_panels:
            assert f'id="panel-{panel.key}"' not in body, panel.key
    positions = []
    for tab in PATIENT_TABS:
        link = re.search(rf'<a class="nav-link[^"]*"[^>]*data-tab="{tab.key}">{tab.title}</a>', body, re.S)
        assert link, tab.key
        assert f'href="/patients/{patient.pk}/?tab={tab.key}"' in link.group(0)  # without JavaScript
        assert f'hx-get="/patients/{patient.pk}/panels/{tab.key}/"' in link.group(0)
        assert f'hx-push-url="/patients/{patient.pk}/?tab={tab.key}"' in link.group(0)
        positions.append(link.start())
    assert positions == sorted(positions)
    active = re.findall(r'<a class="nav-link active"\s+aria-current="true"[^>]*data-tab="(\w+)"', body)
    assert active == [DEFAULT_TAB.key]


@pytest.mark.parametrize("tab", PATIENT_TABS, ids=lambda tab: tab.key)
def test_each_tab_shows_its_panels_through_its_link_and_on_demand(client_for, staff, patient, tab):
    client = client_for(staff)
    page = client.get(tab_url(patient, tab.key)).content.decode()
    fragment = client.get(panel_url(patient, tab.key), **HTMX)
    assert fragment.status_code == 200
    part = fragment.content.decode()
    assert "<html" not in part and 'id="patient-summary"' not in part

    for body in (page, part):
        positions = [body.index(heading(panel)) for panel in tab.all_panels]
        assert positions == sorted(positions)
        others = [p for other in PATIENT_TABS if other != tab for p in other.all_panels]
        for panel in others:
            assert f'id="panel-{panel.key}"' not in body, panel.key
        active = re.findall(r'<a class="nav-link active"\s+aria-current="true"[^>]*data-tab="(\w+)"', body)
        assert active == [tab.key]
    assert 'id="patient-tabs"\n     aria-label="Sections of the record"\n     hx-swap-oob="true"' in part


def test_an_unknown_tab_shows_the_first_and_an_unknown_panel_is_404(client_for, staff, patient):
    client = client_for(staff)
    response = client.get(tab_url(patient, "nonsense"))
    assert response.status_code == 200
    assert response.context["tab"] == DEFAULT_TAB
    assert client.get(panel_url(patient, "nonsense")).status_code == 404
    assert client.get("/patients/999999/panels/messages/").status_code == 404


def test_loading_a_tab_is_on_the_audit_trail(client_for, staff, patient):
    client = client_for(staff)
    for tab in PATIENT_TABS:
        before = AccessEvent.objects.count()
        assert client.get(panel_url(patient, tab.key), **HTMX).status_code == 200
        event = AccessEvent.objects.order_by("-seq").first()
        assert AccessEvent.objects.count() > before
        assert (event.action, event.actor, event.patient_id) == ("view", staff, patient.pk)
        assert event.path == panel_url(patient, tab.key)


def test_a_tab_needs_a_signed_in_clinic_role(client, patient):
    response = client.get(panel_url(patient, "messages"))
    assert response.status_code == 302 and "/accounts/sign-in/" in response["Location"]
    assert client.post(panel_url(patient, "messages")).status_code == 302


def test_a_tab_is_read_only(client_for, staff, patient):
    assert client_for(staff).post(panel_url(patient, "messages")).status_code == 405


# ------------------------------------------------------------------------------------------ the summary


def summary_of(body: str) -> str:
    start = body.index('id="patient-summary"')
    return " ".join(body[start : body.index("</section>", start)].split())


def test_the_summary_shows_stage_lead_adherence_next_visit_alert_and_reach(
    client_for, staff, practitioner, patient
):
    body = client_for(staff).get(f"/patients/{patient.pk}/?tab=visits").content.decode()
    summary = summary_of(body)

    assert "Check-ins" in summary and "The Compliance Offensive" in summary
    assert 'aria-valuenow="75"' in summary and "Step 6 of 8" in summary and "Gut reset" in summary
    assert str(practitioner) in summary
    assert re.search(r"\d+%</span> <span[^>]*>last 28 days</span>", summary)
    assert "Follow-up" in summary and f"with {practitioner}" in summary
    visit = Visit.objects.get(patient=patient)
    assert f'href="/visits/{visit.pk}/"' in summary
    alert = Alert.objects.get(patient=patient)
    assert f'href="/alerts/{alert.pk}/"' in summary and "Low adherence" in summary
    assert "Email: yes" in summary and "SMS: no" in summary
    assert "Move stage…" in summary


def test_a_patient_with_nothing_yet_gets_a_plain_summary(client_for, staff):
    patient = PatientFactory()
    summary = summary_of(client_for(staff).get(f"/patients/{patient.pk}/").content.decode())
    assert "No journey yet" in summary and "?tab=journey#panel-journey" in summary
    assert "No lead yet" in summary
    assert "No plan items reported in the last 28 days" in summary
    assert "None booked" in summary and f"/patients/{patient.pk}/visits/new/" in summary
    assert "None open" in summary
    assert "Email: no" in summary and "Move stage" not in summary


def test_the_summary_never_reads_the_patients_own_words(client_for, staff, patient):
    words = "The capsules upset my stomach after the divorce"
    journey = Journey.objects.get(patient=patient)
    checkin = week(journey, timezone.localdate() - timedelta(days=1), ["done", "done"])
    checkin.answer.where_it_failed = words
    checkin.answer.save()
    for user in (staff,):
        body = client_for(user).get(f"/patients/{patient.pk}/?tab=visits").content.decode()
        assert words not in body


# ------------------------------------------------------------------------------ moving from the summary


def test_the_stage_moves_from_the_summary_and_comes_back_to_the_same_tab(client_for, staff, patient):
    journey = Journey.objects.get(patient=patient)
    client = client_for(staff)
    body = client.get(tab_url(patient, "visits")).content.decode()
    form = body[body.index('id="stage-move"') :]
    assert f'action="/journeys/{journey.pk}/move/"' in form
    assert f'name="next" value="/patients/{patient.pk}/?tab=visits"' in form
    assert 'value="graduated"' in form and 'value="paused"' in form and "hx-post" not in form[:2000]

    response = client.post(
        f"/journeys/{journey.pk}/move/",
        {"to_stage": "graduated", "next": f"/patients/{patient.pk}/?tab=visits"},
        follow=True,
    )
    assert response.redirect_chain == [(f"/patients/{patient.pk}/?tab=visits", 302)]
    journey.refresh_from_db()
    assert journey.stage == Stage.GRADUATED
    body = response.content.decode()
    assert "Renée Côté moved to Graduated." in body
    assert "Graduated" in summary_of(body)


def test_a_refused_move_from_the_summary_says_why_and_changes_nothing(client_for, staff, patient):
    journey = Journey.objects.get(patient=patient)
    response = client_for(staff).post(
        f"/journeys/{journey.pk}/move/",
        {"to_stage": "paused", "next": f"/patients/{patient.pk}/"},
        follow=True,
    )
    assert "was not moved: Choose why the patient is leaving the path." in response.content.decode()
    journey.refresh_from_db()
    assert journey.stage == Stage.CHECK_INS


@pytest.mark.parametrize("stage", [Stage.ADVOCATE, Stage.DECLINED])
def test_no_move_is_offered_where_the_path_ends(client_for, staff, stage):
    journey = journey_at(stage, staff) if stage == Stage.ADVOCATE else None
    if journey is None:
        journey = journey_start(patient=PatientFactory(), actor=staff)
        journey_move(journey=journey, to_stage=stage, actor=staff, reason="cost", note="not now")
    body = client_for(staff).get(f"/patients/{journey.patient_id}/").content.decode()
    assert 'id="stage-move"' not in body


# --------------------------------------------------------------------------------------- query budgets


def add_history(patient, practitioner, n):
    """``n`` more of everything the record's panels list: messages, past visits, answered check-ins."""
    journey = Journey.objects.get(patient=patient)
    past = timezone.now() - timedelta(days=200)
    done = Visit.objects.filter(patient=patient, status="completed").count()
    for i in range(done, done + n):
        Nudge.objects.create(
            patient=patient,
            kind="checkin_request",
            channel="email",
            send_at=past + timedelta(days=i),
            sent_at=past + timedelta(days=i),
            status="sent",
            body_text=f"Hi Renée, week {i}",
            dedupe_key=f"history:{patient.pk}:{i}",
        )
        Nudge.objects.create(
            patient=patient,
            kind="checkin_request",
            channel="email",
            send_at=timezone.now() + timedelta(weeks=i + 1),
            dedupe_key=f"future:{patient.pk}:{i}",
        )
        Visit.objects.create(
            patient=patient,
            practitioner=practitioner,
            kind="follow_up",
            starts_at=past + timedelta(days=i, hours=3),
            status="completed",
            journey=journey,
        )
        week(journey, timezone.localdate() - timedelta(weeks=30 + i), ["done", "partial"])


def test_the_page_and_each_tab_run_as_many_queries_for_5_rows_as_for_50(
    client_for, staff, practitioner, patient
):
    client = client_for(staff)
    add_history(patient, practitioner, 5)
    client.get(f"/patients/{patient.pk}/")  # warm the caches (content types) the audit trail uses

    def counts():
        result = {}
        for tab in PATIENT_TABS:
            for url in (tab_url(patient, tab.key), panel_url(patient, tab.key)):
                with CaptureQueriesContext(connection) as queries:
                    assert client.get(url, **HTMX).status_code == 200
                result[url] = len(queries)
        return result

    small = counts()
    add_history(patient, practitioner, 45)
    assert counts() == small
    # the summary costs seven (stage, settings, adherence's three, next visit, alerts) on top of the tab,
    # the audit row three or four (writer lock, the chain's last row, INSERT; PostgreSQL one more), and the
    # navigation its capped count of open alerts
    budget = 26 if connection.vendor == "postgresql" else 25
    assert small[tab_url(patient, DEFAULT_TAB.key)] <= budget
    # the Journey tab adds Then and now (three, the first and last weeks one of them) and Advocacy (three, the
    # consent in force and the referral link's code one row) beside the timeline: two fewer than before
    journey_tab = tab_url(patient, "journey")
    assert small[journey_tab] <= budget + 1
    assert max(count for url, count in small.items() if url != journey_tab) <= budget


def test_the_contact_tab_runs_a_fixed_budget_of_queries_whatever_its_history(
    client_for, practitioner, other_practitioner, staff, patient
):
    """The record, the audit row, the consent in force (one a channel), its latest history, the requests
    waiting, the care team, and one read of the practitioners for both of the team's forms."""
    client = client_for(practitioner)
    url = panel_url(patient, "contact")
    client.get(url, **HTMX)  # warm the caches (content types) the audit trail uses

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **HTMX)
        assert response.status_code == 200
        return len(queries)

    small = count()
    for n in range(15):
        ConsentEvent.objects.create(
            patient=patient,
            channel="sms" if n % 2 else "email",
            granted=n % 3 != 0,
            address=patient.email,
            via="form",
            recorded_by=staff,
        )
        ConsentRequest.objects.create(patient=patient, channel="email", address=patient.email, via="form")
        CareTeamMember.objects.create(patient=patient, role="specialist", external_name=f"Dr. {n}")
        UserFactory(role="practitioner")
    assert count() == small
    assert small <= (12 if connection.vendor == "postgresql" else 11), small  # 13 when each form read its own
