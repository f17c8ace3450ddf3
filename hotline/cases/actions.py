"""Actions: the only code that writes case data.

Each ``do_*`` function runs in one transaction, checks what it is asked to do, and records the audit
event in that same transaction (nested in a caller's, it is a savepoint, except in ``run_write``'s
work, where the caller's transaction is the unit: ``dbwrite.atomic``). Content is sealed to the case
public key on the way in, so these functions never need the organisation key; reading content
(``cases/content.py``) does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from hotline import dbwrite, rows
from hotline.accounts.models import User
from hotline.audit import log as audit
from hotline.cases import status_counts
from hotline.cases.models import Answer, Applicant, Case, CaseNumber, ChannelIdentity, Message, Note, Receipt
from hotline.channels.base import case_erased, receipt_issued, route_reply
from hotline.core import codes, crypto, receipts
from hotline.core.actor import Actor
from hotline.core.lifecycle import FINISHED, OPEN, RejectReason, Role, Status, check_transition
from hotline.core.metadata import (
    Category,
    ChannelKind,
    DeliveryState,
    Direction,
    Priority,
    PriorityReason,
    Region,
    priority_rank,
)
from hotline.keyring import server_keys
from hotline.keyring.actions import org_public_key
from hotline.keyring.transport_fields import seal_field

R = TypeVar("R", bound=models.Model)

MAX_TEXT = 64 * 1024
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ActionError(Exception):
    """A refused action, with a message fit to show the person who asked for it."""


# --- sealing ---------------------------------------------------------------------------------------


def seal_for_case(case: Case, table: str, field: str, row_id: object, text: str) -> bytes:
    """Seal ``text`` to the case key, bound to the row and field it will be stored in."""
    if len(text) > MAX_TEXT:
        raise ActionError(f"text is longer than {MAX_TEXT} characters")
    return crypto.seal(bytes(case.public_key), text.encode(), crypto.associated_data(table, field, row_id))


def case_key_aad(case_id: object) -> bytes:
    return crypto.associated_data(Case._meta.db_table, "sealed_private_key", case_id)


# --- applicants and channel identities ----------------------------------------------------------------


def normalise_address(kind: ChannelKind, address: str) -> str:
    """One spelling per address, so the blind index finds the same person again."""
    address = address.strip()
    if kind == ChannelKind.PHONE and address.startswith("call-"):
        return address  # an anonymous call: a random reference instead of a number
    if kind == ChannelKind.PHONE:
        digits = re.sub(r"[\s\-().]", "", address)
        if not re.fullmatch(r"\+?\d{5,15}", digits):
            raise ActionError("a phone number has 5 to 15 digits")
        return "+" + digits.lstrip("+")
    if kind == ChannelKind.TELEGRAM:
        if not re.fullmatch(r"-?\d{1,20}", address):
            raise ActionError("a Telegram chat id is a number")
        return str(int(address))
    if not address:
        raise ActionError("an address is empty")
    return address


def address_index(kind: ChannelKind, address: str) -> bytes:
    return server_keys.get().blind_index(f"channel:{kind.value}", normalise_address(kind, address))


def find_identity(kind: ChannelKind, address: str) -> ChannelIdentity | None:
    return rows.fetch(ChannelIdentity, {"kind": kind.value, "address_index": address_index(kind, address)})


def _new_pseudonym() -> str:
    while True:
        pseudonym = "A-" + codes.group(codes.generate(40)[:8])
        if rows.fetch(Applicant, {"pseudonym": pseudonym}) is None:
            return pseudonym


def get_or_create_identity(kind: ChannelKind, address: str) -> ChannelIdentity:
    """The channel identity for ``address``, creating it (and a new pseudonymous applicant) if unknown.

    Call inside the transaction that uses it: the row is locked, so two updates from the same chat
    never run a conversation step at the same time.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("identities are looked up inside the caller's transaction")
    return _get_or_create_identity(kind, address, timezone.now())


def get_or_create_identity_with(
    kind: ChannelKind, address: str, related: type[R], key: str
) -> tuple[ChannelIdentity, R | None]:
    """:func:`get_or_create_identity`, and the channel's own row for the identity (``related``, whose
    field ``key`` refers to it; None if it has none yet), read in the same statement. The identity's
    lock is what guards that row."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("identities are looked up inside the caller's transaction")
    index = address_index(kind, address)
    identity, kin = rows.fetch_with(
        ChannelIdentity, {"kind": kind.value, "address_index": index}, related, key, lock=True
    )
    if identity is not None:
        return identity, kin
    return _get_or_create_identity(kind, address, timezone.now()), None


def _get_or_create_identity(kind: ChannelKind, address: str, now: datetime) -> ChannelIdentity:
    index = address_index(kind, address)
    identity = rows.fetch(ChannelIdentity, {"kind": kind.value, "address_index": index}, lock=True)
    if identity is not None:
        return identity
    applicant = Applicant(pseudonym=_new_pseudonym(), created_at=now)
    rows.add(applicant)
    identity = ChannelIdentity(applicant=applicant, kind=kind.value, address_index=index, created_at=now)
    identity.address_enc = seal_field(identity, "address_enc", normalise_address(kind, address))
    rows.add(identity)
    return identity


# --- opening a case ------------------------------------------------------------------------------------


def _validate_answers(answers: Mapping[str, str]) -> None:
    for name in answers:
        if not _FIELD_NAME.match(name):
            raise ActionError(f"answer names are short lower-case identifiers, not {name[:20]!r}")


def do_open_case(
    actor: Actor,
    *,
    channel: ChannelKind,
    address: str | None = None,
    identity: ChannelIdentity | None = None,
    language: str = "",
    category: Category = Category.UNKNOWN,
    region: Region = Region.UNKNOWN,
    group_size: int = 1,
    priority: Priority = Priority.NORMAL,
    priority_reason: PriorityReason | None = None,
    answers: Mapping[str, str] | None = None,
) -> Case:
    """Open a case for whoever is at ``address`` on ``channel`` (a new applicant if nobody is known),
    or for the applicant behind an already known ``identity``.

    A case that arrives above normal priority needs a ``priority_reason``; the raise is audited like a
    later one (``case.priority``, normal → ``priority``). A fresh X25519 key pair is made for the case;
    its private key is sealed to the organisation key at once and never stored in clear.
    """
    answers = answers or {}
    _validate_answers(answers)
    if not 1 <= group_size <= 500:
        raise ActionError("a group has between 1 and 500 people")
    if len(language) > 8:
        raise ActionError("a language code is at most 8 characters")
    if Priority(priority) != Priority.NORMAL and priority_reason is None:
        raise ActionError("a case that arrives above normal priority needs a reason")
    org_public = org_public_key()
    keypair = crypto.generate_keypair()
    now = timezone.now()
    with dbwrite.atomic():
        applicant_id = None
        if identity is not None:
            fresh = rows.fetch(ChannelIdentity, {"id": identity.pk})
            if fresh is None:
                raise ActionError("this channel identity no longer exists")
            applicant_id = fresh.applicant_id
        elif address is not None:
            applicant_id = _get_or_create_identity(channel, address, now).applicant_id
        case = Case(
            applicant_id=applicant_id,
            channel=channel,
            language=language,
            category=Category(category),
            region=Region(region),
            group_size=group_size,
            priority=Priority(priority),
            public_key=keypair.public,
            created_at=now,
            updated_at=now,
        )
        case.sealed_private_key = crypto.seal(org_public, keypair.private, case_key_aad(case.id))
        rows.add(case)
        mark_locked(case)
        rows.add(CaseNumber(case=case))
        status_counts.opened(case)
        rows.add_all([_new_answer(case, name, value, now) for name, value in answers.items()])
        audit.record(
            actor,
            "case.open",
            "case",
            case.id,
            {
                "channel": channel.value,
                "answers": len(answers),
                "applicant": str(applicant_id) if applicant_id else None,
            },
        )
        if case.priority != Priority.NORMAL and priority_reason is not None:
            reason = PriorityReason(priority_reason).value
            details = {"from": Priority.NORMAL.value, "to": case.priority, "reason": reason}
            audit.record(actor, "case.priority", "case", case.id, details)
    return case


def _new_answer(case: Case, name: str, value: str, now: datetime) -> Answer:
    """An answer row for a case that has none under ``name`` yet (a case being opened)."""
    answer = Answer(case=case, field=name, updated_at=now)
    answer.value_sealed = seal_for_case(case, Answer._meta.db_table, "value_sealed", answer.id, value)
    return answer


def _put_answer(case: Case, name: str, value: str, now: datetime) -> None:
    """Store an answer: a new row usually (one statement); a changed answer keeps its row, and the
    value is sealed again bound to that row."""
    answer_id = uuid.uuid4()
    sealed = seal_for_case(case, Answer._meta.db_table, "value_sealed", answer_id, value)
    new = {"id": answer_id, "case_id": case.pk, "field": name, "value_sealed": sealed, "updated_at": now}
    if rows.insert_new(Answer, new, unique=("case_id", "field")):
        return
    existing = rows.fetch(Answer, {"case_id": case.pk, "field": name})
    if existing is None:  # the answer was there a moment ago: cannot happen inside the locked case
        raise ActionError("the answer changed while it was being stored")
    sealed = seal_for_case(case, Answer._meta.db_table, "value_sealed", existing.id, value)
    rows.update(Answer, {"id": existing.id}, {"value_sealed": sealed, "updated_at": now})


def _locked(case: Case) -> Case:
    """Re-read the case under a row lock and refuse to touch a shredded one.

    A case the same ``run_write`` work already read under its lock (:func:`mark_locked`) is current
    and still locked: it is used as it is, without reading it again.
    """
    token = dbwrite.unit_token()
    if token is not None and case.__dict__.get("_locked_in") is token:
        return case
    fresh = rows.fetch(Case, {"id": case.pk}, lock=True)
    if fresh is None:
        raise Case.DoesNotExist(f"case {case.pk} does not exist")
    if fresh.is_shredded:
        raise ActionError("this case has been erased")
    mark_locked(fresh)
    return fresh


def mark_locked(case: Case) -> None:
    """Say that ``case`` was just read under its row lock (or inserted) by the ``run_write`` work
    running now, and that whoever changes the row in it changes this instance too: the actions
    that lock it then use it as it is (the flow runner's steps). Outside such work it does nothing."""
    token = dbwrite.unit_token()
    if token is not None and not case.is_shredded:
        case.__dict__["_locked_in"] = token


def _touch(case: Case, now: datetime, **also: datetime) -> None:
    """Record that the case changed at ``now`` (with ``also``, other columns the same write sets)."""
    case.updated_at = now
    rows.update(Case, {"id": case.pk}, {"updated_at": now, **also})


def do_set_metadata(
    actor: Actor,
    case: Case,
    *,
    category: Category | None = None,
    region: Region | None = None,
    group_size: int | None = None,
) -> Case:
    """Set the plaintext metadata the queue and statistics use (coarse by design)."""
    changed: dict[str, str | int] = {}
    if group_size is not None and not 1 <= group_size <= 500:
        raise ActionError("a group has between 1 and 500 people")
    with dbwrite.atomic():
        case = _locked(case)
        if category is not None:
            case.category = changed["category"] = Category(category).value
        if region is not None:
            case.region = changed["region"] = Region(region).value
        if group_size is not None:
            case.group_size = changed["group_size"] = group_size
        case.updated_at = timezone.now()
        rows.update(Case, {"id": case.pk}, {**changed, "updated_at": case.updated_at})
        audit.record(actor, "case.metadata", "case", case.id, changed)
    return case


# --- receipts ------------------------------------------------------------------------------------------


def receipt_index(receipt: str) -> bytes:
    return server_keys.get().blind_index(receipts.BLIND_INDEX_DOMAIN, receipt)


def do_issue_receipt(actor: Actor, case: Case) -> str:
    """Make a new receipt for the case and return it for display; only its blind index is stored.

    Every channel sees the receipt in this transaction (``channels.base.receipt_issued``): the web
    channel opens its mailbox, so every later reply is sealed into it, however the case began.
    """
    receipt = receipts.new_receipt()
    with dbwrite.atomic():
        case = _locked(case)
        rows.add(Receipt(index=receipt_index(receipt), case=case, created_at=timezone.now()))
        audit.record(actor, "case.receipt", "case", case.id)
        shown = receipts.display(receipt)
        receipt_issued(case, shown)
    return shown


def find_case_by_receipt(text: str) -> Case | None:
    """The live case a typed receipt belongs to, or None. Raises codes.CodeError for malformed text."""
    found = find_receipt(receipts.parse_receipt(text))
    return found.case if found is not None else None


def find_receipt(receipt: str) -> Receipt | None:
    """The row of a canonical receipt (``receipts.parse_receipt``) whose case is live, or None."""
    found = Receipt.objects.filter(index=receipt_index(receipt)).select_related("case").first()
    if found is None or found.case.is_shredded:
        return None
    return found


def do_link_identity(actor: Actor, identity: ChannelIdentity, case: Case) -> None:
    """Attach a channel identity (a new phone, a new Telegram account) to the applicant of ``case``.

    The identity's previous pseudonymous applicant is removed if nothing else refers to it.
    """
    with dbwrite.atomic():
        case = _locked(case)
        identity = ChannelIdentity.objects.select_for_update().get(pk=identity.pk)
        target = case.applicant
        if target is None:
            target = Applicant.objects.create(pseudonym=_new_pseudonym(), created_at=timezone.now())
            case.applicant = target
            case.save(update_fields=["applicant"])
        previous = identity.applicant
        if previous.pk == target.pk:
            return
        identity.applicant = target
        identity.save(update_fields=["applicant"])
        if not Case.objects.filter(applicant=previous).exists() and not previous.identities.exists():
            previous.delete()
        audit.record(actor, "identity.link", "case", case.id, {"identity": str(identity.pk)})


# --- content -----------------------------------------------------------------------------------------


def do_set_answers(actor: Actor, case: Case, answers: Mapping[str, str]) -> None:
    _validate_answers(answers)
    now = timezone.now()
    with dbwrite.atomic():
        case = _locked(case)
        for name, value in answers.items():
            _put_answer(case, name, value, now)
        _touch(case, now)
        audit.record(actor, "case.answers", "case", case.id, {"fields": sorted(answers)})


def do_add_message(
    actor: Actor,
    case: Case,
    *,
    direction: Direction,
    channel: ChannelKind,
    body: str,
    author: User | None = None,
) -> Message:
    """Store one message on the case: inbound from the applicant, or outbound from an operator.

    An outbound message (an operator's reply) is queued in the outbox, in this same transaction, for
    the channel the applicant uses; the worker delivers it and marks it sent.
    """
    if not body.strip():
        raise ActionError("a message cannot be empty")
    now = timezone.now()
    with dbwrite.atomic():
        case = _locked(case)
        msg = Message(
            case=case,
            direction=direction,
            channel=channel,
            author=author,
            created_at=now,
            delivery_state=DeliveryState.RECEIVED if direction == Direction.INBOUND else DeliveryState.QUEUED,
        )
        msg.body_sealed = seal_for_case(case, Message._meta.db_table, "body_sealed", msg.id, body)
        rows.add(msg)
        first_answer = direction == Direction.OUTBOUND and case.first_answer_at is None
        if direction == Direction.OUTBOUND:
            state = route_reply(case, msg, body)
            if state != msg.delivery_state:
                msg.delivery_state = state
                msg.save(update_fields=["delivery_state"])
        if direction == Direction.INBOUND and case.status == Status.WAITING:
            check_transition(Status.WAITING, Status.TRIAGE, Role.SYSTEM)
            case.status = Status.TRIAGE
            rows.update(Case, {"id": case.pk}, {"status": case.status})
            status_counts.moved(case, Status.WAITING.value, Status.TRIAGE.value)
            audit.record(Actor.system(), "case.transition", "case", case.id, {"from": "waiting", "to": "triage"})
        if first_answer:  # the case's wait for a first answer ends here (cases/targets.py)
            case.first_answer_at = now
            _touch(case, now, first_answer_at=now)
        else:
            _touch(case, now)
        audit.record(actor, "case.message", "message", msg.id, {"case": str(case.id), "direction": direction.value})
    return msg


def do_add_note(actor: Actor, case: Case, body: str, author: User | None = None) -> Note:
    if not body.strip():
        raise ActionError("a note cannot be empty")
    now = timezone.now()
    with dbwrite.atomic():
        case = _locked(case)
        note = Note(case=case, author=author, created_at=now)
        note.body_sealed = seal_for_case(case, Note._meta.db_table, "body_sealed", note.id, body)
        note.save(force_insert=True)
        _touch(case, now)
        audit.record(actor, "case.note", "note", note.id, {"case": str(case.id)})
    return note


# --- workflow ----------------------------------------------------------------------------------------


def do_transition(actor: Actor, case: Case, target: Status, reason: RejectReason | None = None) -> Case:
    """Move a case to ``target`` if the lifecycle allows ``actor``'s role to; otherwise TransitionError."""
    now = timezone.now()
    with dbwrite.atomic():
        case = _locked(case)
        current = Status(case.status)
        check_transition(current, target, actor.role, reason)
        case.status = target
        case.reject_reason = reason.value if reason else ""
        if target in FINISHED:
            case.finished_at = now
        case.updated_at = now
        case.save(update_fields=["status", "reject_reason", "finished_at", "updated_at"])
        status_counts.moved(case, current.value, target.value)
        details = {"from": current.value, "to": target.value}
        if reason:
            details["reason"] = reason.value
        audit.record(actor, "case.transition", "case", case.id, details)
    return case


def do_assign(actor: Actor, case: Case, assignee: User | None) -> Case:
    if actor.role not in {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN}:
        raise ActionError("only operators, supervisors and admins assign cases")
    if actor.role == Role.OPERATOR and assignee is not None and assignee.pk != actor.user_id:
        raise ActionError("operators may assign cases only to themselves")
    if assignee is not None and (
        not assignee.is_active or assignee.role not in {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN}
    ):
        raise ActionError("cases are assigned to active operators, supervisors or admins")
    with dbwrite.atomic():
        case = _locked(case)
        if Status(case.status) not in OPEN:
            raise ActionError("a finished case cannot be reassigned")
        case.assignee = assignee
        case.updated_at = timezone.now()
        case.save(update_fields=["assignee", "updated_at"])
        audit.record(actor, "case.assign", "case", case.id, {"assignee": assignee.pk if assignee else None})
    return case


PRIORITY_SETTERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM})


def do_set_priority(actor: Actor, case: Case, priority: Priority, reason: PriorityReason) -> Case:
    """Raise or lower an open case's priority, for a reason from the fixed list (never free text: the
    reason is stored in clear). The audit event keeps the old and new priority and the reason."""
    if actor.role not in PRIORITY_SETTERS:
        raise ActionError(gettext("only operators, supervisors and admins change a case's priority"))
    try:
        priority, reason = Priority(priority), PriorityReason(reason)
    except ValueError as exc:
        raise ActionError(gettext("Choose a priority and a reason from the lists.")) from exc
    with dbwrite.atomic():
        case = _locked(case)
        if Status(case.status) not in OPEN:
            raise ActionError(gettext("A finished case keeps its priority."))
        old = Priority(case.priority)
        if old == priority:
            raise ActionError(gettext("The case already has this priority."))
        _record_priority(actor, case, old, priority, reason, timezone.now())
    return case


def do_raise_priority(actor: Actor, case: Case, priority: Priority, reason: PriorityReason) -> Case:
    """What the channels do on the applicant's behalf (wounded, asked for a person, a callback): raise
    the priority to at least ``priority``; a case already there or higher is left as it is."""
    with dbwrite.atomic():
        case = _locked(case)
        old = Priority(case.priority)
        if priority_rank(old) >= priority_rank(priority) or Status(case.status) not in OPEN:
            return case
        _record_priority(actor, case, old, Priority(priority), PriorityReason(reason), timezone.now())
    return case


def _record_priority(
    actor: Actor, case: Case, old: Priority, new: Priority, reason: PriorityReason, now: datetime
) -> None:
    case.priority = new
    case.updated_at = now
    rows.update(Case, {"id": case.pk}, {"priority": new.value, "updated_at": now})
    audit.record(actor, "case.priority", "case", case.id, {"from": old.value, "to": new.value, "reason": reason.value})


# --- crypto-shredding ----------------------------------------------------------------------------------


def do_shred_case(actor: Actor, case: Case) -> None:
    """Erase a finished case for good: destroy its private key and delete every sealed row.

    What stays is what statistics need and nothing that points at a person: status, channel kind,
    category, region, group size, and dates rounded to the day. The applicant and their channel
    identities go too, unless another case still needs them.
    """
    with dbwrite.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.is_shredded:
            return
        if Status(case.status) not in FINISHED:
            raise ActionError("only a finished case can be erased")
        case_erased(case)  # each channel drops what it keeps about the case
        Answer.objects.filter(case=case).delete()
        Message.objects.filter(case=case).delete()
        Note.objects.filter(case=case).delete()
        Receipt.objects.filter(case=case).delete()
        applicant = case.applicant
        day = case.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
        case.sealed_private_key = None
        case.public_key = b""
        case.applicant = None
        case.assignee = None
        case.created_at = day
        case.updated_at = day
        if case.finished_at:
            case.finished_at = case.finished_at.replace(hour=0, minute=0, second=0, microsecond=0)
        case.first_answer_at = None  # a time to the minute, gone with the messages it came from
        case.shredded_at = timezone.now()
        case.save(
            update_fields=[
                "sealed_private_key",
                "public_key",
                "applicant",
                "assignee",
                "created_at",
                "updated_at",
                "finished_at",
                "first_answer_at",
                "shredded_at",
            ]
        )
        if applicant is not None and not Case.objects.filter(applicant=applicant).exists():
            applicant.delete()  # cascades to its channel identities
        audit.record(actor, "case.shred", "case", case.id)
