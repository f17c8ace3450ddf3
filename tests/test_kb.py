"""The knowledge base: loading the starter articles, versions and rollback with audit events, and the
search the bot and the portal call (morphology, typos, confidence, `hotline kb ask`)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from hotline.accounts.models import User
from hotline.audit import log
from hotline.audit.models import AuditEvent
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.kb import search
from hotline.kb.actions import KbError, do_create_article, do_publish, do_rollback, do_update_article
from hotline.kb.content import LANGUAGES, MAX_ANSWER, ArticleContent, ContentError, read_directory
from hotline.kb.engine import Entry, Index, Tuning
from hotline.kb.loader import load_directory
from hotline.kb.models import Article, ArticleVersion
from hotline.kb.reading import article_history, get_article, published_articles
from tests.conftest import actor_for, make_staff

ARTICLES = Path(settings.HOTLINE_KB_DIR)


@pytest.fixture(autouse=True)
def _fresh_index(settings: Any) -> Iterator[None]:
    """Every question checks the database, so a test sees its own (uncommitted) changes."""
    settings.HOTLINE_KB_REFRESH_SECONDS = 0
    search.invalidate()
    yield
    search.invalidate()


@pytest.fixture
def dora(db: None) -> User:
    """An administrator: the one role that edits articles."""
    return make_staff("dora", Role.ADMIN)


@pytest.fixture
def loaded(db: None) -> None:
    load_directory(ARTICLES)


@pytest.fixture(scope="module")
def index() -> Index:
    """The starter articles, indexed straight from the files (no database)."""
    entries: dict[str, list[Entry]] = {lang: [] for lang in LANGUAGES}
    for a in read_directory(ARTICLES):
        for lang, t in a.texts.items():
            entries[lang].append(Entry(a.slug, t.title, t.questions, t.answer))
    return Index(entries)


def texts(title: str, question: str, answer: str) -> dict[str, ArticleContent]:
    return {"en": ArticleContent(title=title, questions=(question,), answer=answer)}


def kb_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith="kb."))


# --- the starter content ----------------------------------------------------------------------------------


def test_the_starter_set_has_thirty_articles_in_every_language_within_limits() -> None:
    articles = read_directory(ARTICLES)
    assert len(articles) >= 30
    for a in articles:
        assert set(a.texts) == set(LANGUAGES), a.slug
        for lang, t in a.texts.items():
            assert len(t.answer) <= MAX_ANSWER, (a.slug, lang)
            assert len(t.questions) >= 5, (a.slug, lang)


# A host name, a link or a phone number; "the .onion address" in words is fine.
ADDRESS_OR_NUMBER = re.compile(
    r"https?://|www\.|[a-z0-9-]\.(?:com|org|ru|ua|onion)\b|@\w{4,}|\+\d|\d{3}[\s-]?\d{2}[\s-]?\d{2}"
)


def test_no_article_invents_an_address_or_a_phone_number() -> None:
    for a in read_directory(ARTICLES):
        for t in a.texts.values():
            assert not ADDRESS_OR_NUMBER.search(t.answer), a.slug


# --- loading -------------------------------------------------------------------------------------------------


def test_loading_creates_every_article_published_with_a_first_version(loaded: None) -> None:
    count = len(read_directory(ARTICLES))
    assert Article.objects.filter(published=True, version=1).count() == count
    assert ArticleVersion.objects.filter(author_label="kb-loader", author=None).count() == count
    assert len(kb_events()) == count
    view = get_article("mobilization-notice", "uk")
    assert view is not None and view.title == "Мені прийшла повістка"


def test_loading_again_changes_nothing(loaded: None) -> None:
    events, versions = len(kb_events()), ArticleVersion.objects.count()
    report = load_directory(ARTICLES)
    assert report.created == report.updated == report.kept == []
    assert len(report.unchanged) == Article.objects.count()
    assert (len(kb_events()), ArticleVersion.objects.count()) == (events, versions)


def _copy_with_edit(tmp_path: Path, slug: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(ARTICLES, target)
    path = target / f"{slug}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_loading_a_changed_file_updates_that_article_only(loaded: None, tmp_path: Path) -> None:
    directory = _copy_with_edit(tmp_path, "is-it-free", lambda d: d["en"].update(title="Is it free of charge?"))
    report = load_directory(directory)
    assert report.updated == ["is-it-free"]
    assert Article.objects.get(slug="is-it-free").version == 2
    assert article_history("is-it-free")[0].changes == ("en.title",)


def test_an_admin_edit_is_kept_when_the_file_changes_unless_forced(loaded: None, dora: User, tmp_path: Path) -> None:
    do_update_article(actor_for(dora), "is-it-free", texts("Free", "Is it free?", "Yes, always."))
    directory = _copy_with_edit(tmp_path, "is-it-free", lambda d: d["en"].update(title="Is it free of charge?"))
    assert load_directory(directory).kept == ["is-it-free"]
    assert get_article("is-it-free", "en").title == "Free"  # type: ignore[union-attr]
    assert load_directory(directory, force=True).updated == ["is-it-free"]
    assert get_article("is-it-free", "en").title == "Is it free of charge?"  # type: ignore[union-attr]


def test_a_bad_file_stops_the_load_before_anything_is_written(db: None, tmp_path: Path) -> None:
    directory = _copy_with_edit(tmp_path, "wounded", lambda d: d["ru"].update(answer="x" * (MAX_ANSWER + 1)))
    with pytest.raises(ContentError, match=r"wounded\.yaml: ru: the answer is 3501 characters"):
        load_directory(directory)
    assert Article.objects.count() == 0


# --- versions, publishing, rollback ----------------------------------------------------------------------


def test_every_change_is_a_version_that_says_who_changed_what(dora: User) -> None:
    admin = actor_for(dora)
    do_create_article(admin, "curfew", texts("Curfew", "When is the curfew?", "At eleven."), published=True)
    do_update_article(admin, "curfew", texts("Curfew", "When is the curfew?", "At ten."), note="new rules")
    history = article_history("curfew")
    assert [(v.number, v.author_label, v.changes) for v in history] == [
        (2, "dora", ("en.answer",)),
        (1, "dora", ("en added",)),
    ]
    assert history[0].note == "new rules"
    events = kb_events()
    assert [(e.action, e.actor_label, e.object_id) for e in events] == [
        ("kb.article.create", "dora", "curfew"),
        ("kb.article.update", "dora", "curfew"),
    ]
    assert events[1].details == {"version": 2, "changes": ["en.answer"]}
    assert "At ten" not in json.dumps([e.details for e in events])  # the log names fields, not text


def test_saving_the_same_text_again_makes_no_version_and_no_event(dora: User) -> None:
    admin = actor_for(dora)
    do_create_article(admin, "curfew", texts("Curfew", "When is the curfew?", "At eleven."))
    do_update_article(admin, "curfew", texts("Curfew", "When is the curfew?", "At eleven."))
    assert Article.objects.get(slug="curfew").version == 1
    assert len(kb_events()) == 1


def test_rollback_restores_old_text_as_a_new_version(dora: User) -> None:
    admin = actor_for(dora)
    do_create_article(admin, "curfew", texts("Curfew", "When is the curfew?", "At eleven."), published=True)
    do_update_article(admin, "curfew", texts("Curfew hours", "When is the curfew?", "At ten."))
    do_rollback(admin, "curfew", 1)
    article = Article.objects.get(slug="curfew")
    assert article.version == 3
    view = get_article("curfew", "en")
    assert view is not None and (view.title, view.answer) == ("Curfew", "At eleven.")
    assert article_history("curfew")[0].changes == ("restored from 1", "en.title", "en.answer")
    event = kb_events()[-1]
    assert (event.action, event.details["restored"], event.details["version"]) == ("kb.article.rollback", 1, 3)
    assert log.verify().breaks == []


def test_rolling_back_to_what_the_article_already_says_is_refused(dora: User) -> None:
    do_create_article(actor_for(dora), "curfew", texts("Curfew", "When is the curfew?", "At eleven."))
    with pytest.raises(KbError, match="version 1 is what curfew already says"):
        do_rollback(actor_for(dora), "curfew", 1)
    with pytest.raises(KbError, match="curfew has no version 7"):
        do_rollback(actor_for(dora), "curfew", 7)


def test_a_slug_is_taken_once(dora: User) -> None:
    do_create_article(actor_for(dora), "curfew", texts("Curfew", "When is the curfew?", "At eleven."))
    with pytest.raises(KbError, match="already exists"):
        do_create_article(actor_for(dora), "curfew", texts("Curfew", "When?", "At ten."))
    assert len(kb_events()) == 1


def test_an_operator_cannot_edit_articles(db: None) -> None:
    alice = make_staff("alice", Role.OPERATOR)
    with pytest.raises(KbError, match="only administrators"):
        do_create_article(actor_for(alice), "curfew", texts("Curfew", "When is the curfew?", "At eleven."))
    assert Article.objects.count() == 0


def test_bad_text_is_refused_with_a_reason(dora: User) -> None:
    with pytest.raises(KbError, match="en: at least one question"):
        do_create_article(actor_for(dora), "curfew", {"en": ArticleContent("Curfew", (), "At eleven.")})
    with pytest.raises(KbError, match="language must be one of"):
        do_create_article(actor_for(dora), "curfew", {"de": ArticleContent("Sperrstunde", ("Wann?",), "Um elf.")})
    with pytest.raises(KbError, match="slug"):
        do_create_article(actor_for(dora), "Curfew Hours!", texts("Curfew", "When is the curfew?", "At eleven."))


def test_publishing_decides_what_the_faq_and_the_search_show(dora: User) -> None:
    admin = actor_for(dora)
    do_create_article(admin, "curfew", texts("Curfew", "When does the curfew start?", "At eleven."))
    assert published_articles("en") == []
    assert search.answer("when does the curfew start", "en") is None
    do_publish(admin, "curfew")
    assert [a.slug for a in published_articles("en")] == ["curfew"]
    match = search.answer("when does the curfew start", "en")
    assert match is not None and match.slug == "curfew" and match.answer == "At eleven."
    do_publish(admin, "curfew", published=False)
    assert search.answer("when does the curfew start", "en") is None
    assert [e.action for e in kb_events()] == ["kb.article.create", "kb.article.publish", "kb.article.unpublish"]


def test_an_edit_reaches_a_process_whose_index_is_fresh_after_commit(
    dora: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.HOTLINE_KB_REFRESH_SECONDS = 3600
    admin = actor_for(dora)
    with django_capture_on_commit_callbacks(execute=True):
        do_create_article(admin, "curfew", texts("Curfew", "When does the curfew start?", "At eleven."), published=True)
    assert search.answer("curfew start", "en").slug == "curfew"  # type: ignore[union-attr]
    with django_capture_on_commit_callbacks(execute=True):
        do_update_article(admin, "curfew", texts("Curfew", "When does the curfew start?", "At ten."))
    assert search.answer("curfew start", "en").answer == "At ten."  # type: ignore[union-attr]


# --- search ---------------------------------------------------------------------------------------------------

CLEAR_QUESTIONS = [
    ("ru", "Мне пришла повестка, что делать?", "mobilization-notice"),
    ("ru", "что делать с оружием, когда сдаюсь в плен", "how-surrender-happens"),
    ("ru", "меня обменяют или можно остаться в украине", "exchange-or-stay"),
    ("ru", "как отличить настоящий бот от фейкового", "real-vs-fake"),
    ("uk", "Мені прийшла повістка, що робити?", "mobilization-notice"),
    ("uk", "чи безпечно вам писати", "safety-contacting"),
    ("uk", "як користуватися тором", "tor-vpn"),
    ("uk", "я поранений, що мені робити", "wounded"),
    ("en", "I got a call-up notice, what should I do?", "mobilization-notice"),
    ("en", "how are prisoners of war treated", "geneva-guarantees"),
    ("en", "can my wife apply on my behalf", "relatives-apply"),
    ("en", "I lost my receipt", "receipt"),
]


@pytest.mark.parametrize(("language", "question", "slug"), CLEAR_QUESTIONS)
def test_a_clear_question_finds_its_article_confidently(index: Index, language: str, question: str, slug: str) -> None:
    found = index.lookup(question, language, 3)
    assert found[0].slug == slug
    assert found[0].confident
    assert not any(m.confident for m in found[1:])


@pytest.mark.parametrize(
    ("language", "question"),
    [("ru", "какая погода будет завтра"), ("uk", "яка завтра погода"), ("en", "what's the weather"), ("en", "")],
)
def test_an_off_topic_question_is_not_answered_confidently(index: Index, language: str, question: str) -> None:
    found = index.lookup(question, language, 3)
    assert not found or not found[0].confident


SMALL = {
    "ru": [
        Entry("notice", "Повестка", ("Что делать с повесткой?",), "…"),
        Entry("wounded", "Ранение", ("Меня ранили",), "…"),
    ],
    "uk": [
        Entry("notice", "Повістка", ("Що робити з повісткою?",), "…"),
        Entry("captivity", "Табір", ("Як живуть у полоні?",), "…"),
    ],
}


@pytest.mark.parametrize(
    ("language", "question", "slug"),
    [
        ("ru", "получил повестку", "notice"),
        ("ru", "пришли повестки", "notice"),
        ("ru", "я ранен", "wounded"),
        ("uk", "отримав повістку", "notice"),
        ("uk", "я боюся полону", "captivity"),
        ("uk", "полон", "captivity"),
    ],
)
def test_inflected_forms_match_through_lemmas(language: str, question: str, slug: str) -> None:
    with_lemmas = Index(SMALL).rank(question, language)
    assert with_lemmas and with_lemmas[0].slug == slug
    surface_words = Index(SMALL, morphology=False, typos=False).rank(question, language)
    assert not surface_words  # the same words without morphology share no form with the article


def test_the_words_as_written_count_beside_the_lemmas() -> None:
    # «данные» is read as «данные», «данный» and «дать», so by lemmas alone it also meets «дадут»;
    # the surface form is found only in the article that says «данные», which widens its lead.
    entries = {
        "ru": [
            Entry("data", "Данные", ("Где хранятся данные?",), "…"),
            Entry("give", "Выдача", ("Что мне дадут?",), "…"),
        ]
    }
    lemmas_only = Index(entries, Tuning(surface_weight=0.0)).rank("какие данные", "ru")
    with_surface = Index(entries, Tuning(surface_weight=0.6)).rank("какие данные", "ru")
    assert [m.slug for m in lemmas_only] == [m.slug for m in with_surface] == ["data", "give"]
    assert with_surface[0].score > lemmas_only[0].score
    assert with_surface[1].score == lemmas_only[1].score
    assert with_surface[0].margin > lemmas_only[0].margin


def test_an_inflected_form_with_a_typo_still_finds_its_article(index: Index) -> None:
    assert index.lookup("пришли павестки", "ru", 1)[0].slug == "mobilization-notice"
    # The guessed lemma of «павестку» is «павесткать», two edits from any lemma; the word itself is
    # one edit from «повестку», which the articles write.
    assert index.lookup("получил павестку", "ru", 1)[0].slug == "mobilization-notice"
    assert index.lookup("прийшли повісткі", "uk", 1)[0].slug == "mobilization-notice"


def test_words_borrowed_from_the_answer_count_as_found() -> None:
    entries = {"ru": [Entry("notice", "Повестка", ("Что делать с повесткой?",), "Не ходите в военкомат.")]}
    match = Index(entries).rank("повестка и военкомат", "ru")[0]
    assert match.coverage == 1.0


def test_a_typo_is_forgiven(index: Index) -> None:
    assert index.lookup("мне пришла павестка", "ru", 1)[0].slug == "mobilization-notice"
    assert index.lookup("how do i surrendr", "en", 1)[0].slug == "how-surrender-happens"


def test_russian_written_to_the_ukrainian_bot_is_answered_in_ukrainian(index: Index) -> None:
    match = index.lookup("Что будет, если я пойду в плен раненым? Мне нужны лекарства", "uk", 1)[0]
    assert (match.slug, match.language) == ("wounded", "uk")
    assert match.title == "Якщо ви поранені чи хворі"


def test_answer_through_the_database_returns_the_article_in_the_asked_language(loaded: None) -> None:
    match = search.answer("мне принесли повестку", "ru-RU")
    assert match is not None
    assert (match.slug, match.language, match.confident) == ("mobilization-notice", "ru", True)
    assert match.answer.startswith("Повестка — ещё не фронт.")
    assert search.search("повістка", "uk", limit=3)[0].slug == "mobilization-notice"
    with pytest.raises(ValueError, match="not 'de'"):
        search.answer("Einberufung", "de")


# --- the command -----------------------------------------------------------------------------------------------


def test_kb_load_reports_what_it_did(db: None) -> None:
    out = StringIO()
    call_command("kb", "load", str(ARTICLES), stdout=out)
    assert f"{Article.objects.count()} created, 0 updated, 0 unchanged" in out.getvalue()
    out = StringIO()
    call_command("kb", "load", stdout=out)  # HOTLINE_KB_DIR by default
    assert "0 created, 0 updated" in out.getvalue()


def test_kb_load_of_a_missing_directory_is_a_clear_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such directory"):
        call_command("kb", "load", str(tmp_path / "nowhere"))


def test_kb_ask_prints_the_chosen_article_as_json(loaded: None) -> None:
    out = StringIO()
    call_command("kb", "ask", "--lang", "ru", "меня могут мобилизовать, пришла повестка", stdout=out)
    result = json.loads(out.getvalue())
    assert result["slug"] == "mobilization-notice"
    assert result["title"] == "Мне пришла повестка"
    assert result["confident"] is True
    assert result["score"] > 0
    assert {"margin", "coverage", "matched_question", "alternatives"} <= set(result)


def test_kb_ask_off_topic_is_not_confident(loaded: None) -> None:
    out = StringIO()
    call_command("kb", "ask", "--lang", "en", "what's the weather like", stdout=out)
    assert json.loads(out.getvalue())["confident"] is False


def test_system_actor_may_load_but_the_label_says_so(loaded: None) -> None:
    assert {e.actor_label for e in kb_events()} == {"kb-loader"}
    assert Actor.system("kb-loader").role == Role.SYSTEM
