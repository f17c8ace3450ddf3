"""Reading operator replies with nothing but the receipt.

The server cannot read case content (it is sealed to the case key, which only unlocked staff can
open), and it never stores a receipt, only its blind index. So a reply meant for a web applicant is
sealed a second time, to a key pair that only the receipt can regenerate:

    seed        = BLAKE2b(key = index key, person = "hotline-mailbox", mailbox id ‖ receipt)
    private key = X25519(seed)             — computed while a request holds the receipt, then dropped
    public key  = stored on the mailbox    — replies are sealed to it (sealed box + AEAD bound to the row)

A stolen database holds public keys and sealed replies only; even with the key files a thief would
have to guess an 80-bit receipt per mailbox. The applicant types the receipt, the server derives the
private key for the length of the request and opens the replies.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from nacl.public import PrivateKey

from hotline import rows
from hotline.audit import log as audit
from hotline.cases import actions
from hotline.cases.models import Case, ChannelIdentity, Message, Receipt
from hotline.core import crypto, receipts
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Direction
from hotline.keyring import server_keys

from .models import Mailbox, MailboxMessage

ACTOR = Actor.system("web")
_PERSON = b"hotline-mailbox"


def _private_key(mailbox_id: object, receipt: str) -> bytes:
    seed = hashlib.blake2b(
        f"{mailbox_id}:{receipt}".encode(), key=server_keys.get().index, digest_size=32, person=_PERSON
    ).digest()
    return bytes(PrivateKey(seed))


def message_aad(row_id: object) -> bytes:
    return crypto.associated_data(MailboxMessage._meta.db_table, "body_sealed", row_id)


def open_mailbox(receipt_row: Receipt, receipt: str) -> Mailbox:
    """The mailbox of a receipt, made on first use. ``receipt`` is canonical (``receipts.parse_receipt``).

    Call inside the transaction of the request that holds the receipt.
    """
    existing = Mailbox.objects.filter(receipt=receipt_row).first()
    if existing is not None:
        return existing
    mailbox = Mailbox(receipt=receipt_row, case_id=receipt_row.case_id, created_at=timezone.now())
    mailbox.public_key = crypto.public_key_of(_private_key(mailbox.id, receipt))
    mailbox.save(force_insert=True)
    return mailbox


def open_for_new_receipt(case: Case, display_receipt: str) -> Mailbox:
    """The mailbox of a receipt just issued on the web, so replies can wait for the applicant.

    Call in the transaction that issued the receipt: a receipt that new has no mailbox yet, so this is
    one look-up of the receipt's row and one insert (constant statements: a submission runs them
    inside the database's single writer turn).
    """
    receipt = receipts.parse_receipt(display_receipt)
    row = rows.fetch(Receipt, {"index": actions.receipt_index(receipt)})
    if row is None:
        raise Receipt.DoesNotExist("the receipt just issued is not there")
    mailbox = Mailbox(receipt_id=row.pk, case_id=case.pk, created_at=timezone.now())
    mailbox.public_key = crypto.public_key_of(_private_key(mailbox.id, receipt))
    rows.add(mailbox)
    return mailbox


@dataclass(frozen=True)
class Reply:
    body: str
    created_at: datetime


@dataclass(frozen=True)
class MailboxView:
    case: Case
    replies: list[Reply]
    sent_count: int
    last_sent_at: datetime | None
    unreadable: int  # replies that did not open (a tampered row); reported, never shown


def read(case: Case, receipt_row: Receipt, receipt: str) -> MailboxView:
    """Open the mailbox with the receipt and record that the applicant read it (no content in the event)."""
    with transaction.atomic():
        mailbox = open_mailbox(receipt_row, receipt)
        _reachable_on_web(case, mailbox)
        audit.record(ACTOR, "mailbox.read", "case", case.id)
    replies, unreadable = _open_replies(mailbox, receipt)
    sent = Message.objects.filter(case=case, direction=Direction.INBOUND).order_by("-created_at")
    last = sent.values_list("created_at", flat=True).first()
    return MailboxView(case, replies, sent.count(), last, unreadable)


def replies_for(actor: Actor, receipt_row: Receipt, receipt: str) -> list[Reply]:
    """The replies in a receipt's mailbox, for a channel that holds the receipt now (a Telegram
    account linked with it); the read is audited without content. Call inside the transaction."""
    mailbox = open_mailbox(receipt_row, receipt)
    audit.record(actor, "mailbox.read", "case", receipt_row.case_id)
    return _open_replies(mailbox, receipt)[0]


def _open_replies(mailbox: Mailbox, receipt: str) -> tuple[list[Reply], int]:
    """The mailbox's replies, oldest first, and how many did not open (a tampered row: never shown)."""
    key = _private_key(mailbox.id, receipt)
    replies: list[Reply] = []
    unreadable = 0
    for row in MailboxMessage.objects.filter(mailbox=mailbox).order_by("created_at", "id"):
        try:
            body = crypto.unseal(key, bytes(row.body_sealed), message_aad(row.id)).decode()
        except crypto.DecryptionError:
            unreadable += 1
            continue
        replies.append(Reply(body=body, created_at=row.created_at))
    return replies, unreadable


def _reachable_on_web(case: Case, mailbox: Mailbox) -> None:
    """A case that began on another channel becomes answerable on the web once its applicant comes
    here with the receipt: the console offers a channel when the applicant has an identity on it."""
    if (
        case.applicant_id is not None
        and ChannelIdentity.objects.filter(applicant_id=case.applicant_id, kind=ChannelKind.WEB).exists()
    ):
        return
    if case.channel == ChannelKind.WEB:
        return
    identity = actions.get_or_create_identity(ChannelKind.WEB, f"mailbox-{mailbox.id}")
    actions.do_link_identity(ACTOR, identity, case)


def seal_reply(case: Case, message_id: uuid.UUID, created_at: datetime, body: str) -> int:
    """Seal one operator reply into every mailbox of the case; returns how many got it."""
    count = 0
    for mailbox in Mailbox.objects.filter(case=case):
        row = MailboxMessage(mailbox=mailbox, message_id=message_id, created_at=created_at)
        row.body_sealed = crypto.seal(bytes(mailbox.public_key), body.encode(), message_aad(row.id))
        row.save(force_insert=True)
        count += 1
    return count
