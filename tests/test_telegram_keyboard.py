"""The buttons under a question: Skip in words (an emoji alone shows as an empty box on some phones),
and Back only where there is a question to go back to."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import Update
from django.db import transaction

from hotline.channels.telegram import conversation
from hotline.channels.telegram.phrases import phrase
from hotline.outbox.enqueue import payload_of
from hotline.outbox.models import OutboxMessage
from tests.conftest import Org

CHAT = 880101
_updates = iter(range(10_000, 1_000_000))


def send_updates(*updates: dict[str, Any]) -> list[dict[str, Any]]:
    """Run updates through the bot as the webhook would; the messages it queued, in order."""
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    for update in updates:
        with transaction.atomic():
            conversation.handle_update(Update.model_validate({"update_id": next(_updates), **update}))
    rows = OutboxMessage.objects.exclude(id__in=before).filter(kind="send").order_by("created_at", "id")
    return [payload_of(row) for row in rows]


def _user(chat: int, language_code: str) -> dict[str, Any]:
    return {"id": chat, "is_bot": False, "first_name": "A", "language_code": language_code}


def message(text: str, language_code: str = "en", chat: int = CHAT) -> dict[str, Any]:
    body = {"message_id": 10, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"}, "text": text}
    return {"message": {**body, "from": _user(chat, language_code)}}


def button(data: str, language_code: str = "en", chat: int = CHAT) -> dict[str, Any]:
    shown = {"message_id": 11, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"}, "text": "?"}
    query = {"id": "q1", "from": _user(chat, language_code), "chat_instance": "c", "message": shown, "data": data}
    return {"callback_query": query}


def controls(sent: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The last row of the last question's keyboard: Skip, Back, Talk to a person."""
    row: list[dict[str, str]] = sent[-1]["reply_markup"]["inline_keyboard"][-1]
    return row


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_the_first_question_offers_no_back(org: Org, language: str) -> None:
    sent = send_updates(message("/start", language))
    assert [c["callback_data"] for c in controls(sent)] == ["p"]
    assert controls(sent)[0]["text"] == phrase("button_person", language)


def test_back_appears_once_there_is_a_question_behind(org: Org) -> None:
    send_updates(message("/start"))
    sent = send_updates(button("f|consent|yes"))
    assert [c["callback_data"] for c in controls(sent)] == ["p"], "consent is behind the case: no Back to it"
    sent = send_updates(button("f|category|serviceman"))
    assert [c["callback_data"] for c in controls(sent)] == ["b", "p"]
    assert controls(sent)[0]["text"] == "← Back"
    sent = send_updates(button("b"))
    assert [c["callback_data"] for c in controls(sent)] == ["p"], "back at the first question after consent"


@pytest.mark.parametrize(
    ("language", "words", "said"),
    [("ru", "Пропустить", "пропустите вопрос"), ("uk", "Пропустити", "пропустіть питання"), ("en", "Skip", "skip")],
)
def test_an_optional_question_has_a_skip_button_in_words_matching_what_the_bot_says(
    org: Org, language: str, words: str, said: str
) -> None:
    send_updates(message("/start", language))
    sent = send_updates(button("f|consent|yes", language), button("f|category|serviceman", language))
    for _ in range(12):  # answer with the first option (or a number) until an optional question comes
        if any(c["callback_data"] == "s" for c in controls(sent)):
            break
        choices = [row[0]["callback_data"] for row in sent[-1]["reply_markup"]["inline_keyboard"][:-1]]
        sent = send_updates(button(choices[0], language) if choices else message("3", language))
    skip = next(c for c in controls(sent) if c["callback_data"] == "s")
    assert skip["text"] == f"⏭ {words}"
    assert said in sent[-1]["text"], "the question tells them to skip it, in the button's words"
    assert [c["callback_data"] for c in controls(sent)] == ["s", "b", "p"]
