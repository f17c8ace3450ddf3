"""Intake answers worded from the flow (hotline/core/answers.py): labels, not codes, in the reader's language."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hotline.core.answers import ShownAnswer, pick, shown_answers
from hotline.core.flow import FlowError, load_flow
from tests.test_flow import INTAKE, mini, step


def words(shown: list[ShownAnswer]) -> list[tuple[str, str]]:
    return [(a.question, a.answer) for a in shown]


def test_choices_and_yes_no_show_the_flows_labels_in_the_readers_language() -> None:
    answers = {"after_surrender": "stay_in_ukraine", "with_others": "yes", "situation": "front"}
    assert words(shown_answers(INTAKE, answers, ["en"])) == [
        ("Where now", "At the front"),
        ("Others surrendering too", "Yes"),
        ("After surrender", "Stay in Ukraine"),
    ]
    assert words(shown_answers(INTAKE, answers, ["uk"])) == [
        ("Де зараз", "На фронті"),
        ("Здаються разом з іншими", "Так"),
        ("Після полону", "Залишитися в Україні"),
    ]


def test_answers_follow_the_flows_step_order_whatever_order_they_come_in() -> None:
    answers = {"anything_else": "wounded", "identity": "Ivan", "safe_contact": "evenings", "situation": "home"}
    assert [a.field for a in shown_answers(INTAKE, answers, ["en"])] == [
        "situation",
        "identity",
        "safe_contact",
        "anything_else",
    ]


def test_free_text_and_what_the_flow_does_not_know_are_shown_as_entered() -> None:
    answers = {
        "identity": "Ivan Petrov, 3rd company",  # free text
        "situation": "in_a_trench",  # an option the flow no longer has
        "unit_number": "41",  # a question the flow no longer asks
        "after_surrender": "exchange: to Voronezh",  # the console's preference, with details
    }
    shown = shown_answers(INTAKE, answers, ["en"])
    assert words(shown) == [
        ("Where now", "in_a_trench"),
        ("About themselves", "Ivan Petrov, 3rd company"),
        ("After surrender", "Go home in an exchange: to Voronezh"),
        ("unit_number", "41"),
    ]
    assert [a.known for a in shown] == [True, True, True, False]


def test_several_chosen_options_show_each_label() -> None:
    shown = shown_answers(INTAKE, {"after_surrender": "exchange,third_country"}, ["en"])
    assert words(shown) == [("After surrender", "Go home in an exchange, Go to another country")]
    # One part the flow does not know: the whole value as entered, nothing half-translated.
    shown = shown_answers(INTAKE, {"after_surrender": "exchange,moon"}, ["en"])
    assert words(shown) == [("After surrender", "exchange,moon")]


def test_a_language_the_flow_lacks_falls_back_to_the_next_preference_then_the_flows_default() -> None:
    data = mini()
    data["default_language"] = "uk"
    flow = load_flow(yaml.safe_dump(data, allow_unicode=True))
    answers = {"note": "hello"}
    assert words(shown_answers(flow, answers, ["ru", "en"])) == [("Anything else?.", "hello")]
    assert words(shown_answers(flow, answers, ["ru"])) == [("Anything else? (uk).", "hello")]
    assert pick({"en": "Yes", "uk": "Так"}, ["en-gb"]) == "Yes"


def test_a_question_without_a_label_is_named_by_its_texts_first_paragraph() -> None:
    data = mini()
    step(data, "note")["text"] = {"en": "Anything else?\n\nFor example a wound.", "uk": "Ще щось?\n\nНаприклад."}
    flow = load_flow(yaml.safe_dump(data, allow_unicode=True))
    assert words(shown_answers(flow, {"note": "no"}, ["en"])) == [("Anything else?", "no")]


def test_without_a_flow_every_answer_is_shown_as_stored_by_name() -> None:
    shown = shown_answers(None, {"with_others": "yes", "identity": "Ivan"}, ["en"])
    assert words(shown) == [("identity", "Ivan"), ("with_others", "yes")]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ({"en": "Note"}, "step 'note': label has no 'uk' translation"),
        ({"en": "x" * 65, "uk": "Нотатка"}, "step 'note': label (en) is 65 characters; the limit is 64"),
        ("Note", "step 'note': label must be given per language (en, uk), not as one string"),
    ],
)
def test_a_question_label_is_checked_like_every_text(label: Any, expected: str) -> None:
    data = mini()
    step(data, "note")["label"] = label
    with pytest.raises(FlowError) as raised:
        load_flow(yaml.safe_dump(data, allow_unicode=True))
    assert f"mini v1: {expected}" in raised.value.errors


def test_only_questions_have_a_label() -> None:
    data = mini()
    step(data, "hello")["label"] = {"en": "Hi", "uk": "Привіт"}
    with pytest.raises(FlowError) as raised:
        load_flow(yaml.safe_dump(data, allow_unicode=True))
    assert any("step 'hello'" in error and "label" in error for error in raised.value.errors)


@pytest.mark.django_db(transaction=True)
def test_processes_starting_together_record_the_flow_version_once_without_an_error() -> None:
    """Web processes and the writer all read the intake flow at start; each records its version.
    The first insert wins and the others, racing it, neither fail nor make the database log an error."""
    import threading

    from django.db import connections

    from hotline.flows import registry
    from hotline.flows.models import FlowDefinition

    FlowDefinition.objects.all().delete()
    registry._known.clear()
    start = threading.Barrier(4)
    results: list[object] = []

    def read() -> None:
        start.wait()
        try:
            results.append(registry.current("intake").version)
        except Exception as exc:  # the test looks at what each thread got
            results.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flow = registry.current("intake")
    assert results == [flow.version] * 4
    assert FlowDefinition.objects.filter(flow_id="intake").count() == 1
