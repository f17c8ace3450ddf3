"""Posts for the public Telegram channels, and broadcasts to the bot's subscribers (supervisors and
admins). Views validate and call ``hotline.news.posts`` / ``hotline.news.broadcasts``; they never
save. A refused post comes back in the editor with the reason and what was typed (400)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hotline import languages
from hotline.accounts.staff import actor_of
from hotline.audit.models import AuditEvent
from hotline.console.access import access_broadcast_by_id, access_post_by_id, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.inputs import parse_int
from hotline.news import markup, posts
from hotline.news.broadcasts import (
    MAX_EXPIRE_HOURS,
    PUBLISHERS,
    NewsError,
    do_cancel,
    do_pause,
    do_resume,
    do_start_broadcast,
    progress,
)
from hotline.news.models import Broadcast, Post, PostMessage
from hotline.news.posts import KEEP, Draft

POLL_SECONDS = 3
MAX_TEXT_FIELD = 20_000  # far above what Telegram takes, so the checks can say how much too long


def _position(code: str) -> int:
    """Where a language comes in the editor (one no longer offered comes last)."""
    offered = languages.codes()
    return offered.index(code) if code in offered else len(offered)


def _state_label(state: str) -> str:
    return {
        "draft": _("draft"),
        "scheduled": _("scheduled"),
        "published": _("published"),
        "deleted": _("deleted"),
        "pending": _("queued"),
        "sent": _("in the channel"),
        "failed": _("failed"),
        "running": _("running"),
        "paused": _("paused"),
        "cancelled": _("cancelled"),
        "done": _("done"),
    }.get(state, state)


# --- the list -------------------------------------------------------------------------------------------


@staff_view(PUBLISHERS)
@require_safe
def post_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for post in Post.objects.order_by("-created_at").annotate(n_broadcasts=Count("broadcasts"))[:200]:
        post_languages = sorted(post.texts.values_list("language", flat=True))
        channels = sorted({m.channel for m in post.messages.all() if m.state != PostMessage.State.DELETED})
        rows.append(
            {
                "post": post,
                "state": _state_label(post.state),
                "languages": post_languages,
                "channels": channels,
                "broadcasts": post.n_broadcasts,
            }
        )
    return page(request, "console/posts.html", {"rows": rows})


# --- the editor -----------------------------------------------------------------------------------------


def _editor(
    request: HttpRequest,
    post: Post | None,
    draft: Draft,
    *,
    error: str = "",
    preview: bool = False,
    when: str = "",
    status: int = 200,
) -> HttpResponse:
    texts = []
    for code in languages.codes():
        text = draft.texts.get(code, "")
        shown = None
        problem_text = ""
        if preview and text.strip():
            try:
                markup.check(text.strip(), caption=bool(post and post.image))
            except markup.MarkupError as exc:
                problem_text = str(exc)
            shown = markup.preview(text.strip())
        texts.append(
            {"code": code, "name": languages.name(code), "text": text, "preview": shown, "problem": problem_text}
        )
    return page(
        request,
        "console/post_edit.html",
        {
            "post": post,
            "title": draft.title,
            "texts": texts,
            "error": error,
            "preview": preview,
            "when": when,
            "timezone": timezone.get_current_timezone_name(),
            "published": post is not None and post.state == Post.State.PUBLISHED,
            "max_title": posts.MAX_TITLE,
            "max_text": MAX_TEXT_FIELD,
            "allowed_tags": sorted(markup.ALLOWED_TAGS),
        },
        status=status,
    )


def _draft_from(request: HttpRequest) -> Draft:
    return Draft(
        title=request.POST.get("title", "")[: posts.MAX_TITLE * 4],
        texts={code: request.POST.get(f"text-{code}", "")[:MAX_TEXT_FIELD] for code in languages.codes()},
    )


def _uploaded_image(request: HttpRequest) -> bytes | None:
    """The image sent with the form, read into memory (:class:`NewsError` if it is not one we take)."""
    upload = request.FILES.get("image")
    if not isinstance(upload, UploadedFile) or not upload.size:
        return None
    if upload.size > posts.MAX_IMAGE_BYTES:
        raise NewsError(_("The image is larger than 5 MB."))
    data = bytes(upload.read(posts.MAX_IMAGE_BYTES + 1))
    posts.image_type(data)
    return data


def _when(raw: str) -> datetime:
    """A datetime-local value (in the console's time zone), or :class:`NewsError`."""
    try:
        naive = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise NewsError(_("Give the time to publish as a date and a time.")) from None
    if naive.tzinfo is not None or not 2000 <= naive.year <= 9000:
        raise NewsError(_("Give the time to publish as a date and a time."))
    return timezone.make_aware(naive, timezone.get_current_timezone())


def _save(request: HttpRequest, post: Post | None, draft: Draft, action: str) -> Post:
    """Create or edit, then publish or schedule as asked: one transaction, so a refusal keeps nothing."""
    actor = actor_of(me(request))
    when = _when(request.POST.get("publish_at", "")) if action == "schedule" else None
    if when is not None:
        posts.check_schedule(when)
    image = _uploaded_image(request)
    with transaction.atomic():
        if post is None:
            post = posts.do_create_post(actor, draft, image=image)
        else:
            remove = request.POST.get("remove_image") == "1"
            change: object = image if image is not None else (None if remove else KEEP)
            post = posts.do_edit_post(actor, post, draft, image=change)
        if action == "publish":
            post = posts.do_publish(actor, post)
        elif when is not None:
            post = posts.do_schedule(actor, post, when)
    return post


def _edit_or_create(request: HttpRequest, post: Post | None) -> HttpResponse:
    draft = _draft_from(request)
    action = request.POST.get("action", "")
    when = request.POST.get("publish_at", "")[:40]
    if action == "preview":
        return _editor(request, post, draft, preview=True, when=when)
    if action not in ("save", "publish", "schedule"):
        return problem(request, _("Choose what to do: preview, save, publish or schedule."))
    try:
        saved = _save(request, post, draft, action)
    except NewsError as exc:
        return _editor(request, post, draft, error=str(exc), when=when, status=400)
    messages = {
        "save": _("The post is saved."),
        "publish": _("The post is published: it goes out to its channels now."),
        "schedule": _("The post is scheduled."),
    }
    if action == "save" and saved.state == Post.State.PUBLISHED:
        flash(request, _("The post is saved; its channel messages are being edited."))
    else:
        flash(request, messages[action])
    return HttpResponseRedirect(reverse("console:post", args=[saved.pk]))


@staff_view(PUBLISHERS)
@require_http_methods(["GET", "HEAD", "POST"])
def post_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _editor(request, None, Draft(title="", texts={}))
    return _edit_or_create(request, None)


@staff_view(PUBLISHERS)
@require_http_methods(["GET", "HEAD", "POST"])
def post_edit(request: HttpRequest, post_id: str) -> HttpResponse:
    post = access_post_by_id(me(request), post_id)
    if post.state == Post.State.DELETED:
        return problem(request, _("A deleted post cannot be edited."))
    if request.method != "POST":
        when = timezone.localtime(post.publish_at).strftime("%Y-%m-%dT%H:%M") if post.publish_at else ""
        return _editor(request, post, Draft(title=post.title, texts=posts.texts_of(post)), when=when)
    return _edit_or_create(request, post)


# --- one post -------------------------------------------------------------------------------------------


@staff_view(PUBLISHERS)
@require_safe
def post_page(request: HttpRequest, post_id: str) -> HttpResponse:
    post = access_post_by_id(me(request), post_id)
    texts = posts.texts_of(post)
    history = AuditEvent.objects.filter(object_type="post", object_id=str(post.pk)).order_by("seq")
    messages = [
        {
            "message": m,
            "state": _state_label(m.state),
            "behind": m.state == PostMessage.State.SENT and m.version < post.version,
        }
        for m in post.messages.order_by("channel", "language")
    ]
    broadcasts = [{"broadcast": b, "state": _state_label(b.state)} for b in post.broadcasts.order_by("-created_at")]
    context: dict[str, Any] = {
        "post": post,
        "state": _state_label(post.state),
        "texts": [
            {"code": code, "name": languages.name(code), "html": markup.preview(text)}
            for code, text in sorted(texts.items(), key=lambda item: _position(item[0]))
        ],
        "history": history,
        "messages": messages,
        "broadcasts": broadcasts,
        "languages": [(code, languages.name(code)) for code in languages.codes() if code in texts],
        "max_expire": MAX_EXPIRE_HOURS,
        "editable": post.state != Post.State.DELETED,
    }
    return page(request, "console/post.html", context)


@staff_view(PUBLISHERS)
@require_safe
def post_image(request: HttpRequest, post_id: str) -> HttpResponse:
    post = access_post_by_id(me(request), post_id)
    if not post.image or post.image_mime not in ("image/png", "image/jpeg"):
        return problem(request, _("This post has no image."), status=404)
    response = HttpResponse(bytes(post.image), content_type=post.image_mime)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_view(PUBLISHERS)
@require_POST
def post_action(request: HttpRequest, post_id: str) -> HttpResponse:
    """``action=publish`` (now), ``unschedule``, or ``delete`` (takes the post down everywhere)."""
    post = access_post_by_id(me(request), post_id)
    actor = actor_of(me(request))
    action = request.POST.get("action", "")
    try:
        if action == "publish":
            posts.do_publish(actor, post)
            flash(request, _("The post is published: it goes out to its channels now."))
        elif action == "unschedule":
            posts.do_unschedule(actor, post)
            flash(request, _("The post is a draft again."))
        elif action == "delete":
            posts.do_delete_post(actor, post)
            flash(request, _("The post is deleted; its channel messages are being taken down."))
        else:
            return problem(request, _("Choose what to do with the post."))
    except NewsError as exc:
        return problem(request, str(exc))
    return HttpResponseRedirect(reverse("console:post", args=[post.pk]))


# --- broadcasts -----------------------------------------------------------------------------------------


@staff_view(PUBLISHERS)
@require_POST
def post_broadcast(request: HttpRequest, post_id: str) -> HttpResponse:
    post = access_post_by_id(me(request), post_id)
    language = request.POST.get("language", "")
    if language not in languages.codes():
        return problem(request, _("Choose a language the post is written in."))
    raw_hours = request.POST.get("expire_hours", "").strip()
    hours = None
    if raw_hours:
        hours = parse_int(raw_hours, minimum=1, maximum=MAX_EXPIRE_HOURS)
        if hours is None:
            return problem(
                request,
                _("A broadcast may delete itself after 1 to %(n)s hours; leave the field empty to keep it.")
                % {"n": MAX_EXPIRE_HOURS},
            )
    try:
        broadcast = do_start_broadcast(actor_of(me(request)), post, language, expire_hours=hours)
    except NewsError as exc:
        return problem(request, str(exc))
    flash(request, _("The broadcast has started."))
    return HttpResponseRedirect(reverse("console:broadcast", args=[broadcast.pk]))


@staff_view(PUBLISHERS)
@require_safe
def broadcast_page(request: HttpRequest, broadcast_id: str) -> HttpResponse:
    broadcast = access_broadcast_by_id(me(request), broadcast_id)
    done = progress(broadcast)
    eta = None
    if done.eta_seconds is not None:
        eta = max(1, round(done.eta_seconds / 60))
    context = {
        "broadcast": broadcast,
        "post": broadcast.post,
        "state": _state_label(done.state),
        "progress": done,
        "percent": round(100 * done.done_fraction),
        "eta_minutes": eta,
        "language_name": languages.name(broadcast.language),
        "poll_seconds": POLL_SECONDS,
        "live": done.state in (Broadcast.State.RUNNING, Broadcast.State.PAUSED),
    }
    template = "console/_broadcast_body.html" if request.headers.get("HX-Request") else "console/broadcast.html"
    return page(request, template, context)


@staff_view(PUBLISHERS)
@require_POST
def broadcast_control(request: HttpRequest, broadcast_id: str) -> HttpResponse:
    broadcast = access_broadcast_by_id(me(request), broadcast_id)
    actor = actor_of(me(request))
    action = request.POST.get("action", "")
    try:
        if action == "pause":
            do_pause(actor, broadcast)
        elif action == "resume":
            do_resume(actor, broadcast)
        elif action == "cancel":
            do_cancel(actor, broadcast)
        else:
            return problem(request, _("Choose pause, resume or cancel."))
    except NewsError as exc:
        return problem(request, str(exc))
    return HttpResponseRedirect(reverse("console:broadcast", args=[broadcast.pk]))
