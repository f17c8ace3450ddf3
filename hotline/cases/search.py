"""Finding cases by their plaintext metadata, for the console's search page.

Only what is stored in clear can be searched: the application number, the receipt (through its
keyed blind index: the typed receipt is indexed and the index looked up, as the portal does), the
pseudonym, tags, status, category, region, channel and when the case was opened. Messages, answers
and notes are sealed to each case's own key, so no query can reach them; that is the point.

Every search is an audit event (``case.search``) naming the criteria used; a receipt is recorded
only as having been given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from hotline.audit import log as audit
from hotline.cases.actions import receipt_index
from hotline.cases.models import Case, CaseTag
from hotline.core.actor import Actor

PAGE_SIZE = 50


@dataclass(frozen=True)
class Criteria:
    """What a search asks for; every field given must match. ``receipt`` is canonical
    (``receipts.parse_receipt``); the dates are the days the case was opened between, both included."""

    number: int | None = None
    receipt: str | None = None
    pseudonym: str | None = None
    tag: str | None = None
    status: str | None = None
    category: str | None = None
    region: str | None = None
    channel: str | None = None
    opened_from: date | None = None
    opened_to: date | None = None

    def given(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def audit_details(self) -> dict[str, Any]:
        """What the audit log keeps of the search: the receipt only as "given", never its text."""
        details: dict[str, Any] = {}
        for name in self.given():
            value = getattr(self, name)
            details[name] = "given" if name == "receipt" else (value.isoformat() if isinstance(value, date) else value)
        return details


@dataclass(frozen=True)
class After:
    """Where the next page starts (newest first): after this case."""

    created_at: datetime
    id: uuid.UUID


@dataclass
class Found:
    cases: list[Case]
    next_page: After | None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def matching(criteria: Criteria) -> QuerySet[Case]:
    qs = Case.objects.all()
    if criteria.number is not None:
        qs = qs.filter(number__id=criteria.number)
    if criteria.receipt is not None:
        qs = qs.filter(receipts__index=receipt_index(criteria.receipt))
    if criteria.pseudonym is not None:
        qs = qs.filter(applicant__pseudonym=criteria.pseudonym)
    if criteria.tag is not None:
        qs = qs.filter(Exists(CaseTag.objects.filter(case=OuterRef("pk"), tag__name=criteria.tag)))
    for name in ("status", "category", "region", "channel"):
        value = getattr(criteria, name)
        if value is not None:
            qs = qs.filter(**{name: value})
    if criteria.opened_from is not None:
        qs = qs.filter(created_at__gte=_day_start(criteria.opened_from))
    if criteria.opened_to is not None:
        qs = qs.filter(created_at__lt=_day_start(criteria.opened_to + timedelta(days=1)))
    return qs


def do_search(actor: Actor, criteria: Criteria, within: Q, after: After | None = None) -> Found:
    """One page of the cases matching ``criteria`` among those ``within`` allows (the searcher's
    reach, ``console/access.workable_cases``), newest first, keyset-paginated; audited."""
    qs = matching(criteria).filter(within)
    if after is not None:
        qs = qs.filter(created_at__lte=after.created_at).filter(Q(created_at__lt=after.created_at) | Q(id__lt=after.id))
    shown = list(qs.order_by("-created_at", "-id").select_related("number", "assignee", "applicant")[: PAGE_SIZE + 1])
    with transaction.atomic():
        details = {**criteria.audit_details(), "page": "next" if after is not None else "first"}
        audit.record(actor, "case.search", "search", actor.user_id or "-", details)
    cases = shown[:PAGE_SIZE]
    more = len(shown) > PAGE_SIZE
    return Found(cases, After(cases[-1].created_at, cases[-1].id) if more else None)
