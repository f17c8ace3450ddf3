"""What the website says about itself is what it does.

The pages promise no cookies, nothing kept in the browser, pages kept out of its cache, and an
unfinished application kept nowhere. Each promise is a phrase in the page texts (found here in every
language, on the page as served) and a behaviour checked on every response of the whole path an
applicant takes: the information pages, the form from start to receipt, an abandoned form, the
mailbox with an operator's reply, a message and an update written back. A text that speaks of
cookies must be one of the "no cookies" promises, so a page that claims a cookie fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.http import HttpResponse
from django.test import Client

from hotline import languages
from hotline.cases import actions
from hotline.cases.models import Case, ChannelIdentity
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Direction
from hotline.portal import content, limits
from tests.conftest import Org
from tests.test_portal_helpers import WebApplicant, page_text, receipt_on

OPERATOR = Actor.system("console")

# promise -> language -> (page, the phrase that makes it); the phrase must be on the page as served.
CLAIMS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "no cookies": {
        "en": [
            ("safety", "No cookies at all."),
            ("home", "It sets no cookies at all, stores nothing in your browser"),
            ("guarantees", "This website sets no cookies and stores nothing in your browser"),
        ],
        "ru": [
            ("safety", "Никаких cookie."),
            ("home", "Он не ставит никаких cookie, ничего не хранит в вашем браузере"),
            ("guarantees", "Этот сайт не ставит cookie и ничего не хранит в вашем браузере"),
        ],
        "uk": [
            ("safety", "Жодних cookie."),
            ("home", "Він не встановлює жодних cookie, нічого не зберігає у вашому браузері"),
            ("guarantees", "Цей сайт не встановлює cookie й нічого не зберігає у вашому браузері"),
        ],
    },
    "not cached": {
        "en": [("safety", "Pages are not kept in the browser's cache.")],
        "ru": [("safety", "Страницы не сохраняются в кэше браузера.")],
        "uk": [("safety", "Сторінки не зберігаються в кеші браузера.")],
    },
    "an unfinished application is kept nowhere": {
        "en": [
            ("apply", "An unfinished application is not kept anywhere, by us or in your browser"),
            ("home", "an unfinished application is not kept anywhere."),
        ],
        "ru": [
            ("apply", "Незаконченная заявка нигде не сохраняется — ни у нас, ни в браузере"),
            ("home", "незаконченная заявка нигде не сохраняется."),
        ],
        "uk": [
            ("apply", "Незавершена заявка ніде не зберігається — ні в нас, ні в браузері"),
            ("home", "незавершена заявка ніде не зберігається."),
        ],
    },
}
COOKIE_WORD = re.compile(r"cookie", re.IGNORECASE)
# What the texts used to say, and must not say again while the site sets no cookie.
CONTRADICTIONS = ("one cookie", "одна cookie", "What you have already sent is kept", "уже отправили, сохранится")


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


def _served_text(client: Client, language: str, slug: str) -> str:
    response = client.get(content.link("live", language, slug))
    assert response.status_code == 200, (language, slug)
    return page_text(response)


def test_every_promise_is_on_its_page_in_every_shipped_language(client: Client, db: None) -> None:
    assert set(languages.codes()) == {"ru", "uk", "en"}, "a new language adds its phrases to CLAIMS"
    for promise, per_language in CLAIMS.items():
        for language in languages.codes():
            for slug, phrase in per_language[language]:
                assert phrase in _served_text(client, language, slug), (promise, language, slug)


def test_every_mention_of_cookies_in_the_texts_is_a_no_cookies_promise(db: None) -> None:
    for language in languages.codes():
        promises = [phrase for _slug, phrase in CLAIMS["no cookies"][language]]
        for slug in content.PAGES:
            text = content.page_text(language, slug)
            for line in text.splitlines():
                if COOKIE_WORD.search(line):
                    assert any(p in line for p in promises), f"{language}/{slug}: {line!r} is not a promise"
            for contradiction in CONTRADICTIONS:
                assert contradiction not in text, f"{language}/{slug} says {contradiction!r}"


# The form's welcome (the flow file's web wording) makes the same promise.
FORM_PROMISE = {
    "en": "This site sets no cookies",
    "ru": "Сайт не ставит cookie",
    "uk": "Сайт не ставить cookie",
}


def test_the_forms_welcome_promises_no_cookies_and_says_nothing_else_of_them(client: Client, org: Org) -> None:
    from hotline.flows import registry

    flow = registry.current("intake")
    for language in languages.codes():
        start = client.post(f"/apply/{language}/", {"action": "start"})
        assert FORM_PROMISE[language] in page_text(start), language
        for step in flow.steps.values():
            for text in (step.text, *step.channel_text.values()):
                for line in text[language].splitlines():
                    if COOKIE_WORD.search(line):
                        assert FORM_PROMISE[language] in line, f"{step.id} ({language}): {line!r}"


def _assert_keeps_nothing(response: HttpResponse, where: str) -> None:
    """No cookie, nothing in the browser's cache, no script that could fill its storage, nothing
    loaded from another host."""
    assert "Set-Cookie" not in response.headers and not response.cookies, where
    assert "no-store" in response.headers.get("Cache-Control", ""), where
    policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'none'" in policy and "worker-src 'none'" in policy, where
    assert not re.search(r"https?:|\*|data:", policy), f"{where}: only this site's own files"
    assert "Clear-Site-Data" not in response.headers, f"{where}: nothing to clear"


def test_the_whole_applicant_path_sets_no_cookie_and_keeps_nothing(client: Client, org: Org) -> None:
    seen: list[tuple[str, HttpResponse]] = []
    for language in languages.codes():
        for slug in content.NAVIGATION:
            seen.append((f"{language}/{slug}", client.get(content.link("live", language, slug))))
        seen.append((f"{language}/apply", client.get(f"/apply/{language}/")))
        seen.append((f"{language}/receipt", client.get(f"/{language}/receipt/")))
    seen.append(("/", client.get("/")))

    # An abandoned form: a few answers, then the page is left. Nothing of it exists anywhere.
    identities_before = ChannelIdentity.objects.count()
    leaver = WebApplicant(client, address="198.51.100.40")
    seen.append(("form start", leaver.start()))
    seen.append(("form answer", leaver.answer("yes")))
    seen.append(("form left", leaver.post(action="leave")))
    assert not Case.objects.exists() and ChannelIdentity.objects.count() == identities_before

    # The whole form, the receipt, the mailbox, a reply, a message and an update.
    olena = WebApplicant(client)
    seen.append(("form start", olena.start()))
    done = olena.complete()
    seen.append(("receipt page", done))
    receipt = receipt_on(done)
    assert receipt is not None
    case = Case.objects.get(channel=ChannelKind.WEB)
    seen.append(("mailbox", client.post("/en/receipt/", {"receipt": receipt})))
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body="Stay put.")
    seen.append(("mailbox with a reply", client.post("/en/receipt/", {"receipt": receipt})))
    for kind in ("message", "update"):
        written = client.post("/en/receipt/write", {"receipt": receipt, "kind": kind, "body": "PLANTED-claims"})
        seen.append((f"mailbox after an {kind}", written))

    for where, response in seen:
        assert response.status_code == 200, where
        _assert_keeps_nothing(response, where)
    assert not client.cookies


def test_the_mailbox_counts_the_application_and_does_not_promise_an_answer_that_is_there(
    client: Client, org: Org
) -> None:
    olena = WebApplicant(client)
    receipt = receipt_on(olena.complete())
    assert receipt is not None
    case = Case.objects.get(channel=ChannelKind.WEB)

    fresh = page_text(client.post("/en/receipt/", {"receipt": receipt}))
    assert "The hotline has your application; you have written nothing after it." in fresh
    assert "0 messages" not in fresh
    assert "An operator will answer as soon as they can." in fresh

    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body="Stay put.")
    answered = page_text(client.post("/en/receipt/", {"receipt": receipt}))
    assert "Stay put." in answered and "An operator has answered: the reply is below." in answered
    assert "will answer" not in answered

    written = page_text(client.post("/en/receipt/write", {"receipt": receipt, "kind": "message", "body": "Thanks"}))
    assert "The hotline has your application and 1 message you wrote after it." in written
    assert "An operator will answer as soon as they can." in written, "the applicant wrote last: an answer is due"


def test_the_mailbox_says_it_in_russian_and_ukrainian_too(client: Client, org: Org) -> None:
    olena = WebApplicant(client)
    receipt = receipt_on(olena.complete())
    assert receipt is not None
    russian = page_text(client.post("/ru/receipt/", {"receipt": receipt}))
    assert "Ваша заявка у горячей линии; после неё вы ничего не писали." in russian
    ukrainian = page_text(client.post("/uk/receipt/", {"receipt": receipt}))
    assert "Ваша заявка в гарячої лінії; після неї ви нічого не писали." in ukrainian
