"""First-answer targets: how long a case may wait, by priority, before someone answers it.

A case waits from its creation until the hotline's first outbound message on it (``Case.first_answer_at``,
set by the action that stores that message). The targets come from
``HOTLINE_FIRST_ANSWER_TARGETS`` (minutes per priority). The queue, the load page and the supervisors'
notifications all read them from here, so "over target" means one thing everywhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet

from hotline.core.lifecycle import OPEN
from hotline.core.metadata import Priority


def target_for(priority: str) -> timedelta:
    """The first-answer target of a priority (an unknown priority gets the normal one)."""
    targets: dict[str, int] = settings.HOTLINE_FIRST_ANSWER_TARGETS
    minutes = targets.get(priority, targets[Priority.NORMAL.value])
    return timedelta(minutes=minutes)


def is_over(priority: str, created_at: datetime, now: datetime) -> bool:
    """Whether a case opened at ``created_at`` and still unanswered at ``now`` is over its target."""
    return now - created_at > target_for(priority)


def unanswered() -> QuerySet:  # type: ignore[type-arg]
    """Open cases with no outbound message yet: the cases waiting for a first answer."""
    from hotline.cases.models import Case

    return Case.objects.filter(status__in=[s.value for s in OPEN], first_answer_at__isnull=True)


def answered_late() -> QuerySet:  # type: ignore[type-arg]
    """Cases (open or finished) whose first outbound message came later than their priority's target."""
    from hotline.cases.models import Case

    late = Q()
    for priority in Priority:
        late |= Q(priority=priority.value, first_answer_at__gt=F("created_at") + target_for(priority.value))
    return Case.objects.filter(late)


def over_target(now: datetime) -> QuerySet:  # type: ignore[type-arg]
    """Unanswered open cases past their priority's target at ``now``."""
    late = Q()
    for priority in Priority:
        late |= Q(priority=priority.value, created_at__lt=now - target_for(priority.value))
    return unanswered().filter(late)
