"""The Telegram bot end to end: the emulator plays Telegram and the applicant's phone, the webhook
runs on a live server, and the worker delivers through the real aiogram client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from hotline.cases import actions
from hotline.cases.content import do_read_case
from hotline.cases.models import Attachment, Case, ChannelIdentity, Message
from hotline.channels.telegram.models import ChatTrace, TelegramChat
from hotline.core import crypto
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import ChannelKind, DeliveryState, Direction
from hotline.outbox.models import OutboxMessage
from hotline.testing.telegram_emulator import RateLimits
from hotline.worker.jobs import run_due_jobs
from hotline.worker.models import ScheduledJob
from tests.conftest import Org
from tests.telegram_harness import TelegramRig, button_data

pytestmark = pytest.mark.django_db(transaction=True)

RECEIPT = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]\b")
OPERATOR = Actor(user_id=None, label="operator", role=Role.OPERATOR)


def _case_of(rig: TelegramRig, user_id: int) -> Case:
    case = Case.objects.filter(applicant_id=rig.identity(user_id).applicant_id).order_by("-created_at").first()
    assert case is not None
    return case


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_a_full_intake_in_each_language_ends_with_a_receipt(telegram: TelegramRig, org_tx: Org, language: str) -> None:
    user = 1000 + ["ru", "uk", "en"].index(language)
    telegram.start(user, language)
    telegram.complete_intake(user, {"identity": f"Planted identity {language}"})

    case = _case_of(telegram, user)
    assert case.language == language
    assert case.category != "unknown" and case.region != "unknown"
    content = do_read_case(org_tx.admin_actor, case, org_tx.private_key)
    assert any(value == f"Planted identity {language}" for value in content.answers.values()) or content.answers

    phone = telegram.phone(user)
    receipts = [m.text for m in phone if m.from_bot and m.text and RECEIPT.search(m.text)]
    assert receipts, "the last messages should show a receipt"
    assert all(m.protect_content for m in phone if m.from_bot)
    assert actions.find_case_by_receipt(RECEIPT.search(receipts[-1] or "").group(0)) == case  # type: ignore[union-attr]


def test_an_invalid_answer_is_re_asked_with_an_explanation(telegram: TelegramRig) -> None:
    user = 2001
    telegram.start(user, "en")
    step = telegram.walk_until(user, {"number", "choice"})
    before = len(telegram.phone(user))
    telegram.say(user, "no idea, really" if step.kind == "number" else "definitely not an option 42")
    bot = [m for m in telegram.phone(user)[before:] if m.from_bot]
    assert len(bot) == 1, "one message: what is expected, then the question again"
    explanation, question = (bot[0].text or "").split("\n\n", 1)
    assert explanation and step.text["en"].strip()[:20] in question
    assert f"f|{step.id}|" in str(bot[0].reply_markup) or step.kind == "number"
    assert telegram.session(user).step == step.id  # type: ignore[union-attr]


def test_the_conversation_resumes_after_the_worker_restarts(telegram: TelegramRig) -> None:
    user = 2002
    telegram.start(user, "ru")
    telegram.press(user, next(d for d in button_data(telegram.phone(user)[-1]) if d.startswith("f|")))
    step_before = telegram.session(user).step  # type: ignore[union-attr]
    telegram.restart_worker()
    telegram.complete_intake(user)
    assert step_before is not None
    assert telegram.session(user).status == "finished"  # type: ignore[union-attr]


def test_a_receipt_links_a_second_telegram_account_to_the_case(telegram: TelegramRig) -> None:
    telegram.start(3001, "ru")
    telegram.complete_intake(3001)
    receipt = next(RECEIPT.search(t).group(0) for t in telegram.bot_texts(3001) if RECEIPT.search(t))  # type: ignore[union-attr]
    case = _case_of(telegram, 3001)

    telegram.emulator.add_user(3002, language_code="ru")
    telegram.act(lambda: telegram.emulator.send_text(3002, receipt.lower().replace("-", " ")))
    assert telegram.identity(3002).applicant_id == case.applicant_id
    assert "Код принят" in telegram.bot_texts(3002)[-1]

    actions.do_add_message(
        OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="Hello again"
    )
    telegram.drain()
    assert telegram.bot_texts(3002)[-1] == "Hello again"


def test_a_mistyped_receipt_is_treated_as_text_and_an_unknown_one_is_refused_politely(telegram: TelegramRig) -> None:
    telegram.emulator.add_user(3003, language_code="en")
    telegram.act(lambda: telegram.emulator.send_text(3003, "0000-0000-0000-0000-0"))
    assert "No application has this code" in telegram.bot_texts(3003)[-1]


def test_operator_replies_reach_the_phone_and_are_marked_sent(telegram: TelegramRig) -> None:
    telegram.start(4001, "en")
    telegram.complete_intake(4001)
    case = _case_of(telegram, 4001)
    message = actions.do_add_message(
        OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="We read you."
    )
    assert OutboxMessage.objects.filter(message=message).exists()
    telegram.drain()
    assert telegram.bot_texts(4001)[-1] == "We read you."
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.SENT


def test_a_long_reply_is_split_at_sensible_places(telegram: TelegramRig) -> None:
    telegram.start(4002, "en")
    telegram.complete_intake(4002)
    paragraph = ("This sentence is part of a long explanation. " * 40).strip()
    body = "\n\n".join([paragraph] * 5)  # about 9,000 characters
    actions.do_add_message(
        OPERATOR, _case_of(telegram, 4002), direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body=body
    )
    telegram.drain()
    parts = telegram.bot_texts(4002)[-3:]
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == body.replace("\n", "").replace(" ", "")


def test_free_text_after_the_intake_goes_to_the_case(telegram: TelegramRig, org_tx: Org) -> None:
    telegram.start(4003, "ru")
    telegram.complete_intake(4003)
    telegram.say(4003, "Я уже на месте")
    content = do_read_case(org_tx.admin_actor, _case_of(telegram, 4003), org_tx.private_key)
    assert content.messages[-1].body == "Я уже на месте"
    assert "Сообщение получено" in telegram.bot_texts(4003)[-1]


def test_files_are_fetched_and_sealed_and_stickers_get_a_polite_answer(telegram: TelegramRig, org_tx: Org) -> None:
    telegram.start(5001, "en")
    telegram.complete_intake(5001)
    photo = b"\x89PNG\r\n\x1a\n" + b"planted-photo-bytes" * 50
    telegram.act(lambda: telegram.emulator.send_photo(5001, photo, caption="my unit papers"))
    attachment = Attachment.objects.get(message__case=_case_of(telegram, 5001))
    assert attachment.kind == "photo" and attachment.size == len(photo)
    from hotline.cases.content import open_case_key

    case_key = open_case_key(attachment.message.case, org_tx.private_key)
    opened = crypto.unseal(
        case_key,
        bytes(attachment.content_sealed),
        crypto.associated_data("cases_attachment", "content_sealed", attachment.id),
    )
    assert opened == photo
    assert "File received" in telegram.bot_texts(5001)[-1]

    telegram.act(lambda: telegram.emulator.send_sticker(5001))
    assert "Please write in text" in telegram.bot_texts(5001)[-1]
    telegram.act(lambda: telegram.emulator.send_location(5001, 47.1, 35.2))
    assert Message.objects.filter(case=_case_of(telegram, 5001), direction="in").count() >= 2


def test_forget_wipes_the_phone_at_once(telegram: TelegramRig) -> None:
    telegram.start(6001, "ru")
    telegram.press(6001, next(d for d in button_data(telegram.phone(6001)[-1]) if d.startswith("f|")))
    assert telegram.phone(6001)
    telegram.act(lambda: telegram.emulator.send_command(6001, "forget"))
    assert telegram.phone(6001) == []
    assert not ChatTrace.objects.filter(identity=telegram.identity(6001)).exists()


def test_an_idle_conversation_is_wiped_from_the_phone(telegram: TelegramRig, settings: object) -> None:
    telegram.start(6002, "en")
    telegram.complete_intake(6002)
    assert telegram.phone(6002)
    # Ten minutes pass without a word (the default idle delay is five).
    ChatTrace.objects.update(at=timezone.now() - timedelta(minutes=10))
    ScheduledJob.objects.filter(name="telegram-wipe").update(next_run_at=timezone.now() - timedelta(seconds=1))
    run_due_jobs()
    telegram.drain()
    assert telegram.phone(6002) == []


def test_rate_limits_are_honoured_without_losing_or_reordering(telegram: TelegramRig) -> None:
    """Telegram lets the chat have one message, then the next only ten minutes later (429 with
    retry_after). Time passes only when the test moves it, on both sides (the emulator's clock, the
    rows' hold), so how fast the machine sends cannot decide whether the limit is met."""
    telegram.start(7001, "en")
    telegram.complete_intake(7001)
    case = _case_of(telegram, 7001)
    telegram.emulator.set_rate_limits(RateLimits(per_chat_rate=1 / 600, per_chat_burst=1, global_rate=0))
    for i in range(6):
        actions.do_add_message(
            OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body=f"reply {i}"
        )

    def sends_since(seen: int) -> list[int]:
        return [c.status for c in telegram.emulator.api_calls[seen:] if c.method.lower() == "sendmessage"]

    rounds = []
    for _ in range(6):
        seen = len(telegram.emulator.api_calls)
        telegram.run_worker_until(lambda seen=seen: 429 in sends_since(seen) or not OutboxMessage.objects.exists())
        rounds.append(sends_since(seen))
        # The ten minutes pass: for Telegram, and for the rows the worker holds until then.
        telegram.emulator.advance_time(600)
        OutboxMessage.objects.update(not_before=timezone.now())
    # Each time one message went out, the next was refused, and nothing was tried again before the
    # wait Telegram asked for was over.
    assert rounds == [[200, 429]] * 5 + [[200]]
    assert not OutboxMessage.objects.exists()
    assert telegram.bot_texts(7001)[-6:] == [f"reply {i}" for i in range(6)]
    assert Message.objects.filter(case=case, delivery_state=DeliveryState.SENT, direction="out").count() >= 6


def test_a_user_who_blocked_the_bot_gets_nothing_more(telegram: TelegramRig) -> None:
    telegram.start(8001, "en")
    telegram.complete_intake(8001)
    case = _case_of(telegram, 8001)
    first = actions.do_add_message(
        OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="one"
    )
    telegram.emulator.block_bot(8001)  # the my_chat_member update is not delivered yet: the send meets a 403
    telegram.drain()
    first.refresh_from_db()
    assert first.delivery_state == DeliveryState.FAILED
    assert TelegramChat.objects.get(identity=telegram.identity(8001)).blocked_bot
    later = actions.do_add_message(
        OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="two"
    )
    assert later.delivery_state == DeliveryState.FAILED
    assert not OutboxMessage.objects.exists()


def test_button_presses_are_always_answered(telegram: TelegramRig) -> None:
    telegram.start(9001, "ru")
    data = next(d for d in button_data(telegram.phone(9001)[-1]) if d.startswith("f|"))
    update = telegram.press(9001, data)
    assert telegram.emulator.callback_answer(update["callback_query"]["id"]) is not None
    # A stale button (an earlier question) is answered too, and changes nothing.
    step = telegram.session(9001).step  # type: ignore[union-attr]
    old = telegram.last_bot_message_with(9001, data)
    stale = telegram.act(lambda: telegram.emulator.press_button(9001, old.message_id, data=data))
    assert telegram.emulator.callback_answer(stale["callback_query"]["id"]) is not None
    assert telegram.session(9001).step == step  # type: ignore[union-attr]


def test_status_speaks_plainly(telegram: TelegramRig, org_tx: Org) -> None:
    telegram.emulator.add_user(9002, language_code="en")
    telegram.act(lambda: telegram.emulator.send_command(9002, "status"))
    assert "no application yet" in telegram.bot_texts(9002)[-1]
    telegram.start(9002, "en")
    telegram.complete_intake(9002)
    actions.do_transition(org_tx.admin_actor, _case_of(telegram, 9002), Status.TRIAGE)
    telegram.act(lambda: telegram.emulator.send_command(9002, "status"))
    assert "operator is working" in telegram.bot_texts(9002)[-1]


def test_the_language_can_change_after_the_intake(telegram: TelegramRig) -> None:
    telegram.start(9003, "ru")
    telegram.complete_intake(9003)
    telegram.act(lambda: telegram.emulator.send_command(9003, "lang"))
    telegram.press(9003, "l|uk")
    assert telegram.bot_texts(9003)[-1] == "Добре, далі пишемо українською."
    telegram.act(lambda: telegram.emulator.send_command(9003, "status"))
    assert "чекає на оператора" in telegram.bot_texts(9003)[-1]


def test_the_language_can_change_in_the_middle_of_the_intake(telegram: TelegramRig) -> None:
    telegram.start(9004, "ru")
    telegram.act(lambda: telegram.emulator.send_command(9004, "lang"))
    telegram.press(9004, "l|en")
    assert telegram.session(9004).language == "en"  # type: ignore[union-attr]
    assert any(b.startswith("f|") for b in button_data(telegram.phone(9004)[-1]))


def test_a_question_the_knowledge_base_knows_is_answered_with_a_way_to_a_person(telegram: TelegramRig) -> None:
    from django.core.management import call_command

    call_command("kb", "load")
    telegram.emulator.add_user(9101, language_code="ru")
    telegram.act(lambda: telegram.emulator.send_text(9101, "Мне пришла повестка, что мне теперь делать?"))
    last = telegram.phone(9101)[-1]
    assert last.from_bot and "p" in button_data(last)
    assert len(last.text or "") > 200  # an article, not a stock phrase
    assert Case.objects.count() == 0  # answered; nothing for operators yet
    telegram.press(9101, "p")
    assert Case.objects.filter(applicant_id=telegram.identity(9101).applicant_id).exists()


def test_a_question_it_does_not_know_goes_to_the_operators(telegram: TelegramRig, org_tx: Org) -> None:
    from django.core.management import call_command

    call_command("kb", "load")
    telegram.start(9102, "en")
    telegram.complete_intake(9102)
    telegram.say(9102, "My cousin Pavel has a red bicycle")
    content = do_read_case(org_tx.admin_actor, _case_of(telegram, 9102), org_tx.private_key)
    assert content.messages[-1].body == "My cousin Pavel has a red bicycle"
    assert "Message received" in telegram.bot_texts(9102)[-1]


def test_verify_shows_the_signed_official_contacts(telegram: TelegramRig, tmp_path: Path, settings: Any) -> None:
    from tests.test_portal_contacts import sign

    settings.HOTLINE_CONTACTS_FILE = tmp_path / "contacts.json"
    telegram.emulator.add_user(9201, language_code="en")
    telegram.act(lambda: telegram.emulator.send_command(9201, "verify"))
    assert "have not been published yet" in telegram.bot_texts(9201)[-1]
    fingerprint = sign(tmp_path)
    telegram.act(lambda: telegram.emulator.send_command(9201, "verify"))
    reply = telegram.bot_texts(9201)[-1]
    assert fingerprint in reply and "@hotline_real_bot" in reply


def test_a_flagged_chat_is_kept_quarantined_and_gets_no_answer(telegram: TelegramRig) -> None:
    telegram.start(9301, "en")
    telegram.complete_intake(9301)
    ChannelIdentity.objects.filter(pk=telegram.identity(9301).pk).update(blocked=True)
    before = len(telegram.bot_texts(9301))
    telegram.say(9301, "are you still there?")
    assert len(telegram.bot_texts(9301)) == before
    message = Message.objects.filter(case=_case_of(telegram, 9301), direction="in").latest("created_at")
    assert message.quarantined


def test_a_returning_applicant_on_a_new_phone_reaches_the_case_after_start_and_sees_earlier_replies(
    telegram: TelegramRig,
) -> None:
    telegram.start(3101, "ru")
    telegram.complete_intake(3101)
    receipt = next(RECEIPT.search(t).group(0) for t in telegram.bot_texts(3101) if RECEIPT.search(t))  # type: ignore[union-attr]
    case = _case_of(telegram, 3101)
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="First")
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="Second")
    telegram.drain()

    # A new phone: /start begins an intake (consent question), then the person types the receipt.
    telegram.start(3102, "ru")
    assert telegram.session(3102).status == "active"  # type: ignore[union-attr]
    telegram.say(3102, receipt)
    texts = telegram.bot_texts(3102)
    linked = next(i for i, t in enumerate(texts) if "Код принят" in t)
    assert texts[linked + 1 :] == ["Ответы операторов по вашей заявке (2):", "First", "Second"]
    assert telegram.session(3102) is None

    telegram.say(3102, "I am back, from a new phone")
    assert telegram.session(3102) is None, "no intake began again"
    inbound = Message.objects.filter(case=case, direction=Direction.INBOUND).count()
    assert inbound == 1, "what the person wrote after the receipt went to the case"
    assert Case.objects.filter(applicant_id=case.applicant_id).count() == 1


def test_replies_to_a_telegram_case_are_in_the_web_mailbox_of_its_receipt(telegram: TelegramRig) -> None:
    from django.test import Client

    from tests.test_portal_helpers import page_text

    telegram.start(3201, "en")
    telegram.complete_intake(3201)
    receipt = next(RECEIPT.search(t).group(0) for t in telegram.bot_texts(3201) if RECEIPT.search(t))  # type: ignore[union-attr]
    case = _case_of(telegram, 3201)
    actions.do_add_message(
        OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="Answered in Telegram"
    )
    telegram.drain()
    assert telegram.bot_texts(3201)[-1] == "Answered in Telegram"
    page = Client().post("/en/receipt/", {"receipt": receipt}, REMOTE_ADDR="198.51.100.40")
    assert page.status_code == 200 and "Answered in Telegram" in page_text(page)
