"""Reading the patient page in tests: its header and one tab per request (``?tab=``), or the whole record."""

from __future__ import annotations

from dashboard.patient_page import PATIENT_TABS


def tab_url(patient, tab: str, **query) -> str:
    """The patient page showing ``tab`` (``plan``, ``visits``, ``messages``, ``journey``, ``contact``)."""
    extra = "".join(f"&{name}={value}" for name, value in query.items())
    return f"/patients/{patient.pk}/?tab={tab}{extra}"


def panel_context(response, key: str) -> dict:
    """The context one panel of the tab a response shows was given (``journey``, ``timeline``, …)."""
    content = response.context["panels"]
    for panel, context in [*content.side, *content.main]:
        if panel.key == key:
            return context
    raise KeyError(f"the tab shown has no {key!r} panel")


def whole_record(client, patient) -> str:
    """The page with every tab in turn, and every tab as htmx loads it on demand."""
    bodies = []
    for tab in PATIENT_TABS:
        for url in (tab_url(patient, tab.key), f"/patients/{patient.pk}/panels/{tab.key}/"):
            response = client.get(url)
            assert response.status_code == 200, url
            bodies.append(response.content.decode())
    return "\n".join(bodies)
