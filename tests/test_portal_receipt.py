"""Coming back with a receipt: replies readable with the receipt alone, writing, typos and guessing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from hotline.cases import actions
from hotline.cases.content import do_read_case
from hotline.cases.models import Case, ChannelIdentity, Message
from hotline.channels.web import mailbox
from hotline.channels.web.models import Mailbox, MailboxMessage
from hotline.core import crypto, receipts
from hotline.core.actor import Actor
from hotline.core.lifecycle import Status
from hotline.core.metadata import ChannelKind, DeliveryState, Direction
from hotline.portal import limits
from tests.conftest import Org
from tests.test_portal_helpers import WebApplicant, page_text, receipt_on

OPERATOR = Actor.system("console")
REPLY = "Stay where you are tonight. We will write at 22:00 with the route."


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


def applied(client: Client) -> tuple[WebApplicant, str, Case]:
    olena = WebApplicant(client)
    receipt = receipt_on(olena.complete())
    assert receipt is not None
    return olena, receipt, Case.objects.get(channel=ChannelKind.WEB)


def open_mailbox(client: Client, receipt: str, address: str = "198.51.100.23") -> Any:
    return client.post("/en/receipt/", {"receipt": receipt}, REMOTE_ADDR=address)


def test_olena_reads_an_operators_reply_with_her_receipt(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    empty = open_mailbox(client, receipt)
    assert empty.status_code == 200 and "No replies here yet" in page_text(empty)
    reply = actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY)
    assert reply.delivery_state == DeliveryState.SENT
    # Typed the way people type: small letters, no dashes.
    page = open_mailbox(client, receipt.replace("-", "").lower())
    assert REPLY in page_text(page) and "An operator has answered: the reply is below." in page_text(page)
    assert not page.cookies


def test_the_mailbox_copy_opens_only_with_the_receipt(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY)
    copy = MailboxMessage.objects.get()
    assert REPLY.encode() not in bytes(copy.body_sealed)
    box = Mailbox.objects.get()
    canonical = receipts.parse_receipt(receipt)
    right = mailbox._private_key(box.id, canonical)
    assert crypto.unseal(right, bytes(copy.body_sealed), mailbox.message_aad(copy.id)).decode() == REPLY
    other = receipts.new_receipt()
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(mailbox._private_key(box.id, other), bytes(copy.body_sealed), mailbox.message_aad(copy.id))
    # Neither does the organisation key (it opens the case's own sealed copy, as operators do).
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(org.private_key, bytes(copy.body_sealed), mailbox.message_aad(copy.id))
    assert REPLY in [m.body for m in do_read_case(OPERATOR, case, org.private_key).messages]


def test_a_reply_to_a_web_case_without_a_receipt_is_reported_undeliverable(org: Org) -> None:
    case = actions.do_open_case(Actor.system("web"), channel=ChannelKind.WEB, address="abandoned-form")
    reply = actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body="Hi")
    assert reply.delivery_state == DeliveryState.FAILED


def test_olena_writes_a_message_and_an_update_and_does_not_see_them_again(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    secret = "PLANTED-crossing-at-the-old-bridge"
    sent = client.post("/en/receipt/write", {"receipt": receipt, "kind": "message", "body": secret})
    assert sent.status_code == 200 and "Your message has been sent." in page_text(sent)
    update = client.post("/en/receipt/write", {"receipt": receipt, "kind": "update", "body": "I am now at the front"})
    assert "Your update has been sent." in page_text(update)
    assert secret not in update.content.decode()
    assert "The hotline has your application and 2 messages you wrote after it." in page_text(update)
    bodies = [m.body for m in do_read_case(OPERATOR, case, org.private_key).messages]
    assert bodies == [secret, "[update] I am now at the front"]
    assert set(Message.objects.values_list("direction", "channel")) == {(Direction.INBOUND, ChannelKind.WEB)}
    empty = client.post("/en/receipt/write", {"receipt": receipt, "kind": "message", "body": "   "})
    assert "nothing was sent" in page_text(empty) and Message.objects.count() == 2
    assert client.post("/en/receipt/write", {"receipt": receipt, "body": "x" * 4001}).status_code == 413
    assert client.post("/en/receipt/write", {"receipt": receipt, "kind": "poem", "body": "x"}).status_code == 400


def test_an_operator_waiting_for_olena_sees_the_case_return_to_the_queue(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    actions.do_transition(org.admin_actor, case, Status.TRIAGE)
    actions.do_transition(org.admin_actor, case, Status.WAITING)
    assert "waiting for your reply" in page_text(open_mailbox(client, receipt))
    client.post("/en/receipt/write", {"receipt": receipt, "body": "Here I am"})
    assert Case.objects.get().status == Status.TRIAGE


def test_a_closed_application_takes_no_more_messages(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    actions.do_transition(org.admin_actor, case, Status.CLOSED)
    page = open_mailbox(client, receipt)
    assert "Your application is closed" in page_text(page) and 'name="body"' not in page.content.decode()
    refused = client.post("/en/receipt/write", {"receipt": receipt, "body": "hello?"})
    assert "was not sent" in page_text(refused) and not Message.objects.exists()


def test_ivan_applied_in_telegram_and_reads_replies_here(client: Client, org: Org) -> None:
    telegram = Actor.system("telegram")
    case = actions.do_open_case(telegram, channel=ChannelKind.TELEGRAM, address="5550001234")
    receipt = actions.do_issue_receipt(telegram, case)
    assert open_mailbox(client, receipt).status_code == 200
    # From now on the console can answer him on the web too.
    kinds = set(ChannelIdentity.objects.filter(applicant=case.applicant).values_list("kind", flat=True))
    assert kinds == {"telegram", "web"}
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY)
    assert REPLY in page_text(open_mailbox(client, receipt))
    assert ChannelIdentity.objects.filter(kind=ChannelKind.WEB).count() == 1  # not one per visit


def test_an_erased_case_takes_its_mailbox_with_it(client: Client, org: Org) -> None:
    _, receipt, case = applied(client)
    actions.do_add_message(OPERATOR, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY)
    actions.do_transition(org.admin_actor, case, Status.CLOSED)
    actions.do_shred_case(org.admin_actor, case)
    assert not Mailbox.objects.exists() and not MailboxMessage.objects.exists()
    assert open_mailbox(client, receipt).status_code == 404


def test_a_mistyped_receipt_is_caught_before_any_lookup(client: Client, org: Org) -> None:
    _, receipt, _ = applied(client)
    last = receipt[-1]
    typo = receipt[:-1] + ("0" if last != "0" else "1")
    page = open_mailbox(client, typo)
    assert page.status_code == 400 and "A character seems mistyped" in page_text(page)
    assert typo in page.content.decode()  # kept in the field, to correct
    short = open_mailbox(client, receipt[:-3])
    assert short.status_code == 400 and "A receipt has 17 characters" in page_text(short)
    assert "except I, L, O and U" in page_text(open_mailbox(client, "UUUU-UUUU-UUUU-UUUU-U"))
    assert open_mailbox(client, "").status_code == 400
    assert open_mailbox(client, "x" * 65).status_code == 400
    # Look-alike letters are read as the digits they resemble.
    assert open_mailbox(client, receipt.replace("0", "O").replace("1", "I")).status_code == 200
    ru = client.post("/ru/receipt/", {"receipt": typo})
    assert "Похоже, один символ введён с ошибкой" in page_text(ru)


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_guessing_is_slowed_for_the_guesser_not_for_olena(client: Client, org: Org) -> None:
    _, receipt, _ = applied(client)
    mallory = "203.0.113.66"
    statuses = [open_mailbox(client, receipts.display(receipts.new_receipt()), mallory).status_code for _ in range(7)]
    assert statuses[:5] == [404] * 5 and statuses[5:] == [429, 429]
    blocked = open_mailbox(client, receipt, mallory)
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) >= 1
    assert "Please wait a moment" in page_text(blocked)
    assert open_mailbox(client, receipt, "198.51.100.23").status_code == 200


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_a_distributed_guesser_exhausts_the_global_budget_but_olena_still_gets_in(
    client: Client, org: Org, settings: Any
) -> None:
    settings.HOTLINE_PORTAL_GLOBAL_RECEIPT_FAILURES_PER_SECOND = 1  # a burst of 20
    limits.reset()
    _, receipt, _ = applied(client)
    botnet = [f"203.0.113.{n}" for n in range(1, 26)]
    results = [open_mailbox(client, receipts.display(receipts.new_receipt()), a).status_code for a in botnet]
    assert results.count(404) >= 20
    # A bot that already failed is held back while the global budget is empty…
    assert open_mailbox(client, receipts.display(receipts.new_receipt()), botnet[0]).status_code == 429
    # …while someone who has not failed is let through with the right receipt.
    assert open_mailbox(client, receipt, "198.51.100.99").status_code == 200
