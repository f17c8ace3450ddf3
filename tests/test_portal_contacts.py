"""Official contacts, verifiable: `hotline contacts sign|verify`, the page, /verify, the static mirror."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from hotline.portal import contacts, limits
from tests.test_portal_helpers import page_text

ONION = "hotlineabcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopq.onion"
SOURCE = {
    "telegram": ["hotline_real_bot"],
    "phones": ["+380 44 000 00 00"],
    "onion": [ONION],
    "mirrors": ["mirror-one.example"],
}


@pytest.fixture(autouse=True)
def _manifest_in_tmp(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.HOTLINE_CONTACTS_FILE = tmp_path / "published" / "contacts.json"
    limits.reset()
    yield Path(settings.HOTLINE_CONTACTS_FILE)
    limits.reset()


def sign(tmp_path: Path, data: dict[str, Any] | None = None, capsys: Any = None) -> str:
    source = tmp_path / "source.json"
    source.write_text(json.dumps(data or SOURCE))
    call_command("contacts", "sign", "--from", str(source))
    return contacts.fingerprint(contacts.local_public_key() or b"")


def test_sign_then_verify_round_trip(tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fingerprint = sign(tmp_path)
    out = capsys.readouterr().out
    assert fingerprint in out and re.fullmatch(r"([0-9A-F]{4} ){15}[0-9A-F]{4}", fingerprint)
    key = Path(settings.HOTLINE_KEYS_DIR) / "contacts-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    published = Path(settings.HOTLINE_CONTACTS_FILE)
    manifest = json.loads(published.read_text())
    assert manifest["telegram"] == ["@hotline_real_bot"] and manifest["onion"] == [ONION]
    # A copy, checked by someone who only has the fingerprint.
    copy = tmp_path / "copy.json"
    copy.write_bytes(published.read_bytes())
    (tmp_path / "copy.json.sig").write_bytes(Path(f"{published}.sig").read_bytes())
    call_command("contacts", "verify", str(copy), "--fingerprint", fingerprint.replace(" ", "").lower())
    assert "OK:" in capsys.readouterr().out
    call_command("contacts", "verify", str(copy))  # against this installation's own key
    # Signing again keeps the key.
    assert sign(tmp_path, {**SOURCE, "mirrors": ["mirror-two.example"]}) == fingerprint


def test_a_tampered_manifest_is_rejected_with_the_reason(tmp_path: Path, settings: Any) -> None:
    fingerprint = sign(tmp_path)
    published = Path(settings.HOTLINE_CONTACTS_FILE)
    forged = tmp_path / "forged.json"
    forged.write_text(published.read_text().replace("hotline_real_bot", "hotline_reaI_bot"))
    (tmp_path / "forged.json.sig").write_bytes(Path(f"{published}.sig").read_bytes())
    with pytest.raises(CommandError, match="changed after it was signed"):
        call_command("contacts", "verify", str(forged), "--fingerprint", fingerprint)


def test_a_manifest_signed_by_another_key_is_rejected(tmp_path: Path, settings: Any) -> None:
    genuine = sign(tmp_path)
    published = Path(settings.HOTLINE_CONTACTS_FILE)
    # A phishing clone signs its own list with its own key: the signature is valid, the key is not ours.
    settings.HOTLINE_KEYS_DIR = tmp_path / "clone-keys"
    settings.HOTLINE_CONTACTS_FILE = tmp_path / "clone" / "contacts.json"
    sign(tmp_path, {**SOURCE, "telegram": ["hotline_official_help_bot"]})
    with pytest.raises(CommandError, match="signed with another key"):
        call_command("contacts", "verify", str(settings.HOTLINE_CONTACTS_FILE), "--fingerprint", genuine)
    broken_sig = tmp_path / "broken.json"
    broken_sig.write_bytes(published.read_bytes())
    (tmp_path / "broken.json.sig").write_text("{not json")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("contacts", "verify", str(broken_sig), "--fingerprint", genuine)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("contacts", "verify", str(tmp_path / "missing.json"), "--fingerprint", genuine)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("onion", "http://" + ONION, "not a v3 onion address"),
        ("mirrors", "https://mirror.example/path", "not a domain name"),
        ("phones", "call me", "not an international number"),
        ("telegram", "@ab", "not a Telegram username"),
    ],
)
def test_sign_refuses_what_is_not_a_contact(tmp_path: Path, field: str, value: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        sign(tmp_path, {**SOURCE, field: [value]})


def test_sign_without_a_source_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--from FILE"):
        call_command("contacts", "sign")


def test_the_contacts_page_shows_the_signed_list_and_the_fingerprint(
    client: Client, db: None, tmp_path: Path, settings: Any
) -> None:
    assert "have not been published yet" in page_text(client.get("/en/contacts/"))
    assert client.get("/contacts.json").status_code == 404
    fingerprint = sign(tmp_path)
    page = page_text(client.get("/uk/contacts/"))
    assert "@hotline_real_bot" in page and ONION in page and "+380 44 000 00 00" in page
    assert fingerprint in page and "Відбиток ключа" in page
    assert "@hotline_real_bot" in page_text(client.get("/en/how-to-apply/"))
    download = client.get("/contacts.json")
    assert download.status_code == 200 and download.content == Path(settings.HOTLINE_CONTACTS_FILE).read_bytes()
    # Tampered on the server: the page refuses to show it.
    published = Path(settings.HOTLINE_CONTACTS_FILE)
    published.write_text(published.read_text().replace("mirror-one", "mirror-evil"))
    tampered = page_text(client.get("/en/contacts/"))
    assert "fails its signature check" in tampered and "mirror-evil" not in tampered
    assert client.get("/contacts.json").status_code == 409


def test_the_bot_can_answer_verify_with_the_same_list_and_fingerprint(tmp_path: Path, db: None) -> None:
    assert "not been published" in contacts.verify_reply("en")
    fingerprint = sign(tmp_path)
    ru = contacts.verify_reply("ru")
    assert "@hotline_real_bot" in ru and ONION in ru and f"Отпечаток ключа: {fingerprint}" in ru
    assert "Telegram: @hotline_real_bot" in contacts.verify_reply("en")


def test_export_site_writes_a_static_mirror_with_relative_links(tmp_path: Path, db: None) -> None:
    sign(tmp_path)
    out = tmp_path / "mirror"
    call_command("export-site", str(out))
    for lang in ("ru", "uk", "en"):
        for name in ("index", "guarantees", "how-to-apply", "after-surrender", "faq", "contacts", "safety", "apply"):
            assert (out / lang / f"{name}.html").is_file()
    assert (out / "static" / "portal.css").is_file() and (out / "contacts.json.sig").is_file()
    for page in out.rglob("*.html"):
        body = page.read_text()
        links = re.findall(r'(?:href|src|action)="([^"]*)"', body)
        assert "<form" not in body, f"{page} has a form, which a static mirror cannot take"
        for link in links:
            assert not link.startswith("/"), f"{page}: {link} is not relative"
            if re.match(r"^[a-z]+:", link):  # only the live channels, only on the page about them
                assert page.name == "apply.html" and (
                    ONION in link or "mirror-one" in link or "t.me" in link or link.startswith("tel:")
                ), link
    apply_ru = (out / "ru" / "apply.html").read_text()
    assert f"http://{ONION}/apply/ru/" in apply_ru and "https://mirror-one.example/ru/receipt/" in apply_ru
    assert 'href="../uk/faq.html"' in (out / "ru" / "faq.html").read_text()
    # The copy of the manifest in the mirror checks out like the original.
    call_command("contacts", "verify", str(out / "contacts.json"))


def test_pages_offer_tor_browser_the_onion_address_from_the_signed_manifest(
    tmp_path: Path, settings: Any, client: Client, db: None
) -> None:
    settings.ALLOWED_HOSTS = ["testserver", ONION]
    assert "Onion-Location" not in client.get("/en/safety/")  # nothing signed yet: no header
    sign(tmp_path)
    page = client.get("/en/safety/?x=1")
    assert page["Onion-Location"] == f"http://{ONION}/en/safety/?x=1"
    assert "Onion-Location" not in client.get("/en/safety/", HTTP_HOST=ONION)  # already there
    assert "Onion-Location" not in client.get("/ping")  # portal pages only
    assert "Onion-Location" not in client.post("/apply/en/", {"action": "leave"})  # page loads only
