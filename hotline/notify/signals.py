"""What a staff member is told about: counts only, since a cursor.

Three signals, each a number and nothing else:

* ``new_cases`` — cases opened that the person may work (``console/access.workable_cases``), minus
  those from a sender flagged as a probe or spam (they stay out of the queue too);
* ``new_messages`` — applicants' messages on open cases the person holds (not quarantined ones);
* ``over_target`` — for supervisors and admins: cases that went past their first-answer target
  (``cases/targets.over_target``, the one meaning of "over target").

A window is ``(since, until]``. ``until`` lags the clock by :data:`SETTLE` so that a row whose
transaction began before ``until`` and commits a little later is still counted by the next window
rather than missed: its ``created_at`` is set when its action runs, not when it commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, OuterRef

from hotline.accounts.models import User
from hotline.cases.models import Case, ChannelIdentity, Message
from hotline.cases.targets import over_target
from hotline.core.lifecycle import OPEN, Role
from hotline.core.metadata import Direction

SETTLE = timedelta(seconds=5)
# A cursor older than this is moved up to it: nobody needs to hear about yesterday's cases as "new".
LONGEST_WINDOW = timedelta(hours=1)
WATCH_TARGETS = frozenset({Role.SUPERVISOR, Role.ADMIN})
CASEWORKER_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Counts:
    new_cases: int = 0
    new_messages: int = 0
    over_target: int = 0

    @property
    def any(self) -> bool:
        return bool(self.new_cases or self.new_messages or self.over_target)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.new_cases + other.new_cases,
            self.new_messages + other.new_messages,
            self.over_target + other.over_target,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def horizon(now: datetime) -> datetime:
    """The end of the window a count made at ``now`` covers."""
    return now - SETTLE


def window_start(since: datetime | None, until: datetime) -> datetime:
    """Where a window really starts: no earlier than :data:`LONGEST_WINDOW` before its end."""
    earliest = until - LONGEST_WINDOW
    return earliest if since is None or since < earliest else since


def encode_cursor(moment: datetime) -> str:
    """A cursor as the JSON endpoint hands it out: microseconds since 1970, as digits."""
    delta = moment - _EPOCH
    return str((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)


def decode_cursor(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _blocked_applicant() -> Exists:
    return Exists(ChannelIdentity.objects.filter(applicant_id=OuterRef("applicant_id"), blocked=True))


def counts_for(user: User, since: datetime, until: datetime) -> Counts:
    """What ``user`` is told about for the window ``(since, until]``."""
    from hotline.console.access import workable_cases

    role = user.staff_role
    if role not in CASEWORKER_ROLES or not user.is_active or until <= since:
        return Counts()
    new_cases = (
        Case.objects.filter(workable_cases(user))
        .filter(created_at__gt=since, created_at__lte=until, status__in=[s.value for s in OPEN])
        .exclude(_blocked_applicant())
        .count()
    )
    new_messages = Message.objects.filter(
        case__assignee=user,
        case__status__in=[s.value for s in OPEN],
        direction=Direction.INBOUND,
        quarantined=False,
        created_at__gt=since,
        created_at__lte=until,
    ).count()
    late = 0
    if role in WATCH_TARGETS:
        # Over the target at the window's end, and not yet at its start: crossed within the window.
        late = over_target(until).exclude(pk__in=over_target(since).values("pk")).count()
    return Counts(new_cases, new_messages, late)
