"""Comparing markup written in Python with what a template wrote, whitespace aside."""

import re

_AROUND_TAGS = re.compile(r"\s*(<[^>]+>)\s*")
_SPACES = re.compile(r"\s+")


def squeezed(html: str) -> str:
    """``html`` with the whitespace around tags dropped and every other run of it one space: what a browser
    shows is the same for two markups whose squeezed forms are equal (in the flex rows and cells compared)."""
    return _SPACES.sub(" ", _AROUND_TAGS.sub(r"\1", str(html))).strip()
