"""Form widgets shared by every floor's forms."""

from html import escape

from django import forms
from django.utils.safestring import SafeData, SafeString, mark_safe

from accounts.markup import escaped
from accounts.once import rendered_once


def _text(value) -> str:
    """``value`` as HTML text: escaped as the template engine escapes it (Django's ``escape`` is
    ``html.escape``), unless it is already marked safe."""
    return value if isinstance(value, SafeData) else escape(str(value))


def flat_attributes(attrs: dict) -> str:
    """``django.forms.utils.flatatt(attrs)``: ``name="value"`` pairs by name, then the true booleans' names (a
    false one or a ``None`` left out), every name and value escaped as ``format_html`` escapes them; by two
    comprehensions, where ``flatatt``'s ``format_html`` a pair cost a select ~170 calls."""
    items = sorted(attrs.items())  # the names differ: sorted by name, as flatatt's pairs are
    pairs = "".join(
        [
            f' {escaped(name)}="{escaped(value)}"'
            for name, value in items
            if type(value) is not bool and value is not None
        ]
    )
    return pairs + "".join([f" {escaped(name)}" for name, value in items if value is True])


class PlainSelect(forms.Select):
    """A select whose markup is joined in Python, as Django's ``select.html`` would write it: the template
    renderer renders a template per option, and even ``format_html`` per option cost a list page with the
    clinic's 200 practitioners ~4 ms. Options are selected the way ``ChoiceWidget.optgroups`` selects them (the
    first option whose value matches, every match for a multiple select)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        built = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            built["multiple"] = True
        chosen = self.format_value(value)
        options = self._kept_options(chosen)
        if options is None:
            options = self._options(set(chosen))
        return mark_safe(f'<select name="{escape(name)}"{flat_attributes(built)}>{options}</select>')  # noqa: S308 — every text above is escaped

    def _options(self, chosen: set[str]) -> str:
        multiple = self.allow_multiple_selected
        found = False
        parts = []

        def option(option_value, label) -> str:
            nonlocal found
            value_text = str(option_value)
            selected = (multiple or not found) and value_text in chosen
            found |= selected
            return f'<option value="{escape(value_text)}"{" selected" if selected else ""}>{_text(label)}</option>'

        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                parts.append(f'<optgroup label="{_text(option_value)}">')
                parts.extend(option(sub_value, sub_label) for sub_value, sub_label in label)
                parts.append("</optgroup>")
            else:
                parts.append(option("" if option_value is None else option_value, label))
        return "".join(parts)

    def _kept_options(self, chosen: list[str]) -> str | None:
        """The options as ``_options`` writes them, their markup kept once per list of choices and the chosen
        ones marked in it: ``<option value="…">`` is written alike for every option (its value escaped, so it
        holds no quote; its label escaped, so it holds no tag), and the first one a value names is the one
        ``_options`` selects (every one, for a multiple select). Only for a list of plain choices (text or whole
        numbers for values, text for labels: a clinic's practitioners, its time zones); a group, a lazy or safe
        label, or choices read by a query are written each time."""
        choices = self.choices
        multiple = self.allow_multiple_selected
        if type(choices) is not list or (len(chosen) > 1 and not multiple):
            return None
        if {type(label) for _, label in choices} - {str} or {
            type(value) for value, _ in choices
        } - _KEPT_VALUES:
            return None
        options = rendered_once(("select options", *choices), lambda: self._options(set()))
        for value_text in dict.fromkeys(chosen):
            unselected = f'<option value="{escape(value_text)}">'
            options = options.replace(unselected, f"{unselected[:-1]} selected>", -1 if multiple else 1)
        return options


_KEPT_VALUES = {
    str,
    int,
    type(None),
}  # values whose key says how they are written (``True == 1``, ``"1" != 1``)


def offer_plain_choices(field: forms.ChoiceField, choices: list[tuple[str, str]]) -> None:
    """``field.choices = choices`` for a list of ``(value, label)`` pairs of plain text: what Django's
    ``normalize_choices`` makes of such a list is an equal list, so it is set on the field and on its widget as
    it is. The setters walked every option twice (the field's normalizing, then its widget's): ~1,250 calls on
    each load of a filter bar listing a clinic's 200 practitioners. Only for a list of ``(str, str)`` pairs,
    never a group, a lazy label or a queryset's choices."""
    field._choices = field.widget._choices = choices  # type: ignore[attr-defined]
