"""``accounts.markup.escaped``: what the template engine's autoescape writes, for any value."""

import pytest
from django.template import Context, Template
from django.utils.functional import lazy
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from accounts.markup import escaped

HOSTILE = "<script>alert('x')</script> \"Quote\" & Sons &amp; é"


@pytest.mark.parametrize(
    "value",
    [HOSTILE, "", "plain", mark_safe("<b>kept</b>"), 42, 3.5, None, lazy(lambda: HOSTILE, str)()],
)
def test_escaped_is_what_the_template_writes(value):
    assert escaped(value) == Template("{{ value }}").render(Context({"value": value}))
    assert escaped(value) == conditional_escape(value)


def test_escaped_writes_the_five_entities():
    assert escaped(HOSTILE) == (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Quote&quot; &amp; Sons &amp;amp; é"
    )
