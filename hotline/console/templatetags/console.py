from __future__ import annotations

from datetime import datetime

from django import template

from hotline.console.labels import OUTCOME_LABELS, compact_age, label

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
    return compact_age(when, now)
