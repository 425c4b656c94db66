"""``{% nudge_when %}``, ``{% nudge_preview %}``, ``{% nudge_badge %}`` and ``{% nudge_reason %}``: what
``_when.html``, ``_message_preview.html``, ``_status_badge.html`` and ``_reason.html`` write, from ``nudges.rows``
(the outbox's own copy of that markup), for lists that show a row per message — a patient's Messages tab and
conversation, an alert's outreach — where an ``{% include %}`` a row cost ~0.1 ms each."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.safestring import SafeString, mark_safe

from .. import rows
from ..models import Nudge

register = template.Library()


@register.simple_tag
def nudge_when(moment: datetime | None, time_zone: str, clinic_time_zone: str) -> SafeString:
    """``{% include "nudges/_when.html" with when=… time_zone=… clinic_time_zone=… %}``."""
    return mark_safe(rows.Clock(clinic_time_zone).when(moment, time_zone))  # noqa: S308 — rows escapes


@register.simple_tag
def nudge_preview(nudge: Nudge, chars: int) -> SafeString:
    """``{% include "nudges/_message_preview.html" with nudge=… chars=… %}``."""
    return mark_safe(rows.preview(nudge, chars))  # noqa: S308 — rows escapes every text


@register.simple_tag
def nudge_badge(nudge: Nudge) -> SafeString:
    """``{% include "nudges/_status_badge.html" with nudge=… %}``."""
    return mark_safe(rows.badge(nudge.status))  # noqa: S308 — each badge written once, its label escaped


@register.simple_tag
def nudge_reason(nudge: Nudge) -> SafeString:
    """``{% include "nudges/_reason.html" with nudge=… %}``."""
    return mark_safe(rows.reason(nudge))  # noqa: S308 — rows escapes every text
