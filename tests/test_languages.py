"""A new language is files only: Polish, added in a directory of its own, is offered by the bot's
language choice, the website's language links and the console's phone intake — and a missing file
stops the start-up check with the file's path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from hotline import languages
from hotline.core import flow as engine
from hotline.flows import runner
from hotline.portal import content
from tests.conftest import Org
from tests.console_support import admin_staff, signed_in_client
from tests.test_telegram_keyboard import button, message, send_updates

REPO = Path(__file__).resolve().parent.parent
SHIPPED_PHRASES = REPO / "hotline" / "channels" / "telegram" / "content"
CHAT = 880001


def _with_polish(node: Any) -> Any:
    """The flow file's data with a Polish text beside every English one (marked so a test can see it)."""
    if isinstance(node, dict):
        out = {key: _with_polish(value) for key, value in node.items()}
        if {"ru", "uk", "en"} <= set(node) and isinstance(node["en"], str):
            out["pl"] = "Polski" if node["en"] == "English" else f"PL {node['en']}"
        return out
    if isinstance(node, list):
        return [_with_polish(item) for item in node]
    return node


@pytest.fixture
def polish(tmp_path: Path, settings: Any) -> Path:
    """Polish as a deployment would add it: its own flows, phrases and pages directories."""
    flows = tmp_path / "flows"
    flows.mkdir()
    data = _with_polish(yaml.safe_load((REPO / "flows" / "intake.yaml").read_text(encoding="utf-8")))
    data["languages"] = [*data["languages"], "pl"]
    data["version"] = 9000 + data["version"]  # a new version: the shipped one is stored under its own number
    (flows / "intake.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    phrases = tmp_path / "phrases"
    phrases.mkdir()
    english = yaml.safe_load((SHIPPED_PHRASES / "en.yaml").read_text(encoding="utf-8"))
    polish_phrases = {key: f"PL {text}" for key, text in english.items()}
    polish_phrases["choose_language"] = "Wybierz język:"
    (phrases / "pl.yaml").write_text(yaml.safe_dump(polish_phrases, allow_unicode=True), encoding="utf-8")

    pages = tmp_path / "pages" / "pl"
    pages.mkdir(parents=True)
    for slug in content.PAGES:
        (pages / f"{slug}.md").write_text(f"# Strona {slug}\n\nTekst po polsku.\n", encoding="utf-8")

    settings.HOTLINE_FLOWS_DIR = flows
    settings.HOTLINE_TELEGRAM_PHRASES_DIR = phrases
    settings.HOTLINE_PORTAL_CONTENT_DIR = tmp_path / "pages"
    return tmp_path


def test_the_shipped_languages_are_russian_ukrainian_and_english_in_that_order(db: None) -> None:
    found = languages.check()
    assert found.codes == ("ru", "uk", "en") and found.default == "ru"
    assert languages.choices() == [("ru", "Русский"), ("uk", "Українська"), ("en", "English")]


def test_a_language_added_as_files_passes_the_start_up_check(polish: Path) -> None:
    found = languages.check()
    assert found.codes == ("ru", "uk", "en", "pl")
    assert languages.name("pl") == "Polski"


def test_the_bot_offers_the_new_language_and_speaks_it(polish: Path, org: Org) -> None:
    sent = send_updates(message("/lang", "en", chat=CHAT))
    buttons = sent[-1]["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["l|ru", "l|uk", "l|en", "l|pl"]
    assert buttons[-1]["text"] == "Polski"

    sent = send_updates(button("l|pl", chat=CHAT))
    assert sent and all(payload["text"].startswith("PL ") for payload in sent), "the intake, in Polish"
    controls = sent[-1]["reply_markup"]["inline_keyboard"][-1]
    assert controls[-1]["text"] == "PL Talk to a person"


def test_a_telegram_user_whose_phone_speaks_the_new_language_gets_it(polish: Path, org: Org) -> None:
    sent = send_updates(message("/help", "pl-PL", chat=CHAT))
    assert sent[-1]["text"].startswith("PL This is the hotline's bot.")


def test_the_website_links_the_new_language_and_serves_it(polish: Path, client: Client, db: None) -> None:
    home = client.get("/ru/")
    assert home.status_code == 200
    assert 'href="/pl/"' in home.content.decode() and "Polski" in home.content.decode()
    polish_home = client.get("/pl/")
    assert polish_home.status_code == 200 and polish_home["Content-Language"] == "pl"
    assert "Tekst po polsku." in polish_home.content.decode()
    assert client.get("/pl/safety/").status_code == 200
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="pl-PL,pl;q=0.9")["Content-Language"] == "pl"
    assert client.get("/pl/figures/").status_code == 200, "the figures' labels fall back to English"
    assert client.get("/pl/faq/").status_code == 200, "the knowledge base has no Polish articles: none listed"
    assert client.get("/de/").status_code == 404, "a language nobody declared is not a page"


def test_the_website_form_runs_in_the_new_language(polish: Path, client: Client, org: Org) -> None:
    start = client.post("/apply/pl/", {"action": "start"})
    assert start.status_code == 200
    assert "PL " in start.content.decode()


def test_the_console_phone_intake_offers_the_new_language(polish: Path, client: Client, org: Org) -> None:
    staff = signed_in_client(admin_staff(org))
    form = staff.get("/console/phone/")
    assert '<option value="pl">Polski</option>' in form.content.decode()
    started = staff.post("/console/phone/start/", {"language": "pl", "phone": ""})
    assert started.status_code == 302
    identity_id = started["Location"].rstrip("/").rsplit("/", 1)[-1]
    step = staff.get(started["Location"])
    assert step.status_code == 200 and "PL " in step.content.decode()
    assert 'value="back"' not in step.content.decode(), "no Back on the first question"
    from hotline.cases.models import ChannelIdentity

    session = runner.load_session(ChannelIdentity.objects.get(pk=identity_id), lock=False)[1]
    assert session is not None and session.language == "pl"
    assert staff.post("/console/phone/start/", {"language": "de", "phone": ""}).status_code == 400


def test_a_missing_page_stops_the_start_up_check_with_its_path(polish: Path) -> None:
    missing = polish / "pages" / "pl" / "safety.md"
    missing.unlink()
    with pytest.raises(languages.LanguageError) as raised:
        languages.check()
    assert str(missing) in str(raised.value) and "'pl'" in str(raised.value)


def test_a_missing_phrases_file_stops_the_start_up_check_with_its_path(polish: Path) -> None:
    (polish / "phrases" / "pl.yaml").unlink()
    with pytest.raises(languages.LanguageError) as raised:
        languages.check()
    assert str(polish / "phrases" / "pl.yaml") in str(raised.value)


def test_a_phrases_file_that_lacks_a_phrase_is_named_with_the_phrase(polish: Path) -> None:
    path = polish / "phrases" / "pl.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["button_skip"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(languages.LanguageError, match=r"pl\.yaml lacks the phrases button_skip"):
        languages.check()


def test_telegram_channels_for_an_undeclared_language_are_refused_at_start_up(settings: Any) -> None:
    settings.TELEGRAM_CHANNELS = {"de": "@hotline_de"}
    with pytest.raises(languages.LanguageError, match="TELEGRAM_CHANNELS names 'de'"):
        languages.check()


def test_the_flow_engine_speaks_the_new_language_from_its_file_alone(polish: Path) -> None:
    flow = engine.load_flow((polish / "flows" / "intake.yaml").read_text(encoding="utf-8"))
    _session, effects = engine.advance(flow, None, engine.Start(language="pl"))
    assert any(isinstance(e, engine.Ask) and e.text.startswith("PL ") for e in effects)
    assert json.dumps(flow.languages) == '["ru", "uk", "en", "pl"]'
