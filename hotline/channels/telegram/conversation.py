"""One Telegram update in, durable state and queued replies out — inside the caller's transaction.

The conversation rules:
* commands: /start, /help, /lang, /status, /forget (and a receipt typed in links this account);
  /start CODE with a staff member's one-time code links their chat for notifications (counts only);
  /subscribe and /unsubscribe for the hotline's news (offered, too, when an application is complete);
* inside the intake flow, text and buttons go to the flow engine;
* outside it, text goes to the applicant's open case as a message for operators;
* files are fetched by the worker and sealed into the case; other kinds get a polite "text please";
* every message on either side is traced so the wipe job can delete it from the phone;
* each chat has an inbound allowance (``TELEGRAM_INBOUND_BURST`` at once, ``TELEGRAM_INBOUND_PER_MINUTE``
  after that): what a chat sends past it is dropped, answered once with a polite notice, and the
  case is marked for review, so one flooder cannot fill the queue or the outbox.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from hotline import languages, rows
from hotline.cases import actions, triage
from hotline.cases.models import Case, ChannelIdentity
from hotline.channels.web import mailbox
from hotline.core import codes, receipts
from hotline.core import flow as engine
from hotline.core.actor import Actor
from hotline.core.lifecycle import OPEN, Status
from hotline.core.metadata import ChannelKind, Direction
from hotline.core.ratelimit import TokenBucket
from hotline.core.text import split_message
from hotline.flows import runner
from hotline.news import subscribers
from hotline.notify import actions as notify
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority

from .models import ChatTrace, TelegramChat
from .phrases import language_for, phrase

if TYPE_CHECKING:  # aiogram is imported by whoever parsed the update (hotline/channels/telegram/views.py)
    from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, Update

log = logging.getLogger("hotline.telegram")

ACTOR = Actor.system("telegram")
CHANNEL = "telegram"
FILE_KINDS = ("photo", "voice", "video_note", "document", "video", "audio")


def handle_update(update: Update) -> None:
    """Apply one update. Unknown kinds are ignored (and acknowledged by the caller)."""
    if update.message is not None and update.message.chat.type == "private":
        _on_message(update.message)
    elif update.callback_query is not None:
        _on_callback(update.callback_query)
    elif update.my_chat_member is not None and update.my_chat_member.chat.type == "private":
        _on_membership(update.my_chat_member)


# --- context ---------------------------------------------------------------------------------------


class Chat:
    """The identity, channel state and conversation language of one private chat.

    Making one counts the update against the chat's inbound allowance (:func:`inbound_allowed`):
    ``allowed`` says whether it may be handled, ``flood_ended`` how many updates the flood that just
    ended dropped (0: none).
    """

    def __init__(self, chat_id: int, language_code: str | None) -> None:
        self.chat_id = chat_id
        # The identity row is locked for this update, so reading and writing the chat's row is safe
        # (it is read with the identity, in one statement).
        self.identity, state = actions.get_or_create_identity_with(
            ChannelKind.TELEGRAM, str(chat_id), TelegramChat, "identity_id"
        )
        now = timezone.now()
        created = state is None
        if state is None:
            state = TelegramChat(identity=self.identity, last_activity=now)
        self.allowed = inbound_allowed(state, now)
        self.flood_ended = 0
        if not self.allowed:
            state.flood_dropped += 1
        elif state.flood_dropped:
            self.flood_ended, state.flood_dropped = state.flood_dropped, 0
        self.flood_dropped = state.flood_dropped
        # Writing to the bot means it is not blocked (any more).
        state.last_activity, state.blocked_bot = now, False
        if created:
            rows.add(state)
        else:
            rows.update(
                TelegramChat,
                {"identity_id": self.identity.pk},
                {
                    "last_activity": now,
                    "blocked_bot": False,
                    "inbound_tokens": state.inbound_tokens,
                    "inbound_at": state.inbound_at,
                    "flood_dropped": state.flood_dropped,
                },
            )
        self.loaded: runner.Loaded | None = runner.load_session(self.identity)
        session = self.loaded[1]
        self.session = session
        self.language = session.language if session else language_for(language_code)

    @property
    def in_flow(self) -> bool:
        return self.session is not None and self.session.status == "active"

    def open_case(self) -> Case | None:
        """The applicant's newest open case, locked (as the actions on it would lock it anyway, so
        they use it without reading it again)."""
        where = {"applicant_id": self.identity.applicant_id, "status": [s.value for s in OPEN]}
        case = rows.fetch(Case, where, order_by="-created_at", lock=True)
        if case is not None:
            actions.mark_locked(case)
        return case

    def latest_case(self) -> Case | None:
        return rows.fetch(Case, {"applicant_id": self.identity.applicant_id}, order_by="-created_at")

    def trace(self, message_id: int) -> None:
        values = {"identity_id": self.identity.pk, "message_id": message_id, "at": timezone.now(), "wipe_queued": False}
        rows.insert(ChatTrace, values)

    def say(
        self, text: str, *, markup: dict[str, Any] | None = None, priority: Priority = Priority.INTERACTIVE
    ) -> None:
        parts = split_message(text)
        for i, part in enumerate(parts):
            payload: dict[str, Any] = {"chat_id": self.chat_id, "text": part}
            if markup is not None and i == len(parts) - 1:
                payload["reply_markup"] = markup
            enqueue(CHANNEL, "send", payload, identity=self.identity, priority=priority)

    def say_phrase(self, key: str) -> None:
        self.say(phrase(key, self.language))

    def reply(self, replies: list[runner.Reply]) -> None:
        """Say what the flow said, joining texts that lead up to a question into one message: fewer
        messages reach the phone sooner under Telegram's one-message-a-second limit per chat."""
        pending: list[str] = []
        for r in replies:
            pending.append(r.text)
            if r.step:
                self.say("\n\n".join(pending), markup=_keyboard(r, self.language))
                pending = []
        if pending:
            self.say("\n\n".join(pending))

    def step(self, flow_input: object, *, restart: bool = False) -> runner.StepResult:
        was_active = self.in_flow
        result = runner.run_step(
            self.identity, flow_input, channel=ChannelKind.TELEGRAM, actor=ACTOR, restart=restart, loaded=self.loaded
        )
        self.loaded = None  # the row changed; a second step in this update reloads it
        self.session = result.session
        if result.session is not None:
            self.language = result.session.language
        self.reply(result.replies)
        if was_active and result.session is not None and result.session.status == engine.SessionStatus.FINISHED:
            _offer_news(self)
        return result

    def answer_callback(self, query_id: str, text: str | None = None) -> None:
        payload: dict[str, Any] = {"callback_query_id": query_id}
        if text:
            payload["text"] = text
        enqueue(CHANNEL, "callback", payload, identity=self.identity, priority=Priority.INTERACTIVE)

    def wipe_now(self) -> None:
        queue_wipe(self.identity, self.chat_id, priority=Priority.INTERACTIVE)


def inbound_allowed(state: TelegramChat, now: datetime) -> bool:
    """Take one update from the chat's allowance: ``TELEGRAM_INBOUND_BURST`` at once, refilled at
    ``TELEGRAM_INBOUND_PER_MINUTE``. Updates the bucket on ``state``; False when it is empty."""
    bucket = TokenBucket(
        rate=settings.TELEGRAM_INBOUND_PER_MINUTE / 60,
        burst=settings.TELEGRAM_INBOUND_BURST,
        tokens=state.inbound_tokens if state.inbound_tokens is not None else -1.0,
        updated=state.inbound_at.timestamp() if state.inbound_at is not None else now.timestamp(),
    )
    allowed = bucket.take(now.timestamp()) == 0.0
    state.inbound_tokens = bucket.tokens
    state.inbound_at = datetime.fromtimestamp(bucket.updated, tz=UTC)
    return allowed


def _over_limit(chat: Chat) -> None:
    """An update past the chat's allowance: nothing of it is kept (the message stays traced, so the
    wipe still deletes it from the phone) and nothing is answered — but the first one of a flood gets
    one polite notice, and the open case is marked for review."""
    if chat.flood_dropped != 1:
        return
    chat.say_phrase("flood")
    case = chat.open_case()
    if case is not None:
        triage.do_mark_flood(ACTOR, case)


def record_dropped(traces: list[tuple[int, int | None]]) -> int:
    """Updates the web processes dropped before the database (``inbound.py``): trace each message so
    the wipe still deletes it from the phone, and add them to the chat's count of dropped updates.
    Runs in a write transaction (``run_write``); returns how many were recorded."""
    now = timezone.now()
    identities: dict[int, ChannelIdentity] = {}
    counts: dict[uuid.UUID, int] = {}
    traced = []
    for chat_id, message_id in traces:
        identity = identities.get(chat_id)
        if identity is None:
            identity = identities[chat_id] = actions.get_or_create_identity(ChannelKind.TELEGRAM, str(chat_id))
        counts[identity.pk] = counts.get(identity.pk, 0) + 1
        if message_id is not None:
            traced.append({"identity_id": identity.pk, "message_id": message_id, "at": now, "wipe_queued": False})
    rows.insert_many(ChatTrace, traced)
    for identity_id, count in counts.items():
        TelegramChat.objects.filter(identity_id=identity_id).update(flood_dropped=F("flood_dropped") + count)
    return sum(counts.values())


def _flood_over(chat: Chat) -> None:
    """The chat is within its allowance again: say on the case how much the flood dropped."""
    if chat.flood_ended:
        case = chat.open_case()
        if case is not None:
            triage.do_record_flood_end(ACTOR, case, chat.flood_ended)


def _keyboard(reply: runner.Reply, language: str) -> dict[str, Any]:
    rows: list[list[dict[str, str]]] = []
    for option in reply.options:
        rows.append([{"text": option.label, "callback_data": _flow_data(reply.step or "", option.value)}])
    controls: list[dict[str, str]] = []
    if reply.optional:
        controls.append({"text": phrase("button_skip", language), "callback_data": "s"})
    if reply.can_go_back:
        controls.append({"text": phrase("button_back", language), "callback_data": "b"})
    controls.append({"text": phrase("button_person", language), "callback_data": "p"})
    rows.append(controls)
    return {"inline_keyboard": rows}


def _flow_data(step: str, value: str) -> str:
    data = f"f|{step}|{value}"
    if len(data.encode()) > 64:  # Telegram's callback_data limit; the flow loader keeps ids short
        raise ValueError(f"callback data for step {step!r} is longer than 64 bytes")
    return data


# --- messages --------------------------------------------------------------------------------------


def _on_message(msg: Message) -> None:
    chat = Chat(msg.chat.id, msg.from_user.language_code if msg.from_user else None)
    chat.trace(msg.message_id)
    if not chat.allowed:
        _over_limit(chat)
        return
    _flood_over(chat)
    if chat.identity.blocked:
        _quarantine(chat, msg)
        return
    text = (msg.text or "").strip()
    if text.startswith("/"):
        _on_command(chat, text)
    elif text and receipts.looks_like_receipt(text):
        _on_receipt(chat, text)
    elif text:
        _on_text(chat, text)
    elif any(getattr(msg, kind) for kind in FILE_KINDS) or msg.location or msg.contact:
        _on_file(chat, msg)
    else:
        chat.say_phrase("text_please")


def _on_command(chat: Chat, text: str) -> None:
    command = text.split()[0][1:].split("@")[0].lower()
    if command == "start" and _staff_link(chat, text):
        return
    if command == "start":
        case = chat.open_case()
        if case is not None and not chat.in_flow:
            chat.say_phrase("welcome_back")
        else:
            chat.step(engine.Start(language=chat.language), restart=True)
    elif command == "lang":
        chat.say(phrase("choose_language", chat.language), markup=_language_keyboard())
    elif command == "status":
        _status(chat)
    elif command == "forget":
        chat.wipe_now()
    elif command == "subscribe":
        _subscribe_command(chat, text)
    elif command == "unsubscribe":
        chat.say_phrase("unsubscribed" if subscribers.unsubscribe(chat.identity) else "not_subscribed")
    elif command == "verify":
        from hotline.portal.contacts import verify_reply

        chat.say(verify_reply(chat.language))
    else:
        chat.say_phrase("help")


def _staff_link(chat: Chat, text: str) -> bool:
    """``/start CODE`` with a staff member's one-time link code links this chat for their notifications
    (counts only, docs/console.md). Anything else, a stale code included, is an ordinary /start, so
    the bot says nothing about which codes exist."""
    words = text.split(maxsplit=1)
    code = notify.parse_link_code(words[1]) if len(words) == 2 else None
    if code is None:
        return False
    linked = notify.do_link_telegram(code, chat.chat_id)
    if linked is None:
        return False
    chat.say(notify.linked_text(linked.language))
    return True


def _language_keyboard() -> dict[str, Any]:
    """A button per language the hotline speaks, each named in itself (``l|<language>``)."""
    buttons = [{"text": name, "callback_data": f"l|{code}"} for code, name in languages.choices()]
    return {"inline_keyboard": [buttons]}


# --- news -------------------------------------------------------------------------------------------------


def _news_keyboard(first: str) -> dict[str, Any]:
    """A button per language, the chat's own first (``n|<language>``)."""
    order = [first, *(code for code in languages.codes() if code != first)]
    return {"inline_keyboard": [[{"text": languages.name(code), "callback_data": f"n|{code}"} for code in order]]}


def _subscribe_command(chat: Chat, text: str) -> None:
    """``/subscribe`` asks for the language; ``/subscribe uk`` takes it."""
    words = text.split()
    given = words[1].lower() if len(words) > 1 else ""
    if given in languages.codes():
        _subscribe(chat, given)
        return
    current = subscribers.subscription_of(chat.identity)
    if current is not None:
        chat.say(phrase("already_subscribed", chat.language), markup=_news_keyboard(current.language))
    else:
        chat.say(phrase("subscribe_choose", chat.language), markup=_news_keyboard(chat.language))


def _subscribe(chat: Chat, language: str) -> None:
    outcome = subscribers.subscribe(chat.identity, language)
    if outcome == "same":
        chat.say_phrase("already_subscribed")
    else:
        chat.say(phrase("subscribed", language))


def _offer_news(chat: Chat) -> None:
    """At the end of an application: would they like the hotline's news? (Not asked of a subscriber.)"""
    if subscribers.subscription_of(chat.identity) is not None:
        return
    buttons = [
        {"text": phrase("button_yes", chat.language), "callback_data": f"n|{chat.language}"},
        {"text": phrase("button_no", chat.language), "callback_data": "n|no"},
    ]
    chat.say(phrase("subscribe_offer", chat.language), markup={"inline_keyboard": [buttons]})


def _on_news_button(chat: Chat, query_id: str, choice: str) -> None:
    chat.answer_callback(query_id)
    if choice in languages.codes():
        _subscribe(chat, choice)
    elif choice == "no":
        chat.say_phrase("subscribe_declined")


def _status(chat: Chat) -> None:
    case = chat.latest_case()
    if case is None:
        chat.say_phrase("no_case")
        return
    status = Status(case.status)
    key = f"status_{status.value}" if status in OPEN else "status_finished"
    chat.say_phrase(key)


def _on_receipt(chat: Chat, text: str) -> None:
    """A receipt typed in: this account now belongs to the receipt's case. Whatever it was doing (an
    intake begun with /start on a new phone) ends; what the person writes next goes to the case, and
    the operators' replies so far are shown (they were sealed into the receipt's mailbox)."""
    try:
        receipt = receipts.parse_receipt(text)
    except codes.CodeError:
        receipt = None
    row = actions.find_receipt(receipt) if receipt is not None else None
    if receipt is None or row is None:
        chat.say_phrase("receipt_unknown")
        return
    actions.do_link_identity(ACTOR, chat.identity, row.case)
    chat.identity.refresh_from_db()
    if chat.in_flow:
        runner.end_session(chat.identity)
        chat.session, chat.loaded = None, None
    chat.say_phrase("linked")
    earlier = mailbox.replies_for(ACTOR, row, receipt)
    if earlier:
        chat.say(phrase("earlier_replies", chat.language).format(count=len(earlier)))
        for reply in earlier:
            chat.say(reply.body)


def _on_text(chat: Chat, text: str) -> None:
    if chat.in_flow:
        chat.step(engine.Text(text))
        return
    case = chat.open_case()
    known = _knowledge_base_answer(text, chat.language)
    if case is not None:
        # Operators see everything an applicant writes, answered by the bot or not.
        actions.do_add_message(ACTOR, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=text)
    if known is not None:
        from hotline.kb.counter import count_auto_answer

        count_auto_answer()  # a number per day for the figures, nothing about the question
        chat.say(f"{known.title}\n\n{known.answer}", markup=_person_button(chat.language))
    elif case is None:
        chat.step(engine.Start(language=chat.language), restart=True)
    else:
        chat.say_phrase("message_received")


def _knowledge_base_answer(text: str, language: str) -> Any:
    """A published article that answers ``text`` with confidence, or None (then operators answer).
    The knowledge base speaks the languages it has analysers for; in another, operators answer."""
    from hotline.kb.content import LANGUAGES as KB_LANGUAGES
    from hotline.kb.search import answer

    if language not in KB_LANGUAGES:
        return None
    match = answer(text, language)
    return match if match is not None and match.confident else None


def _person_button(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": phrase("button_person", language), "callback_data": "p"}]]}


def _on_file(chat: Chat, msg: Message) -> None:
    case = chat.open_case()
    if case is None:
        chat.say_phrase("answer_first")
        return
    if msg.location is not None:
        body = f"[location] {msg.location.latitude:.6f}, {msg.location.longitude:.6f}"
        actions.do_add_message(ACTOR, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=body)
    elif msg.contact is not None:
        name = " ".join(p for p in (msg.contact.first_name, msg.contact.last_name) if p)
        body = f"[contact] {name} {msg.contact.phone_number}".strip()
        actions.do_add_message(ACTOR, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=body)
    else:
        kind, file_id, size, meta = _file_of(msg)
        if size is not None and size > settings.TELEGRAM_MAX_FILE_BYTES:
            chat.say_phrase("file_too_big")
            return
        caption = (msg.caption or "").strip()
        message = actions.do_add_message(
            ACTOR,
            case,
            direction=Direction.INBOUND,
            channel=ChannelKind.TELEGRAM,
            body=f"[{kind}] {caption}".strip(),
        )
        enqueue(
            CHANNEL,
            "fetch",
            {"file_id": file_id, "kind": kind, "meta": meta},
            identity=chat.identity,
            message=message,
            priority=Priority.REPLY,
        )
    chat.say_phrase("file_received")


def _file_of(msg: Message) -> tuple[str, str, int | None, dict[str, Any]]:
    if msg.photo:
        biggest = msg.photo[-1]
        return "photo", biggest.file_id, biggest.file_size, {"mime_type": "image/jpeg"}
    for kind in ("voice", "video_note", "document", "video", "audio"):
        item = getattr(msg, kind)
        if item is not None:
            meta = {"mime_type": getattr(item, "mime_type", None), "file_name": getattr(item, "file_name", None)}
            return kind, item.file_id, item.file_size, {k: v for k, v in meta.items() if v}
    raise ValueError("message has no file")


def _quarantine(chat: Chat, msg: Message) -> None:
    """A flagged identity: keep what it sends, out of the queue, and answer nothing."""
    case = chat.latest_case()
    text = (msg.text or msg.caption or "").strip() or "[non-text message]"
    if case is not None and not case.is_shredded:
        triage.do_add_quarantined_message(ACTOR, case, channel=ChannelKind.TELEGRAM, body=text)


# --- buttons ----------------------------------------------------------------------------------------


def _on_callback(query: CallbackQuery) -> None:
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    chat = Chat(chat_id, query.from_user.language_code)
    if not chat.allowed:
        _over_limit(chat)  # the button's spinner runs out by itself: answering would cost a send
        return
    _flood_over(chat)
    data = query.data or ""
    if chat.identity.blocked:
        chat.answer_callback(query.id)
        return
    if data.startswith("l|") and data[2:] in languages.codes():
        chat.answer_callback(query.id)
        chat.language = data[2:]
        if chat.session is not None and (chat.in_flow or chat.open_case() is not None):
            chat.step(engine.SetLanguage(data[2:]))  # a finished conversation keeps the new language
            if not chat.in_flow:
                chat.say_phrase("language_set")
        else:
            chat.step(engine.Start(language=data[2:]), restart=True)
        return
    if data == "p" and not chat.in_flow:
        chat.answer_callback(query.id)
        _reach_a_person(chat)
        return
    if data.startswith("n|"):
        _on_news_button(chat, query.id, data[2:])
        return
    if not chat.in_flow:
        chat.answer_callback(query.id, phrase("stale_button", chat.language))
        return
    if data == "b":
        chat.answer_callback(query.id)
        chat.step(engine.Back())
    elif data == "p":
        chat.answer_callback(query.id)
        chat.step(engine.TalkToPerson())
    elif data == "s":
        chat.answer_callback(query.id)
        chat.step(engine.Skip())
    elif data.startswith("f|") and data.count("|") == 2:
        _, step, value = data.split("|")
        if chat.session is None or chat.session.step != step:
            chat.answer_callback(query.id, phrase("stale_button", chat.language))
            return
        chat.answer_callback(query.id)
        chat.step(engine.Choose(value))
    else:
        chat.answer_callback(query.id)


def _reach_a_person(chat: Chat) -> None:
    """ "Talk to a person" under a knowledge-base answer: hand over the open case, or open one."""
    case = chat.open_case()
    if case is not None:
        chat.say_phrase("message_received")
        return
    chat.step(engine.Start(language=chat.language), restart=True)
    chat.step(engine.TalkToPerson())


def _on_membership(update: ChatMemberUpdated) -> None:
    """The person blocked (or unblocked) the bot: stop (or resume) writing to them."""
    identity = actions.find_identity(ChannelKind.TELEGRAM, str(update.chat.id))
    if identity is None:
        return
    blocked = update.new_chat_member.status == "kicked"
    TelegramChat.objects.filter(identity=identity).update(blocked_bot=blocked)


# --- leaving no trace ----------------------------------------------------------------------------------


def queue_wipe(identity: ChannelIdentity, chat_id: int, *, priority: Priority = Priority.HOUSEKEEPING) -> int:
    """Queue deletion of every traced message of this chat (both sides); returns how many."""
    ids = list(
        ChatTrace.objects.filter(identity=identity, wipe_queued=False)
        .order_by("message_id")
        .values_list("message_id", flat=True)
    )
    for start in range(0, len(ids), 100):  # deleteMessages takes at most 100 ids
        enqueue(
            CHANNEL,
            "delete",
            {"chat_id": chat_id, "message_ids": ids[start : start + 100]},
            identity=identity,
            priority=priority,
        )
    ChatTrace.objects.filter(identity=identity, message_id__in=ids).update(wipe_queued=True)
    return len(ids)


def wipe_idle_chats() -> int:
    """Scheduled: wipe chats idle for TELEGRAM_WIPE_AFTER_SECONDS, and any message nearing 48 hours."""
    from django.db import transaction
    from django.db.models import Max, Min, Q

    from hotline.keyring.transport_fields import open_field

    now = timezone.now()
    idle_since = now - timedelta(seconds=settings.TELEGRAM_WIPE_AFTER_SECONDS)
    deadline = now - timedelta(hours=46)
    due = (
        ChatTrace.objects.filter(wipe_queued=False)
        .values("identity")
        .annotate(last=Max("at"), first=Min("at"))
        .filter(Q(last__lt=idle_since) | Q(first__lt=deadline))
    )
    total = 0
    for row in due[:500]:
        with transaction.atomic():
            identity = ChannelIdentity.objects.filter(pk=row["identity"]).first()
            if identity is None:
                continue
            total += queue_wipe(identity, int(open_field(identity, "address_enc")))
    # Anything past the window can no longer be deleted by the bot; forget it.
    ChatTrace.objects.filter(at__lt=now - timedelta(hours=48)).delete()
    return total
