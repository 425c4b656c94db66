from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import AccessEvent
from journeys.forms.blueprints import BlueprintItemForm
from journeys.models import Blueprint, BlueprintItem, BlueprintTemplate, BlueprintTemplateItem, Stage
from journeys.panels.blueprints import blueprint_panel_context
from journeys.services.blueprints import (
    blueprint_add_item,
    blueprint_discard_draft,
    blueprint_item_set_status,
    blueprint_publish,
    blueprint_remove_item,
    blueprint_reorder,
    blueprint_start_draft,
    blueprint_update_item,
    blueprint_update_summary,
)
from tests.journeys.test_stages import journey_at

pytestmark = pytest.mark.django_db

MAGNESIUM = {"kind": "supplement", "title": "Magnesium glycinate", "dose": "200 mg", "frequency": "at night"}
WALK = {"kind": "lifestyle", "title": "Walk after dinner", "frequency": "daily", "instructions": "15 minutes"}


@pytest.fixture
def journey(practitioner):
    return journey_at(Stage.BLUEPRINT, practitioner)


def published_v1(journey, actor, *items):
    draft = blueprint_start_draft(journey=journey, actor=actor)
    for fields in items or (MAGNESIUM,):
        blueprint_add_item(blueprint=draft, actor=actor, **fields)
    return blueprint_publish(blueprint=draft, actor=actor)


def rows(blueprint):
    return [model_to_dict(item) for item in BlueprintItem.objects.filter(blueprint=blueprint)]


# --- services -------------------------------------------------------------------------------------------


def test_the_first_version_is_published_without_a_reason(journey, practitioner):
    blueprint = published_v1(journey, practitioner, MAGNESIUM, WALK)
    blueprint.refresh_from_db()
    assert (blueprint.version, blueprint.status) == (1, Blueprint.Status.PUBLISHED)
    assert blueprint.published_by == practitioner and blueprint.published_at is not None
    assert [i.title for i in blueprint.items.all()] == ["Magnesium glycinate", "Walk after dinner"]
    assert AccessEvent.objects.filter(
        object_id=str(blueprint.pk), action="update", detail="blueprint v1 published"
    ).exists()


def test_a_published_version_refuses_every_item_change_and_its_rows_stay_unchanged(journey, practitioner):
    blueprint = published_v1(journey, practitioner, MAGNESIUM, WALK)
    item = blueprint.items.first()
    before = rows(blueprint)
    refusals = [
        lambda: blueprint_add_item(blueprint=blueprint, actor=practitioner, **WALK),
        lambda: blueprint_update_item(item=item, actor=practitioner, title="Magnesium citrate"),
        lambda: blueprint_remove_item(item=item, actor=practitioner),
        lambda: blueprint_reorder(
            blueprint=blueprint, actor=practitioner, item_ids=list(reversed([r["id"] for r in before]))
        ),
        lambda: blueprint_update_summary(blueprint=blueprint, actor=practitioner, summary="changed"),
        lambda: blueprint_discard_draft(blueprint=blueprint, actor=practitioner),
    ]
    for refuse in refusals:
        with pytest.raises(ValidationError) as caught:
            refuse()
        assert caught.value.messages == ["Version 1 is published and cannot change; start a revision."]
    assert rows(blueprint) == before
    blueprint.refresh_from_db()
    assert blueprint.summary == "" and blueprint.status == Blueprint.Status.PUBLISHED


def test_a_revision_copies_the_plan_supersedes_the_old_version_and_records_its_reason(journey, practitioner):
    v1 = published_v1(journey, practitioner, MAGNESIUM, WALK)
    v2 = blueprint_start_draft(journey=journey, actor=practitioner)
    assert v2.version == 2 and v2.status == Blueprint.Status.DRAFT
    assert [i.title for i in v2.items.all()] == ["Magnesium glycinate", "Walk after dinner"]
    magnesium = v2.items.get(title="Magnesium glycinate")
    blueprint_update_item(item=magnesium, actor=practitioner, dose="400 mg")
    blueprint_publish(blueprint=v2, actor=practitioner, reason="  Sleep still poor; doubling the dose.  ")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.status == Blueprint.Status.SUPERSEDED
    assert v1.items.get(title="Magnesium glycinate").dose == "200 mg", "the old version reads as it was"
    assert (v2.status, v2.revision_reason) == (
        Blueprint.Status.PUBLISHED,
        "Sleep still poor; doubling the dose.",
    )
    with pytest.raises(ValidationError, match="Version 1 is superseded and cannot change"):
        blueprint_add_item(blueprint=v1, actor=practitioner, **WALK)


def test_a_revision_without_a_reason_is_refused_and_changes_nothing(journey, practitioner):
    v1 = published_v1(journey, practitioner)
    v2 = blueprint_start_draft(journey=journey, actor=practitioner)
    with pytest.raises(ValidationError) as caught:
        blueprint_publish(blueprint=v2, actor=practitioner, reason="   ")
    assert "reason" in caught.value.message_dict
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == (Blueprint.Status.PUBLISHED, Blueprint.Status.DRAFT)


def test_a_plan_with_no_items_cannot_be_published(journey, practitioner):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    with pytest.raises(ValidationError, match="at least one item"):
        blueprint_publish(blueprint=draft, actor=practitioner)
    draft.refresh_from_db()
    assert draft.status == Blueprint.Status.DRAFT


def test_a_journey_has_one_draft_at_a_time_and_a_discarded_draft_frees_its_number(journey, practitioner):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    with pytest.raises(ValidationError, match="already a draft"):
        blueprint_start_draft(journey=journey, actor=practitioner)
    blueprint_discard_draft(blueprint=draft, actor=practitioner)
    assert blueprint_start_draft(journey=journey, actor=practitioner).version == 1


def test_a_template_gives_the_draft_its_items_and_summary(journey, practitioner):
    template = BlueprintTemplate.objects.create(name="Gut reset, 12 weeks", summary="Calm the gut first.")
    BlueprintTemplateItem.objects.create(template=template, kind="diet", title="No gluten", position=2)
    BlueprintTemplateItem.objects.create(
        template=template, kind="supplement", title="L-glutamine", dose="5 g", frequency="daily", position=1
    )
    published_v1(journey, practitioner, WALK)
    draft = blueprint_start_draft(journey=journey, actor=practitioner, from_template=template)
    assert draft.summary == "Calm the gut first."
    assert [(i.title, i.dose, i.position) for i in draft.items.all()] == [
        ("L-glutamine", "5 g", 0),
        ("No gluten", "", 1),
    ]
    assert template.items.count() == 2, "the template itself is untouched"


def test_an_item_needs_a_title_and_cannot_end_before_it_starts(journey, practitioner):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    with pytest.raises(ValidationError) as caught:
        blueprint_add_item(blueprint=draft, actor=practitioner, kind="diet", title="   ")
    assert "title" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        blueprint_add_item(
            blueprint=draft,
            actor=practitioner,
            **MAGNESIUM,
            starts_on=date(2026, 3, 2),
            ends_on=date(2026, 3, 1),
        )
    assert caught.value.message_dict["ends_on"] == ["The end date cannot be before the start date."]
    item = blueprint_add_item(blueprint=draft, actor=practitioner, **MAGNESIUM, starts_on=date(2026, 3, 2))
    with pytest.raises(ValidationError, match="The end date cannot be before the start date"):
        blueprint_update_item(item=item, actor=practitioner, ends_on=date(2026, 3, 1))
    item.refresh_from_db()
    assert item.ends_on is None
    assert not draft.items.exclude(pk=item.pk).exists()


def test_reordering_a_draft_puts_items_in_the_given_order(journey, practitioner):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    first = blueprint_add_item(blueprint=draft, actor=practitioner, **MAGNESIUM)
    second = blueprint_add_item(blueprint=draft, actor=practitioner, **WALK)
    blueprint_reorder(blueprint=draft, actor=practitioner, item_ids=[second.pk, first.pk])
    assert list(draft.items.values_list("pk", flat=True)) == [second.pk, first.pk]
    with pytest.raises(ValidationError, match="The plan changed while you were reordering it"):
        blueprint_reorder(blueprint=draft, actor=practitioner, item_ids=[second.pk])


def test_an_item_of_the_published_plan_is_paused_stopped_and_resumed_without_a_new_version(
    journey, practitioner
):
    blueprint = published_v1(journey, practitioner, MAGNESIUM, WALK)
    magnesium, walk = blueprint.items.all()
    with pytest.raises(ValidationError) as caught:
        blueprint_item_set_status(item=magnesium, status="paused", reason=" ", actor=practitioner)
    assert "reason" in caught.value.message_dict
    paused = blueprint_item_set_status(
        item=magnesium, status="paused", reason="Stomach upset", actor=practitioner
    )
    assert (paused.status, paused.status_reason) == ("paused", "Stomach upset")
    assert paused.status_changed_at is not None
    resumed = blueprint_item_set_status(item=magnesium, status="active", reason="", actor=practitioner)
    assert resumed.status == "active"
    blueprint_item_set_status(item=walk, status="stopped", reason="Knee injury", actor=practitioner)
    with pytest.raises(ValidationError, match="add it again in a revision"):
        blueprint_item_set_status(item=walk, status="active", reason="", actor=practitioner)
    assert Blueprint.objects.filter(journey=journey).count() == 1
    assert AccessEvent.objects.filter(
        detail__contains="“Walk after dinner” active → stopped: Knee injury"
    ).exists()


def test_a_revision_leaves_stopped_items_behind_and_keeps_paused_ones_paused(journey, practitioner):
    blueprint = published_v1(journey, practitioner, MAGNESIUM, WALK)
    magnesium, walk = blueprint.items.all()
    blueprint_item_set_status(item=magnesium, status="paused", reason="Stomach upset", actor=practitioner)
    blueprint_item_set_status(item=walk, status="stopped", reason="Knee injury", actor=practitioner)
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    assert [(i.title, i.status) for i in draft.items.all()] == [("Magnesium glycinate", "paused")]


def test_only_the_published_version_has_item_statuses_changed(journey, practitioner):
    v1 = published_v1(journey, practitioner)
    v2 = blueprint_start_draft(journey=journey, actor=practitioner)
    with pytest.raises(ValidationError, match="This is a draft"):
        blueprint_item_set_status(item=v2.items.get(), status="paused", reason="x", actor=practitioner)
    blueprint_publish(blueprint=v2, actor=practitioner, reason="New labs")
    with pytest.raises(ValidationError, match="Version 1 is superseded"):
        blueprint_item_set_status(item=v1.items.get(), status="paused", reason="x", actor=practitioner)
    assert v1.items.get().status == "active"


def test_an_ended_journey_cannot_start_a_revision(practitioner):
    journey = journey_at(Stage.WITHDRAWN, practitioner, paused_from=Stage.DISCOVERY)
    with pytest.raises(ValidationError, match="journey has ended"):
        blueprint_start_draft(journey=journey, actor=practitioner)


def test_the_item_form_refuses_an_end_before_the_start_and_an_empty_title():
    form = BlueprintItemForm(
        {"kind": "diet", "title": "  ", "starts_on": "2026-03-02", "ends_on": "2026-03-01"}
    )
    assert not form.is_valid()
    assert set(form.errors) == {"title", "ends_on"}


# --- pages ----------------------------------------------------------------------------------------------


def builder_posts(journey, item):
    return [
        (reverse("journeys:blueprint_start", args=[journey.pk]), {}),
        (reverse("journeys:blueprint_summary", args=[journey.pk]), {"summary": "x"}),
        (reverse("journeys:blueprint_item_add", args=[journey.pk]), {"kind": "diet", "title": "Soup"}),
        (reverse("journeys:blueprint_item_edit", args=[journey.pk, item.pk]), {"kind": "diet", "title": "x"}),
        (reverse("journeys:blueprint_item_remove", args=[journey.pk, item.pk]), {}),
        (reverse("journeys:blueprint_item_move", args=[journey.pk, item.pk]), {"direction": "up"}),
        (
            reverse("journeys:blueprint_item_status", args=[journey.pk, item.pk]),
            {"status": "paused", "reason": "x"},
        ),
        (reverse("journeys:blueprint_publish", args=[journey.pk]), {"reason": "x"}),
        (reverse("journeys:blueprint_discard", args=[journey.pk]), {}),
    ]


def test_staff_read_the_plan_page_but_cannot_open_the_builder_or_change_the_plan(
    journey, practitioner, staff, client_for
):
    blueprint = published_v1(journey, practitioner)
    item = blueprint.items.get()
    client = client_for(staff)
    assert client.get(reverse("journeys:your_plan", args=[journey.pk])).status_code == 200
    assert client.get(reverse("journeys:blueprint", args=[journey.pk])).status_code == 403
    assert client.get(reverse("journeys:blueprint_version", args=[journey.pk, 1])).status_code == 403
    before = rows(blueprint)
    for url, data in builder_posts(journey, item):
        assert client.post(url, data).status_code == 403, url
    assert rows(blueprint) == before
    assert Blueprint.objects.filter(journey=journey).count() == 1


def test_an_anonymous_visitor_is_sent_to_sign_in(journey, practitioner, client):
    item = published_v1(journey, practitioner).items.get()
    urls = [
        reverse("journeys:your_plan", args=[journey.pk]),
        reverse("journeys:blueprint", args=[journey.pk]),
    ]
    for url in urls:
        assert client.get(url)["Location"].startswith("/accounts/sign-in/?next=")
    for url, data in builder_posts(journey, item):
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/"), url


def test_a_practitioner_builds_and_publishes_a_plan_through_the_pages(journey, practitioner, client_for):
    client = client_for(practitioner)
    builder = reverse("journeys:blueprint", args=[journey.pk])
    assert "Start the first draft" in client.get(builder).content.decode()
    client.post(reverse("journeys:blueprint_start", args=[journey.pk]), {"template": ""})
    response = client.post(reverse("journeys:blueprint_item_add", args=[journey.pk]), MAGNESIUM)
    assert response.status_code == 302
    response = client.post(
        reverse("journeys:blueprint_item_add", args=[journey.pk]), WALK, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card mb-4" id="draft"') and "Walk after dinner" in body
    response = client.post(reverse("journeys:blueprint_publish", args=[journey.pk]), {"reason": ""})
    assert response.status_code == 302
    blueprint = Blueprint.objects.get(journey=journey)
    assert blueprint.status == Blueprint.Status.PUBLISHED and blueprint.items.count() == 2
    body = client.get(builder).content.decode()
    assert "The patient&#x27;s plan · version 1" in body or "The patient's plan · version 1" in body


def test_an_item_ending_before_it_starts_is_refused_on_the_page_and_nothing_is_added(
    journey, practitioner, client_for
):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    response = client_for(practitioner).post(
        reverse("journeys:blueprint_item_add", args=[journey.pk]),
        {**MAGNESIUM, "starts_on": "2026-03-02", "ends_on": "2026-03-01"},
    )
    assert response.status_code == 400
    assert "The end date cannot be before the start date." in response.content.decode()
    assert not draft.items.exists()


def test_a_revision_without_a_reason_is_refused_on_the_page(journey, practitioner, client_for):
    published_v1(journey, practitioner)
    blueprint_start_draft(journey=journey, actor=practitioner)
    response = client_for(practitioner).post(reverse("journeys:blueprint_publish", args=[journey.pk]), {})
    assert response.status_code == 400
    assert "Say why the plan is being revised" in response.content.decode()
    assert Blueprint.objects.get(journey=journey, version=2).status == Blueprint.Status.DRAFT


def test_an_older_version_stays_readable_with_its_items(journey, practitioner, client_for):
    published_v1(journey, practitioner)
    v2 = blueprint_start_draft(journey=journey, actor=practitioner)
    blueprint_update_item(item=v2.items.get(), actor=practitioner, dose="400 mg")
    blueprint_publish(blueprint=v2, actor=practitioner, reason="Sleep still poor")
    client = client_for(practitioner)
    body = client.get(reverse("journeys:blueprint_version", args=[journey.pk, 1])).content.decode()
    assert "Superseded" in body and "200 mg" in body and "400 mg" not in body
    body = client.get(reverse("journeys:blueprint_version", args=[journey.pk, 2])).content.decode()
    assert "Sleep still poor" in body and "400 mg" in body
    assert client.get(reverse("journeys:blueprint_version", args=[journey.pk, 9])).status_code == 404


def test_a_draft_item_is_edited_and_moved_on_the_page(journey, practitioner, client_for):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    magnesium = blueprint_add_item(blueprint=draft, actor=practitioner, **MAGNESIUM)
    walk = blueprint_add_item(blueprint=draft, actor=practitioner, **WALK)
    client = client_for(practitioner)
    edit = reverse("journeys:blueprint_item_edit", args=[journey.pk, magnesium.pk])
    assert 'value="Magnesium glycinate"' in client.get(edit).content.decode()
    response = client.post(edit, {**MAGNESIUM, "dose": "300 mg", "ends_on": "2026-06-01"})
    assert response.status_code == 302
    magnesium.refresh_from_db()
    assert (magnesium.dose, magnesium.ends_on) == ("300 mg", date(2026, 6, 1))
    client.post(reverse("journeys:blueprint_item_move", args=[journey.pk, walk.pk]), {"direction": "up"})
    assert list(draft.items.values_list("pk", flat=True)) == [walk.pk, magnesium.pk]


def test_editing_an_item_of_a_published_version_on_the_page_is_refused(journey, practitioner, client_for):
    item = published_v1(journey, practitioner).items.get()
    response = client_for(practitioner).post(
        reverse("journeys:blueprint_item_edit", args=[journey.pk, item.pk]), {"kind": "diet", "title": "Soup"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.title == "Magnesium glycinate"


def test_the_plan_page_shows_only_the_published_plan_in_the_patients_words(
    journey, practitioner, staff, client_for
):
    published_v1(
        journey,
        practitioner,
        {**MAGNESIUM, "instructions": "<script>alert('x')</script> with food"},
        {"kind": "diet", "title": "Bone broth", "frequency": "every morning"},
        {"kind": "therapy", "title": "Sauna", "frequency": "twice a week"},
    )
    published = Blueprint.objects.get(journey=journey)
    sauna = published.items.get(title="Sauna")
    broth = published.items.get(title="Bone broth")
    blueprint_item_set_status(item=sauna, status="stopped", reason="Dizziness INTERNAL", actor=practitioner)
    blueprint_item_set_status(item=broth, status="paused", reason="Travelling PRIVATE", actor=practitioner)
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    blueprint_add_item(blueprint=draft, actor=practitioner, kind="lab", title="Draft-only stool test")
    body = client_for(staff).get(reverse("journeys:your_plan", args=[journey.pk])).content.decode()
    assert "Your plan," in body and "Your supplements" in body and "Magnesium glycinate" in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; with food" in body
    assert "<script>alert" not in body
    assert "Draft-only stool test" not in body
    assert "Sauna" not in body and "INTERNAL" not in body
    assert "On hold for now" in body and "Bone broth" in body and "PRIVATE" not in body
    assert '<style media="print">' in body


def test_the_plan_page_waits_kindly_until_a_plan_is_published(journey, practitioner, client_for):
    draft = blueprint_start_draft(journey=journey, actor=practitioner)
    blueprint_add_item(blueprint=draft, actor=practitioner, **MAGNESIUM)
    body = client_for(practitioner).get(reverse("journeys:your_plan", args=[journey.pk])).content.decode()
    assert "The plan is still being prepared" in body and "Magnesium" not in body


def test_opening_the_builder_and_the_plan_is_audited(journey, practitioner, client_for):
    client = client_for(practitioner)
    client.get(reverse("journeys:blueprint", args=[journey.pk]))
    client.get(reverse("journeys:your_plan", args=[journey.pk]))
    details = set(
        AccessEvent.objects.filter(action="view", patient_id=journey.patient_id).values_list(
            "detail", flat=True
        )
    )
    assert {"blueprint builder", "printable plan"} <= details


def test_the_patient_panel_shows_the_plan_in_a_fixed_number_of_queries(
    journey, practitioner, staff, rf, django_assert_num_queries
):
    published_v1(journey, practitioner, MAGNESIUM, WALK)
    blueprint_start_draft(journey=journey, actor=practitioner)
    request = rf.get("/")
    request.user = staff
    patient = journey.patient
    with django_assert_num_queries(2):
        context = blueprint_panel_context(request, patient)
    html = render_to_string(
        "journeys/_blueprint_panel.html", {"panel": context, "patient": patient}, request=request
    )
    assert "Version 1" in html and "2 items" in html and "Printable plan" in html
    assert "blueprint builder" not in html and "Draft" not in html, (
        "staff are offered only the printable plan"
    )
