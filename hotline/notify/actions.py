"""The only writers of notification settings, and the Telegram job that decides what to send.

Every change is an audit event on the staff member (``notify.*``); a chat id never is, nor is a
link code. What reaches Telegram is a count in the person's console language ("2 new cases"),
through the outbox like every other message, at most one message per
``HOTLINE_NOTIFY_TELEGRAM_SECONDS``: what arrives meanwhile is added up into the next one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.audit import log as audit
from hotline.core import codes
from hotline.core.actor import Actor
from hotline.keyring import server_keys
from hotline.keyring.transport_fields import open_field, seal_field
from hotline.notify.models import NotificationSettings
from hotline.notify.signals import CASEWORKER_ROLES, Counts, counts_for, horizon, window_start

log = logging.getLogger("hotline.notify")

LINK_CODE_BITS = 50  # ten characters and a check character; it lives LINK_CODE_LIFETIME, once
LINK_CODE_LIFETIME = timedelta(minutes=15)
_LINK_DOMAIN = "notify-link"
LANGUAGES = ("en", "uk")  # the console's languages: the Telegram messages are written in them
TELEGRAM_ACTOR = Actor.system("telegram")


class NotifyError(ValueError):
    """A change the person may not make, with the reason in their language."""


def settings_of(user: User) -> NotificationSettings:
    """The person's settings as they stand (all off until they switch something on); not saved."""
    found = NotificationSettings.objects.filter(user=user).first()
    return found if found is not None else NotificationSettings(user=user, updated_at=timezone.now())


def _locked(user: User) -> NotificationSettings:
    found = NotificationSettings.objects.select_for_update().filter(user=user).first()
    if found is None:
        found = NotificationSettings(user=user, updated_at=timezone.now())
        found.save()
    return found


def _language(code: str) -> str:
    return code if code in LANGUAGES else "en"


def do_set_preferences(user: User, *, in_console: bool, by_telegram: bool, language: str) -> NotificationSettings:
    """Switch the console's and Telegram's notifications on or off for ``user``."""
    if user.staff_role not in CASEWORKER_ROLES:
        raise NotifyError(gettext("Notifications are for operators, supervisors and admins."))
    now = timezone.now()
    with transaction.atomic():
        row = _locked(user)
        if by_telegram and not row.telegram_linked:
            raise NotifyError(gettext("Link your Telegram account first."))
        if by_telegram and not row.by_telegram:
            row.telegram_cursor = now  # from now on: nothing from before is news
        row.in_console, row.by_telegram = in_console, by_telegram
        row.language = _language(language)
        row.updated_at = now
        row.save()
        audit.record(
            actor_of(user), "notify.settings", "user", user.pk, {"console": in_console, "telegram": by_telegram}
        )
    return row


def do_start_telegram_link(user: User) -> str:
    """A fresh one-time code the person sends to the bot (``/start CODE``); only its index is kept."""
    if user.staff_role not in CASEWORKER_ROLES:
        raise NotifyError(gettext("Notifications are for operators, supervisors and admins."))
    code = codes.generate(LINK_CODE_BITS)
    now = timezone.now()
    with transaction.atomic():
        row = _locked(user)
        row.link_code_index = _code_index(code)
        row.link_code_expires = now + LINK_CODE_LIFETIME
        row.updated_at = now
        row.save()
        audit.record(actor_of(user), "notify.telegram.code", "user", user.pk)
    return codes.group(code)


def parse_link_code(text: str) -> str | None:
    """A typed link code in canonical form, or None if it is not one (a wrong check character too)."""
    try:
        return codes.normalise(text, -(-LINK_CODE_BITS // 5))
    except codes.CodeError:
        return None


def _code_index(code: str) -> bytes:
    return server_keys.get().blind_index(_LINK_DOMAIN, code)


def do_link_telegram(code: str, chat_id: int, now: datetime | None = None) -> NotificationSettings | None:
    """Link the chat that sent a valid, unexpired link code (canonical, :func:`parse_link_code`) to
    its owner and switch Telegram notifications on; None if no such code is waiting. Runs in the
    bot's update transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            NotificationSettings.objects.select_for_update()
            .select_related("user")
            .filter(link_code_index=_code_index(code), link_code_expires__gt=now)
            .first()
        )
        if row is None or not row.user.is_active or row.user.staff_role not in CASEWORKER_ROLES:
            return None
        row.telegram_chat_enc = seal_field(row, "telegram_chat_enc", str(chat_id))
        row.telegram_linked_at = now
        row.link_code_index = None
        row.link_code_expires = None
        if not row.by_telegram:
            row.by_telegram, row.telegram_cursor = True, now
        row.updated_at = now
        row.save()
        audit.record(TELEGRAM_ACTOR, "notify.telegram.link", "user", row.user_id)
    return row


def do_unlink_telegram(user: User) -> None:
    """Forget the linked Telegram account (and any waiting link code); Telegram notifications stop."""
    with transaction.atomic():
        row = _locked(user)
        row.telegram_chat_enc = None
        row.telegram_linked_at = None
        row.link_code_index = None
        row.link_code_expires = None
        row.by_telegram = False
        row.updated_at = timezone.now()
        row.save()
        audit.record(actor_of(user), "notify.telegram.unlink", "user", user.pk)


# --- the Telegram job ---------------------------------------------------------------------------------


def linked_text(language: str) -> str:
    """What the bot answers the chat that linked itself."""
    with translation.override(_language(language)):
        return gettext(
            "This Telegram account now gets the hotline's notifications: only how many cases and messages "
            "arrived, never what they say. Switch them off on the console's Phone line page."
        )


def telegram_text(counts: Counts, language: str) -> str:
    """The whole message: counts in words, one per line, and nothing else."""
    lines = []
    with translation.override(_language(language)):
        if counts.new_cases:
            lines.append(ngettext("%(count)d new case", "%(count)d new cases", counts.new_cases))
            lines[-1] %= {"count": counts.new_cases}
        if counts.new_messages:
            lines.append(ngettext("%(count)d new message", "%(count)d new messages", counts.new_messages))
            lines[-1] %= {"count": counts.new_messages}
        if counts.over_target:
            lines.append(
                ngettext(
                    "%(count)d case over its first-answer target",
                    "%(count)d cases over their first-answer target",
                    counts.over_target,
                )
            )
            lines[-1] %= {"count": counts.over_target}
    return "\n".join(lines)


def send_due(now: datetime | None = None) -> int:
    """Queue one Telegram message per person with something new since their last one; return how many.

    A person's cursor moves to the end of the window counted, whether or not anything was in it; a
    person who got a message less than ``HOTLINE_NOTIFY_TELEGRAM_SECONDS`` ago is left for the next
    run, so what arrives meanwhile is counted into one message.
    """
    from hotline.cases.actions import find_identity
    from hotline.core.metadata import ChannelKind
    from hotline.outbox.enqueue import enqueue
    from hotline.outbox.models import Priority

    now = now or timezone.now()
    until = horizon(now)
    gap = timedelta(seconds=settings.HOTLINE_NOTIFY_TELEGRAM_SECONDS)
    due = NotificationSettings.objects.filter(
        by_telegram=True,
        telegram_chat_enc__isnull=False,
        user__is_active=True,
        user__role__in=[r.value for r in CASEWORKER_ROLES],
    ).values_list("pk", flat=True)
    queued = 0
    for pk in list(due):
        with transaction.atomic():
            row = NotificationSettings.objects.select_for_update().select_related("user").filter(pk=pk).first()
            if row is None or not row.by_telegram or row.telegram_chat_enc is None:
                continue
            if row.telegram_sent_at is not None and now - row.telegram_sent_at < gap:
                continue
            since = window_start(row.telegram_cursor, until)
            counts = counts_for(row.user, since, until)
            fields = ["telegram_cursor"]
            row.telegram_cursor = max(until, row.telegram_cursor or until)
            if counts.any:
                chat_id = int(open_field(row, "telegram_chat_enc"))
                identity = find_identity(ChannelKind.TELEGRAM, str(chat_id))
                payload = {"chat_id": chat_id, "text": telegram_text(counts, row.language)}
                enqueue("telegram", "send", payload, identity=identity, priority=Priority.REPLY)
                row.telegram_sent_at = now
                fields.append("telegram_sent_at")
                queued += 1
            row.save(update_fields=fields)
    if queued:
        log.info("notify: %d telegram notification(s) queued", queued)
    return queued
