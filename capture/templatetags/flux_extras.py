"""Two small filters the shot page needs: a dict lookup and a difference."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def sub(a, b):
    try:
        return float(a) - float(b)
    except (TypeError, ValueError):
        return ""
