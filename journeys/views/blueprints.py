"""The blueprint builder and its version pages (practitioners and admins), and the patient's printable plan
(everyone on the clinic's team: a plan is not a visit note)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import AccessEvent
from accounts.permissions import CLINICAL, EVERYONE, role_required
from accounts.refusals import validation_message

from ..forms.blueprints import (
    BlueprintItemForm,
    BlueprintItemMoveForm,
    BlueprintItemStatusForm,
    BlueprintPublishForm,
    BlueprintStartForm,
    BlueprintSummaryForm,
)
from ..models import Blueprint, BlueprintItem
from ..selectors import blueprints as selectors
from ..services import blueprints as services


def _journey_for_change(request, pk):
    return selectors.journey_get_for(user=request.user, pk=pk, action=AccessEvent.Action.UPDATE)


def _builder_url(journey, anchor: str = "") -> str:
    url = reverse("journeys:blueprint", args=[journey.pk])
    return f"{url}#{anchor}" if anchor else url


def _return_key(journey) -> str:
    return f"blueprint_return_to:{journey.pk}"


def _remember_return(request, journey) -> str:
    """A page that opened this revision (an alert) asks, with ``?return_to=<path>``, to be returned to once
    it is published; kept in the session across the builder's own redirects. Only a path on this site."""
    target = request.GET.get("return_to", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        request.session[_return_key(journey)] = target
    return request.session.get(_return_key(journey), "")


def _builder_context(journey, *, item_form=None, summary_form=None, publish_form=None, notice="") -> dict:
    versions = selectors.blueprint_versions(journey)
    draft, published = versions.draft, versions.published
    return {
        "journey": journey,
        "patient": journey.patient,
        "versions": versions,
        "draft": draft,
        "published": published,
        "item_form": item_form or BlueprintItemForm(),
        "summary_form": summary_form
        or BlueprintSummaryForm(initial={"summary": draft.summary if draft else ""}),
        "publish_form": publish_form or BlueprintPublishForm(revision=bool(draft and draft.version > 1)),
        "start_form": BlueprintStartForm(
            templates=selectors.blueprint_templates(), has_published=published is not None
        ),
        "status_form": BlueprintItemStatusForm(),
        "notice": notice,
    }


def _render_builder(request, journey, *, status=200, **forms):
    context = _builder_context(journey, **forms)
    template = "journeys/_blueprint_draft.html" if request.htmx else "journeys/blueprint_builder.html"
    return render(request, template, context, status=status)


def _draft_or_redirect(request, journey) -> Blueprint | None:
    draft = journey.blueprints.filter(status=Blueprint.Status.DRAFT).first()
    if draft is None:
        messages.error(request, "There is no draft of this plan to change; start a revision first.")
    else:
        draft.journey = journey
    return draft


@role_required(*CLINICAL)
def blueprint_builder(request, pk):
    journey = selectors.journey_get_for(user=request.user, pk=pk, detail="blueprint builder")
    context = _builder_context(journey) | {"return_to": _remember_return(request, journey)}
    return render(request, "journeys/blueprint_builder.html", context)


@role_required(*CLINICAL)
def blueprint_version(request, pk, version):
    journey = selectors.journey_get_for(user=request.user, pk=pk, detail=f"blueprint version {version}")
    blueprint = selectors.blueprint_get_version(journey=journey, version=version)
    return render(
        request,
        "journeys/blueprint_version.html",
        {"journey": journey, "patient": journey.patient, "blueprint": blueprint},
    )


@role_required(*EVERYONE)
def your_plan(request, pk):
    journey = selectors.journey_get_for(user=request.user, pk=pk, detail="printable plan")
    return render(
        request,
        "journeys/your_plan.html",
        {"journey": journey, "patient": journey.patient, "plan": selectors.patient_plan(journey)},
    )


@role_required(*CLINICAL)
@require_POST
def blueprint_start(request, pk):
    journey = _journey_for_change(request, pk)
    form = BlueprintStartForm(request.POST, templates=selectors.blueprint_templates())
    if not form.is_valid():
        messages.error(request, "Choose one of the templates, or none.")
        return redirect(_builder_url(journey))
    try:
        draft = services.blueprint_start_draft(
            journey=journey, actor=request.user, from_template=form.cleaned_data["template"]
        )
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, f"Version {draft.version} is open as a draft.")
    return redirect(_builder_url(journey, "draft"))


@role_required(*CLINICAL)
@require_POST
def blueprint_summary(request, pk):
    journey = _journey_for_change(request, pk)
    draft = _draft_or_redirect(request, journey)
    if draft is None:
        return redirect(_builder_url(journey))
    form = BlueprintSummaryForm(request.POST)
    if form.is_valid():
        try:
            services.blueprint_update_summary(
                blueprint=draft, actor=request.user, summary=form.cleaned_data["summary"]
            )
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            messages.success(request, "Summary saved.")
    return redirect(_builder_url(journey, "draft"))


@role_required(*CLINICAL)
@require_POST
def blueprint_item_add(request, pk):
    journey = _journey_for_change(request, pk)
    draft = _draft_or_redirect(request, journey)
    if draft is None:
        return redirect(_builder_url(journey))
    form = BlueprintItemForm(request.POST)
    if form.is_valid():
        try:
            item = services.blueprint_add_item(blueprint=draft, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if request.htmx:
                return _render_builder(request, journey, notice=f"“{item.title}” was added.")
            messages.success(request, f"“{item.title}” was added to version {draft.version}.")
            return redirect(_builder_url(journey, "draft"))
    return _render_builder(request, journey, item_form=form, status=200 if request.htmx else 400)


@role_required(*CLINICAL)
def blueprint_item_edit(request, pk, item_pk):
    if request.method == "POST":
        journey = _journey_for_change(request, pk)
    else:
        journey = selectors.journey_get_for(user=request.user, pk=pk, detail="blueprint item edit")
    item = selectors.blueprint_item_get(journey=journey, pk=item_pk)
    if item.blueprint.status != Blueprint.Status.DRAFT:
        messages.error(
            request,
            f"Version {item.blueprint.version} is {item.blueprint.get_status_display().lower()} "
            "and cannot change; start a revision.",
        )
        return redirect(_builder_url(journey))
    form = BlueprintItemForm(
        request.POST or None, initial=BlueprintItemForm.initial_for(item), submit_label="Save the item"
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.blueprint_update_item(item=item, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"“{form.cleaned_data['title']}” was saved.")
            return redirect(_builder_url(journey, "draft"))
    return render(
        request,
        "journeys/blueprint_item_form.html",
        {"journey": journey, "patient": journey.patient, "item": item, "form": form},
        status=400 if form.errors else 200,
    )


@role_required(*CLINICAL)
@require_POST
def blueprint_item_remove(request, pk, item_pk):
    journey = _journey_for_change(request, pk)
    item = selectors.blueprint_item_get(journey=journey, pk=item_pk)
    try:
        services.blueprint_remove_item(item=item, actor=request.user)
    except ValidationError as error:
        if request.htmx:
            return _render_builder(request, journey, notice=validation_message(error))
        messages.error(request, validation_message(error))
    else:
        if request.htmx:
            return _render_builder(request, journey, notice=f"“{item.title}” was removed.")
        messages.success(request, f"“{item.title}” was removed from the draft.")
    return redirect(_builder_url(journey, "draft"))


@role_required(*CLINICAL)
@require_POST
def blueprint_item_move(request, pk, item_pk):
    journey = _journey_for_change(request, pk)
    item = selectors.blueprint_item_get(journey=journey, pk=item_pk)
    form = BlueprintItemMoveForm(request.POST)
    if form.is_valid():
        ids = list(item.blueprint.items.order_by("position", "id").values_list("pk", flat=True))
        at = ids.index(item.pk)
        to = at - 1 if form.cleaned_data["direction"] == "up" else at + 1
        if 0 <= to < len(ids):
            ids[at], ids[to] = ids[to], ids[at]
            try:
                services.blueprint_reorder(blueprint=item.blueprint, actor=request.user, item_ids=ids)
            except ValidationError as error:
                messages.error(request, validation_message(error))
    if request.htmx:
        return _render_builder(request, journey)
    return redirect(_builder_url(journey, "draft"))


@role_required(*CLINICAL)
@require_POST
def blueprint_publish(request, pk):
    journey = _journey_for_change(request, pk)
    draft = _draft_or_redirect(request, journey)
    if draft is None:
        return redirect(_builder_url(journey))
    form = BlueprintPublishForm(request.POST, revision=draft.version > 1)
    if form.is_valid():
        try:
            services.blueprint_publish(
                blueprint=draft, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                form.add_error(None, error)
            else:
                messages.error(request, validation_message(error))
                return redirect(_builder_url(journey, "draft"))
        else:
            messages.success(
                request, f"Version {draft.version} is now {journey.patient.display_name}'s plan."
            )
            if target := request.session.pop(_return_key(journey), ""):
                return redirect(target)
            return redirect(_builder_url(journey, "published"))
    return _render_builder(request, journey, publish_form=form, status=400)


@role_required(*CLINICAL)
@require_POST
def blueprint_discard(request, pk):
    journey = _journey_for_change(request, pk)
    draft = _draft_or_redirect(request, journey)
    if draft is not None:
        try:
            services.blueprint_discard_draft(blueprint=draft, actor=request.user)
        except ValidationError as error:
            messages.error(request, validation_message(error))
        else:
            request.session.pop(_return_key(journey), None)
            messages.success(request, f"The draft of version {draft.version} was discarded.")
    return redirect(_builder_url(journey))


@role_required(*CLINICAL)
@require_POST
def blueprint_item_status(request, pk, item_pk):
    journey = _journey_for_change(request, pk)
    item = selectors.blueprint_item_get(journey=journey, pk=item_pk)
    form = BlueprintItemStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, validation_message(form))
        return redirect(_builder_url(journey, "published"))
    try:
        item = services.blueprint_item_set_status(
            item=item,
            status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        if item.status == BlueprintItem.Status.ACTIVE:
            messages.success(request, f"“{item.title}” is active again.")
        else:
            messages.success(request, f"“{item.title}” is {item.get_status_display().lower()}.")
    return redirect(_builder_url(journey, "published"))
