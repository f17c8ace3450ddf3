"""Knowledge-base articles in the console: admins create, edit, publish and roll back through the kb
actions (versioned, audited); the FAQ page, the search, ``hotline kb ask`` and operators' replies use
what is published."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from hotline.audit.models import AuditEvent
from hotline.core.lifecycle import Role
from hotline.kb import search
from hotline.kb.models import Article, ArticleVersion
from tests.conftest import Org
from tests.console_support import admin_staff, make_staff, open_case, signed_in_client
from tests.test_portal_helpers import page_text

ARTICLES = "/console/content/articles/"
NEW = "/console/content/articles/new/"
SLUG = "night-crossing"
EDIT = f"/console/content/articles/{SLUG}/edit/"
PUBLISH = f"/console/content/articles/{SLUG}/publish/"
HISTORY = f"/console/content/articles/{SLUG}/history/"
ROLLBACK = f"/console/content/articles/{SLUG}/rollback/"

EN = {
    "en-title": "Can I cross at night?",
    "en-questions": "is it safe to cross the line at night\r\nnight crossing of the front line",
    "en-answer": "Never cross at night on your own.\r\n\r\nWrite to the operators first.",
}
RU = {
    "ru-title": "Можно ли переходить ночью?",
    "ru-questions": "можно ли переходить линию фронта ночью",
    "ru-answer": "Никогда не переходите ночью в одиночку.",
}


@pytest.fixture(autouse=True)
def _fresh_index(settings: Any) -> Iterator[None]:
    """Every search checks the database, so a test sees its own (uncommitted) changes."""
    settings.HOTLINE_KB_REFRESH_SECONDS = 0
    search.invalidate()
    yield
    search.invalidate()


@pytest.fixture
def admin(org: Org) -> Client:
    return signed_in_client(admin_staff(org))


def create(admin: Client, **extra: str) -> Any:
    return admin.post(NEW, {"slug": SLUG, "position": "5", "note": "new", **EN, **RU, **extra})


def edit(admin: Client, based_on: int, **fields: str) -> Any:
    return admin.post(EDIT, {"position": "5", "based_on": str(based_on), **EN, **RU, **fields})


def kb_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith="kb.").order_by("seq"))


def ask(question: str, language: str = "en") -> dict[str, Any]:
    out = StringIO()
    call_command("kb", "ask", "--lang", language, question, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_an_admin_creates_an_article_that_waits_unpublished(org: Org, admin: Client, client: Client) -> None:
    assert "New article" in page_text(admin.get(NEW))
    created = create(admin)
    assert created.status_code == 302 and created["Location"] == EDIT
    article = Article.objects.get(slug=SLUG)
    assert (article.published, article.position, article.version) == (False, 5, 1)
    assert sorted(article.texts.values_list("language", flat=True)) == ["en", "ru"]
    en = article.texts.get(language="en")
    assert en.questions == ["is it safe to cross the line at night", "night crossing of the front line"]
    assert en.answer == "Never cross at night on your own.\n\nWrite to the operators first."

    listed = page_text(admin.get(ARTICLES))
    assert SLUG in listed and "draft" in listed and "Можно ли переходить ночью?" in listed
    assert "Can I cross at night?" not in page_text(client.get("/en/faq/"))
    assert ask("can I cross the front line at night")["slug"] != SLUG
    [event] = kb_events()
    assert (event.action, event.object_id, event.actor_label) == ("kb.article.create", SLUG, "admin")


def test_publishing_puts_it_on_the_faq_page_in_the_search_and_in_kb_ask(admin: Client, client: Client) -> None:
    create(admin)
    published = admin.post(PUBLISH, {"published": "1"})
    assert published.status_code == 302 and Article.objects.get(slug=SLUG).published
    assert "published" in page_text(admin.get(EDIT))

    faq = page_text(client.get("/en/faq/"))
    assert "Can I cross at night?" in faq and "Write to the operators first." in faq
    assert "Можно ли переходить ночью?" in page_text(client.get("/ru/faq/"))
    assert "Can I cross at night?" not in page_text(client.get("/uk/faq/"))  # no Ukrainian text
    found = client.post("/en/faq/", {"q": "is it safe to cross the line at night?"})
    assert "Answers to your question" in page_text(found) and "Can I cross at night?" in page_text(found)

    assert ask("is it safe to cross the line at night")["slug"] == SLUG
    assert ask("можно ли переходить линию фронта ночью", "ru")["slug"] == SLUG

    assert admin.post(PUBLISH, {"published": "0"}).status_code == 302
    assert "Can I cross at night?" not in page_text(client.get("/en/faq/"))
    assert ask("is it safe to cross the line at night")["slug"] != SLUG
    assert [e.action for e in kb_events()] == ["kb.article.create", "kb.article.publish", "kb.article.unpublish"]


def test_an_edit_is_a_new_version_the_website_shows(admin: Client, client: Client) -> None:
    create(admin)
    admin.post(PUBLISH, {"published": "1"})
    editor = admin.get(EDIT).content.decode()
    assert "Never cross at night on your own." in editor and 'name="based_on" value="1"' in editor

    saved = edit(admin, 1, **{"en-answer": "Wait for daylight and for the operators' instructions."}, note="clearer")
    assert saved.status_code == 302 and saved["Location"] == EDIT
    assert "Wait for daylight" in page_text(client.get("/en/faq/"))
    version = ArticleVersion.objects.get(article__slug=SLUG, number=2)
    assert version.changes == ["en.answer"] and version.note == "clearer" and version.author_label == "admin"
    assert kb_events()[-1].details == {"version": 2, "changes": ["en.answer"]}

    same = edit(admin, 2, **{"en-answer": "Wait for daylight and for the operators' instructions."})
    assert same.status_code == 302 and Article.objects.get(slug=SLUG).version == 2  # nothing changed

    moved = edit(admin, 2, position="1", **{"en-answer": "Wait for daylight and for the operators' instructions."})
    assert moved.status_code == 302 and Article.objects.get(slug=SLUG).position == 1


def test_emptying_a_language_removes_it(admin: Client) -> None:
    create(admin)
    assert edit(admin, 1, **{"ru-title": "", "ru-questions": "", "ru-answer": ""}).status_code == 302
    article = Article.objects.get(slug=SLUG)
    assert list(article.texts.values_list("language", flat=True)) == ["en"]
    assert ArticleVersion.objects.get(article=article, number=2).changes == ["ru removed"]
    nothing = {f"{lang}-{field}": "" for lang in ("en", "ru") for field in ("title", "questions", "answer")}
    emptied = edit(admin, 2, **nothing)
    assert emptied.status_code == 400 and "at least one language" in page_text(emptied)


def test_history_shows_every_version_and_a_rollback_restores_one(admin: Client, client: Client) -> None:
    create(admin)
    admin.post(PUBLISH, {"published": "1"})
    edit(admin, 1, **{"en-title": "Crossing at night"})
    history = page_text(admin.get(HISTORY))
    assert "Version 2" in history and "Version 1" in history and "en.title" in history and "admin" in history
    assert "Can I cross at night?" in history  # version 1's text, to compare

    back = admin.post(ROLLBACK, {"version": "1"})
    assert back.status_code == 302 and back["Location"] == HISTORY
    article = Article.objects.get(slug=SLUG)
    assert article.version == 3 and article.texts.get(language="en").title == "Can I cross at night?"
    assert "Can I cross at night?" in page_text(client.get("/en/faq/"))
    assert ArticleVersion.objects.get(article=article, number=3).changes[0] == "restored from 1"
    assert kb_events()[-1].action == "kb.article.rollback"

    again = admin.post(ROLLBACK, {"version": "3"})
    assert again.status_code == 400 and "already says" in page_text(again)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"slug": "Not A Slug"}, "a slug is lower-case words"),
        ({"en-answer": ""}, "en: the answer is empty"),
        ({"en-questions": "  \r\n "}, "en: at least one question is needed"),
        ({"en-answer": "x" * 3501}, "the limit is 3500"),
        ({"en-questions": "same\r\nsame"}, "a question is listed twice"),
        ({"position": "first"}, "The position is a whole number."),
    ],
)
def test_a_refused_article_comes_back_with_the_reason_and_what_was_typed(
    admin: Client, fields: dict[str, str], reason: str
) -> None:
    refused = create(admin, **fields)
    assert refused.status_code == 400
    assert reason in page_text(refused) and 'class="error" role="alert"' in refused.content.decode()
    assert "Можно ли переходить ночью?" in refused.content.decode()  # the form is kept
    assert not Article.objects.exists() and not kb_events()


def test_refusals_come_in_the_editors_language(admin: Client) -> None:
    admin.post("/accounts/language/", {"language": "uk", "next": "/console/"})
    empty = create(admin, **{"en-answer": ""})
    assert empty.status_code == 400 and "en: відповідь порожня" in page_text(empty)
    twice = create(admin, **{"en-questions": "same\r\nsame"})
    assert "питання повторюється" in page_text(twice)
    create(admin)
    taken = create(admin)
    assert taken.status_code == 400 and "уже існує" in page_text(taken)
    assert Article.objects.count() == 1


def test_a_slug_is_taken_once_and_an_old_editor_is_refused(admin: Client) -> None:
    create(admin)
    again = create(admin)
    assert again.status_code == 400 and "already exists" in page_text(again)
    edit(admin, 1, **{"en-title": "Crossing at night"})
    stale = edit(admin, 1, **{"en-title": "From an old tab"})
    assert stale.status_code == 409 and "changed by someone else" in page_text(stale)
    assert Article.objects.get(slug=SLUG).texts.get(language="en").title == "Crossing at night"


def test_only_admins_edit_articles(org: Org, admin: Client) -> None:
    create(admin)
    for role in (Role.SUPERVISOR, Role.OPERATOR):
        person = signed_in_client(make_staff(org, f"someone-{role.value}", role))
        assert person.get(ARTICLES).status_code == 403
        assert create(person, slug="other").status_code == 403
        assert edit(person, 1, **{"en-title": "Hacked"}).status_code == 403
        assert person.post(PUBLISH, {"published": "1"}).status_code == 403
        assert person.post(ROLLBACK, {"version": "1"}).status_code == 403
    article = Article.objects.get(slug=SLUG)
    assert (article.version, article.published, Article.objects.count()) == (1, False, 1)


def test_operators_start_a_reply_from_a_published_article(org: Org, admin: Client) -> None:
    create(admin)
    case = open_case()  # a Russian-speaking applicant
    alice = signed_in_client(make_staff(org, "alice", Role.OPERATOR))
    assert "Можно ли переходить ночью?" not in alice.get(f"/console/case/{case.pk}/").content.decode()  # a draft
    assert alice.get(f"/console/reply-article/ru/{SLUG}/").status_code == 404

    admin.post(PUBLISH, {"published": "1"})
    page = alice.get(f"/console/case/{case.pk}/").content.decode()
    assert f'data-url="/console/reply-article/ru/{SLUG}/">Можно ли переходить ночью?</option>' in page
    assert "Can I cross at night?" not in page  # only the case's language
    answer = alice.get(f"/console/reply-article/ru/{SLUG}/")
    assert answer.status_code == 200 and answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.content.decode() == "Никогда не переходите ночью в одиночку."
    assert alice.get(f"/console/reply-article/uk/{SLUG}/").status_code == 404  # no Ukrainian text
    assert alice.get(f"/console/reply-article/xx/{SLUG}/").status_code == 404
    carol = signed_in_client(make_staff(org, "carol", Role.COORDINATOR))
    assert carol.get(f"/console/reply-article/ru/{SLUG}/").status_code == 403


def test_bad_input_is_a_4xx_never_a_500(admin: Client) -> None:
    create(admin)
    assert admin.get("/console/content/articles/nothing-here/edit/").status_code == 404
    assert admin.get("/console/content/articles/nothing-here/history/").status_code == 404
    posts: list[tuple[str, dict[str, object]]] = [
        (NEW, {}),
        (NEW, {"slug": "x" * 70, "position": "1", **EN}),
        (NEW, {"slug": "big", "position": "9" * 40, **EN}),
        (EDIT, {}),
        (EDIT, {"position": "1", "based_on": "x", **EN}),
        (EDIT, {"position": "1", "based_on": "1", "en-title": "t" * 300, "en-questions": "q", "en-answer": "a"}),
        (PUBLISH, {}),
        (PUBLISH, {"published": "yes"}),
        (ROLLBACK, {}),
        (ROLLBACK, {"version": "-1"}),
        (ROLLBACK, {"version": "99"}),
        (ROLLBACK, {"version": "9" * 30}),
        ("/console/content/articles/nothing-here/publish/", {"published": "1"}),
        ("/console/content/articles/nothing-here/rollback/", {"version": "1"}),
    ]
    for url, data in posts:
        status = admin.post(url, data).status_code
        assert 400 <= status < 500, (url, data, status)
    article = Article.objects.get(slug=SLUG)
    assert (article.version, article.published, Article.objects.count()) == (1, False, 1)
