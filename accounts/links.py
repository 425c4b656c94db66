"""Links to one row's page, for lists that write dozens of them, and to the pages every page links to.

``reverse()`` walks the URL resolver on every call: 40–100 µs here, so a page of 50 rows with two links each
spent several milliseconds building them. A link whose only argument is an integer id has the same shape for
every id, so it is reversed once (per URLconf and script prefix) around a marker and the id is put in its place.
A link with no argument is the same string every time: reversed once (``url_for``, ``{% route %}``), which the
navigation's dozen links cost every page ~1.3 ms before.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS

_MARKER = 918_273_645  # an id no URL pattern spells any other way
_TOKEN_MARKER = "token918273645marker"  # noqa: S105 — not a secret: a token no URL pattern spells any other way


@lru_cache(maxsize=256)
def _around_id(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    path = reverse(name, args=[_MARKER], urlconf=urlconf)
    head, found, tail = path.partition(str(_MARKER))
    if not found or str(_MARKER) in tail:
        raise ValueError(f"{name} does not take one integer id")
    return head, tail


def url_around_id(name: str) -> tuple[str, str]:
    """What comes before and after the id in ``reverse(name, args=[pk])``: a list writing hundreds of rows
    joins ``head``, the id and ``tail`` itself (and escapes the two once)."""
    return _around_id(name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


def url_for_id(name: str, pk: int) -> str:
    """``reverse(name, args=[pk])`` for a URL whose one argument is an integer id, without the resolver."""
    head, tail = url_around_id(name)
    return f"{head}{int(pk)}{tail}"


@lru_cache(maxsize=64)
def _around_token(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    path = reverse(name, args=[_TOKEN_MARKER], urlconf=urlconf)
    head, found, tail = path.partition(_TOKEN_MARKER)
    if not found or _TOKEN_MARKER in tail:
        raise ValueError(f"{name} does not take one string")
    return head, tail


def url_for_token(name: str, token: str) -> str:
    """``reverse(name, args=[token])`` for a URL whose one argument is a ``str`` path segment (a signed token,
    which the dispatcher writes into every email), without the resolver: quoted as ``reverse`` quotes it."""
    if not token or "/" in token:
        return reverse(name, args=[token])  # not one segment: the resolver says what it makes of it
    head, tail = _around_token(name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return f"{head}{quote(token, safe=RFC3986_SUBDELIMS + '/~:@')}{tail}"


@lru_cache(maxsize=512)
def _url(name: str, urlconf: str, prefix: str) -> str:
    return reverse(name, urlconf=urlconf)


def url_for(name: str) -> str:
    """``reverse(name)`` for a URL that takes no argument, reversed once per URLconf and script prefix."""
    return _url(name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


def static_url(path: str) -> str:
    """``{% static path %}``'s URL (``staticfiles_storage.url(path)``), kept by the storage for the process: a
    manifest's hashed names do not change while it runs, and the storage's lookup cost each asset ~100 calls.
    Kept per ``DEBUG`` (in debug mode a storage writes the plain name); a storage replaced (new settings)
    starts with nothing kept, and a name the manifest lacks raises each time, as ``{% static %}`` does."""
    try:
        kept = staticfiles_storage.kept_urls
    except AttributeError:
        kept = staticfiles_storage.kept_urls = {}
    key = (path, settings.DEBUG)
    try:
        return kept[key]
    except KeyError:
        url = kept[key] = staticfiles_storage.url(path)
        return url
