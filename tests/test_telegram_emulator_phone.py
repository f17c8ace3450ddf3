"""The emulator's simulated phone page (``GET /phone``) and the control actions it drives over HTTP.

Everything talks to an emulator on 127.0.0.1 with plain urllib, as the page's fetch() calls do.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from hotline.testing.telegram_emulator import CONTROL_ACTIONS, PHONE_DIR, TelegramEmulator

TOKEN = "654321:PHONE-token"
# 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emulator:
        yield emulator


def fetch(url: str, body: Any = None) -> tuple[int, Message, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http://127.0.0.1 only)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def control(tg: TelegramEmulator, action: str, **kwargs: Any) -> Any:
    status, _, body = fetch(f"{tg.base_url}/_emulator/{action}", kwargs)
    answer = json.loads(body)
    assert status == 200 and answer["ok"], answer
    return answer["result"]


def control_error(tg: TelegramEmulator, action: str, **kwargs: Any) -> str:
    status, _, body = fetch(f"{tg.base_url}/_emulator/{action}", kwargs)
    answer = json.loads(body)
    assert status == 400 and not answer["ok"], answer
    return str(answer["description"])


def bot_api(tg: TelegramEmulator, method: str, **params: Any) -> Any:
    status, _, body = fetch(f"{tg.base_url}/bot{TOKEN}/{method}", params)
    answer = json.loads(body)
    assert status == 200 and answer["ok"], answer
    return answer["result"]


# ---------------------------------------------------------------------- the page and its assets


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/phone", "text/html"),
        ("/phone/", "text/html"),
        ("/phone.js", "text/javascript"),
        ("/phone.css", "text/css"),
    ],
)
def test_page_and_assets_are_served_with_a_strict_csp(tg: TelegramEmulator, path: str, content_type: str) -> None:
    status, headers, body = fetch(tg.base_url + path)
    assert status == 200
    assert headers.get_content_type() == content_type
    assert headers.get_content_charset() == "utf-8"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body  # and it is the file shipped beside the emulator
    assert body == (PHONE_DIR / {"text/html": "phone.html"}.get(content_type, path.lstrip("/"))).read_bytes()


@pytest.mark.parametrize("name", ["phone.html", "phone.js", "phone.css"])
def test_assets_reference_no_other_host(name: str) -> None:
    text = (PHONE_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"(?i:https?:|wss?:|@import|//[a-z0-9.-]+\.[a-z]{2,})|\burl\(", text)


def test_page_has_no_inline_script_or_style_and_links_its_own_assets() -> None:
    html = (PHONE_DIR / "phone.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL | re.IGNORECASE)
    assert scripts == [(' src="/phone.js" defer', "")]
    assert re.findall(r'<link\b[^>]*href="([^"]*)"', html) == ["/phone.css"]
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", html, re.IGNORECASE)
    assert 'lang="en"' in html


def test_page_uses_only_existing_control_actions() -> None:
    script = (PHONE_DIR / "phone.js").read_text(encoding="utf-8")
    used = set(re.findall(r'call\("([a-z_]+)"', script)) | {"unblock_bot", "block_bot"}
    assert {"add_user", "user", "chat", "send_text", "send_command", "press_button", "send_photo"} <= used
    assert used <= CONTROL_ACTIONS
    assert 'const API = "/_emulator/";' in script
    assert "innerHTML" not in script and "eval(" not in script


def test_no_page_without_the_control_api() -> None:
    with TelegramEmulator(TOKEN, control_api=False) as tg:
        for path in ("/phone", "/phone.js", "/phone.css", "/_emulator/chat"):
            status, headers, _ = fetch(tg.base_url + path)
            assert status == 404 and "Content-Security-Policy" not in headers


def test_bot_api_answers_carry_no_page_headers(tg: TelegramEmulator) -> None:
    status, headers, _ = fetch(f"{tg.base_url}/bot{TOKEN}/getMe")
    assert status == 200 and "Content-Security-Policy" not in headers


# ---------------------------------------------------------------------- the control actions the page uses


def test_user_chats_and_presses_a_button_over_http(tg: TelegramEmulator) -> None:
    user = control(tg, "add_user", first_name="Demo", language_code="ru")
    uid = user["id"]
    assert user["language_code"] == "ru" and not user["blocked"]
    assert control(tg, "user", user_id=uid)["id"] == uid  # how the page reuses the id kept in localStorage
    assert "no simulated user" in control_error(tg, "user", user_id=uid + 1)

    control(tg, "send_command", user_id=uid, command="start")
    control(tg, "send_text", user_id=uid, text="hello")
    assert [u["message"]["text"] for u in control(tg, "pending_updates")] == ["/start", "hello"]

    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}, {"text": "No", "callback_data": "n"}]]}
    sent = bot_api(tg, "sendMessage", chat_id=uid, text="Continue?", reply_markup=keyboard, protect_content=True)

    chat = control(tg, "chat", user_id=uid)
    assert [(m["sender"], m["kind"], m["text"]) for m in chat] == [
        ("user", "text", "/start"),
        ("user", "text", "hello"),
        ("bot", "text", "Continue?"),
    ]
    last = chat[-1]
    assert last["message_id"] == sent["message_id"]
    assert last["protect_content"] is True and last["edited"] is False
    assert last["buttons"] == [["Yes", "No"]]
    assert last["reply_markup"] == keyboard
    assert isinstance(last["date"], int)

    update = control(tg, "press_button", user_id=uid, message_id=last["message_id"], data="n", text="No")
    query = update["callback_query"]
    assert query["data"] == "n" and query["from"]["id"] == uid
    assert control(tg, "callback_answer", callback_query_id=query["id"]) is None
    bot_api(tg, "answerCallbackQuery", callback_query_id=query["id"], text="Noted")
    assert control(tg, "callback_answer", callback_query_id=query["id"])["text"] == "Noted"
    assert "no such callback button" in control_error(
        tg, "press_button", user_id=uid, message_id=last["message_id"], data="maybe"
    )
    user_message_id = chat[0]["message_id"]
    assert "no such bot message" in control_error(tg, "press_button", user_id=uid, message_id=user_message_id, data="y")

    bot_api(tg, "deleteMessage", chat_id=uid, message_id=last["message_id"])
    assert [m["text"] for m in control(tg, "chat", user_id=uid)] == ["/start", "hello"]


def test_chat_accepts_a_query_string_too(tg: TelegramEmulator) -> None:
    uid = control(tg, "add_user", language_code="en")["id"]
    control(tg, "send_text", user_id=uid, text="/help")
    status, _, body = fetch(f"{tg.base_url}/_emulator/chat?user_id={uid}")
    assert status == 200 and [m["text"] for m in json.loads(body)["result"]] == ["/help"]


def test_send_photo_takes_base64(tg: TelegramEmulator) -> None:
    uid = control(tg, "add_user", language_code="uk")["id"]
    update = control(tg, "send_photo", user_id=uid, data=base64.b64encode(PNG).decode(), caption="evidence")
    photo = update["message"]["photo"][0]
    assert update["message"]["caption"] == "evidence" and photo["file_size"] == len(PNG)
    file = bot_api(tg, "getFile", file_id=photo["file_id"])
    status, _, data = fetch(f"{tg.base_url}/file/bot{TOKEN}/{file['file_path']}")
    assert status == 200 and data == PNG
    [message] = control(tg, "chat", user_id=uid)
    assert (message["sender"], message["kind"], message["caption"]) == ("user", "photo", "evidence")

    assert control_error(tg, "send_photo", user_id=uid, data="not base64!")
    assert "base64" in control_error(tg, "send_photo", user_id=uid, data=[1, 2, 3])
    assert len(control(tg, "chat", user_id=uid)) == 1


def test_block_unblock_and_reply_keyboard(tg: TelegramEmulator) -> None:
    uid = control(tg, "add_user", language_code="ru")["id"]
    control(tg, "send_command", user_id=uid, command="start")
    assert control(tg, "reply_keyboard", user_id=uid) is None
    keys = {"keyboard": [[{"text": "Русский"}, {"text": "English"}]], "resize_keyboard": True}
    bot_api(tg, "sendMessage", chat_id=uid, text="Language?", reply_markup=keys)
    assert control(tg, "reply_keyboard", user_id=uid) == [["Русский", "English"]]

    assert control(tg, "block_bot", user_id=uid)["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    assert control(tg, "user", user_id=uid)["blocked"] is True
    assert "blocked the bot" in control_error(tg, "send_text", user_id=uid, text="hi")
    control(tg, "unblock_bot", user_id=uid)
    assert control(tg, "user", user_id=uid)["blocked"] is False
    control(tg, "send_text", user_id=uid, text="hi")
