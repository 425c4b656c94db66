"""Markup rendered once per look: for a form or widget whose HTML depends only on a few settings (the moves a
journey can make, a tab's empty filters), rendered by its template the first time and kept for the process.

``rendered_once(look, render)`` calls ``render()`` the first time it sees ``look`` (a tuple naming everything
the markup depends on, led by what it is) and returns the same string after. The cache is
``functools.lru_cache`` (bounded, thread-safe), and the key it keeps drops ``render`` once called, so no form,
journey or patient stays in memory with it. Never put a patient's data, a CSRF token or anything of one
request into a kept look.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

LOOKS_KEPT = 1024


class _Look:
    __slots__ = ("render", "value")

    def __init__(self, value: tuple, render: Callable[[], str] | None) -> None:
        self.value, self.render = value, render

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Look) and self.value == other.value


def _render(look: _Look) -> str:
    render, look.render = look.render, None  # the key the cache keeps holds no form
    if render is None:  # not reached: a look is rendered the one time it is new
        raise RuntimeError("a kept look cannot be rendered again")
    return render()


_kept = lru_cache(maxsize=LOOKS_KEPT)(_render)


def rendered_once(look: tuple, render: Callable[[], str]) -> str:
    """``render()``, called once per ``look`` and kept (at most ``LOOKS_KEPT`` looks, the least used dropped)."""
    return _kept(_Look(look, render))


def looks_kept(maxsize: int) -> Callable[[tuple, Callable[[], str]], str]:
    """A ``rendered_once`` with a cache of its own of at most ``maxsize`` looks: for large markup whose looks
    come and go (Insights' figures, drawn anew after each refresh), which would crowd out the shared looks
    and hold far more memory in them."""
    kept = lru_cache(maxsize=maxsize)(_render)

    def once(look: tuple, render: Callable[[], str]) -> str:
        return kept(_Look(look, render))

    return once
