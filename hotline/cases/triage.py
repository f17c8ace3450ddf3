"""Actions for working cases in the console: tags, groups, flags, preference, handoff, canned
replies, quarantined messages and attachments.

Like ``cases/actions.py``: each ``do_*`` runs in one transaction, refuses what it must with an
:class:`ActionError`, and records its audit event (never content) in that same transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline.audit import log as audit
from hotline.cases.actions import ActionError, do_set_answers, do_transition, seal_for_case
from hotline.cases.content import open_case_key
from hotline.cases.models import (
    Attachment,
    CannedReply,
    Case,
    CaseGroup,
    CaseGroupMember,
    CaseTag,
    ChannelIdentity,
    HandoffOutcome,
    Message,
    Tag,
)
from hotline.core import crypto
from hotline.core.actor import Actor
from hotline.core.lifecycle import RejectReason, Status
from hotline.core.metadata import ChannelKind, DeliveryState, Direction

TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# The intake flow's question about the choice after surrender (flows/intake.yaml, step after_surrender):
# operators record or correct the same sealed answer.
PREFERENCES = ("exchange", "stay_in_ukraine", "third_country", "undecided")
PREFERENCE_FIELD = "after_surrender"
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
MAX_CANNED_BODY = 4000

# What a coordinator's outcome does to the case: (status it must be in, status it moves to).
HANDOFF_MOVES: dict[str, tuple[Status, Status]] = {
    HandoffOutcome.Outcome.ACCEPTED: (Status.READY, Status.HANDED_OFF),
    HandoffOutcome.Outcome.RETURNED: (Status.READY, Status.TRIAGE),
    HandoffOutcome.Outcome.COMPLETED: (Status.HANDED_OFF, Status.COMPLETED),
    HandoffOutcome.Outcome.FAILED: (Status.HANDED_OFF, Status.CLOSED),
}


def _lock(case: Case) -> Case:
    fresh = Case.objects.select_for_update().get(pk=case.pk)
    if fresh.is_shredded:
        raise ActionError(_("this case has been erased"))
    return fresh


def _touch(case: Case) -> None:
    case.updated_at = timezone.now()
    case.save(update_fields=["updated_at"])


# --- tags -------------------------------------------------------------------------------------------


def do_create_tag(actor: Actor, name: str) -> Tag:
    name = name.strip().lower()
    if not TAG_NAME.match(name):
        raise ActionError(_("a tag is 1–32 lower-case letters, digits or dashes"))
    with transaction.atomic():
        if Tag.objects.filter(name=name).exists():
            raise ActionError(_("that tag exists already"))
        tag = Tag.objects.create(name=name, created_at=timezone.now())
        audit.record(actor, "tag.create", "tag", tag.pk, {"name": name})
    return tag


def do_delete_tag(actor: Actor, tag: Tag) -> None:
    with transaction.atomic():
        audit.record(actor, "tag.delete", "tag", tag.pk, {"name": tag.name})
        tag.delete()


def do_set_tags(actor: Actor, case: Case, tags: Sequence[Tag]) -> None:
    """Make ``tags`` the case's tags, exactly."""
    wanted = {t.pk for t in tags}
    with transaction.atomic():
        case = _lock(case)
        CaseTag.objects.filter(case=case).exclude(tag_id__in=wanted).delete()
        have = set(CaseTag.objects.filter(case=case).values_list("tag_id", flat=True))
        CaseTag.objects.bulk_create([CaseTag(case=case, tag_id=pk) for pk in wanted - have])
        _touch(case)
        audit.record(actor, "case.tags", "case", case.id, {"tags": sorted(t.name for t in tags)})


# --- groups: applicants who surrender together -------------------------------------------------------


def do_link_cases(actor: Actor, case: Case, other: Case) -> CaseGroup:
    """Put two cases in one group (joining or merging the groups they are already in)."""
    if case.pk == other.pk:
        raise ActionError(_("a case cannot be linked with itself"))
    with transaction.atomic():
        first, second = sorted([case, other], key=lambda c: str(c.pk))
        _lock(first), _lock(second)  # in a fixed order, so two links never deadlock
        mine = CaseGroupMember.objects.filter(case=case).first()
        theirs = CaseGroupMember.objects.filter(case=other).first()
        if mine and theirs and mine.group_id != theirs.group_id:
            old = theirs.group_id
            CaseGroupMember.objects.filter(group_id=old).update(group_id=mine.group_id)
            CaseGroup.objects.filter(pk=old).delete()
            group = mine.group
        elif mine or theirs:
            group = (mine or theirs).group  # type: ignore[union-attr]
            missing = other if mine else case
            CaseGroupMember.objects.get_or_create(case=missing, defaults={"group": group})
        else:
            group = CaseGroup.objects.create(created_at=timezone.now())
            CaseGroupMember.objects.bulk_create(
                [CaseGroupMember(case=case, group=group), CaseGroupMember(case=other, group=group)]
            )
        audit.record(actor, "case.group", "case", case.id, {"with": str(other.pk), "group": str(group.pk)})
    return group


def do_unlink_case(actor: Actor, case: Case) -> None:
    """Take the case out of its group; a group left with one case is dissolved."""
    with transaction.atomic():
        case = _lock(case)
        member = CaseGroupMember.objects.filter(case=case).first()
        if member is None:
            return
        group_id = member.group_id
        member.delete()
        if CaseGroupMember.objects.filter(group_id=group_id).count() < 2:
            CaseGroup.objects.filter(pk=group_id).delete()
        audit.record(actor, "case.ungroup", "case", case.id, {"group": str(group_id)})


def group_of(case: Case) -> list[Case]:
    """The other cases in this case's group, oldest first."""
    member = CaseGroupMember.objects.filter(case=case).first()
    if member is None:
        return []
    return list(
        Case.objects.filter(group_membership__group_id=member.group_id)
        .exclude(pk=case.pk)
        .select_related("number")
        .order_by("created_at")
    )


# --- flags: probes and spam -------------------------------------------------------------------------------


def _identities_of(case: Case) -> list[ChannelIdentity]:
    if case.applicant_id is None:
        return []
    return list(ChannelIdentity.objects.filter(applicant_id=case.applicant_id, kind=case.channel))


def do_flag(actor: Actor, case: Case, reason: RejectReason) -> int:
    """Reject the case as a probe or spam and block the channel identity it came from.

    The identity's later messages are still kept (quarantined, see :func:`do_add_quarantined_message`)
    so a supervisor can review them, but they never reach the queue. Returns how many identities
    were blocked.
    """
    with transaction.atomic():
        do_transition(actor, case, Status.REJECTED, RejectReason(reason))
        identities = _identities_of(case)
        ChannelIdentity.objects.filter(pk__in=[i.pk for i in identities]).update(blocked=True)
        audit.record(
            actor, "case.flag", "case", case.id, {"reason": RejectReason(reason).value, "blocked": len(identities)}
        )
    return len(identities)


FLOOD_TAG = "flood"


def do_mark_flood(actor: Actor, case: Case) -> None:
    """The applicant's chat sent more than its inbound allowance: tag the case for review (the tag
    shows in the queue and can be searched) and say so in the audit log."""
    with transaction.atomic():
        if case.is_shredded:
            return
        tag, _created = Tag.objects.get_or_create(name=FLOOD_TAG, defaults={"created_at": timezone.now()})
        CaseTag.objects.get_or_create(case=case, tag=tag)
        audit.record(actor, "case.flood", "case", case.id, {"channel": case.channel})


def do_record_flood_end(actor: Actor, case: Case, dropped: int) -> None:
    """The flood is over: how many updates it dropped (no content: they were never kept)."""
    with transaction.atomic():
        audit.record(actor, "case.flood_ended", "case", case.id, {"dropped": dropped})


def do_unblock(actor: Actor, case: Case) -> int:
    """Undo the block of a flag that was a mistake (the case stays rejected; the person may write again)."""
    with transaction.atomic():
        identities = _identities_of(case)
        ChannelIdentity.objects.filter(pk__in=[i.pk for i in identities]).update(blocked=False)
        audit.record(actor, "case.unblock", "case", case.id, {"unblocked": len(identities)})
    return len(identities)


def is_blocked(case: Case) -> bool:
    if case.applicant_id is None:
        return False
    return ChannelIdentity.objects.filter(applicant_id=case.applicant_id, blocked=True).exists()


def do_add_quarantined_message(actor: Actor, case: Case, *, channel: ChannelKind, body: str) -> Message:
    """Keep a message from a blocked identity without letting it move the case or reach the queue.

    For channel adapters: when ``find_identity(...)`` is blocked, store what it sent here (on its
    latest case) instead of running the flow or opening a new case.
    """
    if not body.strip():
        raise ActionError(_("a message cannot be empty"))
    with transaction.atomic():
        case = _lock(case)
        msg = Message(
            case=case,
            direction=Direction.INBOUND,
            channel=channel,
            created_at=timezone.now(),
            delivery_state=DeliveryState.RECEIVED,
            quarantined=True,
        )
        msg.body_sealed = seal_for_case(case, Message._meta.db_table, "body_sealed", msg.id, body)
        msg.save(force_insert=True)
        audit.record(
            actor, "case.message", "message", msg.id, {"case": str(case.id), "direction": "in", "quarantined": True}
        )
    return msg


# --- after the handoff ------------------------------------------------------------------------------------


def do_set_preference(actor: Actor, case: Case, choice: str, detail: str = "") -> None:
    """Record what the person wants after surrender, as the sealed answer ``preference``."""
    if choice not in PREFERENCES:
        raise ActionError(_("choose one of the listed preferences"))
    detail = detail.strip()
    do_set_answers(actor, case, {PREFERENCE_FIELD: f"{choice}: {detail}" if detail else choice})


def do_record_handoff(actor: Actor, case: Case, outcome: str) -> Case:
    """Record a coordinator's outcome and move the case on accordingly, both or neither."""
    if outcome not in HANDOFF_MOVES:
        raise ActionError(_("unknown outcome"))
    expected, target = HANDOFF_MOVES[outcome]
    with transaction.atomic():
        current = Status(_lock(case).status)
        if current != expected:
            raise ActionError(_("this outcome does not fit a case in this state"))
        case = do_transition(actor, case, target)
        HandoffOutcome.objects.create(
            case=case, outcome=outcome, recorded_by_id=actor.user_id, recorded_at=timezone.now()
        )
        audit.record(actor, "case.handoff", "case", case.id, {"outcome": outcome})
    return case


# --- canned replies -----------------------------------------------------------------------------------------


def do_save_canned_reply(actor: Actor, *, title: str, language: str, body: str) -> CannedReply:
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise ActionError(_("a canned reply needs a title and a text"))
    if len(title) > 80 or len(body) > MAX_CANNED_BODY or len(language) > 8:
        raise ActionError(_("that canned reply is too long"))
    with transaction.atomic():
        reply = CannedReply.objects.create(title=title, language=language, body=body, updated_at=timezone.now())
        audit.record(actor, "canned.create", "canned_reply", reply.pk)
    return reply


def do_delete_canned_reply(actor: Actor, reply: CannedReply) -> None:
    with transaction.atomic():
        audit.record(actor, "canned.delete", "canned_reply", reply.pk)
        reply.delete()


# --- attachments --------------------------------------------------------------------------------------------


def _aad(attachment_id: object, field: str) -> bytes:
    return crypto.associated_data(Attachment._meta.db_table, field, attachment_id)


def do_add_attachment(
    actor: Actor, message: Message, *, kind: str, content: bytes, filename: str = "", mime: str = ""
) -> Attachment:
    """Store a file sent with ``message``, sealed whole to the case key.

    ``meta_sealed`` holds JSON ``{"file_name", "mime_type"}`` (Telegram's names, which the Telegram
    adapter writes too); ``content_sealed`` the bytes. Both are bound to the attachment row and field.
    """
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ActionError(_("that file is too large"))
    if not re.fullmatch(r"[a-z_]{1,16}", kind):
        raise ActionError(_("unknown attachment kind"))
    case = message.case
    attachment = Attachment(message=message, kind=kind, size=len(content), created_at=timezone.now())
    meta = json.dumps({"file_name": filename[:200], "mime_type": mime[:100]}).encode()
    attachment.meta_sealed = crypto.seal(bytes(case.public_key), meta, _aad(attachment.id, "meta_sealed"))
    attachment.content_sealed = crypto.seal(bytes(case.public_key), content, _aad(attachment.id, "content_sealed"))
    with transaction.atomic():
        attachment.save(force_insert=True)
        audit.record(actor, "case.attachment", "attachment", attachment.id, {"case": str(case.pk), "kind": kind})
    return attachment


@dataclass(frozen=True)
class AttachmentMeta:
    id: str
    kind: str
    size: int
    filename: str
    mime: str


def attachment_meta(case_key: bytes, attachment: Attachment) -> AttachmentMeta:
    """The description of an attachment (for the timeline); its bytes stay sealed."""
    raw = crypto.unseal(case_key, bytes(attachment.meta_sealed), _aad(attachment.id, "meta_sealed"))
    meta: Mapping[str, object] = json.loads(raw)
    return AttachmentMeta(
        id=str(attachment.id),
        kind=attachment.kind,
        size=attachment.size,
        filename=str(meta.get("file_name") or ""),
        mime=str(meta.get("mime_type") or ""),
    )


def do_read_attachment(actor: Actor, attachment: Attachment, org_private: bytes) -> tuple[AttachmentMeta, bytes]:
    """Open an attachment in memory for ``actor`` and record the read."""
    case_key = open_case_key(attachment.message.case, org_private)
    meta = attachment_meta(case_key, attachment)
    content = crypto.unseal(case_key, bytes(attachment.content_sealed), _aad(attachment.id, "content_sealed"))
    with transaction.atomic():
        audit.record(actor, "attachment.read", "attachment", attachment.id, {"case": str(attachment.message.case_id)})
    return meta, content
