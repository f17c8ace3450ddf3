"""The application form: the intake flow one question per page, through HTTP, with JavaScript off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from hotline.cases.content import do_read_case
from hotline.cases.models import Applicant, Case, ChannelIdentity, Message, Receipt
from hotline.channels.web import session as web
from hotline.channels.web.models import Mailbox
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Direction
from hotline.flows.models import FlowSession
from hotline.keyring.transport_fields import open_field
from hotline.portal import limits
from tests.conftest import Org
from tests.test_portal_helpers import ANYTHING_ELSE, IDENTITY, SAFE_CONTACT, WebApplicant, page_text, receipt_on

STAFF = Actor.system("test")


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


@pytest.fixture
def olena(client: Client) -> WebApplicant:
    return WebApplicant(client)


def test_olena_applies_and_gets_a_receipt_and_the_browser_keeps_nothing(olena: WebApplicant, org: Org) -> None:
    start = olena.start()
    assert "Shall we continue?" in page_text(start) and olena.step == "consent"
    done = olena.complete()
    receipt = receipt_on(done)
    assert receipt is not None and len(receipt) == 21
    assert "What happens next" in page_text(done)
    assert not done.cookies and not olena.client.cookies

    case = Case.objects.get()
    assert (case.channel, case.category, case.region, case.language) == ("web", "serviceman", "russia", "en")
    answers = do_read_case(STAFF, case, org.private_key).answers
    assert answers["identity"] == IDENTITY and answers["safe_contact"] == SAFE_CONTACT
    assert answers["anything_else"] == ANYTHING_ELSE and answers["situation"] == "front"
    assert Receipt.objects.filter(case=case).count() == 1 and Mailbox.objects.filter(case=case).count() == 1
    identity = ChannelIdentity.objects.get(kind=ChannelKind.WEB)
    assert identity.applicant_id == case.applicant_id
    token = open_field(identity, "address_enc")
    assert token not in bytes(identity.address_index).hex() and len(token) == 43


def test_an_unfinished_form_is_stored_nowhere_but_its_own_page(olena: WebApplicant, org: Org) -> None:
    olena.start()
    olena.complete(stop_at="anything_else")
    assert not Applicant.objects.exists() and not ChannelIdentity.objects.exists() and not Case.objects.exists()
    assert not FlowSession.objects.exists() and not olena.client.cookies
    sealed = olena.form_token
    assert IDENTITY not in sealed and SAFE_CONTACT not in sealed  # the page carries ciphertext only
    opened = web.Form.open(sealed)
    assert opened.answers["identity"] == IDENTITY and opened.metadata["category"] == "serviceman"
    olena.complete()
    assert Case.objects.count() == 1 and ChannelIdentity.objects.count() == 1


def test_a_form_that_does_not_open_or_is_too_old_is_closed(olena: WebApplicant, org: Org, settings: Any) -> None:
    olena.start()
    sealed = olena.form_token
    form = web.Form.open(sealed)
    with pytest.raises(web.FormClosed):
        web.Form.open(sealed, now=form.started + settings.HOTLINE_PORTAL_SESSION_SECONDS + 1)
    flipped = sealed[:40] + ("A" if sealed[40] != "A" else "B") + sealed[41:]
    for bad in (flipped, sealed[:-4], "not-a-form", "x" * (web.MAX_SEALED + 1)):
        with pytest.raises(web.FormClosed):
            web.Form.open(bad)
    tampered = olena.request("POST", olena.url, {"t": flipped, "step": "consent", "value": "yes"})
    assert tampered.status_code == 400 and "This form is no longer open" in page_text(tampered)


def test_back_skip_and_refused_answers_behave_as_in_the_bot(olena: WebApplicant, org: Org) -> None:
    olena.start()
    assert "Back" not in page_text(olena.last)  # nothing to go back to yet
    olena.complete(stop_at="with_others")
    page = olena.post(action="back")
    assert olena.step == "region" and "Roughly where are you?" in page_text(page)
    olena.answer("russia")
    olena.answer("yes")
    assert olena.step == "group_size"
    refused = olena.answer("700")
    assert "from 2 to 500" in page_text(refused) and olena.step == "group_size"
    olena.answer("4")
    assert olena.step == "identity"
    olena.post(action="skip")
    assert olena.step == "safe_contact"
    required = olena.post(action="skip")
    assert "cannot be skipped" in page_text(required) and olena.step == "safe_contact"
    olena.complete()
    case = Case.objects.get()
    assert (case.group_size, case.region) == (4, "russia")
    assert "identity" not in do_read_case(STAFF, case, org.private_key).answers  # skipped


def test_an_answer_for_another_question_changes_nothing(olena: WebApplicant, org: Org) -> None:
    olena.start()
    olena.complete(stop_at="situation")
    olena.answer("front")
    assert olena.step == "region"
    # A post that names "situation" while the form it carries is at "region" (an altered page):
    stale = olena.request("POST", olena.url, {"t": olena.form_token, "step": "situation", "value": "home"})
    assert "another question" in page_text(stale) and olena.step == "region"
    olena.complete()
    case = Case.objects.get()
    assert do_read_case(STAFF, case, org.private_key).answers["situation"] == "front"


def test_the_browsers_back_button_and_a_reload_are_harmless(olena: WebApplicant, org: Org) -> None:
    olena.start()
    olena.complete(stop_at="situation")
    earlier = olena.form_token
    olena.answer("front")
    # The browser's back button re-posts the page for "situation": that page carries its own form,
    # so the answer given there is the one that counts if the applicant carries on from it.
    again = olena.request("POST", olena.url, {"t": earlier, "step": "situation", "value": "home"})
    assert again.status_code == 200 and olena.step == "region"
    olena.complete()
    case = Case.objects.get()
    assert do_read_case(STAFF, case, org.private_key).answers["situation"] == "home"


def test_switching_language_in_the_middle_carries_on_in_the_new_language(client: Client, org: Org) -> None:
    ru = WebApplicant(client, lang="ru")
    ru.start()
    ru.complete(stop_at="situation")
    assert "Где вы сейчас?" in page_text(ru.last)
    assert 'formaction="/apply/uk/"' in ru.last.content.decode()  # the language buttons submit the form
    uk = WebApplicant(client, lang="uk")
    shown = uk.request("POST", uk.url, {"t": ru.form_token, "step": "situation", "action": "show"})
    assert "Де ви зараз?" in page_text(shown) and uk.step == "situation" and "іншого" not in page_text(shown)
    uk.answer("front")
    assert "Де ви перебуваєте, приблизно?" in page_text(uk.last)
    uk.complete()
    assert Case.objects.get().language == "ru"  # the case keeps the language it was opened in


def test_talk_to_a_person_gives_a_receipt_and_a_way_to_write_at_once(olena: WebApplicant, org: Org) -> None:
    olena.start()
    person = olena.post(action="person")
    text = page_text(person)
    assert "An operator will answer you" in text and "Write to the operators" in text
    assert "close the chat" not in text  # the bot's wording is not shown on a web page
    receipt = receipt_on(person)
    assert receipt and not person.cookies
    case = Case.objects.get()
    assert case.priority == "urgent"
    written = olena.request("POST", "/en/receipt/write", {"receipt": receipt, "kind": "message", "body": "Help"})
    assert written.status_code == 200 and "Your message has been sent." in page_text(written)
    message = Message.objects.get(case=case)
    assert (message.direction, message.channel) == (Direction.INBOUND, ChannelKind.WEB)


def test_saying_no_to_consent_keeps_nothing(olena: WebApplicant, org: Org) -> None:
    olena.start()
    declined = olena.answer("no")
    assert "No application has been made" in page_text(declined)
    assert not declined.cookies and not Case.objects.exists() and not ChannelIdentity.objects.exists()


def test_the_last_page_posted_twice_opens_one_case(olena: WebApplicant, org: Org) -> None:
    olena.start()
    olena.complete(stop_at="anything_else")
    last = {"t": olena.form_token, "step": "anything_else", "action": "answer", "text": ANYTHING_ELSE}
    first = olena.request("POST", olena.url, last)
    assert receipt_on(first)
    second = olena.request("POST", olena.url, last)  # a reload of the page that sent it
    assert "This form is no longer open" in page_text(second) and receipt_on(second) is None
    assert Case.objects.count() == 1 and Receipt.objects.count() == 1


def test_bad_posts_get_a_reason_never_a_500(olena: WebApplicant, org: Org, client: Client) -> None:
    assert client.post("/apply/en/", {"action": "answer", "value": "yes"}).status_code == 400  # no form
    forged = client.post("/apply/en/", {"t": "0" * 32, "step": "consent", "value": "yes"})
    assert forged.status_code == 400 and "This form is no longer open" in page_text(forged)
    olena.start()
    token = olena.form_token

    def post(**fields: str) -> Any:
        return olena.request("POST", olena.url, {"t": token, "step": "consent", **fields})

    assert post(action="dance").status_code == 400
    assert post(action="answer", text="x" * 20_001).status_code == 413
    assert olena.request("POST", olena.url, {"t": "x" * (web.MAX_SEALED + 1), "value": "yes"}).status_code == 413
    unclear = post(value="maybe")
    assert unclear.status_code == 200 and "Please answer yes or no." in page_text(unclear)
    elsewhere = olena.request("POST", olena.url, {"action": "start"}, HTTP_SEC_FETCH_SITE="cross-site")
    assert elsewhere.status_code == 403
    other_origin = olena.request("POST", olena.url, {"action": "start"}, HTTP_ORIGIN="https://evil.example")
    assert other_origin.status_code == 403


def test_a_long_answer_is_refused_by_the_flow_with_its_limit(olena: WebApplicant, org: Org) -> None:
    olena.start()
    olena.complete(stop_at="identity")
    too_long = olena.answer("x" * 1500)
    assert "1500" in page_text(too_long) and olena.step == "identity"


def test_the_form_is_closed_until_the_hotline_is_set_up(client: Client, db: None) -> None:
    assert "not open yet" in page_text(client.get("/apply/en/"))
    refused = client.post("/apply/en/", {"action": "start"})
    assert refused.status_code == 503 and 'name="t"' not in refused.content.decode()


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_starting_many_forms_from_one_address_is_slowed(client: Client, org: Org, settings: Any) -> None:
    mallory = WebApplicant(client, address="203.0.113.66")
    statuses = []
    for _ in range(8):
        client.cookies.clear()
        statuses.append(mallory.start().status_code)
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
    assert mallory.last is not None and int(mallory.last["Retry-After"]) >= 1
    client.cookies.clear()
    assert WebApplicant(client, address="198.51.100.7").start().status_code == 200  # others still can


def test_two_applicants_at_the_same_question_each_carry_their_own_form(client: Client, org: Org) -> None:
    """Step pages are rendered once per question and share everything but the sealed form."""
    olena = WebApplicant(client, address="198.51.100.31")
    taras = WebApplicant(client, address="198.51.100.32", answers={**olena.answers, "identity": "Taras, driver"})
    for person in (olena, taras):
        person.start()
        person.complete(stop_at="safe_contact")
    assert olena.step == taras.step == "safe_contact" and olena.form_token != taras.form_token
    first, second = olena.last, taras.last
    assert first is not None and second is not None
    assert first.content.replace(olena.form_token.encode(), b"") == second.content.replace(
        taras.form_token.encode(), b""
    )
    assert web.Form.open(taras.form_token).answers["identity"] == "Taras, driver"
    olena.complete()
    taras.complete()
    found = {do_read_case(STAFF, case, org.private_key).answers["identity"] for case in Case.objects.all()}
    assert found == {IDENTITY, "Taras, driver"}


def test_back_and_skip_are_offered_in_words_only_where_they_work(olena: WebApplicant, org: Org) -> None:
    first = olena.start().content.decode()
    assert olena.step == "consent" and 'value="back"' not in first, "nowhere to go back to"
    assert 'value="skip"' not in first, "consent is not optional"
    category = olena.answer("yes").content.decode()
    assert 'value="back"' not in category, "consent is behind the case: not asked twice"
    situation = olena.answer("serviceman").content.decode()
    assert 'name="action" value="back" formnovalidate class="quiet">Back</button>' in situation
    page = olena.complete(stop_at="identity").content.decode()
    assert 'name="action" value="skip" formnovalidate class="quiet">Skip this question</button>' in page
