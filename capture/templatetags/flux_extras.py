"""Two small filters the shot page needs: a lookup (by key or position) and a difference."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` for a dict, or the ``key``-th item of a list; None when there is none."""
    if isinstance(mapping, (list, tuple)):
        try:
            return mapping[int(key)]
        except (ValueError, TypeError, IndexError):
            return None
    mapping = mapping or {}
    # JSON keeps a dict's keys as strings: a number asks for its string too.
    return mapping.get(key, mapping.get(str(key)))


@register.filter
def sub(a, b):
    try:
        return float(a) - float(b)
    except (TypeError, ValueError):
        return ""
