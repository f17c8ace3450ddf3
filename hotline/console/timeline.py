"""One timeline per case: intake answers, messages both ways on every channel (with their files),
notes, and from the audit log the status changes, assignments and every read of the case.

Content comes decrypted from ``cases/content.do_read_case`` (which records the read); this module
only arranges it. Nothing here is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from hotline.accounts.models import User
from hotline.audit.models import AuditEvent
from hotline.cases.content import CaseContent, open_case_key
from hotline.cases.models import Attachment, Case, Message
from hotline.cases.triage import AttachmentMeta, attachment_meta
from hotline.console.labels import priority_change

# Audit actions on a case that belong in its timeline (messages and notes appear as themselves).
_EVENT_ACTIONS = {
    "case.open",
    "case.transition",
    "case.assign",
    "case.read",
    "case.tags",
    "case.group",
    "case.ungroup",
    "case.flag",
    "case.unblock",
    "case.handoff",
    "case.answers",
    "case.priority",
    "case.metadata",
    "case.receipt",
    "case.call",
}
INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
INLINE_AUDIO = {"audio/ogg", "audio/mpeg", "audio/mp4", "audio/wav", "audio/webm", "audio/x-wav", "audio/aac"}


@dataclass
class Entry:
    at: datetime
    kind: str  # answers | in | out | note | event
    body: str = ""
    who: str = ""
    channel: str = ""
    delivery: str = ""
    quarantined: bool = False
    answers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)
    repeat: int = 1
    action: str = ""  # for events: the audit action


@dataclass(frozen=True)
class AttachmentView:
    meta: AttachmentMeta

    @property
    def is_image(self) -> bool:
        return self.meta.mime in INLINE_IMAGES

    @property
    def is_audio(self) -> bool:
        return self.meta.mime in INLINE_AUDIO


def build(case: Case, content: CaseContent, org_key: bytes) -> list[Entry]:
    entries: list[Entry] = []
    if content.answers:
        entries.append(Entry(at=case.created_at, kind="answers", answers=sorted(content.answers.items())))
    entries.extend(_messages(case, content, org_key))
    entries.extend(Entry(at=n.created_at, kind="note", body=n.body, who=n.author or "") for n in content.notes)
    entries.extend(_events(case))
    entries.sort(key=lambda e: e.at)
    return _fold_reads(entries)


def _messages(case: Case, content: CaseContent, org_key: bytes) -> list[Entry]:
    extra = {
        str(pk): (author or "", quarantined)
        for pk, author, quarantined in Message.objects.filter(case=case).values_list(
            "id", "author__username", "quarantined"
        )
    }
    files = _attachments(case, org_key)
    out = []
    for m in content.messages:
        author, quarantined = extra.get(m.id, ("", False))
        out.append(
            Entry(
                at=m.created_at,
                kind=m.direction,
                body=m.body,
                who=author,
                channel=m.channel,
                delivery=m.delivery_state,
                quarantined=quarantined,
                attachments=files.get(m.id, []),
            )
        )
    return out


def _attachments(case: Case, org_key: bytes) -> dict[str, list[AttachmentView]]:
    rows = list(Attachment.objects.filter(message__case=case).order_by("created_at"))
    if not rows:
        return {}
    case_key = open_case_key(case, org_key)
    found: dict[str, list[AttachmentView]] = {}
    for row in rows:
        found.setdefault(str(row.message_id), []).append(AttachmentView(attachment_meta(case_key, row)))
    return found


def _events(case: Case) -> list[Entry]:
    events = list(
        AuditEvent.objects.filter(object_type="case", object_id=str(case.pk), action__in=_EVENT_ACTIONS).order_by("seq")
    )
    names = _usernames(events)
    return [
        Entry(at=e.at, kind="event", who=e.actor_label, body=describe(e.action, e.details, names), action=e.action)
        for e in events
    ]


def _usernames(events: list[AuditEvent]) -> dict[int, str]:
    ids = {e.details.get("assignee") for e in events if e.action == "case.assign"}
    return dict(User.objects.filter(pk__in=[i for i in ids if isinstance(i, int)]).values_list("pk", "username"))


def describe(action: str, details: dict[str, Any], names: dict[int, str]) -> str:
    """A line of the timeline for one audit event, in the reader's language."""
    if action == "case.open":
        return _("opened the case")
    if action == "case.transition":
        return _("status: %(from)s → %(to)s") % {"from": details.get("from"), "to": details.get("to")}
    if action == "case.assign":
        who = names.get(details.get("assignee") or 0)
        return _("assigned the case to %(name)s") % {"name": who} if who else _("unassigned the case")
    if action == "case.read":
        return _("read the case")
    if action == "case.tags":
        return _("set tags: %(tags)s") % {"tags": ", ".join(details.get("tags", [])) or "—"}
    if action == "case.group":
        return _("linked the case with another applicant's case")
    if action == "case.ungroup":
        return _("took the case out of its group")
    if action == "case.flag":
        return _("flagged the case as %(reason)s and blocked the sender") % {"reason": details.get("reason")}
    if action == "case.unblock":
        return _("unblocked the sender")
    if action == "case.handoff":
        return _("recorded the handoff outcome: %(outcome)s") % {"outcome": details.get("outcome")}
    if action == "case.answers":
        return _("changed answers: %(fields)s") % {"fields": ", ".join(details.get("fields", []))}
    if action == "case.receipt":
        return _("issued a receipt")
    if action == "case.priority":
        return priority_change(details)
    if action == "case.call":
        return describe_call(details)
    return _("changed the case (%(action)s)") % {"action": action}


def _fold_reads(entries: list[Entry]) -> list[Entry]:
    """Consecutive reads by the same person become one line ("read the case ×3")."""
    folded: list[Entry] = []
    for entry in entries:
        last = folded[-1] if folded else None
        if last and entry.action == last.action == "case.read" and entry.who == last.who:
            last.repeat += 1
            last.at = entry.at
            continue
        folded.append(entry)
    return folded


def describe_call(details: dict[str, Any]) -> str:
    """A phone line event (``hotline/channels/voice/calls.py``): never a number, never a key pressed."""
    event = details.get("event")
    seconds = details.get("seconds")
    if event == "incoming":
        return _("incoming call")
    if event == "answered":
        return _("answered the call")
    if event == "voicemail":
        return _("voicemail left (%(seconds)s s)") % {"seconds": seconds}
    if event == "callback_requested":
        return _("the caller asked to be called back")
    if event == "callback_started":
        return _("started a callback")
    if event == "callback_done":
        return _("callback connected (%(seconds)s s)") % {"seconds": seconds if seconds is not None else "—"}
    if event == "callback_failed":
        return _("callback failed: %(reason)s") % {"reason": details.get("reason", "")}
    if event == "ended":
        outcome = {
            "answered": _("answered"),
            "missed": _("missed: nobody answered"),
            "voicemail": _("voicemail"),
            "callback": _("callback requested"),
            "informed": _("menu only"),
        }.get(str(details.get("outcome")), str(details.get("outcome")))
        if details.get("talk") is not None:
            return _("call ended: %(outcome)s, %(seconds)s s, talked %(talk)s s") % {
                "outcome": outcome,
                "seconds": seconds,
                "talk": details.get("talk"),
            }
        return _("call ended: %(outcome)s, %(seconds)s s") % {"outcome": outcome, "seconds": seconds}
    return _("call event")
