"""``accounts.paging.pagination_html``: a keyset page's links as ``_pagination.html`` writes them, kept once per
look for a list whose query string holds nothing a request chose, each page's own cursors put in."""

import itertools

import pytest
from django.template import Context, Engine

from accounts.paging import _NEXT_MARKER, _PREVIOUS_MARKER, KeysetPage, pagination_html

INCLUDE = '{% include "_pagination.html" with page=page querystring=querystring noun=noun %}'


def included(page: KeysetPage, querystring: str, noun: str) -> str:
    template = Engine.get_default().from_string(INCLUDE)
    return template.render(Context({"page": page, "querystring": querystring, "noun": noun}))


@pytest.mark.parametrize("querystring", ["view=upcoming", "", "view=all&amp;x=<b>"])
def test_kept_links_are_the_includes_for_every_page_with_its_own_cursors(querystring):
    pages = []
    for rows, (has_next, has_previous), (count, capped), start in itertools.product(
        (1, 2, 3, 50),
        itertools.product((True, False), repeat=2),
        ((0, False), (7, False), (1000, True)),
        (5, 901),
    ):
        ids = list(range(start, start + rows))
        pages.append(KeysetPage(ids, has_next, has_previous, count, capped))
    for page in pages * 2:  # the second time from what was kept
        for noun in ("messages", "<i>rows</i>"):
            kept = pagination_html(page, querystring=querystring, noun=noun, kept=True)
            assert kept == included(page, querystring, noun), (page, noun)
            assert pagination_html(page, querystring=querystring, noun=noun) == kept


def test_a_kept_look_never_shows_another_pages_cursors():
    first = KeysetPage(list(range(100, 150)), True, True, 1000, True)
    second = KeysetPage(list(range(200, 250)), True, True, 1000, True)
    one = pagination_html(first, querystring="view=all", noun="messages", kept=True)
    other = pagination_html(second, querystring="view=all", noun="messages", kept=True)
    assert "before=100" in one and "after=149" in one and "200" not in one
    assert "before=200" in other and "after=249" in other and "149" not in other
    assert str(_PREVIOUS_MARKER) not in one + other and str(_NEXT_MARKER) not in one + other
