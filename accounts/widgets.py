"""Form widgets shared by every floor's forms."""

from django import forms
from django.utils.safestring import SafeData, SafeString, mark_safe

from accounts.markup import escaped
from accounts.once import rendered_once


def _text(value) -> str:
    """``value`` as HTML text: escaped as the template engine escapes it (Django's ``escape`` is
    ``html.escape``; ``escaped``, one ``str.translate``), unless it is already marked safe."""
    return value if isinstance(value, SafeData) else escaped(value)


def flat_attrs(attrs: dict) -> str:
    """Django's ``flatatt(attrs)`` in one pass: the ``name="value"`` pairs in name order, then the true flags
    in name order (``None`` and false flags left out), each escaped as it escapes them (``conditional_escape``);
    its ``format_html_join`` cost ~30 calls a select."""
    pairs = sorted(
        [(key, value) for key, value in attrs.items() if value is not None and type(value) is not bool]
    )
    flags = sorted([key for key, value in attrs.items() if value is True])
    return "".join([f' {_text(key)}="{_text(value)}"' for key, value in pairs]) + "".join(
        [f" {_text(key)}" for key in flags]
    )


class PlainInput(forms.TextInput):
    """A text input written in Python, the markup Django's ``input.html`` writes (its attributes in their
    order, a true one bare, a false one left out, every text escaped): its template and the attributes'
    include cost ~250 calls an input."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        shown = self.format_value(value)
        parts = [f'<input type="{_text(self.input_type)}" name="{_text(name)}"']
        if shown is not None:
            parts.append(f' value="{_text(shown)}"')
        for key, given in self.build_attrs(self.attrs, attrs).items():
            if given is not False:
                parts.append(f" {_text(key)}" if given is True else f' {_text(key)}="{_text(given)}"')
        return mark_safe("".join(parts) + ">")  # noqa: S308 — every part escaped


class PlainSelect(forms.Select):
    """A select whose markup is joined in Python, as Django's ``select.html`` would write it: the template
    renderer renders a template per option, and even ``format_html`` per option cost a list page with the
    clinic's 200 practitioners ~4 ms. Options are selected the way ``ChoiceWidget.optgroups`` selects them (the
    first option whose value matches, every match for a multiple select)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        return self.render_choices(self.choices, name, value, attrs)

    def render_choices(self, choices, name, value, attrs=None) -> SafeString:
        """``render(name, value, attrs)`` with these choices for its options: for a form whose options are read
        on each request (the clinic's practitioners), given to the widget as they were read, not set on a
        field (which normalises them one by one, and a shared field must not change)."""
        built = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            built["multiple"] = True
        chosen = self.format_value(value)
        options = self._kept_options(choices, chosen)
        if options is None:
            options = self._options(choices, set(chosen))
        return mark_safe(f'<select name="{escaped(name)}"{flat_attrs(built)}>{options}</select>')  # noqa: S308 — every text above is escaped

    def _options(self, choices, chosen: set[str]) -> str:
        multiple = self.allow_multiple_selected
        found = False
        parts = []

        def option(option_value, label) -> str:
            nonlocal found
            value_text = str(option_value)
            selected = (multiple or not found) and value_text in chosen
            found |= selected
            return f'<option value="{escaped(value_text)}"{" selected" if selected else ""}>{_text(label)}</option>'

        for option_value, label in choices:
            if isinstance(label, (list, tuple)):
                parts.append(f'<optgroup label="{_text(option_value)}">')
                parts.extend(option(sub_value, sub_label) for sub_value, sub_label in label)
                parts.append("</optgroup>")
            else:
                parts.append(option("" if option_value is None else option_value, label))
        return "".join(parts)

    def _kept_options(self, choices, chosen: list[str]) -> str | None:
        """The options as ``_options`` writes them, their markup kept once per list of choices and the chosen
        ones marked in it: ``<option value="…">`` is written alike for every option (its value escaped, so it
        holds no quote; its label escaped, so it holds no tag), and the first one a value names is the one
        ``_options`` selects (every one, for a multiple select). Only for a list of plain choices (text or whole
        numbers for values, text for labels: a clinic's practitioners, its time zones); a group, a lazy or safe
        label, or choices read by a query are written each time."""
        multiple = self.allow_multiple_selected
        if type(choices) is not list or (len(chosen) > 1 and not multiple):
            return None
        if {type(label) for _, label in choices} - {str} or {
            type(value) for value, _ in choices
        } - _KEPT_VALUES:
            return None
        options = rendered_once(("select options", *choices), lambda: self._options(choices, set()))
        for value_text in dict.fromkeys(chosen):
            unselected = f'<option value="{escaped(value_text)}">'
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
