"""The information pages: three languages, no other host, a strict CSP, no cookies, any host name."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from hotline import languages
from hotline.portal import content, kb, limits, markup
from hotline.portal.languages import negotiate
from tests.conftest import Org
from tests.test_portal_helpers import WebApplicant, page_text

ONION = "hotlinexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"


@pytest.fixture(autouse=True)
def _fresh_limits(settings: Any) -> Iterator[None]:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver", ONION, "mirror.example"]
    limits.reset()
    yield
    limits.reset()


def every_portal_page() -> list[str]:
    pages = ["/", "/contacts.json", "/contacts.json.sig"]
    for lang in languages.codes():
        pages += [f"/{lang}/", f"/{lang}/faq/", f"/{lang}/contacts/", f"/{lang}/receipt/", f"/apply/{lang}/"]
        pages += [f"/{lang}/{slug}/" for slug in content.TEXT_PAGES if slug != "home"]
    return pages


class References(HTMLParser):
    """Every URL a page makes the browser fetch or offers to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction", "poster", "data", "srcset", "background"):
                self.urls.append(value or "")
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag} {name}")
        if tag in ("script", "style", "iframe", "object", "embed", "base"):
            self.inline.append(tag)


def test_every_page_stays_on_this_host_with_a_strict_policy_and_no_cookies(
    client: Client, org: Org, tmp_path: Path, settings: Any
) -> None:
    settings.HOTLINE_CONTACTS_FILE = tmp_path / "contacts.json"
    source = tmp_path / "source.json"
    source.write_text(json.dumps({"telegram": ["@hotline_real_bot"], "onion": [ONION], "mirrors": ["mirror.example"]}))
    call_command("contacts", "sign", "--from", str(source))
    for path in every_portal_page():
        response = client.get(path, HTTP_HOST=ONION)
        assert response.status_code == 200, path
        assert not response.cookies, f"{path} set a cookie"
        body = response.content.decode()
        if path.endswith((".json", ".sig")):
            continue
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'none'" in policy, path
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "no-referrer"
        parser = References()
        parser.feed(body)
        assert parser.inline == [], f"{path}: inline script, style or frame {parser.inline}"
        for url in parser.urls:
            assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.I), f"{path} refers elsewhere: {url}"
        assert "http://" not in body and "https://" not in body, path
        # Never an absolute URL with this host either: the same page works on every mirror.
        assert ONION not in re.sub(r"<dd>[^<]*</dd>", "", body), f"{path} names the host it was served on"


def test_pages_exist_in_three_languages_and_link_to_each_other(client: Client, db: None) -> None:
    for lang, title in (("ru", "Что мы гарантируем"), ("uk", "Що ми гарантуємо"), ("en", "What we guarantee")):
        response = client.get(f"/{lang}/guarantees/")
        assert response.status_code == 200 and response["Content-Language"] == lang
        assert f'<html lang="{lang}">' in response.content.decode()
        assert title in page_text(response)
    body = client.get("/uk/safety/").content.decode()
    assert 'href="/ru/safety/"' in body and 'href="/en/safety/"' in body and 'href="/apply/uk/"' in body


def test_the_bare_address_speaks_the_browsers_language(client: Client, db: None) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="uk-UA,uk;q=0.9,en;q=0.8")
    assert response["Content-Language"] == "uk" and "Accept-Language" in response["Vary"]
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,en;q=0.5")["Content-Language"] == "en"
    assert client.get("/")["Content-Language"] == "ru"
    assert negotiate("en;q=0.2, ru;q=0.9") == "ru"
    assert negotiate("ru;q=bad, uk") == "uk"
    assert negotiate("x" * 10_000) == "ru"


def test_unknown_pages_languages_and_methods_get_4xx(client: Client, db: None) -> None:
    assert client.get("/de/").status_code == 404
    assert client.get("/ru/nothing-here/").status_code == 404
    assert client.get("/ru/apply/").status_code == 404  # the form is /apply/ru/
    assert client.delete("/ru/faq/").status_code == 405
    assert client.post("/ru/guarantees/").status_code == 405


def test_no_cookie_is_ever_set_not_even_by_the_form(client: Client, org: Org) -> None:
    olena = WebApplicant(client)
    for path in ("/", "/en/", "/en/safety/", "/apply/en/", "/en/receipt/"):
        assert not olena.request("GET", path).cookies
    pages = [olena.start()]
    olena.complete()
    pages.append(olena.last)
    assert all(not page.cookies for page in pages) and not client.cookies


def test_every_shipped_text_renders_in_every_language(db: None) -> None:
    for lang in languages.codes():
        titles = set()
        for slug in content.PAGES:
            doc = content.page(lang, slug)
            assert doc.title and str(doc.body)
            titles.add(doc.title)
        assert len(titles) == len(content.PAGES), f"{lang}: two pages share a title"


def test_page_text_cannot_inject_markup_or_link_elsewhere() -> None:
    def link(slug: str, anchor: str) -> str:
        return f"/x/{slug}/"

    doc = markup.render("# T\n\n<script>alert(1)</script> **bold** [safe](page:safety)", ["safety"], link)
    assert "<script>" not in doc.body and "&lt;script&gt;" in doc.body
    assert '<a href="/x/safety/">safe</a>' in doc.body and "<strong>bold</strong>" in doc.body
    for bad in ("[x](https://evil.example)", "[x](//evil.example)", "[x](javascript:alert(1))", "[x](page:nope)"):
        with pytest.raises(markup.MarkupError):
            markup.render(f"# T\n\n{bad}", ["safety"], link)
    with pytest.raises(markup.MarkupError, match="line 1"):
        markup.render("no title", [], link)
    doc = markup.render('# T\n\n- one\n  two\n- "three"\n\n> a note', [], link)
    assert (
        str(doc.body)
        == '<ul><li>one two</li><li>&quot;three&quot;</li></ul>\n<aside class="note"><p>a note</p></aside>'
    )


def test_an_admin_can_replace_a_page_with_a_file_or_a_registered_source(
    client: Client, db: None, settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "safety.md").write_text("# Local safety advice\n\nAsk the volunteers first.")
    settings.HOTLINE_PORTAL_CONTENT_DIR = tmp_path
    assert "Ask the volunteers first." in page_text(client.get("/en/safety/"))
    assert "Что мы гарантируем" in page_text(client.get("/ru/guarantees/"))  # the others are unchanged

    def from_console(language: str, slug: str) -> str | None:
        return "# Edited in the console\n\nVersion 7." if (language, slug) == ("en", "safety") else None

    content.register_source(from_console)
    try:
        assert "Version 7." in page_text(client.get("/en/safety/"))
    finally:
        content.unregister_source(from_console)


def test_the_faq_lists_published_articles_when_the_knowledge_base_offers_them(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kb, "_function", lambda module, name: None)
    assert "No answers have been published here yet." in page_text(client.get("/en/faq/"))
    assert 'name="q"' not in client.get("/en/faq/").content.decode()

    articles = [{"slug": "notice", "title": "I got a call-up notice", "answer": "First: <b>stay calm</b>.\n\nThen…"}]

    def offered(module: str, name: str) -> Any:
        return {
            ("hotline.kb.reading", "published_articles"): lambda lang: articles,
            ("hotline.kb.search", "search"): lambda query, lang: articles if "notice" in query else [],
        }.get((module, name))

    monkeypatch.setattr(kb, "_function", offered)
    body = client.get("/en/faq/").content.decode()
    assert "I got a call-up notice" in body and "&lt;b&gt;stay calm&lt;/b&gt;" in body
    found = client.post("/en/faq/", {"q": "what about a notice?"})
    assert "Answers to your question" in page_text(found) and found.content.decode().count("call-up notice") == 2
    assert "No published answer matches" in page_text(client.post("/en/faq/", {"q": "weather"}))
    assert client.post("/en/faq/", {"q": "x" * 301}).status_code == 400


def test_the_faq_shows_the_real_knowledge_base_and_searches_it(client: Client, db: None) -> None:
    page = client.get("/ru/faq/")
    assert page.status_code == 200 and "пока не опубликовано" in page_text(page)
    call_command("kb", "load", stdout=io.StringIO())
    listed = client.get("/ru/faq/").content.decode()
    assert listed.count("<details") >= 10, "the starter articles are not on the FAQ page"
    found = client.post("/ru/faq/", {"q": "мне пришла повестка, что делать"})
    assert found.status_code == 200 and "Ответы на ваш вопрос" in page_text(found)
    assert "<details open>" in found.content.decode()
