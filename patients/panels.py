"""Sections that higher apps add to the patient page, without this app importing them.

A higher app registers a panel in its ``AppConfig.ready()``::

    register_panel(Panel(key="messages", title="Messages", order=20,
                         template_name="nudges/_patient_panel.html", context=messages_panel_context))

``context(request, patient)`` returns the panel's template context; it must run a fixed number of
queries, whatever the patient's history holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    order: int
    template_name: str
    context: Callable[..., dict]


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.key] = panel


def panels() -> list[Panel]:
    return sorted(_panels.values(), key=lambda p: p.order)


def render_context(request, patient) -> list[tuple[Panel, dict]]:
    return [(panel, panel.context(request, patient)) for panel in panels()]
