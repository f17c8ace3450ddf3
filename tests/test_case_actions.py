"""The actions: the only writers of case data, each writing its audit event."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from hotline.accounts.models import User
from hotline.audit.models import AuditEvent
from hotline.cases import actions
from hotline.cases.content import do_read_case
from hotline.cases.models import Applicant, Case, ChannelIdentity
from hotline.core.actor import Actor
from hotline.core.lifecycle import TRANSITIONS, RejectReason, Role, Status, TransitionError
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.keyring import actions as keyring
from hotline.keyring.transport_fields import open_field
from tests.conftest import Org, actor_for

INTAKE = Actor.system("telegram")


def open_telegram_case(chat_id: str = "123456789", **answers: str) -> Case:
    return actions.do_open_case(
        INTAKE,
        channel=ChannelKind.TELEGRAM,
        address=chat_id,
        language="ru",
        category=Category.SERVICEMAN,
        region=Region.CRIMEA,
        answers=answers,
    )


def test_it_opens_a_case_with_plaintext_metadata_and_sealed_answers(org: Org) -> None:
    case = open_telegram_case(identity_details="Private Ivanov, 3rd company")
    assert (case.status, case.category, case.region, case.channel) == ("new", "serviceman", "crimea", "telegram")
    content = do_read_case(org.admin_actor, case, org.private_key)
    assert content.answers == {"identity_details": "Private Ivanov, 3rd company"}


def test_the_same_chat_returns_to_the_same_applicant(org: Org) -> None:
    first = open_telegram_case("42")
    second = open_telegram_case(" 42 ")
    third = open_telegram_case("43")
    assert first.applicant_id == second.applicant_id != third.applicant_id
    assert Applicant.objects.count() == 2
    identity = ChannelIdentity.objects.get(applicant=first.applicant)
    assert open_field(identity, "address_enc") == "42"


def test_phone_numbers_are_normalised_before_indexing(org: Org) -> None:
    a = actions.do_open_case(INTAKE, channel=ChannelKind.PHONE, address="+7 (912) 345-67-89")
    b = actions.do_open_case(INTAKE, channel=ChannelKind.PHONE, address="79123456789")
    assert a.applicant_id == b.applicant_id
    with pytest.raises(actions.ActionError, match="5 to 15 digits"):
        actions.do_open_case(INTAKE, channel=ChannelKind.PHONE, address="call me maybe")


def test_it_refuses_to_open_a_case_before_setup(db: None) -> None:
    with pytest.raises(keyring.KeyringError, match="hotline setup"):
        open_telegram_case()


def test_bad_answer_names_and_group_sizes_are_refused(org: Org) -> None:
    with pytest.raises(actions.ActionError):
        open_telegram_case(**{"Bad Name!": "x"})
    with pytest.raises(actions.ActionError, match="between 1 and 500"):
        actions.do_open_case(INTAKE, channel=ChannelKind.WEB, group_size=0)
    assert Case.objects.count() == 0


def test_messages_and_notes_are_sealed_and_read_back_in_order(org: Org, alice: User) -> None:
    case = open_telegram_case()
    actions.do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body="hello")
    actions.do_add_message(
        actor_for(alice), case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="hi", author=alice
    )
    actions.do_add_note(actor_for(alice), case, "seems genuine", author=alice)
    content = do_read_case(actor_for(alice), case, org.private_key)
    assert [(m.direction, m.body, m.delivery_state) for m in content.messages] == [
        ("in", "hello", "received"),
        # This applicant never wrote to the bot, so no Telegram chat can take the reply.
        ("out", "hi", "failed"),
    ]
    assert [(n.author, n.body) for n in content.notes] == [("alice", "seems genuine")]


def test_an_empty_message_is_refused(org: Org) -> None:
    with pytest.raises(actions.ActionError, match="empty"):
        actions.do_add_message(
            INTAKE, open_telegram_case(), direction=Direction.INBOUND, channel=ChannelKind.WEB, body=" "
        )


def test_an_applicant_writing_moves_a_waiting_case_back_to_triage(org: Org, alice: User) -> None:
    case = open_telegram_case()
    actions.do_transition(actor_for(alice), case, Status.TRIAGE)
    actions.do_transition(actor_for(alice), case, Status.WAITING)
    actions.do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body="back")
    case.refresh_from_db()
    assert case.status == Status.TRIAGE


def test_illegal_transitions_are_refused_with_a_reason_and_change_nothing(org: Org, alice: User, carol: User) -> None:
    case = open_telegram_case()
    before = AuditEvent.objects.count()
    with pytest.raises(TransitionError, match="cannot go from new to handed_off"):
        actions.do_transition(actor_for(alice), case, Status.HANDED_OFF)
    with pytest.raises(TransitionError, match="coordinator role may not"):
        actions.do_transition(actor_for(carol), case, Status.TRIAGE)
    case.refresh_from_db()
    assert case.status == Status.NEW
    assert AuditEvent.objects.count() == before


def test_rejecting_records_the_reason_and_finishes_the_case(org: Org, alice: User) -> None:
    case = actions.do_transition(actor_for(alice), open_telegram_case(), Status.REJECTED, RejectReason.PROBE)
    assert (case.status, case.reject_reason) == ("rejected", "probe")
    assert case.finished_at is not None
    event = AuditEvent.objects.filter(action="case.transition").last()
    assert event is not None and event.details == {"from": "new", "to": "rejected", "reason": "probe"}


def test_operators_assign_only_to_themselves(org: Org, alice: User, bob: User) -> None:
    case = open_telegram_case()
    actions.do_assign(actor_for(alice), case, alice)
    with pytest.raises(actions.ActionError, match="only to themselves"):
        actions.do_assign(actor_for(alice), case, bob)
    actions.do_assign(org.admin_actor, case, bob)
    case.refresh_from_db()
    assert case.assignee == bob


def test_every_action_writes_an_audit_event_without_content(org: Org, alice: User) -> None:
    case = open_telegram_case(identity_details="SECRET-DETAIL")
    actions.do_add_note(actor_for(alice), case, "SECRET-NOTE", author=alice)
    actions.do_assign(actor_for(alice), case, alice)
    actions.do_transition(actor_for(alice), case, Status.TRIAGE)
    do_read_case(actor_for(alice), case, org.private_key)
    actions_logged = list(AuditEvent.objects.filter(seq__gt=2).values_list("action", flat=True))
    assert actions_logged == ["case.open", "case.note", "case.assign", "case.transition", "case.read"]
    assert "SECRET" not in str(list(AuditEvent.objects.values_list("details", flat=True)))


class TestActionsFollowTheLifecycle(HypothesisTestCase):
    """Random transition requests through the real actions never leave the table."""

    @settings(max_examples=15, deadline=None)
    @given(
        st.lists(
            st.tuples(st.sampled_from(list(Status)), st.sampled_from([Role.OPERATOR, Role.COORDINATOR])), max_size=8
        )
    )
    def test_random_requests(self, requests: list[tuple[Status, Role]]) -> None:
        if not keyring.is_set_up():
            keyring.do_setup("admin", "correct horse battery staple")
        case = open_telegram_case()
        seen = [Status.NEW]
        for target, role in requests:
            actor = Actor(user_id=None, label=role.value, role=role)
            reason = RejectReason.SPAM if target == Status.REJECTED else None
            with contextlib.suppress(TransitionError, actions.ActionError):
                actions.do_transition(actor, case, target, reason)
            case.refresh_from_db()
            if case.status != seen[-1]:
                assert (seen[-1], Status(case.status)) in TRANSITIONS
                seen.append(Status(case.status))
