"""One timeline per case: intake answers, messages both ways on every channel (with their files),
notes, and from the audit log the status changes, assignments and every read of the case.

It reads like the conversation it is: messages, calls, notes and decisions (status, assignment,
priority, handoff, flags, links) stand as themselves, and each run of system events between them
(the intake's bookkeeping, reads, metadata) folds into one line that opens on click (:func:`fold`).

Content comes decrypted from ``cases/content.do_read_case`` (which records the read); this module
only arranges it. Nothing here is stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from hotline.accounts.models import User
from hotline.audit.models import AuditEvent
from hotline.cases.content import CaseContent, open_case_key
from hotline.cases.models import Attachment, Case, Message
from hotline.cases.triage import AttachmentMeta, attachment_meta
from hotline.console.labels import priority_change
from hotline.core.answers import ShownAnswer, shown_answers
from hotline.core.flow import Flow

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
# Events that are decisions about the case (or a call on it): shown as themselves, never folded.
DECISIONS = frozenset(
    {
        "case.transition",
        "case.assign",
        "case.priority",
        "case.handoff",
        "case.flag",
        "case.unblock",
        "case.group",
        "case.ungroup",
        "case.call",
    }
)
# What the intake writes as it goes: the case, its answers and metadata, the receipt.
_INTAKE_ACTIONS = frozenset({"case.open", "case.answers", "case.metadata", "case.receipt"})
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
    answers: list[ShownAnswer] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)
    repeat: int = 1
    action: str = ""  # for events: the audit action
    details: dict[str, Any] = field(default_factory=dict)  # for events: the audit details (never content)

    @property
    def is_system(self) -> bool:
        """An event that is bookkeeping rather than a decision: it may be folded with its neighbours."""
        return self.kind == "event" and self.action not in DECISIONS


@dataclass
class Fold:
    """A run of consecutive system events, shown as one line that opens to show them all."""

    at: datetime
    until: datetime
    summary: str
    events: list[Entry]
    kind: str = "fold"


@dataclass(frozen=True)
class AttachmentView:
    meta: AttachmentMeta

    @property
    def is_image(self) -> bool:
        return self.meta.mime in INLINE_IMAGES

    @property
    def is_audio(self) -> bool:
        return self.meta.mime in INLINE_AUDIO


def worded_answers(flow: Flow | None, answers: Mapping[str, str]) -> list[ShownAnswer]:
    """Intake answers as the reader sees them: the flow's questions and options in the reader's
    language (then the default), fields the flow does not ask by name, as stored."""
    return shown_answers(flow, answers, [get_language() or settings.LANGUAGE_CODE, settings.LANGUAGE_CODE])


def build(case: Case, content: CaseContent, org_key: bytes, flow: Flow | None) -> list[Entry | Fold]:
    """The case's timeline, oldest first, with the intake answers worded by ``flow`` (the intake flow;
    None shows them as stored) in the reader's language."""
    entries: list[Entry] = []
    if content.answers:
        entries.append(Entry(at=case.created_at, kind="answers", answers=worded_answers(flow, content.answers)))
    entries.extend(_messages(case, content, org_key))
    entries.extend(Entry(at=n.created_at, kind="note", body=n.body, who=n.author or "") for n in content.notes)
    entries.extend(_events(case))
    entries.sort(key=lambda e: e.at)
    return fold(entries)


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
        Entry(
            at=e.at,
            kind="event",
            who=e.actor_label,
            body=describe(e.action, e.details, names),
            action=e.action,
            details=e.details if isinstance(e.details, dict) else {},
        )
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


def fold(entries: list[Entry]) -> list[Entry | Fold]:
    """Fold each run of two or more consecutive system events into one :class:`Fold`.

    A lone system event stays a line of its own ("alice read the case"): a fold of one would only
    add a click. Inside a fold, repeats of the same line by the same person become one line ×N.
    """
    shown: list[Entry | Fold] = []
    run: list[Entry] = []

    def close_run() -> None:
        if len(run) == 1:
            shown.append(run[0])
        elif run:
            shown.append(Fold(at=run[0].at, until=run[-1].at, summary=summarise(run), events=_collapse(run)))
        run.clear()

    for entry in entries:
        if entry.is_system:
            run.append(entry)
            continue
        close_run()
        shown.append(entry)
    close_run()
    return shown


def summarise(run: list[Entry]) -> str:
    """One line for a run of system events: the intake, the reads per person, then everything else
    ("intake: 9 answers, read 5 times by alice, 3 system changes")."""
    opener = next((e for e in run if e.action == "case.open"), None)
    intake = [e for e in run if opener is not None and e.action in _INTAKE_ACTIONS and e.who == opener.who]
    reads: dict[str, int] = {}
    for e in run:
        if e.action == "case.read":
            reads[e.who] = reads.get(e.who, 0) + 1
    others = len(run) - len(intake) - sum(reads.values())
    parts = []
    if opener is not None:
        count = _intake_answers(intake)
        parts.append(ngettext("intake: %(count)s answer", "intake: %(count)s answers", count) % {"count": count})
    for who, count in reads.items():
        parts.append(
            ngettext("read once by %(name)s", "read %(count)s times by %(name)s", count) % {"count": count, "name": who}
        )
    if others:
        parts.append(ngettext("%(count)s system change", "%(count)s system changes", others) % {"count": others})
    return ", ".join(parts)


def _intake_answers(intake: list[Entry]) -> int:
    """How many answers the intake stored: those given when the case opened, and every field (sealed
    answer or metadata) set after, each counted once however often it changed."""
    given = 0
    fields: set[str] = set()
    for e in intake:
        if e.action == "case.open" and isinstance(e.details.get("answers"), int):
            given += e.details["answers"]
        elif e.action == "case.answers":
            fields.update(str(name) for name in e.details.get("fields", []))
        elif e.action == "case.metadata":
            fields.update(str(name) for name in e.details)
    return given + len(fields)


def _collapse(run: list[Entry]) -> list[Entry]:
    """Consecutive identical lines by the same person become one line with a count."""
    collapsed: list[Entry] = []
    for entry in run:
        last = collapsed[-1] if collapsed else None
        if last is not None and (entry.action, entry.who, entry.body) == (last.action, last.who, last.body):
            last.repeat += 1
            continue
        collapsed.append(dataclasses.replace(entry))
    return collapsed


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
