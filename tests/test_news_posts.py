"""Posts: checking what is written, publishing and scheduling, editing and deleting through the outbox,
the Telegram adapter's calls, and the console's Posts section.

The Bot API emulator has no channels and no sendPhoto yet, so the adapter's calls for channel posts
and images are checked against a recording fake bot here; the same kinds are driven through the real
emulator (a private chat standing in for the channel) in tests/test_news_subscribers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest
from django.test import Client
from django.utils import timezone

from hotline.audit.models import AuditEvent
from hotline.channels.telegram.adapter import TelegramAdapter
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.news import markup, posts
from hotline.news.broadcasts import NewsError
from hotline.news.models import Post, PostMessage
from hotline.news.posts import Draft
from hotline.outbox.enqueue import payload_of
from hotline.outbox.models import OutboxMessage
from hotline.worker import jobs
from hotline.worker.loop import Worker
from tests.conftest import Org
from tests.console_support import make_staff, signed_in_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
SAM = Actor(user_id=None, label="sam", role=Role.SUPERVISOR)
ALICE = Actor(user_id=None, label="alice", role=Role.OPERATOR)


@pytest.fixture(autouse=True)
def _channels(settings: Any) -> None:
    settings.TELEGRAM_CHANNELS = {"ru": "@hotline_ru", "en": "@hotline_en"}


def _post(texts: dict[str, str] | None = None, *, image: bytes | None = None, actor: Actor = SAM) -> Post:
    return posts.do_create_post(
        actor, Draft("Weekly news", texts or {"ru": "<b>Новости</b>", "en": "<b>News</b>"}), image=image
    )


def _rows(kind: str | None = None) -> list[OutboxMessage]:
    rows = OutboxMessage.objects.order_by("id")
    return list(rows.filter(kind=kind) if kind else rows)


def _history(post: Post) -> list[str]:
    return list(AuditEvent.objects.filter(object_type="post", object_id=str(post.pk)).values_list("action", flat=True))


# --- what a post may say ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("<b></b>", "empty"),
        ("<div>x</div>", "not allowed"),
        ("<script>alert(1)</script>", "not allowed"),
        ("<b>bold", "never closed"),
        ("<b><i>x</b></i>", "does not close"),
        ('<a href="javascript:alert(1)">x</a>', "http"),
        ('<a href="data:text/html,x">x</a>', "http"),
        ('<a href="https://x.example" onclick="y">x</a>', "exactly one attribute"),
        ('<b class="x">x</b>', "no attributes"),
        ("1 < 2", "&lt;"),
        ("a > b", "&gt;"),
        ("Tom & Jerry", "&amp;"),
        ("<pre><b>x</b></pre>", "inside <code> or <pre>"),
        ("x" * 4097, "4096"),
    ],
)
def test_a_text_telegram_would_refuse_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(markup.MarkupError, match=reason):
        markup.check(text)


def test_allowed_markup_passes_and_the_length_is_counted_as_telegram_counts() -> None:
    text = (
        '<b>b</b> <i>i</i> <u>u</u> <s>s</s> <a href="https://example.org/?a=1&amp;b=2">link</a> <code>c</code> '
        '<pre>p</pre> <blockquote>q</blockquote> <tg-spoiler>x</tg-spoiler> <a href="tg://resolve?domain=x">t</a> '
        "1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot; &#1234;"
    )
    markup.check(text)
    assert markup.check("x" * 4096)
    assert markup.check("&lt;" * 4096)  # an entity is one character on the phone
    with pytest.raises(markup.MarkupError, match="4096"):
        markup.check("😀" * 2049)  # two UTF-16 units each, as Telegram counts
    assert markup.check("x" * 1024, caption=True)
    with pytest.raises(markup.MarkupError, match="1024"):
        markup.check("x" * 1025, caption=True)


def test_the_preview_escapes_everything_but_the_allowed_tags() -> None:
    shown = markup.preview(
        '<b>bold</b> &lt;script&gt;alert(1)&lt;/script&gt; <a href="https://e.example/?a=&quot;x">l</a>'
    )
    assert "<b>bold</b>" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert 'href="https://e.example/?a=&quot;x"' in shown
    assert "<script>" not in markup.preview("<script>alert(1)</script>")  # an invalid text is shown as typed


def test_images_are_png_or_jpeg_by_their_bytes_and_at_most_5_mb() -> None:
    assert posts.image_type(PNG) == "image/png"
    assert posts.image_type(JPEG) == "image/jpeg"
    with pytest.raises(NewsError, match="PNG or JPEG"):
        posts.image_type(b"GIF89a" + b"\0" * 10)
    with pytest.raises(NewsError, match="5 MB"):
        posts.image_type(PNG + b"\0" * (5 * 1024 * 1024))


def test_a_post_with_an_image_keeps_to_the_caption_limit(org: Org) -> None:
    with pytest.raises(NewsError, match="1024"):
        _post({"en": "x" * 1025}, image=PNG)
    assert _post({"en": "x" * 1025}).pk


def test_a_post_needs_a_title_and_a_text(org: Org) -> None:
    with pytest.raises(NewsError, match="title"):
        posts.do_create_post(SAM, Draft("  ", {"en": "x"}))
    with pytest.raises(NewsError, match="no text"):
        posts.do_create_post(SAM, Draft("t", {"en": " ", "ru": ""}))
    with pytest.raises(NewsError, match=r"EN:.*not allowed"):
        posts.do_create_post(SAM, Draft("t", {"en": "<div>x</div>"}))
    assert not Post.objects.exists()


def test_a_schedule_must_be_in_the_future_and_within_30_days(org: Org) -> None:
    now = timezone.now()
    post = _post()
    with pytest.raises(NewsError, match="already passed"):
        posts.do_schedule(SAM, post, now - timedelta(minutes=1))
    with pytest.raises(NewsError, match="30 days"):
        posts.do_schedule(SAM, post, now + timedelta(days=31))
    with pytest.raises(NewsError, match="time zone"):
        posts.do_schedule(SAM, post, (now + timedelta(hours=1)).replace(tzinfo=None))
    assert posts.do_schedule(SAM, post, now + timedelta(days=29)).state == Post.State.SCHEDULED


def test_only_supervisors_and_admins_write_and_publish(org: Org) -> None:
    with pytest.raises(NewsError, match="supervisors and admins"):
        _post(actor=ALICE)
    post = _post()
    for action in (posts.do_publish, posts.do_delete_post):
        with pytest.raises(NewsError, match="supervisors and admins"):
            action(ALICE, post)
    with pytest.raises(NewsError, match="supervisors and admins"):
        posts.do_edit_post(ALICE, post, Draft("x", {"en": "y"}))


# --- publishing, editing, deleting -------------------------------------------------------------------------


def test_publishing_queues_one_message_per_channel_and_language(org: Org) -> None:
    post = _post({"ru": "Новости", "uk": "Новини", "en": "News"})
    posts.do_publish(SAM, post)
    messages = sorted(PostMessage.objects.values_list("channel", "language", "state"))
    # No channel is configured for Ukrainian: that text is for broadcasts only.
    assert messages == [("@hotline_en", "en", "pending"), ("@hotline_ru", "ru", "pending")]
    rows = _rows("publish")
    assert len(rows) == 2 and all(r.channel == "telegram" and r.identity_id is None for r in rows)
    assert {payload_of(r)["post_message"] for r in rows} == set(PostMessage.objects.values_list("pk", flat=True))
    assert _history(post) == ["news.post_create", "news.post_publish"]
    with pytest.raises(NewsError, match="draft or a scheduled"):
        posts.do_publish(SAM, post)


def test_one_channel_for_every_language(org: Org, settings: Any) -> None:
    settings.TELEGRAM_CHANNELS = {"*": "@hotline"}
    posts.do_publish(SAM, _post({"ru": "a", "uk": "b", "en": "c"}))
    assert sorted(PostMessage.objects.values_list("channel", "language")) == [
        ("@hotline", "en"),
        ("@hotline", "ru"),
        ("@hotline", "uk"),
    ]


def test_editing_a_published_post_queues_edits_and_deleting_queues_deletions(org: Org) -> None:
    post = posts.do_publish(SAM, _post())
    OutboxMessage.objects.all().delete()
    post = posts.do_edit_post(SAM, post, Draft("Weekly news", {"ru": "<b>Новости</b>", "en": "<i>News!</i>"}))
    assert post.version == 2
    assert [payload_of(r)["post_message"] for r in _rows("edit_post")] == [PostMessage.objects.get(language="en").pk]
    with pytest.raises(NewsError, match="image of a published post"):
        posts.do_edit_post(SAM, post, Draft("Weekly news", {"en": "x"}), image=PNG)
    OutboxMessage.objects.all().delete()
    posts.do_delete_post(SAM, post)
    assert len(_rows("unpublish")) == 2
    assert _history(post) == ["news.post_create", "news.post_publish", "news.post_edit", "news.post_delete"]
    with pytest.raises(NewsError, match="deleted"):
        posts.do_edit_post(SAM, post, Draft("x", {"en": "y"}))


def test_the_scheduled_post_is_published_by_the_worker_job_when_due(org: Org) -> None:
    now = timezone.now()
    post = posts.do_schedule(SAM, _post(), now + timedelta(hours=1))
    assert posts.publish_due(now + timedelta(minutes=59)) == 0
    assert Post.objects.get(pk=post.pk).state == Post.State.SCHEDULED
    assert posts.publish_due(now + timedelta(hours=1)) == 1
    post.refresh_from_db()
    assert post.state == Post.State.PUBLISHED and post.publish_at is None
    assert len(_rows("publish")) == 2
    event = AuditEvent.objects.filter(object_id=str(post.pk), action="news.post_publish").get()
    assert event.actor_label == "scheduler" and "scheduled_for" in event.details
    assert posts.publish_due(now + timedelta(hours=2)) == 0  # once only
    assert {"news-publish", "news-expire"} <= {job.name for job in jobs.JOBS}


# --- the adapter, against a recording bot --------------------------------------------------------------------


@dataclass
class FakeBot:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    next_id: int = 100

    def _message(self, photo: bool = False) -> Any:
        self.next_id += 1
        sizes = [SimpleNamespace(file_id="small"), SimpleNamespace(file_id=f"AgAC-{self.next_id}")] if photo else None
        return SimpleNamespace(message_id=self.next_id, photo=sizes)

    async def send_message(self, **kw: Any) -> Any:
        self.calls.append(("sendMessage", kw))
        return self._message()

    async def send_photo(self, **kw: Any) -> Any:
        self.calls.append(("sendPhoto", kw))
        return self._message(photo=True)

    async def edit_message_text(self, **kw: Any) -> Any:
        self.calls.append(("editMessageText", kw))
        return True

    async def edit_message_caption(self, **kw: Any) -> Any:
        self.calls.append(("editMessageCaption", kw))
        raise TelegramBadRequest(method=None, message="Bad Request: message is not modified")  # type: ignore[arg-type]

    async def delete_message(self, **kw: Any) -> Any:
        self.calls.append(("deleteMessage", kw))
        return True


class FakeClient:
    def __init__(self) -> None:
        self.bot = FakeBot()

    def run(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        return asyncio.run(call(self.bot))

    def close(self) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[tuple[Worker, FakeBot]]:
    client = FakeClient()
    worker = Worker(adapters={"telegram": TelegramAdapter(client=client)}, polling=False)  # type: ignore[arg-type]
    yield worker, client.bot
    worker.close()


def _drain(worker: Worker) -> None:
    for _ in range(50):
        if not OutboxMessage.objects.filter(not_before__lte=timezone.now()).exists():
            return
        worker.deliverer.deliver_some()  # run_once() would close the test's transaction's connection
    raise AssertionError("the outbox did not drain")


def test_a_post_goes_to_its_channels_unprotected_and_keeps_the_message_id(
    org: Org, fake: tuple[Worker, FakeBot]
) -> None:
    worker, bot = fake
    post = posts.do_publish(SAM, _post())
    _drain(worker)
    sent = {kw["chat_id"]: kw for name, kw in bot.calls if name == "sendMessage"}
    assert set(sent) == {"@hotline_ru", "@hotline_en"}
    assert sent["@hotline_en"]["text"] == "<b>News</b>"
    assert all(kw["parse_mode"] == "HTML" and kw["protect_content"] is False for kw in sent.values())
    messages = PostMessage.objects.filter(post=post)
    assert all(m.state == "sent" and m.message_id and m.version == 1 for m in messages)

    bot.calls.clear()
    posts.do_edit_post(SAM, post, Draft("Weekly news", {"ru": "<b>Новости</b>", "en": "More news"}))
    _drain(worker)
    en = messages.get(language="en")
    assert bot.calls == [
        (
            "editMessageText",
            {"chat_id": "@hotline_en", "message_id": en.message_id, "text": "More news", "parse_mode": "HTML"},
        )
    ]
    assert en.version == 2

    bot.calls.clear()
    posts.do_delete_post(SAM, post)
    _drain(worker)
    assert sorted(kw["chat_id"] for name, kw in bot.calls if name == "deleteMessage") == ["@hotline_en", "@hotline_ru"]
    assert set(messages.values_list("state", flat=True)) == {"deleted"}


def test_a_post_with_an_image_is_a_photo_with_a_caption(org: Org, fake: tuple[Worker, FakeBot]) -> None:
    worker, bot = fake
    post = posts.do_publish(SAM, _post({"en": "<b>News</b>"}, image=JPEG))
    _drain(worker)
    [(name, kw)] = bot.calls
    assert name == "sendPhoto" and kw["caption"] == "<b>News</b>" and kw["protect_content"] is False
    assert kw["photo"].data == JPEG
    posts.do_edit_post(SAM, post, Draft("Weekly news", {"en": "<b>News!</b>"}))
    _drain(worker)
    assert bot.calls[-1][0] == "editMessageCaption"  # "not modified" counts as done
    assert not OutboxMessage.objects.exists()


def test_a_post_deleted_before_it_went_out_is_never_sent(org: Org, fake: tuple[Worker, FakeBot]) -> None:
    worker, bot = fake
    post = posts.do_publish(SAM, _post())
    posts.do_delete_post(SAM, post)
    _drain(worker)
    assert bot.calls == []
    assert set(PostMessage.objects.values_list("state", flat=True)) == {"deleted"}


# --- the console ---------------------------------------------------------------------------------------------


@pytest.fixture
def sam(org: Org) -> Client:
    return signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))


def _form(**extra: Any) -> dict[str, Any]:
    return {"title": "Weekly news", "text-ru": "", "text-uk": "", "text-en": "<b>News</b>", "action": "save", **extra}


def test_an_operator_gets_403_on_every_posts_url(org: Org) -> None:
    post = _post()
    alice = signed_in_client(make_staff(org, "alice", Role.OPERATOR))
    urls = [
        "/console/posts/",
        "/console/posts/new/",
        f"/console/posts/{post.pk}/",
        f"/console/posts/{post.pk}/edit/",
        f"/console/posts/{post.pk}/image/",
        f"/console/posts/{post.pk}/do/",
        f"/console/posts/{post.pk}/broadcast/",
    ]
    for url in urls:
        for method in ("get", "post"):
            assert getattr(alice, method)(url).status_code in (403,), f"{method} {url}"
    assert b"/console/posts/" not in alice.get("/console/queue/").content  # no nav entry either


def test_the_console_writes_previews_and_publishes_a_post(org: Org, sam: Client) -> None:
    assert sam.get("/console/posts/").status_code == 200
    assert b"/console/posts/" in sam.get("/console/posts/").content
    preview = sam.post("/console/posts/new/", _form(action="preview", **{"text-en": "<b>Hi</b> &lt;script&gt;"}))
    assert preview.status_code == 200 and b"<b>Hi</b> &lt;script&gt;" in preview.content
    assert not Post.objects.exists()
    response = sam.post("/console/posts/new/", _form(action="publish"))
    post = Post.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/posts/{post.pk}/"
    assert post.state == "published" and len(_rows("publish")) == 1
    page = sam.get(f"/console/posts/{post.pk}/")
    assert page.status_code == 200 and b"news.post_publish" in page.content and b"@hotline_en" in page.content


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text-en": ""}, "no text"),
        ({"text-en": "x" * 4097}, "4096"),
        ({"text-en": "<div>x</div>"}, "not allowed"),
        ({"text-en": '<a href="javascript:x">x</a>'}, "http"),
        ({"action": "schedule", "publish_at": "2001-01-01T10:00"}, "already passed"),
        ({"action": "schedule", "publish_at": "soon"}, "date and a time"),
        ({"action": "schedule", "publish_at": ""}, "date and a time"),
    ],
)
def test_a_refused_post_comes_back_in_the_editor_with_a_400(
    org: Org, sam: Client, fields: dict[str, str], reason: str
) -> None:
    response = sam.post("/console/posts/new/", _form(**fields))
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Post.objects.exists()


def test_uploads_that_are_not_images_or_too_large_get_a_clear_4xx(org: Org, sam: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    not_image = SimpleUploadedFile("a.png", b"<svg>not an image</svg>", content_type="image/png")
    response = sam.post("/console/posts/new/", _form(image=not_image))
    assert response.status_code == 400 and b"PNG or JPEG" in response.content
    big = SimpleUploadedFile("a.png", PNG + b"\0" * (5 * 1024 * 1024), content_type="image/png")
    response = sam.post("/console/posts/new/", _form(image=big))
    assert response.status_code == 400 and b"5 MB" in response.content
    huge = SimpleUploadedFile("a.png", PNG + b"\0" * (7 * 1024 * 1024), content_type="image/png")
    assert sam.post("/console/posts/new/", _form(image=huge)).status_code == 413
    assert not Post.objects.exists()
    ok = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    assert sam.post("/console/posts/new/", _form(image=ok)).status_code == 302
    post = Post.objects.get()
    assert bytes(post.image) == PNG and post.image_mime == "image/png"
    image = sam.get(f"/console/posts/{post.pk}/image/")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


def test_scheduling_from_the_console(org: Org, sam: Client) -> None:
    when = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert sam.post("/console/posts/new/", _form(action="schedule", publish_at=when)).status_code == 302
    post = Post.objects.get()
    assert post.state == "scheduled" and post.publish_at is not None
    assert sam.post(f"/console/posts/{post.pk}/do/", {"action": "publish"}).status_code == 302
    assert Post.objects.get().state == "published"
    assert sam.post(f"/console/posts/{post.pk}/do/", {"action": "publish"}).status_code == 400
    assert sam.post(f"/console/posts/{post.pk}/do/", {"action": "delete"}).status_code == 302
    assert Post.objects.get().state == "deleted"
    assert sam.get(f"/console/posts/{post.pk}/edit/").status_code == 400


def test_a_broadcast_from_the_console_shows_its_progress(org: Org, sam: Client) -> None:
    post = posts.do_publish(SAM, _post())
    bad = sam.post(f"/console/posts/{post.pk}/broadcast/", {"language": "en", "expire_hours": "48"})
    assert bad.status_code == 400 and b"47" in bad.content
    assert sam.post(f"/console/posts/{post.pk}/broadcast/", {"language": "uk"}).status_code == 400  # no uk text
    response = sam.post(f"/console/posts/{post.pk}/broadcast/", {"language": "en", "expire_hours": "2"})
    assert response.status_code == 302
    page = sam.get(response["Location"])
    assert page.status_code == 200 and b"hx-trigger" not in page.content  # nobody subscribed: already done
    fragment = sam.get(response["Location"], HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert sam.post(response["Location"] + "control/", {"action": "pause"}).status_code == 400
