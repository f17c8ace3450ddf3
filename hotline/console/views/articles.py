"""Knowledge-base articles (admins): the list, a new article, editing per language, publishing, the
history and roll back — all through ``hotline.kb.actions``, which keep every version and audit it.
And for everyone who answers cases: the answer of a published article, to start a reply from."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hotline import languages
from hotline.accounts.staff import actor_of
from hotline.console.access import ADMINS, CASEWORKERS, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.inputs import parse_int
from hotline.kb import reading
from hotline.kb.actions import KbError, current_texts, do_create_article, do_publish, do_rollback, do_update_article
from hotline.kb.content import LANGUAGES, MAX_ANSWER, MAX_SLUG, MAX_TITLE, ArticleContent
from hotline.kb.models import Article

MAX_NOTE = 200
MAX_POSITION = 1_000_000


@dataclass
class LanguageForm:
    """One language of the editor: what is in its three fields (as typed, or as stored)."""

    code: str
    name: str
    title: str = ""
    questions: str = ""  # one per line
    answer: str = ""

    @property
    def empty(self) -> bool:
        return not (self.title.strip() or self.questions.strip() or self.answer.strip())

    def content(self) -> ArticleContent:
        questions = tuple(q.strip() for q in self.questions.splitlines() if q.strip())
        return ArticleContent(title=self.title.strip(), questions=questions, answer=self.answer.strip())


def _stored_forms(article: Article) -> list[LanguageForm]:
    texts = current_texts(article)
    return [
        LanguageForm(lang, languages.name(lang), t.title, "\n".join(t.questions), t.answer)
        if (t := texts.get(lang))
        else LanguageForm(lang, languages.name(lang))
        for lang in LANGUAGES
    ]


def _posted_forms(request: HttpRequest) -> list[LanguageForm]:
    def field(lang: str, name: str) -> str:
        return request.POST.get(f"{lang}-{name}", "").replace("\r\n", "\n")

    return [
        LanguageForm(lang, languages.name(lang), field(lang, "title"), field(lang, "questions"), field(lang, "answer"))
        for lang in LANGUAGES
    ]


def _article(slug: str) -> Article:
    found = Article.objects.filter(slug=slug).first()
    if found is None:
        raise Http404
    return found


def _position(raw: str) -> int | None:
    return parse_int(raw.strip(), minimum=-MAX_POSITION, maximum=MAX_POSITION)


def _editor(
    request: HttpRequest,
    *,
    article: Article | None,
    forms: list[LanguageForm],
    slug: str = "",
    position: str = "0",
    note: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return page(
        request,
        "console/article_edit.html",
        {
            "article": article,
            "forms": forms,
            "slug": article.slug if article else slug,
            "position": position,
            "note": note,
            "error": error,
            "limits": {"slug": MAX_SLUG, "title": MAX_TITLE, "answer": MAX_ANSWER, "note": MAX_NOTE},
            "content_tab": "articles",
        },
        status=status,
    )


@staff_view(ADMINS)
@require_safe
def articles(request: HttpRequest) -> HttpResponse:
    return page(
        request,
        "console/articles.html",
        {
            "rows": [(a, [(code, a.titles.get(code, "")) for code in LANGUAGES]) for a in reading.article_summaries()],
            "languages": [(code, languages.name(code)) for code in LANGUAGES],
            "content_tab": "articles",
        },
    )


@staff_view(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def article_new(request: HttpRequest) -> HttpResponse:
    """A new article, unpublished: it goes on the FAQ page and into the search when published."""
    if request.method != "POST":
        return _editor(request, article=None, forms=[LanguageForm(lang, languages.name(lang)) for lang in LANGUAGES])
    forms = _posted_forms(request)
    slug = request.POST.get("slug", "").strip()[: MAX_SLUG + 1]
    raw_position, note = request.POST.get("position", "0"), request.POST.get("note", "")[:MAX_NOTE]

    def refused(message: str) -> HttpResponse:
        return _editor(
            request,
            article=None,
            forms=forms,
            slug=slug,
            position=raw_position[:12],
            note=note,
            error=message,
            status=400,
        )

    position = _position(raw_position)
    if position is None:
        return refused(_("The position is a whole number."))
    texts = {f.code: f.content() for f in forms if not f.empty}
    try:
        do_create_article(actor_of(me(request)), slug, texts, position=position, note=note)
    except KbError as exc:
        return refused(str(exc))
    flash(request, _("Article created. It is not published yet: read it over, then publish it."))
    return HttpResponseRedirect(reverse("console:article_edit", args=[slug]))


@staff_view(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def article_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit every language at once; emptying all three fields of a language removes that language."""
    article = _article(slug)
    if request.method != "POST":
        return _editor(request, article=article, forms=_stored_forms(article), position=str(article.position))
    forms = _posted_forms(request)
    raw_position, note = request.POST.get("position", ""), request.POST.get("note", "")[:MAX_NOTE]

    def refused(message: str, status: int = 400) -> HttpResponse:
        return _editor(
            request,
            article=article,
            forms=forms,
            position=raw_position[:12],
            note=note,
            error=message,
            status=status,
        )

    position = _position(raw_position)
    if position is None:
        return refused(_("The position is a whole number."))
    if request.POST.get("based_on", "") != str(article.version):
        return refused(
            _("This article was changed by someone else since you opened it; reload it to see their version."),
            status=409,
        )
    texts = {f.code: f.content() for f in forms if not f.empty}
    removed = [f.code for f in forms if f.empty]
    try:
        updated = do_update_article(
            actor_of(me(request)), slug, texts, position=position, remove_languages=removed, note=note
        )
    except KbError as exc:
        return refused(str(exc))
    if updated.version == article.version:
        flash(request, _("Nothing changed: the article already says this."))
    else:
        flash(request, _("Saved as version %(n)s.") % {"n": updated.version})
    return HttpResponseRedirect(reverse("console:article_edit", args=[slug]))


@staff_view(ADMINS)
@require_POST
def article_publish(request: HttpRequest, slug: str) -> HttpResponse:
    _article(slug)
    wanted = request.POST.get("published", "")
    if wanted not in ("0", "1"):
        return problem(request, _("Say whether to publish the article or take it down."))
    try:
        do_publish(actor_of(me(request)), slug, wanted == "1")
    except KbError as exc:
        return problem(request, str(exc))
    if wanted == "1":
        flash(request, _("Published: the article is on the FAQ page and the bot and the search answer with it."))
    else:
        flash(request, _("Taken down: the FAQ page, the bot and the search no longer use the article."))
    return HttpResponseRedirect(reverse("console:article_edit", args=[slug]))


@staff_view(ADMINS)
@require_safe
def article_history(request: HttpRequest, slug: str) -> HttpResponse:
    article = _article(slug)
    return page(
        request,
        "console/article_history.html",
        {
            "article": article,
            "versions": reading.article_history(slug),
            "languages": [(code, languages.name(code)) for code in LANGUAGES],
            "content_tab": "articles",
        },
    )


@staff_view(ADMINS)
@require_POST
def article_rollback(request: HttpRequest, slug: str) -> HttpResponse:
    _article(slug)
    number = parse_int(request.POST.get("version", ""), minimum=0, maximum=999_999_999)
    note = request.POST.get("note", "")
    if number is None or len(note) > MAX_NOTE:
        return problem(request, _("Choose a version to go back to."))
    try:
        article = do_rollback(actor_of(me(request)), slug, number, note=note)
    except KbError as exc:
        return problem(request, str(exc))
    flash(request, _("Version %(old)s restored as version %(n)s.") % {"old": number, "n": article.version})
    return HttpResponseRedirect(reverse("console:article_history", args=[slug]))


@staff_view(CASEWORKERS)
@require_safe
def reply_article(request: HttpRequest, language: str, slug: str) -> HttpResponse:
    """A published article's answer as plain text: the case page puts it in the reply box to edit
    before sending, like a canned reply (unpublished drafts are not offered)."""
    found = reading.get_article(slug, language) if language in LANGUAGES else None
    if found is None:
        raise Http404
    return HttpResponse(found.answer, content_type="text/plain; charset=utf-8")
