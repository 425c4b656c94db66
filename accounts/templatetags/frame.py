"""``{% main_navigation %}``: the navigation of every signed-in page, drawn by ``_navigation.html`` once per look.

The navigation is the same markup on every page but for which link is the current one, the admin link, the open
alerts' badge and whether the inbox's count may load: a dozen ``{% if %}``, ``{% route %}`` and ``{% static %}`` a
page, a millisecond of the template engine's time on pages whose own work is a few. So it is drawn once per look —
the page's app and URL name, the admin link, the badge's label, the second factor — with markers where the
signed-in person's name, their role and the CSRF input go, and those three are put in per request (the name and
role escaped, the input as ``{% csrf_token %}`` writes it). The kept markup holds nothing of a request: no name,
no token, no patient.
"""

from __future__ import annotations

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from accounts.once import rendered_once

register = template.Library()

# Private-use characters: nothing the template writes contains them, and escaping leaves them as they are.
_NAME, _ROLE, _CSRF = "\ue000name\ue000", "\ue000role\ue000", "\ue000csrf\ue000"


def navigation_look(
    *, section: str, url_name: str, is_staff: bool, alerts_label: str, second_factor: bool
) -> dict:
    """What ``_navigation.html`` is drawn from, but for the three per-request values."""
    return {
        "section": section,
        "url_name": url_name,
        "is_staff": is_staff,
        "alerts_label": alerts_label,
        "second_factor_passed": second_factor,
    }


def _drawn(look: dict) -> str:
    csrf = mark_safe(_CSRF)  # noqa: S308 — a constant marker, replaced by Django's CSRF input
    return render_to_string(
        "_navigation.html", {**look, "user_name": _NAME, "role_name": _ROLE, "csrf_input": csrf}
    )


@register.simple_tag(takes_context=True)
def main_navigation(context) -> SafeString:
    request, user = context["request"], context["user"]
    match = request.resolver_match
    alerts = context["nav_open_alerts"]
    look = navigation_look(
        section=(match.app_name if match else "") or "",
        url_name=(match.url_name if match else "") or "",
        is_staff=bool(user.is_staff),
        alerts_label=alerts.label if alerts.count else "",
        second_factor=bool(context.get("second_factor_passed")),
    )
    kept = rendered_once(("main navigation", *look.values()), lambda: _drawn(look))
    before_name, rest = kept.split(_NAME)
    before_role, rest = rest.split(_ROLE)
    before_csrf, after = rest.split(_CSRF)
    return mark_safe(  # noqa: S308 — the template's own output, the name and role escaped, Django's CSRF input
        before_name
        + conditional_escape(str(user))
        + before_role
        + conditional_escape(user.get_role_display())
        + before_csrf
        + CsrfTokenNode().render(context)
        + after
    )
