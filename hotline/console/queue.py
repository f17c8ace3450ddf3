"""The queue: which cases each tab lists, in what order, a page at a time.

Order: urgent cases first, then high, then normal; within a priority the oldest first, which for a
case nobody has answered yet is the longest wait first (a case waits from its creation until our first
message). The flagged tab is for review and lists the newest first, priority aside.

Speed at a million cases comes from two choices:

* every tab is a union of *slices* (one status, one assignee or none, one priority), each an equality
  prefix of an index ending in ``created_at``: ``case_priority_queue (status, priority, created_at)``
  or ``case_assignee_queue (status, assignee_id, priority, created_at)``. Each slice is read with
  **keyset pagination** (``priority, created_at, id`` after the last row shown, never OFFSET) and a
  LIMIT, and the slices are merged here. A page therefore touches about ``slices × page size`` index
  entries however many cases exist;
* counts stop at :data:`COUNT_CAP` ("200+"): an exact count of a long queue helps nobody and
  would cost a scan.

Cases from a blocked channel identity (flagged as probe or spam) are left out of the open tabs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from hotline.accounts.models import User
from hotline.cases.models import Case, CaseTag, ChannelIdentity, Message
from hotline.console.access import SEE_ALL
from hotline.core.lifecycle import OPEN, Role, Status
from hotline.core.metadata import PRIORITY_ORDER, Category, ChannelKind, Direction, Priority, priority_rank

PAGE_SIZE = 50
# "200+" says "far too many" as well as any exact figure would; the Load view has exact ones.
COUNT_CAP = 200
Tab = Literal["new", "unassigned", "mine", "waiting", "ready", "flagged"]
TABS: list[tuple[Tab, object]] = [
    ("new", _("New")),
    ("unassigned", _("Unassigned")),
    ("mine", _("Mine")),
    ("waiting", _("Waiting for applicant")),
    ("ready", _("Ready for handoff")),
    ("flagged", _("Flagged")),
]
OPEN_ORDER = [Status.NEW, Status.TRIAGE, Status.WAITING, Status.READY, Status.HANDED_OFF]


class BadQuery(ValueError):
    """A queue URL with a value it cannot use (shown to the user as a 400 with the reason)."""


ANY: Literal["any"] = "any"


@dataclass(frozen=True)
class Slice:
    """Cases in one status with one assignee (a user id), no assignee (None) or any (``ANY``); and,
    when the queue reads a page, one priority (None: any, as for counting)."""

    status: Status
    assignee: int | Literal["any"] | None
    priority: Priority | None = None


def slices(tab: Tab, user: User) -> list[Slice]:
    """The tab as slices, already narrowed to what ``user`` may work (see ``console/access.py``)."""
    sees_all = user.staff_role in SEE_ALL
    me = user.pk
    within_reach: list[int | Literal["any"] | None] = [ANY] if sees_all else [None, me]
    if tab == "new":
        return [Slice(Status.NEW, a) for a in within_reach]
    if tab == "unassigned":
        return [Slice(s, None) for s in OPEN_ORDER]
    if tab == "mine":
        return [Slice(s, me) for s in OPEN_ORDER]
    if tab == "waiting":
        return [Slice(Status.WAITING, a) for a in within_reach]
    if tab == "ready":
        return [Slice(Status.READY, a) for a in within_reach]
    return [Slice(Status.REJECTED, ANY if sees_all else me)]


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    language: str = ""
    category: str = ""
    priority: str = ""

    @classmethod
    def parse(cls, query: QueryDict) -> Filters:
        def pick(name: str, allowed: set[str] | None) -> str:
            value = query.get(name, "").strip()
            if value and allowed is not None and value not in allowed:
                raise BadQuery(str(_("Unknown value for the filter “%(name)s”.") % {"name": name}))
            return value

        language = pick("language", None)
        if language and not (2 <= len(language) <= 8 and language.replace("-", "").isalpha()):
            raise BadQuery(str(_("A language is a code like uk or ru.")))
        return cls(
            channel=pick("channel", {c.value for c in ChannelKind}),
            language=language,
            category=pick("category", {c.value for c in Category}),
            priority=pick("priority", {p.value for p in Priority}),
        )

    def apply(self, qs: QuerySet[Case]) -> QuerySet[Case]:
        wanted = {k: v for k, v in vars(self).items() if v}
        return qs.filter(**wanted) if wanted else qs

    def as_query(self) -> str:
        return "&".join(f"{k}={v}" for k, v in vars(self).items() if v)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after (or, newest-first, before) this case, which has ``priority``."""

    created_at: datetime
    id: uuid.UUID
    priority: Priority = Priority.NORMAL

    def encode(self) -> str:
        return f"{self.priority.value}~{self.created_at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        priority_text, _sep, rest = text.partition("~")
        when, _sep, ident = rest.partition("~")
        try:
            priority = Priority(priority_text)
            created_at = parse_datetime(when)
            case_id = uuid.UUID(ident)
            # In UTC, as the database compares it: a time near year 1 or 9999 has none (OverflowError).
            created_at = created_at.astimezone(UTC) if created_at is not None and created_at.tzinfo else None
        except (ValueError, OverflowError):
            created_at = None
            case_id = uuid.UUID(int=0)
            priority = Priority.NORMAL
        if created_at is None:
            raise BadQuery(str(_("That page link is broken; start from the first page.")))
        return cls(created_at, case_id, priority)


def newest_first(tab: Tab) -> bool:
    """Flagged cases are reviewed newest first; every working tab serves the longest-waiting first."""
    return tab == "flagged"


def _blocked_applicant() -> Exists:
    return Exists(ChannelIdentity.objects.filter(applicant_id=OuterRef("applicant_id"), blocked=True))


def _slice_query(part: Slice, filters: Filters) -> QuerySet[Case]:
    qs = Case.objects.filter(status=part.status)
    if part.priority is not None:
        qs = qs.filter(priority=part.priority.value)
    if part.assignee is None:
        qs = qs.filter(assignee__isnull=True)
    elif isinstance(part.assignee, int):
        qs = qs.filter(assignee_id=part.assignee)
    qs = filters.apply(qs)
    if part.status in OPEN:
        qs = qs.exclude(_blocked_applicant())
    return qs


def _after(qs: QuerySet[Case], cursor: Cursor, descending: bool) -> QuerySet[Case]:
    """Keyset condition. The plain range on ``created_at`` lets the index seek to the cursor."""
    if descending:
        return qs.filter(created_at__lte=cursor.created_at).filter(
            Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id)
        )
    return qs.filter(created_at__gte=cursor.created_at).filter(
        Q(created_at__gt=cursor.created_at) | Q(id__gt=cursor.id)
    )


@dataclass
class Row:
    case: Case
    waiting_since: datetime | None = None
    answered: bool = False  # the hotline has written to the applicant (the first-answer clock stopped)
    tags: list[str] = field(default_factory=list)


@dataclass
class Page:
    rows: list[Row]
    next_cursor: str | None


def _by_priority(parts: list[Slice], filters: Filters) -> list[Slice]:
    """Each slice once per priority (only the filtered one, if the filter names one), urgent first."""
    wanted = [Priority(filters.priority)] if filters.priority else list(reversed(PRIORITY_ORDER))
    return [Slice(part.status, part.assignee, priority) for part in parts for priority in wanted]


def _ranked_slice(qs: QuerySet[Case], part: Slice, cursor: Cursor) -> QuerySet[Case] | None:
    """What of a priority slice comes after the cursor: nothing when the slice's priority is above the
    cursor's (those rows were all shown), everything when it is below, the keyset rest when equal."""
    assert part.priority is not None  # ranked slices always have one
    mine, theirs = priority_rank(part.priority), priority_rank(cursor.priority)
    if mine > theirs:
        return None
    return _after(qs, cursor, False) if mine == theirs else qs


Key = tuple[Priority, datetime, uuid.UUID]


def page_of(user: User, tab: Tab, filters: Filters, cursor: Cursor | None = None, size: int | None = None) -> Page:
    """One page of the tab, in two steps: the keys of up to ``size + 1`` rows from each slice (index
    only, no model objects), merged; then the full rows of just the page, in one query."""
    size = size or PAGE_SIZE
    descending = newest_first(tab)
    order = ["-created_at", "-id"] if descending else ["created_at", "id"]
    parts = slices(tab, user) if descending else _by_priority(slices(tab, user), filters)
    keys: list[Key] = []
    for part in parts:
        qs = _slice_query(part, filters)
        if cursor is not None:
            rest = _after(qs, cursor, descending) if descending else _ranked_slice(qs, part, cursor)
            if rest is None:
                continue
            qs = rest
        found = qs.order_by(*order).values_list("priority", "created_at", "id")[: size + 1]
        keys.extend((Priority(p), at, pk) for p, at, pk in found)
    if descending:
        keys.sort(key=lambda k: (k[1], str(k[2])), reverse=True)
    else:
        keys.sort(key=lambda k: (-priority_rank(k[0]), k[1], str(k[2])))
    shown = keys[:size]
    by_id = {c.pk: c for c in Case.objects.filter(pk__in=[k[2] for k in shown]).select_related("number", "assignee")}
    rows = [Row(by_id[pk]) for _p, _at, pk in shown if pk in by_id]
    add_waiting(rows)
    _add_tags(rows)
    more = len(keys) > size
    next_cursor = Cursor(shown[-1][1], shown[-1][2], shown[-1][0]).encode() if more and shown else None
    return Page(rows, next_cursor)


def _slice_count(part: Slice, filters: Filters) -> int:
    return _slice_query(part, filters).order_by()[:COUNT_CAP].count()


def count_of(user: User, tab: Tab, filters: Filters, known: dict[Slice, int] | None = None) -> int:
    """How many cases the tab holds, counting no further than :data:`COUNT_CAP`. Tabs share slices
    ("new and unassigned" is in two tabs), so ``known`` keeps each slice's count for the request."""
    known = {} if known is None else known
    total = 0
    for part in slices(tab, user):
        if part not in known:
            known[part] = _slice_count(part, filters)
        total += known[part]
        if total >= COUNT_CAP:
            return COUNT_CAP
    return total


def counts(user: User, filters: Filters) -> dict[str, int]:
    known: dict[Slice, int] = {}
    return {tab: count_of(user, tab, filters, known) for tab, _label in TABS}


def first_case(user: User, tab: Tab, filters: Filters) -> Case | None:
    """The case "next case" opens: the one at the top of the tab."""
    rows = page_of(user, tab, filters, size=1).rows
    return rows[0].case if rows else None


def add_waiting(rows: list[Row]) -> None:
    """How long each applicant has waited for an answer: since their first message after the last
    reply (or since the case opened, if nobody has replied yet). None if the last word was ours."""
    ids = [r.case.pk for r in rows]
    if not ids:
        return
    last_out = dict(
        Message.objects.filter(case_id__in=ids, direction=Direction.OUTBOUND)
        .values("case_id")
        .annotate(last=Max("created_at"))
        .values_list("case_id", "last")
    )
    inbound: dict[uuid.UUID, list[datetime]] = {}
    for case_id, created_at in Message.objects.filter(
        case_id__in=ids, direction=Direction.INBOUND, quarantined=False
    ).values_list("case_id", "created_at"):
        inbound.setdefault(case_id, []).append(created_at)
    for row in rows:
        replied = last_out.get(row.case.pk)
        row.answered = replied is not None
        if replied is None:
            row.waiting_since = row.case.created_at
            continue
        unanswered = [t for t in inbound.get(row.case.pk, []) if t > replied]
        row.waiting_since = min(unanswered) if unanswered else None


def _add_tags(rows: list[Row]) -> None:
    by_case: dict[uuid.UUID, list[str]] = {}
    for case_id, name in CaseTag.objects.filter(case_id__in=[r.case.pk for r in rows]).values_list(
        "case_id", "tag__name"
    ):
        by_case.setdefault(case_id, []).append(name)
    for row in rows:
        row.tags = sorted(by_case.get(row.case.pk, []))


def default_tab(user: User) -> Tab:
    return "unassigned" if user.staff_role == Role.OPERATOR else "new"
