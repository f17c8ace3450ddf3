"""The lifecycle table, as properties: no sequence of requests reaches a state the table forbids."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hotline.core.lifecycle import (
    OPEN,
    TERMINAL,
    TRANSITIONS,
    RejectReason,
    Role,
    Status,
    TransitionError,
    allowed_targets,
    check_transition,
)

statuses = st.sampled_from(list(Status))
roles = st.sampled_from(list(Role))
reasons = st.one_of(st.none(), st.sampled_from(list(RejectReason)))


class CaseLifecycle(RuleBasedStateMachine):
    """A case pushed around by random requests from random roles."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.NEW
        self.history = [Status.NEW]

    @rule(wanted=statuses, role=roles, reason=reasons)
    def request(self, wanted: Status, role: Role, reason: RejectReason | None) -> None:
        try:
            check_transition(self.status, wanted, role, reason)
        except TransitionError:
            return
        assert role in TRANSITIONS[(self.status, wanted)]
        self.status = wanted
        self.history.append(wanted)

    @invariant()
    def every_step_is_in_the_table(self) -> None:
        for frm, to in zip(self.history, self.history[1:], strict=False):
            assert (frm, to) in TRANSITIONS

    @invariant()
    def nothing_leaves_a_terminal_state(self) -> None:
        for i, state in enumerate(self.history):
            if state in TERMINAL:
                assert i == len(self.history) - 1


TestCaseLifecycle = CaseLifecycle.TestCase
TestCaseLifecycle.settings = settings(max_examples=200, stateful_step_count=30)


@given(statuses, statuses, roles, reasons)
def test_check_agrees_with_the_table(frm: Status, to: Status, role: Role, reason: RejectReason | None) -> None:
    allowed = role in TRANSITIONS.get((frm, to), frozenset()) and (reason is not None) == (to == Status.REJECTED)
    try:
        check_transition(frm, to, role, reason)
    except TransitionError as exc:
        assert not allowed
        assert str(exc)  # always says why
    else:
        assert allowed


def test_the_happy_path_exists() -> None:
    path = [Status.NEW, Status.TRIAGE, Status.WAITING, Status.READY, Status.HANDED_OFF, Status.COMPLETED]
    roles_for = [Role.OPERATOR, Role.OPERATOR, Role.OPERATOR, Role.COORDINATOR, Role.COORDINATOR]
    for (frm, to), role in zip(itertools.pairwise(path), roles_for, strict=True):
        check_transition(frm, to, role)


@pytest.mark.parametrize("state", sorted(OPEN))
def test_every_open_state_can_be_closed_or_rejected(state: Status) -> None:
    check_transition(state, Status.CLOSED, Role.OPERATOR)
    check_transition(state, Status.REJECTED, Role.OPERATOR, RejectReason.PROBE)


def test_refusals_say_why() -> None:
    with pytest.raises(TransitionError, match="cannot go from new to completed"):
        check_transition(Status.NEW, Status.COMPLETED, Role.ADMIN)
    with pytest.raises(TransitionError, match="analyst role may not"):
        check_transition(Status.NEW, Status.TRIAGE, Role.ANALYST)
    with pytest.raises(TransitionError, match="needs a reason"):
        check_transition(Status.NEW, Status.REJECTED, Role.OPERATOR)
    with pytest.raises(TransitionError, match="closed case cannot change"):
        check_transition(Status.CLOSED, Status.TRIAGE, Role.ADMIN)


def test_analysts_change_nothing_and_coordinators_only_hand_off() -> None:
    for state in Status:
        assert allowed_targets(state, Role.ANALYST) == []
    assert allowed_targets(Status.NEW, Role.COORDINATOR) == []
    assert Status.HANDED_OFF in allowed_targets(Status.READY, Role.COORDINATOR)
