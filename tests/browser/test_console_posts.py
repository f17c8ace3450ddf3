"""Posts and broadcasts in Chromium: an admin writes a post, publishes it to the channels (the
emulator plays Telegram, channels included), broadcasts it to the subscribers and watches it finish."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases import actions
from hotline.channels.telegram.models import TelegramChat
from hotline.core.lifecycle import Role
from hotline.core.metadata import ChannelKind
from hotline.news.models import Broadcast, PostMessage, Subscriber
from tests.browser.conftest import screenshot
from tests.browser.test_console import sign_in
from tests.conftest import Org
from tests.console_support import make_staff
from tests.telegram_harness import TelegramRig

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_post_is_published_to_the_channels_and_broadcast_to_subscribers(
    page: Page, live_server: LiveServer, telegram: TelegramRig, org_tx: Org, settings: object
) -> None:
    telegram.emulator.add_channel("@hotline_ru")
    telegram.emulator.add_channel("@hotline_en")
    settings.TELEGRAM_CHANNELS = {"ru": "@hotline_ru", "en": "@hotline_en"}  # type: ignore[attr-defined]
    subscribers = telegram.emulator.add_users(12, language_code="ru")
    with transaction.atomic():
        for chat in subscribers:
            identity = actions.get_or_create_identity(ChannelKind.TELEGRAM, str(chat))
            TelegramChat.objects.create(identity=identity, last_activity=timezone.now())
            Subscriber.objects.create(identity=identity, language="ru", created_at=timezone.now())

    editor = make_staff(org_tx, "sofia", Role.SUPERVISOR)
    sign_in(page, live_server, editor)
    page.get_by_role("link", name="Posts").click()
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title (shown only in the console)").fill("Как связаться")
    page.get_by_label("Text in Русский").fill("<b>Горячая линия</b> работает круглосуточно.")
    page.get_by_label("Text in English").fill("The <i>hotline</i> is open day and night.")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("main")).to_contain_text("Горячая линия работает круглосуточно.")
    expect(page.locator("main b", has_text="Горячая линия")).to_have_count(1)  # rendered, not shown as tags
    page.get_by_role("button", name="Publish now").click()
    telegram.drain()

    ru = telegram.emulator.channel_messages("@hotline_ru")
    assert [m.text for m in ru] == ["Горячая линия работает круглосуточно."]
    assert [m.text for m in telegram.emulator.channel_messages("@hotline_en")] == ["The hotline is open day and night."]
    assert set(PostMessage.objects.values_list("state", flat=True)) == {"sent"}

    page.reload()
    page.get_by_label("Send to the subscribers of").select_option("ru")
    page.get_by_label("Delete from their chats after this many hours (1–47; empty: keep)").fill("24")
    page.get_by_role("button", name="Broadcast").click()
    expect(page.locator("main")).to_contain_text("12")
    telegram.drain()
    page.reload()
    expect(page.locator("main")).to_contain_text("done")
    screenshot(page, "console-broadcast")
    broadcast = Broadcast.objects.get()
    assert (broadcast.state, broadcast.sent, broadcast.failed, broadcast.blocked) == ("done", 12, 0, 0)
    assert telegram.emulator.sent_counts().get(subscribers[0]) == 1
