"""Actions of the phone line: the only code that writes calls, operators' lines and callbacks.

Every function runs in one transaction and is safe to run twice with the same input: a provider
retries a webhook it got no answer to, and the retry must change nothing more. Each is keyed on
something the provider sends once per fact (the CallSid, the RecordingSid) or on the call's state.

A call gets a case only when it needs one: when an operator answers, when the caller leaves a
voicemail or asks for a callback, or when they asked for an operator and nobody answered (a missed
call). A known number joins its applicant's newest open case; a new or hidden number opens one.
Every step is a ``case.call`` event on that case's timeline; no event carries a number, a key the
caller pressed or anything they said.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.audit import log as audit
from hotline.cases import actions, triage
from hotline.cases.models import Case, Message
from hotline.core.actor import Actor
from hotline.core.lifecycle import OPEN, Role
from hotline.core.metadata import ChannelKind, Direction, Priority, PriorityReason
from hotline.keyring import server_keys
from hotline.keyring.transport_fields import open_field, seal_field
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority as OutboxPriority

from .models import Call, Callback, OperatorLine

ACTOR = Actor.system("phone")
CASEWORKER_ROLES = {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN}
_SIP = re.compile(r"^sips?:[A-Za-z0-9._~+\-]{1,64}@[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$")


class VoiceError(Exception):
    """A refused request, with a reason fit to show the person who asked."""


def _index(domain: str, value: str) -> bytes:
    return server_keys.get().blind_index(f"voice:{domain}", value)


# --- the caller -------------------------------------------------------------------------------------


def caller_address(raw: str) -> str | None:
    """The caller's number in one spelling, or None when it is hidden or not a number."""
    digits = re.sub(r"[\s\-().]", "", raw or "")
    if not re.fullmatch(r"\+?\d{5,15}", digits):
        return None
    return actions.normalise_address(ChannelKind.PHONE, digits)


def start_call(sid: str, caller: str) -> Call:
    """The call with this CallSid, created on its first webhook (a retry finds it again)."""
    index = _index("call", sid)
    found = Call.objects.filter(sid_index=index).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            number = caller_address(caller)
            # A hidden number is its own applicant: a random reference, never joined with anyone.
            address = number or f"call-{uuid.uuid4().hex}"
            identity = actions.get_or_create_identity(ChannelKind.PHONE, address)
            call = Call(sid_index=index, identity=identity, started_at=timezone.now())
            call.save(force_insert=True)
            audit.record(ACTOR, "voice.call", "call", call.id, {"event": "incoming"})
            return call
    except IntegrityError:
        # The provider's retry of this first webhook raced it, and lost: the call is there now.
        return Call.objects.get(sid_index=index)


def find_call(sid: str) -> Call | None:
    return Call.objects.filter(sid_index=_index("call", sid)).first()


def is_anonymous(call: Call) -> bool:
    identity = call.identity
    return identity is None or open_field(identity, "address_enc").startswith("call-")


def is_blocked(call: Call) -> bool:
    """The caller's number was flagged (a probe or spam): they hear the menu, but ring nobody, and what
    they leave is kept quarantined on their latest case."""
    return call.identity is not None and call.identity.blocked


def _latest_case(call: Call) -> Case | None:
    if call.identity is None:
        return None
    return Case.objects.filter(applicant_id=call.identity.applicant_id).order_by("-created_at").first()


def set_language(call: Call, language: str) -> None:
    Call.objects.filter(pk=call.pk).exclude(language=language).update(language=language)
    call.language = language


def _locked(call: Call) -> Call:
    return Call.objects.select_for_update().get(pk=call.pk)


def _event(case: Case, event: str, call: Call | None, actor: Actor = ACTOR, **details: object) -> None:
    audit.record(
        actor, "case.call", "case", case.id, {"event": event, "call": str(call.id) if call else None, **details}
    )


def _raise_priority(case: Case, priority: Priority, reason: PriorityReason | None) -> Case:
    if reason is None:
        return case
    return actions.do_raise_priority(ACTOR, case, priority, reason)


def _case_of(call: Call, priority: Priority, reason: PriorityReason | None = None) -> Case:
    """The call's case: already set, the applicant's newest open case, or a new one (the call is locked).
    Above normal ``priority`` (with its ``reason``), the case is raised to it if it is lower."""
    if call.case_id is not None:
        return _raise_priority(Case.objects.get(pk=call.case_id), priority, reason)
    identity = call.identity
    case = None
    if identity is not None:
        case = (
            Case.objects.filter(applicant_id=identity.applicant_id, status__in=[s.value for s in OPEN])
            .filter(shredded_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
    if case is None:
        case = actions.do_open_case(
            ACTOR,
            channel=ChannelKind.PHONE,
            identity=identity,
            language=call.language,
            priority=priority,
            priority_reason=reason,
        )
    else:
        case = _raise_priority(case, priority, reason)
    call.case = case
    call.save(update_fields=["case"])
    _event(case, "incoming", call, language=call.language)
    return case


# --- operators on duty -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    id: uuid.UUID
    user_id: int
    address: str  # a phone number or a SIP address: goes to the provider only

    @property
    def is_sip(self) -> bool:
        return self.address.startswith("sip")


def normalise_line(address: str) -> str:
    address = address.strip()
    if address.lower().startswith("sip"):
        if not _SIP.match(address):
            raise VoiceError("a SIP address looks like sip:name@host")
        return address
    number = caller_address(address)
    if number is None:
        raise VoiceError("a phone number has 5 to 15 digits, in international form (+380…)")
    return number


def do_set_line(user: User, address: str) -> OperatorLine:
    address = normalise_line(address)
    now = timezone.now()
    with transaction.atomic():
        line = OperatorLine.objects.select_for_update().filter(user=user).first()
        if line is None:
            line = OperatorLine(user=user, changed_at=now)
        line.address_enc = seal_field(line, "address_enc", address)
        line.hint = address[-3:]
        line.changed_at = now
        line.save()
        audit.record(actor_of(user), "voice.line", "user", user.pk, {"sip": address.startswith("sip")})
    return line


def do_set_duty(user: User, on_duty: bool) -> OperatorLine:
    if on_duty and (user.role not in CASEWORKER_ROLES or not user.is_active):
        raise VoiceError("only operators, supervisors and admins take calls")
    with transaction.atomic():
        line = OperatorLine.objects.select_for_update().filter(user=user).first()
        if line is None:
            raise VoiceError("first give the number or SIP address where you take calls")
        if line.on_duty != on_duty:
            line.on_duty = on_duty
            line.changed_at = timezone.now()
            line.save(update_fields=["on_duty", "changed_at"])
            audit.record(actor_of(user), "voice.duty", "user", user.pk, {"on_duty": on_duty})
    return line


def lines_on_duty() -> list[Line]:
    """Operators on duty, longest on duty first (the order they are rung in turn)."""
    found = OperatorLine.objects.filter(
        on_duty=True, user__is_active=True, user__role__in=[r.value for r in CASEWORKER_ROLES]
    ).order_by("changed_at", "id")
    return [Line(line.id, line.user_id, open_field(line, "address_enc")) for line in found]


def line_address(line_id: uuid.UUID) -> Line | None:
    line = OperatorLine.objects.filter(pk=line_id).first()
    return Line(line.id, line.user_id, open_field(line, "address_enc")) if line else None


# --- the call's course ------------------------------------------------------------------------------


def want_operator(call: Call) -> None:
    with transaction.atomic():
        call = _locked(call)
        if call.state in (Call.State.MENU, Call.State.RINGING):
            Call.objects.filter(pk=call.pk).update(state=Call.State.RINGING, wanted_operator=True)


def back_to_menu(call: Call) -> None:
    Call.objects.filter(pk=call.pk, state__in=[Call.State.RINGING, Call.State.RECORDING]).update(state=Call.State.MENU)


def accept(call: Call, line: Line) -> bool:
    """The operator on ``line`` pressed 1: they take the call unless someone else already has."""
    user = User.objects.filter(pk=line.user_id, is_active=True).first()
    if user is None:
        return False
    with transaction.atomic():
        call = _locked(call)
        if call.state == Call.State.ENDED:
            return False
        if call.answered_by_id is not None:
            return call.answered_by_id == user.pk  # a retried webhook from the same operator
        call.answered_by = user
        call.answered_at = timezone.now()
        call.state = Call.State.TALKING
        call.outcome = Call.Outcome.ANSWERED
        call.save(update_fields=["answered_by", "answered_at", "state", "outcome"])
        case = _case_of(call, Priority.NORMAL)
        if case.assignee_id is None:
            actions.do_assign(actor_of(user), case, user)
        _event(case, "answered", call, actor_of(user))
    return True


def dial_ended(call: Call, status: str, seconds: int | None) -> bool:
    """The Dial to the operators ended; True when an operator talked with the caller."""
    with transaction.atomic():
        call = _locked(call)
        if status == "completed" and call.answered_by_id is not None:
            if call.talk_seconds is None:
                Call.objects.filter(pk=call.pk).update(talk_seconds=seconds or 0)
            return True
        return False


def start_recording(call: Call) -> None:
    Call.objects.filter(pk=call.pk).exclude(state=Call.State.ENDED).update(state=Call.State.RECORDING)


def register_voicemail(call: Call, recording_sid: str, seconds: int) -> bool:
    """A voicemail was recorded: a message on the case, and the recording queued to be fetched, sealed
    and deleted at the provider. False when this recording is already known (a retried webhook)."""
    index = _index("recording", recording_sid)
    with transaction.atomic():
        call = _locked(call)
        if call.recording_index is not None or Call.objects.filter(recording_index=index).exists():
            return False
        body = f"voicemail, {seconds} s"
        quarantine = _latest_case(call) if is_blocked(call) else None
        if quarantine is not None:
            case = quarantine
            message = triage.do_add_quarantined_message(ACTOR, case, channel=ChannelKind.PHONE, body=body)
        else:
            case = _case_of(call, Priority.HIGH, PriorityReason.VOICEMAIL)
            message = actions.do_add_message(
                ACTOR, case, direction=Direction.INBOUND, channel=ChannelKind.PHONE, body=body
            )
        call.recording_index = index
        call.voicemail = message
        call.recording = "fetching"
        if call.outcome != Call.Outcome.ANSWERED:
            call.outcome = Call.Outcome.VOICEMAIL
        call.save(update_fields=["recording_index", "voicemail", "recording", "outcome"])
        enqueue(
            "phone",
            "fetch",
            {"recording_sid": recording_sid, "call": str(call.id), "message": str(message.id)},
            identity=None,
            priority=OutboxPriority.REPLY,
        )
        if quarantine is None:
            _event(case, "voicemail", call, seconds=seconds)
    return True


def request_callback(call: Call) -> Callback | None:
    """The caller asked to be called back; None when their number is hidden. A blocked caller's request
    is dropped without a word (they hear the same as anyone)."""
    if is_anonymous(call):
        return None
    if is_blocked(call):
        return Callback(state=Callback.State.REQUESTED)  # not saved
    with transaction.atomic():
        call = _locked(call)
        existing = Callback.objects.filter(call=call).first()
        if existing is not None:
            return existing
        case = _case_of(call, Priority.URGENT, PriorityReason.CALLBACK)
        now = timezone.now()
        callback = Callback(case=case, identity=call.identity, call=call, requested_at=now, updated_at=now)
        callback.save(force_insert=True)
        if call.outcome not in (Call.Outcome.ANSWERED, Call.Outcome.VOICEMAIL):
            Call.objects.filter(pk=call.pk).update(outcome=Call.Outcome.CALLBACK)
        _event(case, "callback_requested", call)
    return callback


def end_call(call: Call, status: str, duration: int | None) -> Call:
    """The provider says the call is over (its status callback)."""
    with transaction.atomic():
        call = _locked(call)
        if call.state == Call.State.ENDED:
            return call
        if not call.outcome:
            missed = call.wanted_operator and not is_blocked(call)
            call.outcome = Call.Outcome.MISSED if missed else Call.Outcome.INFORMED
        if call.outcome == Call.Outcome.MISSED:
            _case_of(call, Priority.HIGH, PriorityReason.MISSED_CALL)
        call.state = Call.State.ENDED
        call.ended_at = timezone.now()
        call.duration = duration
        call.save(update_fields=["outcome", "state", "ended_at", "duration"])
        if call.case_id is not None:
            case = Case.objects.get(pk=call.case_id)
            _event(case, "ended", call, outcome=call.outcome, seconds=duration, talk=call.talk_seconds, status=status)
        audit.record(ACTOR, "voice.call", "call", call.id, {"event": "ended", "outcome": call.outcome})
    return call


# --- voicemail at the worker --------------------------------------------------------------------------


def seal_voicemail(message_id: object, content: bytes, mime: str) -> bool:
    """Seal the fetched recording to the case (in memory, never on disk in clear); False when the case
    is gone. Then queue its deletion at the provider."""
    message = Message.objects.select_related("case").filter(id=str(message_id)).first()
    call = Call.objects.filter(voicemail_id=uuid.UUID(str(message_id))).first()
    if message is None or call is None or message.case.is_shredded:
        return False
    extension = "mp3" if mime == "audio/mpeg" else "wav"
    triage.do_add_attachment(
        ACTOR, message, kind="voicemail", content=content, filename=f"voicemail.{extension}", mime=mime
    )
    Call.objects.filter(pk=call.pk).update(recording="sealed")
    return True


def recording_deleted(call_id: str) -> None:
    Call.objects.filter(pk=call_id).update(recording="deleted")
    audit.record(ACTOR, "voice.recording_deleted", "call", call_id)


# --- callbacks ----------------------------------------------------------------------------------------


def do_start_callback(user: User, callback: Callback) -> Callback:
    """Ring the operator's own line; when they answer, the provider calls the applicant and bridges
    them, with the hotline's number as caller id. The operator never sees or dials the number."""
    line = OperatorLine.objects.filter(user=user).first()
    if line is None:
        raise VoiceError("first give the number or SIP address where you take calls (On duty page)")
    if not settings.VOICE_AUTH_TOKEN or not settings.VOICE_NUMBER:
        raise VoiceError("the phone line is not connected (VOICE_AUTH_TOKEN, VOICE_NUMBER)")
    with transaction.atomic():
        callback = Callback.objects.select_for_update().get(pk=callback.pk)
        if callback.state not in (Callback.State.REQUESTED, Callback.State.FAILED):
            raise VoiceError("this callback is already under way or done")
        if callback.identity is None:
            raise VoiceError("the caller's number is no longer known")
        callback.state = Callback.State.CALLING
        callback.operator = user
        callback.attempts += 1
        callback.last_result = ""
        callback.updated_at = timezone.now()
        callback.save(update_fields=["state", "operator", "attempts", "last_result", "updated_at"])
        enqueue(
            "phone",
            "call",
            {"callback": str(callback.id), "to": open_field(line, "address_enc")},
            identity=None,
            priority=OutboxPriority.INTERACTIVE,
        )
        _event(callback.case, "callback_started", None, actor_of(user), callback=str(callback.id))
    return callback


def callback_target(callback_id: uuid.UUID) -> tuple[Callback, str] | None:
    """A callback being placed and the number to bridge to (for the provider's TwiML only)."""
    callback = Callback.objects.select_related("identity", "case__number").filter(pk=callback_id).first()
    if callback is None or callback.state != Callback.State.CALLING or callback.identity is None:
        return None
    return callback, open_field(callback.identity, "address_enc")


def callback_ended(callback_id: uuid.UUID, status: str, seconds: int | None, *, leg: str) -> Callback | None:
    """The bridge ended (``leg="applicant"``: the Dial's outcome) or the operator's leg did (``"operator"``)."""
    with transaction.atomic():
        callback = Callback.objects.select_for_update().filter(pk=callback_id).first()
        if callback is None or callback.state != Callback.State.CALLING:
            return callback
        done = leg == "applicant" and status == "completed"
        callback.state = Callback.State.DONE if done else Callback.State.FAILED
        callback.last_result = f"{leg} {status}"[:32]
        callback.updated_at = timezone.now()
        callback.save(update_fields=["state", "last_result", "updated_at"])
        if done:
            _event(callback.case, "callback_done", None, seconds=seconds, callback=str(callback.id))
        else:
            _event(callback.case, "callback_failed", None, reason=callback.last_result, callback=str(callback.id))
    return callback


def placed_callback_failed(callback_id: str, reason: str) -> None:
    """The provider refused to place the call at all (the worker gave up on it)."""
    callback_ended(uuid.UUID(callback_id), reason, None, leg="provider")


def forget_case(case: Case) -> None:
    """The case is erased: its callbacks go, and its calls keep only what the figures need — the
    outcome and the day — with no link to the case or the caller and no exact times (which, beside a
    provider's call records, could point at a number)."""
    Callback.objects.filter(case=case).delete()
    for call in Call.objects.filter(case=case):
        day = call.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
        Call.objects.filter(pk=call.pk).update(
            case=None,
            identity=None,
            voicemail=None,
            started_at=day,
            answered_at=None,
            ended_at=None,
            duration=None,
            talk_seconds=None,
            answered_by=None,
            recording_index=None,
        )
