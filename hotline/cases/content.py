"""Reading case content: the one place sealed rows are opened, and every read is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from hotline.audit import log as audit
from hotline.cases.actions import ActionError, case_key_aad
from hotline.cases.models import Answer, Case, Message, Note
from hotline.core import crypto
from hotline.core.actor import Actor


@dataclass(frozen=True)
class MessageView:
    id: str
    direction: str
    channel: str
    body: str
    delivery_state: str
    created_at: datetime


@dataclass(frozen=True)
class NoteView:
    id: str
    author: str | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class CaseContent:
    answers: dict[str, str]
    messages: list[MessageView]
    notes: list[NoteView]


def open_case_key(case: Case, org_private: bytes) -> bytes:
    if case.sealed_private_key is None:
        raise ActionError("this case has been erased")
    return crypto.unseal(org_private, bytes(case.sealed_private_key), case_key_aad(case.id))


def _open(case_key: bytes, table: str, field: str, row_id: object, blob: bytes | memoryview) -> str:
    return crypto.unseal(case_key, bytes(blob), crypto.associated_data(table, field, row_id)).decode()


def do_read_case(actor: Actor, case: Case, org_private: bytes) -> CaseContent:
    """Decrypt everything on a case for ``actor`` and record that they read it.

    Raises :class:`crypto.DecryptionError` for a wrong key or a tampered row, and ActionError for an
    erased case. Access checks are the caller's (views go through ``access_*`` functions).
    """
    case_key = open_case_key(case, org_private)
    answers = {
        a.field: _open(case_key, Answer._meta.db_table, "value_sealed", a.id, a.value_sealed)
        for a in Answer.objects.filter(case=case).order_by("field")
    }
    messages = [
        MessageView(
            id=str(m.id),
            direction=m.direction,
            channel=m.channel,
            body=_open(case_key, Message._meta.db_table, "body_sealed", m.id, m.body_sealed),
            delivery_state=m.delivery_state,
            created_at=m.created_at,
        )
        for m in Message.objects.filter(case=case).order_by("created_at", "id")
    ]
    notes = [
        NoteView(
            id=str(n.id),
            author=n.author.username if n.author else None,
            body=_open(case_key, Note._meta.db_table, "body_sealed", n.id, n.body_sealed),
            created_at=n.created_at,
        )
        for n in Note.objects.filter(case=case).select_related("author").order_by("created_at", "id")
    ]
    with transaction.atomic():
        audit.record(actor, "case.read", "case", case.id)
    return CaseContent(answers=answers, messages=messages, notes=notes)
