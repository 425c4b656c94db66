"""What the web layer does so patient data stays in the page it was meant for: no caching of signed-in or
patient-link pages, a Permissions-Policy, and tokens masked wherever a request's path is logged.

A patient's signed link carries its token in the path (``/c/<token>/``, ``/u/<token>/``,
``/consent/confirm/<token>/``): anyone who reads an access log line could otherwise open it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

# The paths whose second segment is a secret. Keep in step with the apps' urls.py.
TOKEN_PATH = re.compile(r"(/(?:c|u|consent/confirm)/)[^/?#\s\"]+")
MASK = "<token>"

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def mask_tokens(text: str) -> str:
    """``text`` with every patient-link token replaced by ``<token>``."""
    return TOKEN_PATH.sub(rf"\1{MASK}", text)


def is_token_path(path: str) -> bool:
    return TOKEN_PATH.match(path) is not None


class PrivacyHeadersMiddleware:
    """``Cache-Control: no-store`` on every signed-in page and every patient-link page, and the
    Permissions-Policy on every response. Listed after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        signed_in = getattr(request, "user", None) is not None and request.user.is_authenticated
        response = self.get_response(request)
        private = signed_in or is_token_path(request.path) or request.path.startswith("/admin/")
        if private and "no-store" not in response.get("Cache-Control", ""):  # never_cache says it already
            response["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class MaskTokensFilter(logging.Filter):
    """A logging filter that masks patient-link tokens in a record's message and arguments
    (django.request and django.server log the request path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {key: _masked(value) for key, value in record.args.items()}
            else:
                record.args = tuple(_masked(value) for value in record.args)
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = _MaskedRequest(request)
        return True


def _masked(value):
    return mask_tokens(value) if isinstance(value, str) else value


class _MaskedRequest:
    """A read-only view of a request for log formatting, with its path masked."""

    def __init__(self, request) -> None:
        self._request = request

    def __getattr__(self, name):
        value = getattr(self._request, name)
        return mask_tokens(value) if name in {"path", "path_info"} and isinstance(value, str) else value

    def get_full_path(self, *args, **kwargs) -> str:
        return mask_tokens(self._request.get_full_path(*args, **kwargs))

    def __str__(self) -> str:
        return mask_tokens(str(self._request))
