"""``{% id_url 'app:name' row.pk %}``: ``{% url %}`` for a row's own page in a long list; ``{% route 'app:name' %}``:
``{% url %}`` for a page that takes no argument (see accounts.links); ``{% asset 'path' %}``: ``{% static %}``,
its URL kept (``accounts.links.static_url``). A builtin of the template engine (``TEMPLATES`` in the settings),
so every template has them without a ``{% load %}``."""

from django import template

from accounts.links import static_url, url_for, url_for_id

register = template.Library()


@register.simple_tag
def id_url(name: str, pk: int) -> str:
    return url_for_id(name, pk)


@register.simple_tag
def route(name: str) -> str:
    return url_for(name)


@register.simple_tag
def asset(path: str) -> str:
    return static_url(path)
