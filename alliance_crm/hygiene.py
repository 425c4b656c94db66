"""Request headers made safe to store before anything reads them.

The audit trail, the inquiry and django-axes keep the User-Agent (and axes the Accept header). A NUL
in any of them cannot be stored in PostgreSQL at all: the write would fail and the page answer 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


class HeaderHygieneMiddleware:
    """Drop NUL characters from every request header. Listed first, so that every reader sees the result."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta = request.META
        for key, value in list(meta.items()):
            if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                meta[key] = value.replace("\x00", "")
        return self.get_response(request)
