from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.translation import gettext as _

from hotline.console.labels import OUTCOME_LABELS, label

register = template.Library()


@register.filter(name="label")
def label_filter(value: object) -> str:
    """``{{ case.status|label }}``: a stored code in the reader's language."""
    return label(value)


@register.filter
def outcome(value: object) -> str:
    return str(OUTCOME_LABELS.get(str(value), value))


@register.filter
def kb(size: int) -> str:
    """A file size people can read."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@register.filter
def age(when: datetime | None, now: datetime) -> str:
    """A compact duration for dense tables: "7 min", "3 h 12 min", "4 d"."""
    if when is None:
        return "—"
    minutes = max(0, int((now - when).total_seconds() // 60))
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    if minutes < 48 * 60:
        return _("%(h)s h %(m)s min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(d)s d") % {"d": minutes // (24 * 60)}
