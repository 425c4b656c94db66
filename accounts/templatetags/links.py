"""``{% id_url 'app:name' row.pk %}``: ``{% url %}`` for a row's own page in a long list (see accounts.links)."""

from django import template

from accounts.links import url_for_id

register = template.Library()


@register.simple_tag
def id_url(name: str, pk: int) -> str:
    return url_for_id(name, pk)
