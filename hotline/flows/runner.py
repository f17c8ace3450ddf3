"""Running a flow for one channel identity: load its session, advance the pure engine, carry out the
effects through the case actions, save the session, and return what to say.

Channel-agnostic: the Telegram bot, the web portal and phone intake in the console all go through
:func:`run_step`; each renders the returned :class:`Reply` objects its own way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from hotline import rows
from hotline.cases import actions
from hotline.cases.models import Case, ChannelIdentity
from hotline.core import flow as engine
from hotline.core.actor import Actor
from hotline.core.lifecycle import OPEN, Status
from hotline.core.metadata import Category, ChannelKind, Priority, PriorityReason, Region
from hotline.flows import registry
from hotline.flows.models import FlowSession
from hotline.keyring.transport_fields import open_field, seal_field

INTAKE = "intake"


@dataclass(frozen=True)
class Reply:
    """Something to show the applicant: text, and for a question its step id and options."""

    text: str
    step: str | None = None
    kind: str | None = None
    options: tuple[engine.Option, ...] = ()
    optional: bool = False
    can_go_back: bool = False


@dataclass
class StepResult:
    replies: list[Reply] = field(default_factory=list)
    case: Case | None = None
    session: engine.Session | None = None
    handed_over: bool = False
    receipt: str | None = None

    @property
    def in_flow(self) -> bool:
        """True while the session is asking questions (input should go to the engine)."""
        return self.session is not None and self.session.status == "active"


Loaded = tuple[FlowSession | None, engine.Session | None]


def load_session(identity: ChannelIdentity, *, lock: bool = True) -> Loaded:
    """The identity's session row and its conversation. With ``lock`` the row and its case are locked
    (the identity's first, then the case, as every action on it does), so the step's actions on the
    case need not read it again."""
    # Most sessions have their case: both rows in one statement, else the session alone.
    both = rows.fetch_both(FlowSession, {"identity_id": identity.pk}, Case, "case_id", lock=lock)
    row, case = both if both is not None else (rows.fetch(FlowSession, {"identity_id": identity.pk}, lock=lock), None)
    if row is None:
        return None, None
    if case is None and row.case_id is not None:  # the case went away between the two reads
        case = rows.fetch(Case, {"id": row.case_id}, lock=lock)
    if case is not None and lock:
        actions.mark_locked(case)
    row.case = case
    return row, engine.Session.from_dict(json.loads(open_field(row, "state_enc")))


def end_session(identity: ChannelIdentity) -> None:
    """Forget ``identity``'s conversation (a receipt linked it to an existing case instead)."""
    FlowSession.objects.filter(identity_id=identity.pk).delete()


def _save(row: FlowSession | None, identity: ChannelIdentity, session: engine.Session, case: Case | None) -> None:
    created = row is None
    if row is None:
        row = FlowSession(identity=identity)
    row.case = case
    row.updated_at = timezone.now()
    row.state_enc = seal_field(row, "state_enc", json.dumps(session.to_dict()))
    if created:
        rows.add(row)
    else:
        rows.update(
            FlowSession,
            {"id": row.pk},
            {"case_id": row.case_id, "updated_at": row.updated_at, "state_enc": row.state_enc},
        )


def run_step(
    identity: ChannelIdentity,
    flow_input: object,
    *,
    channel: ChannelKind,
    actor: Actor,
    flow_id: str = INTAKE,
    restart: bool = False,
    loaded: Loaded | None = None,
) -> StepResult:
    """Advance ``identity``'s conversation by one input, inside the caller's transaction.

    ``restart`` begins a new session (``/start``) even if one exists; a session already running keeps
    the flow version it started on. ``loaded`` is the caller's :func:`load_session` result, if it has one
    (the row must have been locked in this transaction).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("run_step runs inside the transaction that stores its result")
    row, session = loaded if loaded is not None else load_session(identity)
    case = row.case if row is not None else None
    if restart or session is None:
        session = None
        flow = registry.current(flow_id)
        if not isinstance(flow_input, engine.Start):
            raise ValueError("a new session begins with Start")
        if not flow_input.channel:  # the session keeps its channel: it picks the flow's channel wording
            flow_input = dataclasses.replace(flow_input, channel=channel.value)
    else:
        flow = registry.version(session.flow_id, session.flow_version)
    if case is not None and (case.is_shredded or (restart and Status(case.status) not in OPEN)):
        case = None  # a new conversation after a finished case opens a new case
    new_session, effects = engine.advance(flow, session, flow_input)  # type: ignore[arg-type]
    result = StepResult(session=new_session, case=case)
    _apply(effects, result, identity, channel, actor, new_session.language)
    _save(row, identity, new_session, result.case)
    return result


def _apply(
    effects: Sequence[object],
    result: StepResult,
    identity: ChannelIdentity,
    channel: ChannelKind,
    actor: Actor,
    language: str,
) -> None:
    pending_answers: dict[str, str] = {}

    def flush() -> None:
        if pending_answers and result.case is not None:
            actions.do_set_answers(actor, result.case, dict(pending_answers))
            pending_answers.clear()

    for effect in effects:
        match effect:
            case engine.Say(text=text):
                result.replies.append(Reply(text=text))
            case engine.Ask():
                result.replies.append(
                    Reply(
                        text=effect.text,
                        step=effect.step,
                        kind=effect.kind,
                        options=tuple(effect.options),
                        optional=effect.optional,
                        can_go_back=effect.can_go_back,
                    )
                )
            case engine.OpenCase():
                if result.case is None:
                    result.case = actions.do_open_case(actor, channel=channel, identity=identity, language=language)
            case engine.StoreAnswer(field=name, value=value):
                if result.case is None:
                    raise RuntimeError("the flow stored an answer before opening a case")
                pending_answers[name] = value
            case engine.SetMetadata(key=key, value=value):
                if result.case is None:
                    raise RuntimeError("the flow set metadata before opening a case")
                flush()
                result.case = _set_metadata(actor, result.case, key, value)
            case engine.IssueReceipt(text_template=template):
                flush()
                if result.case is not None:
                    result.receipt = actions.do_issue_receipt(actor, result.case)
                    result.replies.append(Reply(text=template.replace("{receipt}", result.receipt)))
            case engine.RaisePriority(priority=priority, reason=reason):
                if result.case is None:
                    raise RuntimeError("the flow raised the priority before opening a case")
                flush()
                result.case = actions.do_raise_priority(actor, result.case, Priority(priority), PriorityReason(reason))
            case engine.HandOver():
                flush()
                result.handed_over = True
            case engine.End():
                pass
            case _:
                raise TypeError(f"unknown flow effect {type(effect).__name__}")
    flush()


def _set_metadata(actor: Actor, case: Case, key: str, value: str) -> Case:
    if key == "category":
        return actions.do_set_metadata(actor, case, category=Category(value))
    if key == "region":
        return actions.do_set_metadata(actor, case, region=Region(value))
    if key == "group_size":
        return actions.do_set_metadata(actor, case, group_size=int(value))
    raise ValueError(f"unknown metadata key {key!r}")
