"""Moving a journey from the pipeline board: a small form fragment per card, posted with htmx or plainly."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.models import AccessEvent
from accounts.permissions import EVERYONE, role_required
from accounts.refusals import add_service_error, validation_message

from ..forms.move import ERROR_FIELDS, MoveForm
from ..models import Stage
from ..selectors.pipeline import journey_for_move
from ..services.stages import journey_move

# The board listens for this event and reloads itself, so the card shows up in its new column.
MOVED_EVENT = "journeyMoved"


def _back_url(request) -> str:
    """Where a plain form post returns to: the board it came from (with its filters), else the board.

    Only a path on this site counts ("/…"): anything else — another host, a scheme, or a bare word that
    ``redirect`` would try to reverse as a URL name — falls back to the board.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/")
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and "\x00" not in target
    ):
        return target
    return reverse("dashboard:pipeline")


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def move(request, pk):
    action = AccessEvent.Action.VIEW if request.method == "GET" else AccessEvent.Action.UPDATE
    journey = journey_for_move(user=request.user, pk=pk, action=action)
    form = MoveForm(request.POST or None, journey=journey)
    context = {"form": form, "journey": journey, "next": _back_url(request)}
    if request.method == "GET":
        return render(request, "journeys/_move_form.html", context)
    if form.is_valid():
        try:
            change = journey_move(
                journey=journey,
                to_stage=form.cleaned_data["to_stage"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            add_service_error(form, error, fields=ERROR_FIELDS)
        else:
            message = f"{journey.patient.display_name} moved to {Stage(change.to_stage).label}."
            if not request.htmx:
                messages.success(request, message)
                return HttpResponseRedirect(context["next"])
            response = render(request, "journeys/_move_form.html", context | {"moved": message})
            response["HX-Retarget"] = f"#journey-{journey.pk}"
            response["HX-Reswap"] = "outerHTML"
            response["HX-Trigger"] = MOVED_EVENT
            return response
    refused = f"{journey.patient.display_name} was not moved: {validation_message(form)}"
    if not request.htmx:
        messages.error(request, refused)
        return HttpResponseRedirect(context["next"])
    # The form comes back with its errors; the board's message area says it too (a dropped card goes home).
    return render(request, "journeys/_move_form.html", context | {"refused": refused}, status=422)
