"""The website's page texts in the console (admins): edit, preview, refusals with a reason, history,
roll back, back to the original text — and the website showing whatever is current."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from hotline.audit.models import AuditEvent
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.pagetexts.actions import PageError, do_rollback_page, do_save_page
from hotline.pagetexts.models import PageVersion
from hotline.portal import content
from tests.conftest import Org
from tests.console_support import admin_staff, make_staff, signed_in_client
from tests.test_portal_helpers import page_text

EDIT = "/console/content/pages/en/safety/edit/"
HISTORY = "/console/content/pages/en/safety/history/"
ROLLBACK = "/console/content/pages/en/safety/rollback/"
SHIPPED_LINE = "If you can, use a phone or computer that nobody else checks."


@pytest.fixture
def admin(org: Org) -> Client:
    return signed_in_client(admin_staff(org))


def safety_text(words: str) -> str:
    return f"# How to stay safe\r\n\r\n{words}\r\n\r\n- Read [the guarantees](page:guarantees) first.\r\n"


def save(admin: Client, text: str, based_on: int, note: str = "") -> Any:
    return admin.post(EDIT, {"text": text, "based_on": based_on, "note": note, "action": "save"})


def events(prefix: str = "page.") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("seq"))


def test_an_admin_edits_a_page_and_the_website_shows_it_at_once(org: Org, admin: Client, client: Client) -> None:
    editor = admin.get(EDIT)
    assert editor.status_code == 200
    assert html.escape(SHIPPED_LINE, quote=False) in editor.content.decode()  # the current text, to edit
    assert SHIPPED_LINE in page_text(client.get("/en/safety/"))

    saved = save(admin, safety_text("Ask the volunteers **first**."), based_on=0, note="local advice")
    assert saved.status_code == 302 and saved["Location"] == HISTORY

    page = client.get("/en/safety/")
    assert "Ask the volunteers first" in page_text(page) and SHIPPED_LINE not in page_text(page)
    assert '<a href="/en/guarantees/">the guarantees</a>' in page.content.decode()
    assert "Как оставаться в безопасности" in page_text(client.get("/ru/safety/"))  # other languages unchanged

    version = PageVersion.objects.get()
    assert (version.number, version.author_id, version.author_label, version.note) == (
        1,
        org.admin.pk,
        "admin",
        "local advice",
    )
    assert "\r" not in version.text
    [event] = events()
    assert (event.action, event.object_type, event.object_id, event.actor_label) == (
        "page.save",
        "portal_page",
        "en/safety",
        "admin",
    )
    assert event.details["version"] == 1 and "volunteers" not in str(event.details)  # no text in the audit log


def test_the_list_shows_which_pages_were_edited_by_whom(admin: Client) -> None:
    original = '<span class="muted">original text</span>'
    before = admin.get("/console/content/pages/").content.decode()
    assert "edited · version" not in before and before.count(original) == 27
    save(admin, safety_text("Edited."), based_on=0)
    after = admin.get("/console/content/pages/").content.decode()
    assert "edited · version 1" in after and after.count(original) == 26 and "· admin" in after


def test_preview_shows_the_page_and_saves_nothing(admin: Client) -> None:
    shown = admin.post(EDIT, {"text": safety_text("Preview **me**."), "based_on": 0, "action": "preview"})
    assert shown.status_code == 200
    assert '<article class="preview" lang="en"><h1>How to stay safe</h1><p>Preview <strong>me</strong>.</p>' in (
        shown.content.decode()
    )
    assert not PageVersion.objects.exists() and not events()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no title line", "line 1: a page starts with &#x27;# Title&#x27;"),
        ("# T\n\n[click](https://evil.example)", "line 3: links go to portal pages (page:slug)"),
        ("# T\n\n[x](page:nowhere)", "line 3: there is no page &#x27;nowhere&#x27;"),
        ("# T\n\n# Second title", "line 3: only the first line is a &#x27;# Title&#x27;"),
        ("#  \n\ntext", "line 1: the title is empty"),
        ("   ", "the text is empty"),
        ("# T\n\n" + "x" * 20_001, "longer than 20000 characters"),
    ],
)
def test_a_text_the_website_could_not_show_is_refused_with_the_reason(
    admin: Client, client: Client, text: str, reason: str
) -> None:
    for action in ("save", "preview"):
        refused = admin.post(EDIT, {"text": text, "based_on": 0, "action": action})
        body = refused.content.decode()
        assert refused.status_code == 400, action
        assert 'class="error" role="alert"' in body and reason in body, (action, body[:3000])
        if len(text) < 100 and text.strip():
            assert html.escape(text) in body  # the admin's text is still in the editor
    assert not PageVersion.objects.exists() and not events()
    assert SHIPPED_LINE in page_text(client.get("/en/safety/"))


def test_markup_cannot_inject_html_through_the_editor(admin: Client, client: Client) -> None:
    save(admin, "# Safe\n\n<script>alert(1)</script> <img src=//evil.example/x>", based_on=0)
    body = client.get("/en/safety/").content.decode()
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "evil.example" not in body.replace("//evil.example/x&gt;", "")


def test_history_shows_who_changed_what_and_a_rollback_brings_a_version_back(
    org: Org, admin: Client, client: Client
) -> None:
    sam = make_staff(org, "sam", Role.ADMIN)
    save(admin, safety_text("First wording."), based_on=0, note="first try")
    assert save(signed_in_client(sam), safety_text("Second wording."), based_on=1).status_code == 302

    history = admin.get(HISTORY)
    text = page_text(history)
    assert history.status_code == 200
    assert "Version 2" in text and "Version 1" in text and "sam" in text and "first try" in text
    assert '<span class="diff-remove">First wording.</span>' in history.content.decode()
    assert '<span class="diff-add">Second wording.</span>' in history.content.decode()
    assert f'<span class="diff-remove">- {html.escape(SHIPPED_LINE, quote=False)}</span>' in history.content.decode()

    back = admin.post(ROLLBACK, {"version": "1"})
    assert back.status_code == 302 and back["Location"] == HISTORY
    assert "First wording." in page_text(client.get("/en/safety/"))
    latest = PageVersion.objects.order_by("-number").first()
    assert latest is not None and (latest.number, latest.restored_from, latest.author_label) == (3, 1, "admin")
    assert "restored version 1" in page_text(admin.get(HISTORY))
    assert [e.action for e in events()] == ["page.save", "page.save", "page.rollback"]
    assert events()[-1].details == {"version": 3, "restored": 1, "to_file": False}

    again = admin.post(ROLLBACK, {"version": "1"})
    assert again.status_code == 400 and "already says" in page_text(again)


def test_going_back_to_the_original_text_is_a_version_too(admin: Client, client: Client) -> None:
    assert admin.post(ROLLBACK, {"version": "0"}).status_code == 400  # never edited: it already is
    save(admin, safety_text("Edited."), based_on=0)
    assert "Go back to the original text" in page_text(admin.get(HISTORY))

    assert admin.post(ROLLBACK, {"version": "0"}).status_code == 302
    assert SHIPPED_LINE in page_text(client.get("/en/safety/"))
    history = page_text(admin.get(HISTORY))
    assert "back to the original text" in history and "Go back to the original text" not in history
    assert PageVersion.objects.count() == 2 and events()[-1].details["to_file"] is True

    # From there, version 1 can come back.
    assert admin.post(ROLLBACK, {"version": "1"}).status_code == 302
    assert "Edited." in page_text(client.get("/en/safety/"))


def test_a_deployments_own_file_is_the_original_text(
    admin: Client, client: Client, settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "safety.md").write_text("# Local safety\n\nOur own advice.\n")
    settings.HOTLINE_PORTAL_CONTENT_DIR = tmp_path
    assert "Our own advice." in admin.get(EDIT).content.decode()
    save(admin, "# Local safety\n\nEdited advice.", based_on=0)
    assert "Edited advice." in page_text(client.get("/en/safety/"))
    admin.post(ROLLBACK, {"version": "0"})
    assert "Our own advice." in page_text(client.get("/en/safety/"))


def test_saving_what_the_page_already_says_makes_no_version(admin: Client) -> None:
    shipped = content.file_text("en", "safety")
    same = save(admin, shipped.replace("\n", "\r\n") + "\r\n\r\n", based_on=0)
    assert same.status_code == 302 and not PageVersion.objects.exists()
    save(admin, safety_text("Once."), based_on=0)
    save(admin, safety_text("Once."), based_on=1)
    assert PageVersion.objects.count() == 1 and len(events()) == 1


def test_an_editor_opened_before_someone_elses_save_is_refused_not_overwritten(admin: Client, client: Client) -> None:
    save(admin, safety_text("Theirs."), based_on=0)
    stale = save(admin, safety_text("Mine, from an old tab."), based_on=0)
    assert stale.status_code == 409 and "changed by someone else" in page_text(stale)
    assert "Mine, from an old tab." in stale.content.decode()  # kept in the editor to copy
    assert "Theirs." in page_text(client.get("/en/safety/"))


def test_only_admins_edit_pages(org: Org) -> None:
    for role in (Role.SUPERVISOR, Role.OPERATOR):
        person = signed_in_client(make_staff(org, f"someone-{role.value}", role))
        assert person.get(EDIT).status_code == 403
        assert person.post(EDIT, {"text": "# Hacked", "based_on": 0, "action": "save"}).status_code == 403
        assert person.post(ROLLBACK, {"version": "0"}).status_code == 403
    with pytest.raises(PageError, match="only administrators"):
        do_save_page(Actor(user_id=None, label="x", role=Role.SUPERVISOR), "en", "safety", "# Hacked")
    with pytest.raises(PageError, match="only administrators"):
        do_rollback_page(Actor(user_id=None, label="x", role=Role.OPERATOR), "en", "safety", 0)
    assert not PageVersion.objects.exists()


def test_supervisors_see_replies_and_tags_admins_see_every_content_tab(org: Org, admin: Client) -> None:
    sam = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    theirs = page_text(sam.get("/console/content/"))
    assert "Replies and tags" in theirs and "Website pages" not in theirs and "Knowledge base" not in theirs
    ours = admin.get("/console/content/pages/").content.decode()
    assert 'aria-current="page">Content</a>' in ours and 'aria-current="page">Website pages</a>' in ours
    assert "Knowledge base" in ours


def test_bad_input_is_a_4xx_never_a_500(admin: Client) -> None:
    for url in (
        "/console/content/pages/de/safety/edit/",
        "/console/content/pages/en/nowhere/edit/",
        "/console/content/pages/en/nowhere/history/",
    ):
        assert admin.get(url).status_code == 404, url
    posts: list[tuple[str, dict[str, object]]] = [
        (EDIT, {}),
        (EDIT, {"text": "# T", "based_on": "x", "action": "save"}),
        (EDIT, {"text": "# T", "based_on": "-1", "action": "save"}),
        (EDIT, {"text": "# T", "based_on": "0", "note": "n" * 201, "action": "save"}),
        (EDIT, {"text": "# T\n\n" + "x" * 100_000, "based_on": "0"}),
        (ROLLBACK, {}),
        (ROLLBACK, {"version": "x"}),
        (ROLLBACK, {"version": "99999999999999"}),
        (ROLLBACK, {"version": "7"}),
        ("/console/content/pages/en/nowhere/rollback/", {"version": "0"}),
    ]
    for url, data in posts:
        status = admin.post(url, data).status_code
        assert 400 <= status < 500, (url, data, status)
    assert not PageVersion.objects.exists()


def test_a_page_view_reads_its_text_with_one_query(client: Client, db: None) -> None:
    from tests.conftest import statements

    client.get("/en/safety/")
    with statements() as seen:
        assert client.get("/en/safety/").status_code == 200
    assert len(seen) == 1 and "pagetexts_pageversion" in seen[0], seen


def test_the_static_mirror_carries_the_edited_text(admin: Client, tmp_path: Path) -> None:
    save(admin, safety_text("Mirrored wording."), based_on=0)
    call_command("export-site", str(tmp_path / "mirror"))
    mirrored = (tmp_path / "mirror" / "en" / "safety.html").read_text()
    assert "Mirrored wording." in mirrored and 'href="guarantees.html"' in mirrored


def test_the_editors_speak_ukrainian(admin: Client) -> None:
    admin.post("/accounts/language/", {"language": "uk", "next": "/console/"})
    pages = page_text(admin.get("/console/content/pages/"))
    assert "Сторінки сайту" in pages and "База знань" in pages and "Матеріали" in pages
    assert "Як писати сторінку" in page_text(admin.get(EDIT))
    refused = admin.post(EDIT, {"text": "   ", "based_on": 0, "action": "save"})
    assert "Не збережено: текст порожній" in page_text(refused)
    bad_link = admin.post(EDIT, {"text": "# Title\n\nSee [this](page:nowhere).", "based_on": 0, "action": "save"})
    assert "рядок 3: сторінки 'nowhere' немає" in page_text(bad_link)


def test_if_the_database_fails_the_page_shows_its_file_not_an_error(
    admin: Client, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline.pagetexts import reading
    from tests.conftest import database_down

    save(admin, safety_text("Edited."), based_on=0)
    assert "Edited." in content.page_text("en", "safety")
    with database_down():
        assert reading.current_text("en", "safety") is None
        assert SHIPPED_LINE in content.page_text("en", "safety")


def test_a_saved_text_that_no_longer_renders_shows_the_file_not_an_error(
    admin: Client, client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A later release may drop a page that an edited text links to: the page falls back to its file."""
    save(admin, safety_text("Edited, with a link to [the guarantees](page:guarantees)."), based_on=0)
    assert "Edited, with a link" in page_text(client.get("/en/safety/"))
    monkeypatch.setattr(content, "PAGES", tuple(p for p in content.PAGES if p != "guarantees"))
    content._rendered.cache_clear()
    try:
        shown = client.get("/en/safety/")
    finally:
        content._rendered.cache_clear()  # nothing rendered without the page outlives this test
    assert shown.status_code == 200 and SHIPPED_LINE in page_text(shown)
    assert "no longer renders" in caplog.text and "Edited" not in caplog.text
