"""Request wiring for the audit trail: who is acting, and from where, for every row the request writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .audit import request_context

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


class AuditContextMiddleware:
    """Put the request's user, address, user agent and path in the audit context for the length of the
    request, and take them away again when it ends, however it ends. Listed after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_context(request):
            return self.get_response(request)
