"""The Care plan panel on the patient's page: the published plan and any draft of the open (else latest) journey.

``blueprint_panel_html`` writes ``journeys/_blueprint_panel.html``'s markup from the panel's context, byte for
byte (``tests/journeys/test_blueprint_panel_markup.py`` holds it to the template): the patient page's first
tab shows it on every load, and its template cost more than its two queries."""

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from accounts.dates import day_month_year
from accounts.links import url_for_id
from accounts.markup import escaped
from accounts.permissions import CLINICAL

from ..selectors.blueprints import patient_blueprint_summary


def blueprint_panel_context(request, patient) -> dict:
    """Two queries, whatever the patient's history holds (one when they have no journey)."""
    return {**patient_blueprint_summary(patient), "can_edit": request.user.role in CLINICAL}


_NO_JOURNEY = '\n  <p class="text-body-secondary mb-0">No journey yet, so no plan.</p>\n\n'
_NOT_PUBLISHED = '\n      <p class="text-body-secondary mb-2">No plan has been published yet.</p>\n    '
_PUBLISHED = (
    '\n      <p class="mb-1" id="blueprint-published">\n        <span class="badge text-bg-success">Version '
    "{version}</span>\n        published {day}\n        {by}\n        · {items} item{s}\n      </p>\n      "
    "{summary}\n    "
)
_DRAFT = (
    '\n      <p class="small mb-2" id="blueprint-draft">\n        <span class="badge text-bg-light border">Draft'
    "</span>\n        version {version} in progress, {items} item{s}\n      </p>\n    "
)
_BUILDER = (
    '\n        <a class="btn btn-sm btn-outline-primary"\n           href="{}">Open the blueprint builder</a>\n'
    "      "
)
_PRINTABLE = (
    '\n        <a class="btn btn-sm btn-outline-secondary"\n           href="{}">Printable plan</a>\n      '
)
_PANEL = (
    "\n  \n    {published}\n    {draft}\n"
    '    <div class="d-flex flex-wrap gap-2">\n      {builder}\n      {printable}\n    </div>\n  \n\n'
)


def _published(blueprint) -> str:
    if not blueprint:
        return _NOT_PUBLISHED
    items = blueprint.item_count
    summary = blueprint.summary
    return _PUBLISHED.format(
        version=escaped(blueprint.version),
        day=day_month_year(blueprint.published_at) if blueprint.published_at else "",
        by=f"by {escaped(str(blueprint.published_by))}" if blueprint.published_by else "",
        items=escaped(items),
        s="" if items == 1 else "s",
        summary=f'<p class="small text-break mb-2">{escaped(Truncator(summary).chars(240))}</p>'
        if summary
        else "",
    )


def blueprint_panel_html(panel: dict) -> SafeString:
    """What ``journeys/_blueprint_panel.html`` writes for ``panel`` (``blueprint_panel_context``'s dict)."""
    journey = panel["journey"]
    if not journey:
        return mark_safe(_NO_JOURNEY)  # noqa: S308 — constant markup
    published, draft, can_edit = panel["published"], panel["draft"], panel["can_edit"]
    html = _PANEL.format(
        published=_published(published),
        draft=_DRAFT.format(
            version=escaped(draft.version),
            items=escaped(draft.item_count),
            s="" if draft.item_count == 1 else "s",
        )
        if draft and can_edit
        else "",
        builder=_BUILDER.format(escaped(url_for_id("journeys:blueprint", journey.pk))) if can_edit else "",
        printable=_PRINTABLE.format(escaped(url_for_id("journeys:your_plan", journey.pk)))
        if published
        else "",
    )
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a number or a constant
