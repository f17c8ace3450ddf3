"""Posts: written in the console, published (now or at a set time) to the hotline's public Telegram
channels, edited and taken down there.

These actions are the only writers of posts. Each checks who asks (supervisors and admins), checks
what is asked, and writes its audit event (object ``post``) in its transaction, so a post's history
shows who did what. Channel work goes through the outbox in the same transaction: one ``PostMessage``
per (channel, language) and one outbox row for each publish, edit or deletion. The rows carry only
the ``PostMessage`` id: the adapter reads the post as it stands when it delivers, so an edit made
before the publish went out is simply part of it.

Outbox kinds (channel ``telegram``): ``publish``, ``edit_post``, ``unpublish``; payload
``{"post_message": <id>}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline import languages
from hotline.audit import log as audit
from hotline.core.actor import Actor
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import OutboxMessage, Priority

from . import markup
from .broadcasts import NewsError, check_publisher
from .models import Broadcast, BroadcastTrace, Post, PostMessage, PostText

MAX_TITLE = 120
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_SCHEDULE_AHEAD = timedelta(days=30)
IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
SCHEDULER = Actor.system("scheduler")
KEEP = object()  # "leave the image as it is"


@dataclass(frozen=True)
class Draft:
    """What the editor submits: a title, a text per language (empty: none), and the image."""

    title: str
    texts: dict[str, str]


# --- checks ------------------------------------------------------------------------------------------


def image_type(data: bytes) -> str:
    """The image's MIME type by its first bytes (PNG or JPEG), or :class:`NewsError`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise NewsError(_("The image is larger than 5 MB."))
    for magic, mime in IMAGE_TYPES:
        if data.startswith(magic):
            return mime
    raise NewsError(_("The image must be a PNG or JPEG file."))


def check_draft(draft: Draft, *, with_image: bool) -> dict[str, str]:
    """The texts to keep (language → text), or :class:`NewsError` with the first problem found."""
    title = draft.title.strip()
    if not title:
        raise NewsError(_("Give the post a title (it is shown only in the console)."))
    if len(title) > MAX_TITLE:
        raise NewsError(_("The title may be at most %(n)s characters.") % {"n": MAX_TITLE})
    texts = {}
    for language, text in draft.texts.items():
        if language not in languages.codes():
            raise NewsError(_("Unknown language."))
        text = text.strip()
        if not text:
            continue
        try:
            markup.check(text, caption=with_image)
        except markup.MarkupError as exc:
            raise NewsError(f"{language.upper()}: {exc}") from None
        texts[language] = text
    if not texts:
        raise NewsError(_("The post has no text: write it in at least one language."))
    return texts


def check_schedule(when: datetime, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if timezone.is_naive(when):
        raise NewsError(_("The time has no time zone."))
    if when <= now:
        raise NewsError(_("The time to publish has already passed: choose a time in the future."))
    if when > now + MAX_SCHEDULE_AHEAD:
        raise NewsError(_("A post can be scheduled at most 30 days ahead."))


def channels_for(language: str) -> list[str]:
    """The public channel(s) a post's text in ``language`` goes to (``TELEGRAM_CHANNELS``)."""
    channels: dict[str, str] = settings.TELEGRAM_CHANNELS
    channel = channels.get(language) or channels.get("*")
    return [channel] if channel else []


# --- reading -----------------------------------------------------------------------------------------


def texts_of(post: Post) -> dict[str, str]:
    return dict(PostText.objects.filter(post=post).values_list("language", "text"))


def _locked(post: Post) -> Post:
    return Post.objects.select_for_update().get(pk=post.pk)


# --- actions -----------------------------------------------------------------------------------------


def do_create_post(actor: Actor, draft: Draft, *, image: bytes | None = None) -> Post:
    check_publisher(actor)
    mime = image_type(image) if image is not None else ""
    texts = check_draft(draft, with_image=image is not None)
    now = timezone.now()
    with transaction.atomic():
        post = Post(
            title=draft.title.strip(),
            image=image,
            image_mime=mime,
            created_by_id=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        post.save(force_insert=True)
        PostText.objects.bulk_create([PostText(post=post, language=lang, text=text) for lang, text in texts.items()])
        audit.record(
            actor,
            "news.post_create",
            "post",
            post.pk,
            {"languages": sorted(texts), "image": bool(image)},
        )
    return post


def do_edit_post(actor: Actor, post: Post, draft: Draft, *, image: object = KEEP) -> Post:
    """Change a post's title, texts or image. A published post's channel messages are edited (or, for
    a language added or removed, published or taken down) through the outbox."""
    check_publisher(actor)
    new_image = image if isinstance(image, bytes) else None
    mime = image_type(new_image) if new_image is not None else ""
    with transaction.atomic():
        post = _locked(post)
        if post.state == Post.State.DELETED:
            raise NewsError(_("A deleted post cannot be edited."))
        published = post.state == Post.State.PUBLISHED
        if published and image is not KEEP:
            raise NewsError(
                _("The image of a published post cannot be changed; delete the post and publish a new one.")
            )
        has_image = bool(post.image) if image is KEEP else new_image is not None
        texts = check_draft(draft, with_image=has_image)
        before = texts_of(post)
        changed = sorted(lang for lang in texts if before.get(lang) != texts[lang])
        removed = sorted(set(before) - set(texts))
        title = draft.title.strip()
        title_changed = title != post.title
        if not changed and not removed and not title_changed and image is KEEP:
            return post
        for lang in removed:
            PostText.objects.filter(post=post, language=lang).delete()
        for lang in changed:
            PostText.objects.update_or_create(post=post, language=lang, defaults={"text": texts[lang]})
        post.title = title
        if image is not KEEP:
            post.image, post.image_mime = new_image, mime
        post.updated_at = timezone.now()
        if changed or removed:
            post.version += 1
        post.save(update_fields=["title", "image", "image_mime", "updated_at", "version"])
        queued = 0
        if published:
            queued = _queue_changes(post, changed, removed)
        audit.record(
            actor,
            "news.post_edit",
            "post",
            post.pk,
            {
                "version": post.version,
                "changed": changed,
                "removed": removed,
                "title": title_changed,
                "image": image is not KEEP,
                "channel_updates": queued,
            },
        )
    return post


def _queue_changes(post: Post, changed: list[str], removed: list[str]) -> int:
    """Edit, publish or take down the channel messages of the languages that changed."""
    queued = 0
    for lang in changed:
        existing = {m.channel: m for m in PostMessage.objects.filter(post=post, language=lang)}
        for channel in channels_for(lang):
            message = existing.get(channel)
            if message is None or message.state == PostMessage.State.DELETED:
                queued += _queue_publish(post, channel, lang, message)
            elif message.state in (PostMessage.State.SENT, PostMessage.State.PENDING):
                _enqueue(message, "edit_post")
                queued += 1
    for lang in removed:
        for message in PostMessage.objects.filter(post=post, language=lang).exclude(state=PostMessage.State.DELETED):
            _enqueue(message, "unpublish")
            queued += 1
    return queued


def _queue_publish(post: Post, channel: str, language: str, message: PostMessage | None = None) -> int:
    if message is None:
        message = PostMessage(post=post, channel=channel, language=language)
    message.state, message.message_id, message.version = PostMessage.State.PENDING, None, 0
    message.save()
    _enqueue(message, "publish")
    return 1


def _enqueue(message: PostMessage, kind: str) -> None:
    enqueue("telegram", kind, {"post_message": message.pk}, identity=None, priority=Priority.HOUSEKEEPING)


def do_publish(actor: Actor, post: Post) -> Post:
    """Publish now: one message per (channel, language) the post goes to."""
    check_publisher(actor)
    with transaction.atomic():
        post = _locked(post)
        if post.state not in (Post.State.DRAFT, Post.State.SCHEDULED):
            raise NewsError(_("Only a draft or a scheduled post can be published."))
        channels = _publish(post)
        audit.record(actor, "news.post_publish", "post", post.pk, {"channels": channels, "version": post.version})
    return post


def _publish(post: Post) -> list[str]:
    """Mark ``post`` (locked) published and queue its channel messages; return the channels."""
    queued = []
    for language in sorted(texts_of(post)):
        for channel in channels_for(language):
            _queue_publish(post, channel, language)
            queued.append(f"{channel}:{language}")
    post.state = Post.State.PUBLISHED
    post.published_at = post.updated_at = timezone.now()
    post.publish_at = None
    post.save(update_fields=["state", "published_at", "updated_at", "publish_at"])
    return queued


def do_schedule(actor: Actor, post: Post, when: datetime) -> Post:
    """Publish at ``when`` (in the future, at most 30 days ahead): the worker's job does it."""
    check_publisher(actor)
    check_schedule(when)
    with transaction.atomic():
        post = _locked(post)
        if post.state not in (Post.State.DRAFT, Post.State.SCHEDULED):
            raise NewsError(_("Only a draft or a scheduled post can be scheduled."))
        post.state, post.publish_at, post.updated_at = Post.State.SCHEDULED, when, timezone.now()
        post.save(update_fields=["state", "publish_at", "updated_at"])
        audit.record(actor, "news.post_schedule", "post", post.pk, {"publish_at": when.isoformat()})
    return post


def do_unschedule(actor: Actor, post: Post) -> Post:
    """A scheduled post back to a draft."""
    check_publisher(actor)
    with transaction.atomic():
        post = _locked(post)
        if post.state != Post.State.SCHEDULED:
            raise NewsError(_("The post is not scheduled."))
        post.state, post.publish_at, post.updated_at = Post.State.DRAFT, None, timezone.now()
        post.save(update_fields=["state", "publish_at", "updated_at"])
        audit.record(actor, "news.post_unschedule", "post", post.pk, {})
    return post


def do_delete_post(actor: Actor, post: Post) -> Post:
    """Take a post down: its channel messages are deleted, running broadcasts of it stop, and its
    broadcast messages that were set to expire are deleted from subscribers' chats now."""
    check_publisher(actor)
    with transaction.atomic():
        post = _locked(post)
        if post.state == Post.State.DELETED:
            raise NewsError(_("The post is already deleted."))
        queued = 0
        for message in PostMessage.objects.filter(post=post).exclude(state=PostMessage.State.DELETED):
            _enqueue(message, "unpublish")
            queued += 1
        stopped = 0
        for broadcast in Broadcast.objects.filter(post=post, state__in=["running", "paused"]):
            OutboxMessage.objects.filter(broadcast=broadcast).delete()
            Broadcast.objects.filter(pk=broadcast.pk).update(
                state=Broadcast.State.CANCELLED, finished_at=timezone.now()
            )
            stopped += 1
        BroadcastTrace.objects.filter(broadcast__post=post, delete_queued=False).update(delete_after=timezone.now())
        post.state, post.publish_at, post.updated_at = Post.State.DELETED, None, timezone.now()
        post.save(update_fields=["state", "publish_at", "updated_at"])
        audit.record(
            actor, "news.post_delete", "post", post.pk, {"channel_deletions": queued, "broadcasts_stopped": stopped}
        )
    return post


# --- the worker's job --------------------------------------------------------------------------------


def publish_due(now: datetime | None = None) -> int:
    """Publish every scheduled post whose time has come; return how many."""
    now = now or timezone.now()
    count = 0
    for post_id in Post.objects.filter(state=Post.State.SCHEDULED, publish_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            post = Post.objects.select_for_update().filter(pk=post_id, state=Post.State.SCHEDULED).first()
            if post is None or post.publish_at is None or post.publish_at > now:
                continue  # another worker published it, or it was rescheduled meanwhile
            scheduled_for = post.publish_at.isoformat()
            channels = _publish(post)
            audit.record(
                SCHEDULER,
                "news.post_publish",
                "post",
                post.pk,
                {"channels": channels, "version": post.version, "scheduled_for": scheduled_for},
            )
            count += 1
    return count
