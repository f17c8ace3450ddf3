"""The case lifecycle: states, the transitions between them, and who may make each.

    new → triage → waiting → ready → handed_off → completed
    any open state → closed | rejected (probe or spam)

``waiting`` (waiting for the applicant) and ``triage`` go back and forth while an operator works the
case. ``completed``, ``closed`` and ``rejected`` are terminal: a closed case is reopened by opening a
new one, so retention clocks never restart silently. The table is the single source of truth; the
actions in ``cases/actions.py`` ask :func:`check_transition` before changing anything.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    WAITING = "waiting"
    READY = "ready"
    HANDED_OFF = "handed_off"
    COMPLETED = "completed"
    CLOSED = "closed"
    REJECTED = "rejected"


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"
    ADMIN = "admin"
    # The system itself (intake from a channel, the retention job) acts under this role.
    SYSTEM = "system"


class RejectReason(StrEnum):
    PROBE = "probe"
    SPAM = "spam"


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.CLOSED, Status.REJECTED})
OPEN: frozenset[Status] = frozenset(Status) - TERMINAL
# Retention counts from the moment a case reached one of these.
FINISHED = TERMINAL

_CASEWORKERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
_SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})
_HANDOFF = frozenset({Role.COORDINATOR, Role.SUPERVISOR, Role.ADMIN})

TRANSITIONS: dict[tuple[Status, Status], frozenset[Role]] = {
    (Status.NEW, Status.TRIAGE): _CASEWORKERS,
    (Status.TRIAGE, Status.WAITING): _CASEWORKERS,
    (Status.WAITING, Status.TRIAGE): _CASEWORKERS | {Role.SYSTEM},
    (Status.TRIAGE, Status.READY): _CASEWORKERS,
    (Status.WAITING, Status.READY): _CASEWORKERS,
    (Status.READY, Status.TRIAGE): _CASEWORKERS | {Role.COORDINATOR},
    (Status.READY, Status.HANDED_OFF): _HANDOFF,
    (Status.HANDED_OFF, Status.COMPLETED): _HANDOFF,
}
for _state in OPEN:
    TRANSITIONS[(_state, Status.CLOSED)] = _CASEWORKERS
    TRANSITIONS[(_state, Status.REJECTED)] = _CASEWORKERS
# A coordinator may close a handed-off case whose handoff failed for good.
TRANSITIONS[(Status.HANDED_OFF, Status.CLOSED)] = _HANDOFF | _CASEWORKERS


class TransitionError(Exception):
    """A refused status change, with a message that says why."""


def allowed_targets(current: Status, role: Role) -> list[Status]:
    """The states ``role`` may move a case in ``current`` to, in lifecycle order."""
    return [to for (frm, to), roles in TRANSITIONS.items() if frm == current and role in roles]


def check_transition(current: Status, target: Status, role: Role, reason: RejectReason | None = None) -> None:
    """Raise :class:`TransitionError` unless ``role`` may move a case from ``current`` to ``target``."""
    if current == target:
        raise TransitionError(f"the case is already {current.value}")
    roles = TRANSITIONS.get((current, target))
    if roles is None:
        if current in TERMINAL:
            raise TransitionError(f"a {current.value} case cannot change status")
        raise TransitionError(f"a case cannot go from {current.value} to {target.value}")
    if role not in roles:
        raise TransitionError(f"the {role.value} role may not move a case from {current.value} to {target.value}")
    if target == Status.REJECTED and reason is None:
        raise TransitionError("rejecting a case needs a reason: probe or spam")
    if target != Status.REJECTED and reason is not None:
        raise TransitionError("a reason is given only when rejecting a case")
