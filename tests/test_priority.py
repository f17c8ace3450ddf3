"""A case's priority: raised or lowered from the case page for a reason from a fixed list, and raised
on arrival when the applicant is wounded, asks for a person or asks for a callback."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.db import transaction
from django.test import Client

from hotline.accounts.staff import actor_of
from hotline.audit.models import AuditEvent
from hotline.cases.actions import (
    ActionError,
    do_open_case,
    do_raise_priority,
    do_set_priority,
    get_or_create_identity,
)
from hotline.cases.models import Case
from hotline.channels.web import session as web
from hotline.core import flow as engine
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import ChannelKind, Priority, PriorityReason
from hotline.flows import runner
from tests.conftest import Org
from tests.console_support import Staff, assign, make_staff, move, open_case, signed_in_client
from tests.test_flow import INTAKE, Chat, at, mini, step


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


@pytest.fixture
def client(alice: Staff) -> Client:
    return signed_in_client(alice)


def priority_events(case: Case) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(action="case.priority", object_id=str(case.pk)).order_by("seq")
    return [{"who": e.actor_label, "role": e.role, **e.details} for e in events]


def post(client: Client, case: Case, **data: str) -> Any:
    return client.post(f"/console/case/{case.pk}/priority/", data)


# --- from the case page ----------------------------------------------------------------------------------


def test_an_operator_raises_a_case_with_a_reason_and_the_timeline_says_so(client: Client) -> None:
    case = open_case("1")
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert 'id="priority"' in page and 'value="safety_risk"' in page

    response = post(client, case, priority="urgent", reason="safety_risk")

    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).priority == Priority.URGENT
    assert priority_events(case) == [
        {"who": "alice", "role": "operator", "from": "normal", "to": "urgent", "reason": "safety_risk"}
    ]
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "priority: normal → urgent (safety risk)" in page
    assert "Priority changed." in page


def test_a_supervisor_lowers_it_again_when_the_urgency_is_over(org: Org, alice: Staff) -> None:
    case = open_case("1")
    assign(case, alice)
    do_set_priority(actor_of(alice.user), case, Priority.URGENT, PriorityReason.DEADLINE)
    sam = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    assert post(sam, case, priority="normal", reason="resolved").status_code == 302
    assert [(e["from"], e["to"], e["reason"], e["who"]) for e in priority_events(case)] == [
        ("normal", "urgent", "deadline", "alice"),
        ("urgent", "normal", "resolved", "sam"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"priority": "urgent"}, "Say why the priority changes: choose a reason from the list."),
        ({"priority": "urgent", "reason": ""}, "Say why the priority changes: choose a reason from the list."),
        ({"priority": "urgent", "reason": "he is scared"}, "Unknown reason: choose one from the list."),
        ({"priority": "urgent", "reason": "Wounded"}, "Unknown reason: choose one from the list."),
        ({"priority": "critical", "reason": "wounded"}, "Choose a priority: normal, high or urgent."),
        ({"reason": "wounded"}, "Choose a priority: normal, high or urgent."),
        ({"priority": "normal", "reason": "other"}, "The case already has this priority."),
    ],
)
def test_a_change_without_a_known_reason_is_refused_with_a_400_that_says_why(
    client: Client, data: dict[str, str], reason: str
) -> None:
    case = open_case("1")
    response = post(client, case, **data)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert Case.objects.get(pk=case.pk).priority == Priority.NORMAL
    assert priority_events(case) == []


def test_a_finished_case_keeps_its_priority(org: Org, alice: Staff, client: Client) -> None:
    case = open_case("1")
    assign(case, alice)
    move(case, Status.CLOSED, by=alice)
    assert 'id="priority"' not in client.get(f"/console/case/{case.pk}/").content.decode()
    response = post(client, case, priority="urgent", reason="wounded")
    assert response.status_code == 400 and "A finished case keeps its priority." in response.content.decode()
    with pytest.raises(ActionError):
        do_set_priority(actor_of(alice.user), case, Priority.URGENT, PriorityReason.WOUNDED)
    assert priority_events(case) == []


def test_only_people_who_may_work_the_case_change_its_priority(org: Org, alice: Staff) -> None:
    theirs = open_case("1")
    assign(theirs, make_staff(org, "bob", Role.OPERATOR))
    assert post(signed_in_client(alice), theirs, priority="urgent", reason="wounded").status_code == 404
    mine = open_case("2")
    for role in (Role.COORDINATOR, Role.ANALYST):
        someone = signed_in_client(make_staff(org, f"x-{role}", role))
        assert post(someone, mine, priority="urgent", reason="wounded").status_code == 403
    carol = make_staff(org, "carol", Role.COORDINATOR)
    with pytest.raises(ActionError):
        do_set_priority(actor_of(carol.user), mine, Priority.URGENT, PriorityReason.WOUNDED)
    assert priority_events(theirs) == priority_events(mine) == []


# --- on arrival ----------------------------------------------------------------------------------------------


def test_a_case_opened_above_normal_needs_a_reason_and_the_raise_is_audited(org: Org) -> None:
    intake = Actor.system("phone")
    with pytest.raises(ActionError):
        do_open_case(intake, channel=ChannelKind.PHONE, address="+15550100", priority=Priority.URGENT)
    case = do_open_case(
        intake,
        channel=ChannelKind.PHONE,
        address="+15550100",
        priority=Priority.URGENT,
        priority_reason=PriorityReason.CALLBACK,
    )
    assert priority_events(case) == [
        {"who": "phone", "role": "system", "from": "normal", "to": "urgent", "reason": "callback"}
    ]


def test_a_raise_on_arrival_never_lowers_a_case(org: Org) -> None:
    case = open_case("1")
    system = Actor.system("telegram")
    do_raise_priority(system, case, Priority.URGENT, PriorityReason.WOUNDED)
    do_raise_priority(system, case, Priority.HIGH, PriorityReason.MISSED_CALL)
    do_raise_priority(system, case, Priority.URGENT, PriorityReason.TALK_TO_PERSON)
    assert Case.objects.get(pk=case.pk).priority == Priority.URGENT
    assert [e["reason"] for e in priority_events(case)] == ["wounded"]


def test_the_flow_marks_the_wounded_answer_and_the_hand_over_urgent() -> None:
    chat = at("situation")
    effects = chat.send(engine.Choose("wounded"))
    assert effects[:2] == [engine.StoreAnswer("situation", "wounded"), engine.RaisePriority("urgent", "wounded")]
    assert chat.ask.step == "region"
    assert at("region").count(engine.RaisePriority) == 0  # came by "front"

    relative = at("consent")
    relative.send(engine.Choose("yes"))
    relative.send(engine.Choose("relative"))
    assert engine.RaisePriority("urgent", "wounded") in relative.send(engine.Choose("wounded"))

    effects = Chat().send(engine.TalkToPerson())
    assert effects[:3] == [engine.OpenCase(), engine.RaisePriority("urgent", "talk_to_person"), engine.HandOver()]


def _mini_with(change: Any) -> engine.Flow:
    data = mini()
    change(data)
    return engine.load_flow(yaml.safe_dump(data, allow_unicode=True))


def test_a_flow_without_the_markers_raises_nothing() -> None:
    flow = _mini_with(lambda d: None)
    chat = Chat(flow, "en")
    chat.send(engine.Choose("yes"))
    chat.send(engine.Choose("russia"))
    chat.send(engine.TalkToPerson())
    assert chat.count(engine.RaisePriority) == 0 and chat.count(engine.HandOver) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: step(d, "ask")["options"][0].update(priority="urgent"), "'priority' and 'priority_reason' go"),
        (lambda d: step(d, "ask")["options"][0].update(priority_reason="wounded"), "'priority' and 'priority_reason'"),
        (
            lambda d: step(d, "ask")["options"][0].update(priority="normal", priority_reason="wounded"),
            "'priority' must be one of high, urgent",
        ),
        (
            lambda d: step(d, "ask")["options"][0].update(priority="urgent", priority_reason="he is hurt"),
            "'priority_reason' must be one of",
        ),
        (lambda d: d.update(handover_priority="critical"), "'handover_priority' must be one of high, urgent"),
    ],
)
def test_the_loader_refuses_a_priority_marker_it_cannot_use(change: Any, error: str) -> None:
    with pytest.raises(engine.FlowError) as raised:
        _mini_with(change)
    assert any(error in e for e in raised.value.errors), raised.value.errors


def test_the_loader_refuses_a_raise_before_the_case_is_opened() -> None:
    def change(data: dict[str, Any]) -> None:
        consent = step(data, "consent")
        stop = {"value": "stop", "label": {"en": "Stop.", "uk": "Ні."}, "next": "bye"}
        stop.update(priority="urgent", priority_reason="other")
        go = {"value": "go", "label": {"en": "Go.", "uk": "Так."}, "next": "ask"}
        consent.update(kind="choice", options=[go, stop])
        del consent["next_yes"], consent["next_no"]

    with pytest.raises(engine.FlowError) as raised:
        _mini_with(change)
    assert any("raises the priority before the case is opened" in e for e in raised.value.errors)


def test_a_telegram_applicant_who_is_wounded_arrives_urgent(org: Org) -> None:
    with transaction.atomic():
        identity = get_or_create_identity(ChannelKind.TELEGRAM, "4242")
    telegram = Actor.system("telegram")

    def send(given: engine.Input) -> runner.StepResult:
        with transaction.atomic():
            return runner.run_step(identity, given, channel=ChannelKind.TELEGRAM, actor=telegram)

    send(engine.Start(language="en"))
    for given in (engine.Choose("yes"), engine.Choose("serviceman")):
        send(given)
    result = send(engine.Choose("wounded"))
    assert result.case is not None and Case.objects.get(pk=result.case.pk).priority == Priority.URGENT
    assert priority_events(result.case) == [
        {"who": "telegram", "role": "system", "from": "normal", "to": "urgent", "reason": "wounded"}
    ]
    send(engine.TalkToPerson())  # already urgent: nothing more to record
    assert len(priority_events(result.case)) == 1


def test_a_web_applicant_who_is_wounded_arrives_urgent(org: Org) -> None:
    state = web.start("en")
    for step_id, value in [("consent", "yes"), ("category", "mobilized"), ("situation", "wounded")]:
        state = web.step(state.sealed, "en", "answer", step_id=step_id, value=value)
    assert state.form is not None and state.form.priority == "urgent"
    state = web.step(state.sealed, "en", "person")
    case = Case.objects.get()
    assert case.priority == Priority.URGENT and state.receipt
    assert [(e["to"], e["reason"]) for e in priority_events(case)] == [("urgent", "wounded")]


def test_the_intake_flow_file_declares_its_markers() -> None:
    assert INTAKE.handover_priority == "urgent"
    marked = {
        (s.id, o.value): (o.priority, o.priority_reason) for s in INTAKE.steps.values() for o in s.options if o.priority
    }
    assert marked == {
        ("situation", "wounded"): ("urgent", "wounded"),
        ("relative_situation", "wounded"): ("urgent", "wounded"),
    }
