"""PlainSelect writes the markup Django's Select writes (the same elements, attributes, texts and selection),
without a template per option."""

from html.parser import HTMLParser

import pytest
from django import forms
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.widgets import PlainSelect


class _Elements(HTMLParser):
    """The markup as (tag, attributes, text) in order: what a browser builds, whatever the whitespace."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.found.append(("start", tag, tuple(sorted(attrs))))

    def handle_endtag(self, tag):
        self.found.append(("end", tag))

    def handle_data(self, data):
        if data.strip():
            self.found.append(("text", data))


def elements(markup: str) -> list[tuple]:
    parser = _Elements()
    parser.feed(markup)
    return parser.found


def both(choices, value, *, attrs=None, multiple=False):
    django_widget = (forms.SelectMultiple if multiple else forms.Select)(attrs=attrs, choices=choices)
    plain = (
        type("PlainMultiple", (PlainSelect,), {"allow_multiple_selected": True}) if multiple else PlainSelect
    )(attrs=attrs, choices=choices)
    field_attrs = {"id": "id_lead"}
    return (
        django_widget.render("lead", value, attrs=field_attrs),
        plain.render("lead", value, attrs=field_attrs),
    )


HOSTILE = [
    ("", "Any lead"),
    ("0", "No lead yet"),
    (7, '<script>alert("x")</script>'),
    ("a&b", 'O\'Brien & "Sons"'),
    ("Group <g>", [(8, "in a group"), (9, "<b>bold</b>")]),
]


@pytest.mark.parametrize("value", [None, "", "0", 7, "a&b", 9, "missing"])
def test_the_same_markup_as_djangos_select(value):
    theirs, ours = both(HOSTILE, value, attrs={"class": "form-select", "required": True, "disabled": False})
    assert elements(ours) == elements(theirs)


def test_every_text_is_escaped():
    _, ours = both(HOSTILE, None)
    assert "<script>" not in ours and "&lt;script&gt;" in ours
    assert 'value="a&amp;b"' in ours and "O&#x27;Brien &amp; &quot;Sons&quot;" in ours
    assert 'label="Group &lt;g&gt;"' in ours and "&lt;b&gt;bold&lt;/b&gt;" in ours


def test_only_the_first_matching_option_is_selected_unless_multiple():
    choices = [("1", "one"), ("1", "one again"), ("2", "two")]
    theirs, ours = both(choices, "1")
    assert ours.count(" selected") == 1 and elements(ours) == elements(theirs)
    theirs, ours = both(choices, ["1", "2"], multiple=True)
    assert ours.count(" selected") == 3 and elements(ours) == elements(theirs)


labels = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
values = st.one_of(st.integers(-5, 50), labels)


@settings(max_examples=150, deadline=None)
@given(
    choices=st.lists(st.tuples(values, labels), max_size=8),
    value=st.one_of(st.none(), values),
)
def test_any_choices_render_as_djangos_select(choices, value):
    theirs, ours = both(choices, value)
    assert elements(ours) == elements(theirs)
