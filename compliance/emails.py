"""Emails to the clinic's own people, each a set of templates like the nudges':
``templates/compliance/<name>_subject.txt``, ``<name>_body.txt`` and ``<name>_body.html``.

A subject never names a patient (subjects show in notifications, mail logs and lock screens); the body
may, behind the reader's mail sign-in, and links to the page that says the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(name: str, context: dict) -> RenderedEmail:
    """The subject (one line), plain-text body and HTML body of the ``name`` set, from plain values."""
    subject = " ".join(render_to_string(f"compliance/{name}_subject.txt", context).split())
    return RenderedEmail(
        subject=subject,
        text=render_to_string(f"compliance/{name}_body.txt", context).strip() + "\n",
        html=render_to_string(f"compliance/{name}_body.html", {**context, "subject": subject}),
    )
