"""accounts.paging.pagination_written: the markup ``_pagination.html`` writes, byte for byte, for every way a
keyset page can be (first, middle, last, alone, empty), counted or capped, any query string and noun escaped."""

from itertools import product

import pytest
from django.template.loader import render_to_string

from accounts.paging import KeysetPage, pagination_written


@pytest.mark.parametrize(
    ("has_previous", "has_next", "capped", "count", "rows"),
    list(
        product(
            [False, True], [False, True], [False, True], [0, 1, 999, 1000, 12_345_678], [[], [7], [3, 9, 4]]
        )
    ),
)
@pytest.mark.parametrize("querystring", ["", "sort=-added", 'q=%3Cb%3E&x="1"&y=\'&amp;'])
def test_the_markup_the_template_writes(has_previous, has_next, capped, count, rows, querystring):
    page = KeysetPage(rows, has_next, has_previous, count, capped)
    for noun in ("patients", "<b>things</b> & co"):
        context = {"page": page, "querystring": querystring, "noun": noun}
        assert pagination_written(page, querystring=querystring, noun=noun) == render_to_string(
            "_pagination.html", context
        )
