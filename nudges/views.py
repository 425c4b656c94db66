"""The clinic's outbox pages, the Messages panel's one-off form, and the patient's public unsubscribe page."""

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import record_access, record_export, record_list
from accounts.models import AccessEvent
from accounts.once import looks_kept
from accounts.paging import Cursor, capped_count, keyset_page, pagination_html
from accounts.permissions import CLINICAL, EVERYONE, role_required
from accounts.refusals import add_service_error, validation_message
from accounts.reports import csv_lines
from patients.models import Patient
from patients.selectors import patient_get_for

from . import rows, selectors, services, tokens
from .forms import (
    ConversationReplyForm,
    OneOffMessageForm,
    OutboxFilterForm,
    UntouchedOutboxFilters,
    outbox_filters,
)
from .models import Nudge

PAGE_SIZE = 50
COUNT_CAP = selectors.TAB_COUNT_CAP
REVIEW_LIMIT = selectors.REVIEW_LIMIT  # the oldest first, a screenful to work through: each is a decision


def _outbox_view(request, to_review: selectors.ReviewCounts) -> str:
    """The tab asked for; else All for an old link that names a status; else what needs a person when
    anything does, and what is still to go when nothing does."""
    asked = request.GET.get("view", "")
    if asked in dict(selectors.View.choices):
        return asked
    if request.GET.get("status"):
        return selectors.View.ALL
    return selectors.View.NEEDS if to_review.total else selectors.View.UPCOMING


# A tab as it opens, as many looks as there are counts to review: kept apart, they come and go as messages fail.
_tabs_kept = looks_kept(64)


def _outbox_tabs(
    *,
    view: str,
    filters: OutboxFilterForm | UntouchedOutboxFilters,
    tab_querystring: str,
    to_review: selectors.ReviewCounts,
    kept: bool,
) -> SafeString:
    """templates/nudges/_outbox_tabs.html: the tabs, what this one lists, and its filters. With ``kept`` (a tab
    as it opens: no filter and nothing else asked) it looks the same whenever the count to review does, so it
    is rendered once per look; otherwise each time."""

    def render() -> str:
        context = {
            "filters": filters,
            "widgets": filters.widgets(),
            "view": view,
            "views": selectors.View.choices,
            "tab_querystring": tab_querystring,
            "to_review": to_review,
        }
        return render_to_string("nudges/_outbox_tabs.html", context).rstrip("\n")

    if kept:
        shown = to_review.cap if to_review.capped else to_review.total
        look = ("outbox tabs", view, bool(filters.data), shown, to_review.capped)
        return mark_safe(_tabs_kept(look, render))  # noqa: S308 — the template's own escaped output, kept
    return mark_safe(render())  # noqa: S308 — the template's own escaped output


@role_required(*EVERYONE)
def outbox(request):
    """The outbox, one tab at a time: what needs a person (oldest first), what is still to go (soonest
    first), the history (newest first), or everything. One line of each message's own words per row; a
    keyset page read from the tab's own index, the same cost however deep."""
    to_review = selectors.review_counts()
    view = _outbox_view(request, to_review)
    filters = outbox_filters(request.GET, view=view)
    narrowed = filters.is_narrowed()
    nudges = selectors.outbox_rows(**filters.filters()) if narrowed else selectors.outbox_tab_rows(view)
    count = capped_count(nudges, COUNT_CAP) if narrowed else selectors.tab_count(view)
    page = keyset_page(
        nudges,
        Cursor.from_query(request.GET),
        per_page=PAGE_SIZE,
        count=count,
        compiled=None if narrowed else ("outbox", view),  # a tab as it opens: the same SQL every time
    )
    lines = selectors.outbox_lines(page.object_list)
    record_list(
        patient_ids=[row.patient_id for row in page.object_list],
        query=request.GET.urlencode(),
        what="outbox",
    )
    query = request.GET.copy()
    for name in ("page", "after", "before"):
        query.pop(name, None)
    query["view"] = view
    tab_query = query.copy()
    tab_query.pop("status", None)
    tab_query.pop("view", None)
    # A tab as it opens, nothing else asked: its tabs and its pages' links look the same for every request.
    untouched = isinstance(filters, UntouchedOutboxFilters) and not tab_query
    return render(
        request,
        "nudges/outbox.html",
        {
            "filters": filters,
            "tabs": _outbox_tabs(
                view=view,
                filters=filters,
                tab_querystring=tab_query.urlencode(),
                to_review=to_review,
                kept=untouched,
            ),
            "page": page,
            "view": view,
            "querystring": query.urlencode(),
            "pagination": pagination_html(
                page, querystring=query.urlencode(), noun="messages", kept=untouched
            )
            if page.object_list
            else "",
            "narrowed": narrowed,
            "to_review": to_review,
            "rows": rows.outbox_rows(page.object_list, lines, clinic_time_zone=settings.TIME_ZONE),
        },
    )


@role_required(*EVERYONE)
def nudge_detail(request, pk):
    """One message on its own page: exactly what was sent, or what its wording says if it went now."""
    nudge = selectors.nudge_get_for(user=request.user, pk=pk)
    clinical = request.user.role in CLINICAL
    return render(
        request,
        "nudges/nudge_detail.html",
        {
            "nudge": nudge,
            "patient": nudge.patient,
            "message": selectors.nudge_message(nudge),
            "replies": selectors.nudge_replies(nudge, clinical=clinical),
            "reads_replies": clinical,
            "needs_review": nudge.status in (Nudge.Status.FAILED, Nudge.Status.UNKNOWN)
            and nudge.reviewed_at is None,
            "clinic_time_zone": settings.TIME_ZONE,
        },
    )


@role_required(*EVERYONE)
def outbox_csv(request):
    """The outbox as filtered, every page of it, as CSV: streamed as it is read, each patient it names on the
    audit trail as exported before the first line leaves."""
    asked = request.GET.get("view", "")
    view = asked if asked in dict(selectors.View.choices) else selectors.View.ALL
    filters = OutboxFilterForm(request.GET or None, view=view)
    patient_ids, lines = selectors.outbox_export(**filters.filters())
    record_export(patient_ids=patient_ids, query=request.GET.urlencode(), what="outbox CSV")
    response = StreamingHttpResponse(csv_lines(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="outbox-{timezone.localdate():%Y-%m-%d}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@role_required(*EVERYONE)
def review(request):
    nudges = selectors.review_oldest()
    record_list(
        patient_ids=[nudge.patient_id for nudge in nudges[:REVIEW_LIMIT]],
        query=request.GET.urlencode(),
        what="messages to review",
    )
    return render(
        request,
        "nudges/review.html",
        {
            "nudges": nudges[:REVIEW_LIMIT],
            "items": rows.review_items(
                nudges[:REVIEW_LIMIT], clinic_time_zone=settings.TIME_ZONE, csrf_token=get_token(request)
            ),
            "more": len(nudges) > REVIEW_LIMIT,
            "limit": REVIEW_LIMIT,
        },
    )


@role_required(*EVERYONE)
@require_POST
def retry(request, pk):
    nudge = selectors.nudge_for_review(pk=pk)
    try:
        services.nudge_retry(nudge=nudge, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, "The message will be sent again in a moment. Quiet hours still apply.")
    return redirect("nudges:review")


@role_required(*EVERYONE)
@require_POST
def mark_reviewed(request, pk):
    nudge = selectors.nudge_for_review(pk=pk)
    try:
        services.nudge_mark_reviewed(nudge=nudge, actor=request.user)
    except ValidationError as error:
        messages.error(request, validation_message(error))
    else:
        messages.success(request, "Left as it is: the message is marked as reviewed.")
    return redirect("nudges:review")


@role_required(*EVERYONE)
@require_POST
def send_one_off(request, patient_pk):
    """Send or schedule a one-off message. A refusal shows the form again with what was typed, and why."""
    patient = patient_get_for(user=request.user, pk=patient_pk, action=AccessEvent.Action.UPDATE)
    form = OneOffMessageForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            nudge = services.nudge_send_one_off(
                patient=patient,
                actor=request.user,
                channel=form.cleaned_data["channel"],
                subject=form.cleaned_data["subject"],
                message=form.cleaned_data["message"],
                send_at=form.cleaned_data["send_at"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, _scheduled_message(patient, nudge.send_at, later=form.cleaned_data["send_at"])
            )
            return redirect(patient.section_url("messages"))
    messages.error(request, f"The message was not sent. {validation_message(form)}")
    # The page names the patient and what reaches them: a read of their record.
    record_access(
        action=AccessEvent.Action.VIEW, patient_id=patient.pk, obj=patient, detail="one-off message refused"
    )
    return _message_refused(
        request,
        patient,
        form,
        heading="Write to",
        crumb="Write a message",
        form_template="nudges/_one_off_form.html",
        back_url=patient.section_url("messages"),
        back_label=patient.display_name,
    )


@role_required(*EVERYONE)
@require_POST
def conversation_reply(request, patient_pk):
    """A reply from the patient's conversation: a one-off nudge, sent now unless quiet hours hold it."""
    patient = patient_get_for(user=request.user, pk=patient_pk, action=AccessEvent.Action.UPDATE)
    form = ConversationReplyForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            nudge = services.conversation_reply(
                patient=patient,
                actor=request.user,
                channel=form.cleaned_data["channel"],
                subject=form.cleaned_data["subject"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _reply_message(patient, nudge.send_at))
            return redirect(patient.section_url("conversation"))
    messages.error(request, f"The reply was not sent. {validation_message(form)}")
    record_access(action=AccessEvent.Action.VIEW, patient_id=patient.pk, obj=patient, detail="reply refused")
    return _message_refused(
        request,
        patient,
        form,
        heading="Reply to",
        crumb="Reply",
        form_template="nudges/_conversation_reply_form.html",
        back_url=patient.section_url("conversation"),
        back_label="the conversation",
    )


def _message_refused(request, patient, form, **page):
    """The form of a message that was not sent, again with what was typed (and why, in the messages)."""
    context = {"patient": patient, "form": form, "reach": selectors.patient_reach(patient), **page}
    return render(request, "nudges/message_refused.html", context)


def _reply_message(patient, send_at) -> str:
    held = selectors.quiet_hours_delay(patient, send_at)
    if held is None:
        return "Reply on its way. It appears in the conversation and in the outbox."
    return (
        f"Reply written. It is inside {patient.display_name}'s quiet hours now, so it will go at "
        f"{timezone.localtime(held, patient.tz):%H:%M} their time; it waits in the outbox until then."
    )


def _scheduled_message(patient, send_at, *, later) -> str:
    local = timezone.localtime(send_at, patient.tz)
    if later:
        text = (
            f"Message scheduled for {local.day} {local:%b %Y, %H:%M} their time. It appears under Messages."
        )
    else:
        text = "Message on its way. It appears under Messages."
    held = selectors.quiet_hours_delay(patient, send_at)
    if held is not None:
        text += (
            f" That is inside {patient.display_name}'s quiet hours, so it will go at "
            f"{timezone.localtime(held, patient.tz):%H:%M} their time."
        )
    return text


def _first_name(patient: Patient) -> str:
    return patient.preferred_name or patient.first_name


@never_cache
@csrf_exempt  # mail clients' one-click unsubscribe POSTs without a CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """Public: the patient confirms (GET shows a button; POST, or a mail client's one-click POST, opts out)."""
    try:
        patient_id, _ = tokens.read_unsubscribe_token(token)
        patient = Patient.objects.get(pk=patient_id)
    except (signing.BadSignature, Patient.DoesNotExist):
        return render(request, "nudges/unsubscribe_invalid.html", status=400)
    # Whoever holds the link sees a first name at most: never the full name or contact details.
    context = {"first_name": _first_name(patient)}
    if request.method == "POST":
        services.nudge_unsubscribe(patient=patient)
        return render(request, "nudges/unsubscribe_done.html", context)
    context["already"] = patient.unsubscribed_at is not None
    return render(request, "nudges/unsubscribe_confirm.html", context)
