"""Folding the case timeline (hotline/console/timeline.py): decisions and messages stand as themselves,
runs of system events become one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import translation

from hotline.console.timeline import Entry, Fold, fold

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def in_english() -> Iterator[None]:
    """Summaries are in the reader's language; an earlier test's request may have left another active."""
    with translation.override("en"):
        yield


class Clock:
    """Entries one minute apart, in the order they are made."""

    def __init__(self) -> None:
        self.minutes = 0

    def next(self) -> datetime:
        self.minutes += 1
        return START + timedelta(minutes=self.minutes)


def event(clock: Clock, action: str, who: str = "telegram", body: str = "", **details: Any) -> Entry:
    return Entry(at=clock.next(), kind="event", who=who, body=body or action, action=action, details=details)


def message(clock: Clock, text: str) -> Entry:
    return Entry(at=clock.next(), kind="in", body=text, channel="telegram")


def intake(clock: Clock) -> list[Entry]:
    """What the bot's intake writes: the case, metadata and answers step by step, going back and forth."""
    return [
        event(clock, "case.open", answers=0),
        event(clock, "case.metadata", category="serviceman"),
        event(clock, "case.answers", fields=["situation"]),
        event(clock, "case.metadata", region="russia"),
        *[event(clock, "case.answers", body="changed answers: with_others", fields=["with_others"]) for _ in range(19)],
        event(clock, "case.answers", fields=["identity"]),
        event(clock, "case.receipt"),
    ]


def shape(shown: list[Entry | Fold]) -> list[str]:
    return [f"fold: {e.summary}" if isinstance(e, Fold) else f"{e.kind}: {e.body}" for e in shown]


def test_the_intake_folds_into_one_line_counting_each_answer_once() -> None:
    clock = Clock()
    entries = [*intake(clock), message(clock, "I want to surrender")]
    shown = fold(entries)
    assert shape(shown) == ["fold: intake: 5 answers", "in: I want to surrender"]
    folded = shown[0]
    assert isinstance(folded, Fold)
    assert (folded.at, folded.until) == (entries[0].at, entries[-2].at)
    # Inside, 19 identical changes are one line ×19; every event is still there.
    assert [(e.body, e.repeat) for e in folded.events][4] == ("changed answers: with_others", 19)
    assert sum(e.repeat for e in folded.events) == len(entries) - 1


def test_reads_fold_per_person_and_other_bookkeeping_is_counted() -> None:
    clock = Clock()
    entries = [
        message(clock, "hello"),
        *[event(clock, "case.read", who="alice") for _ in range(5)],
        event(clock, "case.read", who="bob"),
        event(clock, "case.tags", who="alice", tags=["flood"]),
        event(clock, "case.metadata", who="telegram", region="crimea"),
        message(clock, "are you there?"),
    ]
    assert shape(fold(entries)) == [
        "in: hello",
        "fold: read 5 times by alice, read once by bob, 2 system changes",
        "in: are you there?",
    ]


def test_decisions_stand_as_themselves_and_split_runs() -> None:
    clock = Clock()
    entries = [
        event(clock, "case.read", who="alice"),
        event(clock, "case.read", who="alice"),
        event(clock, "case.assign", who="alice", assignee=1),
        event(clock, "case.read", who="alice"),
        event(clock, "case.transition", who="alice", **{"from": "new", "to": "triage"}),
        event(clock, "case.priority", who="sam", priority="urgent"),
        event(clock, "case.call", who="voice", event="incoming"),
        event(clock, "case.handoff", who="carol", outcome="accepted"),
    ]
    assert shape(fold(entries)) == [
        "fold: read 2 times by alice",
        "event: case.assign",
        "event: case.read",  # a lone system event is a line of its own, not a fold of one
        "event: case.transition",
        "event: case.priority",
        "event: case.call",
        "event: case.handoff",
    ]


def test_notes_and_the_answers_block_break_runs_too() -> None:
    clock = Clock()
    answers = Entry(at=clock.next(), kind="answers")
    note = Entry(at=clock.next(), kind="note", body="seems genuine", who="alice")
    entries = [
        answers,
        event(clock, "case.read", who="alice"),
        event(clock, "case.tags", who="alice"),
        note,
        event(clock, "case.read", who="alice"),
        event(clock, "case.read", who="alice"),
    ]
    shown = fold(entries)
    assert shape(shown) == [
        "answers: ",
        "fold: read once by alice, 1 system change",
        "note: seems genuine",
        "fold: read 2 times by alice",
    ]
    assert shown[0] is answers and shown[2] is note


def test_a_portal_application_counts_the_answers_given_when_the_case_opened() -> None:
    clock = Clock()
    entries = [event(clock, "case.open", who="web", answers=7), event(clock, "case.receipt", who="web")]
    assert shape(fold(entries)) == ["fold: intake: 7 answers"]


def test_nothing_to_fold_and_folding_changes_no_entry() -> None:
    assert fold([]) == []
    clock = Clock()
    entries = [event(clock, "case.read", who="alice"), event(clock, "case.read", who="alice")]
    fold(entries)
    assert [e.repeat for e in entries] == [1, 1]


def test_the_summary_is_in_the_readers_language() -> None:
    clock = Clock()
    entries = [*intake(clock), *[event(clock, "case.read", who="alice") for _ in range(3)]]
    with translation.override("uk"):
        assert shape(fold(entries)) == ["fold: анкета: 5 відповідей, прочитано 3 рази — alice"]
