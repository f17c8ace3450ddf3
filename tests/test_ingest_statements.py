"""What one Telegram update costs the database, and the rules that keep it low without changing
what is stored: no savepoint inside ``run_write``'s work (the transaction is the unit), the case read
once per update however many actions the flow's step runs on it, the chat's row read with its
identity, and the statements the same on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import transaction

from bench.telegram_ingest import intake_inputs, make_update
from hotline import dbwrite
from hotline.audit import log as audit
from hotline.cases import actions
from hotline.cases.models import Answer, Case
from hotline.channels.telegram.ingest import process_update
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Priority, PriorityReason
from tests.conftest import Org, statements

ACTOR = Actor.system("test")


def _updates(chat: int, first_id: int) -> list[Any]:
    from aiogram.types import Update

    return [
        Update.model_validate(make_update(first_id + n, chat, kind, value, n + 10))
        for n, (kind, value) in enumerate(intake_inputs())
    ]


@pytest.mark.django_db(transaction=True)
def test_an_intake_takes_no_savepoint_and_reads_each_row_once_per_update(org_tx: Org, settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = "1:x"
    settings.HOTLINE_GROUP_COMMIT = False  # each update in this thread, so its statements are seen here
    for update in _updates(7001, 1):  # the first intake warms up what is made once (the chain head…)
        assert process_update(update) == "stored"
    per_update: list[list[str]] = []
    for update in _updates(7002, 1001):
        with statements() as seen:
            assert process_update(update) == "stored"
        per_update.append(seen)
    every = [s for seen in per_update for s in seen]
    assert not [s for s in every if re.search(r"\bSAVEPOINT\b", s, re.IGNORECASE)]
    for seen in per_update:
        # By its id once at most (the session's case), and the message after the intake looks for
        # the applicant's open case: the actions that follow read neither again.
        case_reads = [s for s in seen if re.match(r'SELECT .* FROM "cases_case" WHERE', s)]
        by_id = [s for s in case_reads if 'WHERE "id" = ' in s]
        assert len(by_id) <= 1 and len(case_reads) <= 2, [s[-200:] for s in case_reads]
        assert not [s for s in seen if re.match(r'SELECT .* FROM "telegram_telegramchat" WHERE', s)]
    # Both intakes stored the same: the answers, the metadata, the receipt's case state.
    first, second = (_case_of(chat) for chat in (7001, 7002))
    assert _answers(second) == _answers(first) and _answers(first)
    fields = ("status", "priority", "category", "region", "group_size", "language")
    assert [getattr(second, f) for f in fields] == [getattr(first, f) for f in fields]
    assert audit.verify().ok


def _case_of(chat: int) -> Case:
    index = actions.address_index(ChannelKind.TELEGRAM, str(chat))
    return Case.objects.get(applicant__identities__address_index=index)


def _answers(case: Case) -> list[str]:
    return sorted(Answer.objects.filter(case=case).values_list("field", flat=True))


TOO_LONG = "x" * (actions.MAX_TEXT + 1)


@pytest.mark.parametrize("group_commit", [False, True])
@pytest.mark.django_db(transaction=True)
def test_an_action_that_fails_inside_run_write_work_rolls_back_the_whole_unit(
    org_tx: Org, settings: Any, group_commit: bool
) -> None:
    settings.HOTLINE_GROUP_COMMIT = group_commit
    case = actions.do_open_case(ACTOR, channel=ChannelKind.WEB)

    def work() -> None:
        actions.do_raise_priority(ACTOR, case, Priority.HIGH, PriorityReason.WOUNDED)
        actions.do_set_answers(ACTOR, case, {"first": "kept until the second fails", "second": TOO_LONG})

    before = audit.head()[0]
    with pytest.raises(actions.ActionError):
        dbwrite.run_write(work)
    case.refresh_from_db()
    assert case.priority == Priority.NORMAL and not Answer.objects.filter(case=case).exists()
    assert audit.head()[0] == before
    # The next piece of work is not troubled by it.
    dbwrite.run_write(actions.do_set_answers, ACTOR, case, {"first": "stored"})
    assert _answers(case) == ["first"]


@pytest.mark.django_db(transaction=True)
def test_outside_run_write_an_action_nested_in_a_transaction_is_still_a_savepoint(org_tx: Org) -> None:
    case = actions.do_open_case(ACTOR, channel=ChannelKind.WEB)
    with transaction.atomic():
        with pytest.raises(actions.ActionError):
            actions.do_set_answers(ACTOR, case, {"first": "rolled back", "second": TOO_LONG})
        actions.do_set_answers(ACTOR, case, {"third": "the transaction goes on"})
    assert _answers(case) == ["third"]
