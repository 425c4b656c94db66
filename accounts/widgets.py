"""Form widgets shared by every floor's forms."""

from html import escape

from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import SafeData, SafeString, mark_safe


def _text(value) -> str:
    """``value`` as HTML text: escaped as the template engine escapes it (Django's ``escape`` is
    ``html.escape``), unless it is already marked safe."""
    return value if isinstance(value, SafeData) else escape(str(value))


class PlainSelect(forms.Select):
    """A select whose markup is joined in Python, as Django's ``select.html`` would write it: the template
    renderer renders a template per option, and even ``format_html`` per option cost a list page with the
    clinic's 200 practitioners ~4 ms. Options are selected the way ``ChoiceWidget.optgroups`` selects them (the
    first option whose value matches, every match for a multiple select)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        chosen = set(self.format_value(value))
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
        built = self.build_attrs(self.attrs, attrs)
        if multiple:
            built["multiple"] = True
        return mark_safe(f'<select name="{escape(name)}"{flatatt(built)}>{"".join(parts)}</select>')  # noqa: S308 — every text above is escaped
