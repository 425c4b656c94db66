"""PlainSelect writes the markup Django's Select writes (the same elements, attributes, texts and selection),
without a template per option."""

from html.parser import HTMLParser

import pytest
from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.widgets import PlainSelect, flat_attrs


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


PLAIN_HOSTILE = [
    ("", "Any lead"),
    ("0", "No lead yet"),
    (7, '<script>alert("x")</script>'),
    ("a&b", 'O\'Brien & "Sons"'),
    ('"><option value="7">', '<option value="7">'),
    (None, "none"),
]


@pytest.mark.parametrize("value", [None, "", "0", 7, "7", "a&b", '"><option value="7">', "missing"])
def test_options_kept_once_mark_the_chosen_one_as_djangos_select(value):
    for _ in range(2):  # the second render from the kept options
        theirs, ours = both(PLAIN_HOSTILE, value, attrs={"class": "form-select"})
        assert elements(ours) == elements(theirs)
        assert ours.count(" selected") == theirs.count(" selected")


def test_kept_options_are_kept_per_choices_and_never_hold_the_selection():
    first = PlainSelect(choices=[("1", "one"), ("2", "two")]).render("n", "2")
    assert '<option value="2" selected>two' in first
    again = PlainSelect(choices=[("1", "one"), ("2", "two")]).render("n", "1")
    assert '<option value="1" selected>one' in again and again.count(" selected") == 1
    other = PlainSelect(choices=[(True, "yes"), (2, "two")]).render("n", None)
    assert 'value="True"' in other and 'value="1"' not in other  # True == 1, but it is not written alike


def test_duplicates_are_selected_as_djangos_select_selects_them():
    choices = [("1", "one"), ("2", "two"), ("1", "one again")]
    for _ in range(2):
        theirs, ours = both(choices, "1")
        assert ours.count(" selected") == 1 and elements(ours) == elements(theirs)
        theirs, ours = both(choices, ["1", "2"], multiple=True)
        assert ours.count(" selected") == 3 and elements(ours) == elements(theirs)


@settings(max_examples=150, deadline=None)
@given(
    choices=st.lists(st.tuples(values, labels), max_size=8),
    value=st.one_of(st.none(), values),
    multiple=st.booleans(),
)
def test_any_choices_rendered_twice_render_as_djangos_select(choices, value, multiple):
    for _ in range(2):
        theirs, ours = both(choices, [value] if multiple else value, multiple=multiple)
        assert elements(ours) == elements(theirs)


def test_a_long_list_of_plain_choices_is_written_once(monkeypatch):
    choices = [("", "Any lead"), *((str(n), f"Practitioner {n}") for n in range(200))]
    first = PlainSelect(choices=choices).render("lead", "7")
    monkeypatch.setattr(PlainSelect, "_options", lambda self, chosen: pytest.fail("written again"))
    again = PlainSelect(choices=list(choices)).render("lead", "150")
    assert first.replace('"7" selected', '"7"') == again.replace('"150" selected', '"150"')
    assert '<option value="150" selected>Practitioner 150</option>' in again


_VALUES = st.one_of(
    st.text(), st.booleans(), st.none(), st.integers(), st.text().map(mark_safe), st.text().map(gettext_lazy)
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _VALUES, max_size=6))
def test_the_attributes_are_flatatts(attrs):
    assert flat_attrs(attrs) == flatatt(attrs)


def test_the_attributes_are_escaped_as_flatatt_escapes_them():
    attrs = {"data-x": "\"><script>&'", "b": True, "a": False, "c": None, "id": 3, '"k': mark_safe("<i>")}
    assert flat_attrs(attrs) == flatatt(attrs)
    assert flat_attrs(attrs) == (' &quot;k="<i>" data-x="&quot;&gt;&lt;script&gt;&amp;&#x27;" id="3" b')


ATTRS = st.dictionaries(
    st.sampled_from(["class", "id", "placeholder", "data-x", "autofocus", "required", "aria-invalid", "<b>"]),
    st.one_of(st.none(), st.booleans(), labels, st.integers(-3, 300)),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(attrs=ATTRS)
def test_flat_attrs_writes_what_flatatt_writes(attrs):
    from django.forms.utils import flatatt

    from accounts.widgets import flat_attrs

    assert flat_attrs(attrs) == flatatt(attrs)


@settings(max_examples=200, deadline=None)
@given(
    attrs=ATTRS,
    value=st.one_of(st.none(), labels, st.integers(-3, 300)),
    kind=st.sampled_from(["text", "search"]),
)
def test_a_plain_input_writes_what_djangos_input_writes(attrs, value, kind):
    from accounts.widgets import PlainInput

    theirs = forms.TextInput(attrs={"maxlength": "100", "class": "form-control"})
    ours = PlainInput(attrs={"maxlength": "100", "class": "form-control"})
    theirs.input_type = ours.input_type = kind
    assert ours.render("q", value, attrs={**attrs, "id": "id_q"}) == theirs.render(
        "q", value, attrs={**attrs, "id": "id_q"}
    )


@pytest.mark.parametrize("value", [None, "", "<script>alert('x')</script> & \"y\"", 0])
def test_a_plain_input_escapes_every_text(value):
    from accounts.widgets import PlainInput

    html = PlainInput(attrs={"placeholder": 'a "b" <c>', "autofocus": True, "hidden": False}).render(
        "q", value
    )
    assert "<script>" not in html and '"b"' not in html
    assert html == forms.TextInput(
        attrs={"placeholder": 'a "b" <c>', "autofocus": True, "hidden": False}
    ).render("q", value)
