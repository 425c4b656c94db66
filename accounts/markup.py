"""Escaping for markup written in Python: what the template engine's autoescape writes, for less.

``escaped(value)`` is ``django.utils.html.conditional_escape(value)`` as a plain ``str``: a plain string's
``& < > " '`` replaced by one ``str.translate`` (the entities ``html.escape`` writes, as Django's ``escape``
does), anything else (a safe string, a number, a lazy text) through ``conditional_escape`` itself. For rows
of markup written a value at a time (the timeline, Today's lists), where ``conditional_escape``'s lazy-text
wrapper and ``SafeString`` cost more than the rest of the row.
"""

from __future__ import annotations

from django.utils.html import conditional_escape

# ``text.translate(ENTITIES)`` is ``escaped(text)`` for a value known to be a plain ``str`` (a column that is
# never null): for rows written by the hundred, a call a value less.
ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def escaped(value: object) -> str:
    """``value`` escaped as the template engine escapes it (a safe string left as it is)."""
    if type(value) is str:
        return value.translate(ENTITIES)
    return str(conditional_escape(value))
