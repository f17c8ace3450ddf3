"""The content editors in a real browser: an admin edits a website page with a preview and rolls it
back; an operator starts a reply from a published knowledge-base article (fetched by console.js)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.core.lifecycle import Role
from hotline.kb.actions import do_create_article
from hotline.kb.content import ArticleContent
from tests.browser.conftest import screenshot
from tests.browser.test_console import sign_in
from tests.conftest import Org
from tests.console_support import admin_staff, make_staff, open_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_admin_edits_a_page_previews_it_and_rolls_it_back(page: Page, live_server: LiveServer, org_tx: Org) -> None:
    org = org_tx
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, admin_staff(org))
    page.get_by_role("link", name="Content", exact=True).click()
    page.get_by_role("link", name="Website pages").click()
    screenshot(page, "console-pages")
    page.locator("tr", has_text="Staying safe").get_by_role("link", name="edit").nth(2).click()  # English

    editor = page.get_by_label("Text", exact=True)
    expect(editor).to_contain_text("If you can, use a phone or computer that nobody else checks.")
    editor.fill("# How to stay safe\n\nAsk the **volunteers** first.\n\n- See [the guarantees](page:guarantees).")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview strong")).to_have_text("volunteers")
    screenshot(page, "console-page-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved as version 1")

    page.goto(f"{live_server.url}/en/safety/")
    expect(page.locator("main")).to_contain_text("Ask the volunteers first.")

    page.goto(f"{live_server.url}/console/content/pages/en/safety/history/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Go back to the original text").click()
    expect(page.locator(".flash")).to_contain_text("original text again")
    screenshot(page, "console-page-history")
    page.goto(f"{live_server.url}/en/safety/")
    expect(page.locator("main")).to_contain_text("How to stay safe")
    expect(page.locator("main")).not_to_contain_text("Ask the volunteers")
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_an_operator_starts_a_reply_from_an_article(page: Page, live_server: LiveServer, org_tx: Org) -> None:
    org = org_tx
    do_create_article(
        org.admin_actor,
        "night-crossing",
        {"ru": ArticleContent(title="Можно ли переходить ночью?", questions=("ночью",), answer="Никогда ночью.")},
        published=True,
    )
    case = open_case()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, make_staff(org, "alice", Role.OPERATOR))
    page.goto(f"{live_server.url}/console/case/{case.pk}/")
    page.locator("#reply-body").fill("Здравствуйте.")
    page.get_by_label("Knowledge base").select_option(label="Можно ли переходить ночью?")
    expect(page.locator("#reply-body")).to_have_value("Здравствуйте.\n\nНикогда ночью.")
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_an_admin_writes_and_publishes_an_article(page: Page, live_server: LiveServer, org_tx: Org) -> None:
    org = org_tx
    sign_in(page, live_server, admin_staff(org))
    page.goto(f"{live_server.url}/console/content/articles/")
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Name in addresses").fill("night-crossing")
    english = page.locator("fieldset", has_text="English")
    english.get_by_label("Title").fill("Can I cross at night?")
    english.get_by_label("Questions people ask").fill("is it safe to cross at night\nnight crossing")
    english.get_by_label("Answer").fill("Never cross at night on your own.")
    page.get_by_role("button", name="Create the article").click()
    expect(page.locator(".flash")).to_contain_text("not published yet")
    screenshot(page, "console-article-edit")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".flash")).to_contain_text("Published")
    page.goto(f"{live_server.url}/en/faq/")
    expect(page.locator("main")).to_contain_text("Can I cross at night?")
