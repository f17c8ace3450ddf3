"""The flow engine: a conversation as data in, data out.

``advance(flow, session, input) -> (session, effects)``. The engine stores nothing and talks to nobody:
it returns effects (say this, ask that, open the case, store this answer sealed, …) in the order the
adapter must carry them out. A :class:`Session` records where a conversation is — flow version,
language, step, the questions behind it for Back — and nothing that was answered: answers leave at
once as :class:`StoreAnswer` / :class:`SetMetadata` and the adapter seals them to the case. A stolen
session store therefore tells nobody what anyone said.

Rules worth knowing (``docs/flow-engine-contract.md`` has the whole contract):

* the case opens when the step marked ``open_case`` is reached, or before a hand-over; never twice;
* Back returns to the previous question, never to before the case was opened (consent was given);
* a wrong answer gets ``Say(what is expected)`` and the same ``Ask`` again; the session does not move;
* a finished or handed-over session returns no effects: what the person writes then is for operators.

Flow files are read and checked by :mod:`hotline.core.flow_loader`; its names are re-exported here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from hotline.core.flow_loader import (
    Flow,
    FlowError,
    Step,
    StepOption,
    answer_words,
    check_flow,
    check_flow_file,
    fill,
    load_flow,
    normalise,
)
from hotline.core.metadata import PriorityReason

__all__ = [
    "Ask",
    "Back",
    "Choose",
    "Effect",
    "End",
    "Flow",
    "FlowError",
    "HandOver",
    "Input",
    "IssueReceipt",
    "OpenCase",
    "Option",
    "RaisePriority",
    "Say",
    "Session",
    "SessionStatus",
    "SetLanguage",
    "SetMetadata",
    "Skip",
    "Start",
    "Step",
    "StepOption",
    "StoreAnswer",
    "TalkToPerson",
    "Text",
    "advance",
    "check_flow",
    "check_flow_file",
    "fill",
    "load_flow",
    "normalise",
]

# Back reaches this many questions behind; it keeps a looping flow's session small.
MAX_HISTORY = 50
# One whole number, perhaps with words around it ("нас 5", "5 человек"); two numbers are ambiguous.
_NUMBER = re.compile(r"[^0-9]*?(-?)([0-9]{1,9})[^0-9]*", re.DOTALL)
_OPTION_NUMBER = re.compile(r"[0-9]{1,3}")


# -- inputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Begin a conversation. ``language`` may be a Telegram-style code (``uk``, ``en-US``); ``channel``
    (telegram, web, phone) picks a step's channel wording where the flow has one, for the whole session."""

    language: str | None = None
    channel: str = ""


@dataclass(frozen=True)
class Text:
    """Typed text: a free answer, a number, yes/no, an option's label or its number."""

    text: str


@dataclass(frozen=True)
class Choose:
    """A button press. ``step`` is the question the button belonged to, when the channel knows it:
    a button left over from an earlier question is then re-asked instead of answering the wrong one."""

    value: str
    step: str | None = None


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class TalkToPerson:
    pass


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class Skip:
    pass


Input = Start | Text | Choose | Back | TalkToPerson | SetLanguage | Skip


# -- effects ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Ask:
    step: str
    text: str
    kind: str  # "choice" | "text" | "number" | "yesno"
    options: tuple[Option, ...] = ()
    optional: bool = False
    hint: str = ""
    can_go_back: bool = False  # Back has somewhere to go (never on the first question, nor past consent)


@dataclass(frozen=True)
class OpenCase:
    pass


@dataclass(frozen=True)
class StoreAnswer:
    field: str
    value: str


@dataclass(frozen=True)
class SetMetadata:
    key: str  # "category" | "region" | "group_size"
    value: str


@dataclass(frozen=True)
class IssueReceipt:
    text_template: str


@dataclass(frozen=True)
class RaisePriority:
    """The answer (or the hand-over) makes the case at least this urgent, for this reason code."""

    priority: str  # "high" | "urgent"
    reason: str  # a PriorityReason value


@dataclass(frozen=True)
class HandOver:
    pass


@dataclass(frozen=True)
class End:
    pass


Effect = Say | Ask | OpenCase | StoreAnswer | SetMetadata | RaisePriority | IssueReceipt | HandOver | End


# -- the session -----------------------------------------------------------------------------------


class SessionStatus(StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"  # reached an end step with a case open
    HANDED_OVER = "handed_over"  # asked for a person; the operators have the conversation now
    DECLINED = "declined"  # reached an end step without a case (said no to consent)


@dataclass(frozen=True)
class Session:
    """Where one conversation is. Holds step ids only, never what was answered."""

    flow_id: str
    flow_version: int
    language: str
    step: str | None
    history: tuple[str, ...] = ()
    case_opened: bool = False
    status: SessionStatus = SessionStatus.ACTIVE
    channel: str = ""  # where the conversation happens; chooses steps' channel wording

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state, for the adapter to keep (encrypted) between messages."""
        return {
            "flow_id": self.flow_id,
            "flow_version": self.flow_version,
            "language": self.language,
            "step": self.step,
            "history": list(self.history),
            "case_opened": self.case_opened,
            "status": self.status.value,
            "channel": self.channel,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        """The inverse of :meth:`to_dict`; :class:`FlowError` if the data is not a session."""
        try:
            session = cls(
                flow_id=_typed(data["flow_id"], str),
                flow_version=_typed(data["flow_version"], int),
                language=_typed(data["language"], str),
                step=None if data["step"] is None else _typed(data["step"], str),
                history=tuple(_typed(item, str) for item in _typed(data["history"], list)),
                case_opened=_typed(data["case_opened"], bool),
                status=SessionStatus(data["status"]),
                channel=_typed(data.get("channel", ""), str),  # sessions saved before channels: ""
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FlowError(f"session data is not valid: {exc!r}") from exc
        if (session.status is SessionStatus.ACTIVE) != (session.step is not None):
            raise FlowError("session data is not valid: an active session is at a step, an ended one is not")
        return session


def _typed(value: object, kind: type[Any]) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


# -- advance ---------------------------------------------------------------------------------------


def advance(flow: Flow, session: Session | None, input: Input) -> tuple[Session, list[Effect]]:
    """One step of a conversation: the new session and what the adapter must do, in order.

    Without a session, any input begins a new one (in the language of a Start or SetLanguage, else the
    flow's default); the input itself is not taken as an answer.
    """
    if session is None:
        language = input.language if isinstance(input, Start | SetLanguage) else None
        channel = input.channel if isinstance(input, Start) else ""
        return _begin(flow, _language(flow, language) or flow.default_language, channel)
    _check_fits(flow, session)
    if session.status is not SessionStatus.ACTIVE:
        return _after_end(flow, session, input)
    assert session.step is not None  # an active session is always at a step (checked by from_dict)
    step = flow.steps[session.step]
    match input:
        case Start():
            # /start in the middle of a conversation resumes it; starting over is the adapter's call.
            return session, [*_intro(flow, session), _ask(flow, step, session)]
        case Back():
            return _back(flow, session, step)
        case TalkToPerson():
            return _hand_over(flow, session)
        case SetLanguage(language=code):
            return _set_language(flow, session, step, code)
        case Skip():
            if not step.optional:
                return _reask(flow, session, step, "skip_not_possible")
            return _move(flow, session, step, step.next, [])
        case Text(text=text) if step.optional and not text.strip():
            return _move(flow, session, step, step.next, [])  # an empty optional answer is a skip
        case Text() | Choose():
            return _answer(flow, session, step, input)
    raise TypeError(f"not a flow input: {input!r}")


def _begin(flow: Flow, language: str, channel: str = "") -> tuple[Session, list[Effect]]:
    effects: list[Effect] = []
    session = Session(flow_id=flow.id, flow_version=flow.version, language=language, step=None, channel=channel)
    return _enter(flow, session, flow.start, effects), effects


def _check_fits(flow: Flow, session: Session) -> None:
    """A session runs only on the flow version it started on; anything else is the caller's mistake."""
    if (session.flow_id, session.flow_version) != (flow.id, flow.version):
        raise FlowError(f"{flow.label}: the session belongs to {session.flow_id} v{session.flow_version}")
    unknown = [s for s in (session.step, *session.history) if s is not None and s not in flow.steps]
    if unknown or session.language not in flow.languages:
        raise FlowError(f"{flow.label}: the session does not fit this flow (step {session.step!r})")


def _after_end(flow: Flow, session: Session, given: Input) -> tuple[Session, list[Effect]]:
    """Input after the flow is over: nothing to do, except for a person who declined and comes back."""
    if isinstance(given, SetLanguage):
        return replace(session, language=_language(flow, given.language) or session.language), []
    if session.status is not SessionStatus.DECLINED:
        return session, []
    if isinstance(given, TalkToPerson):
        return _hand_over(flow, session)
    # No case exists, so there is nobody to pass the words to: start again, kindly, from the top.
    language = _language(flow, given.language) if isinstance(given, Start) else None
    return _begin(flow, language or session.language, session.channel)


def _enter(flow: Flow, session: Session, step_id: str | None, effects: list[Effect]) -> Session:
    """Walk into ``step_id``: say info steps, open the case where marked, stop at a question or an end."""
    for _ in range(len(flow.steps) + 1):
        if step_id is None:
            break
        step = flow.steps[step_id]
        if step.open_case:
            if not session.case_opened:
                effects.append(OpenCase())
            # Back never goes to before the case was opened: consent is not asked twice.
            session = replace(session, case_opened=True, history=())
        language = session.language
        if step.kind == "info":
            effects.append(Say(step.text_for(language, session.channel)))
            step_id = step.next
            continue
        if step.kind == "end":
            if step.issue_receipt and step.receipt_text is not None and session.case_opened:
                effects.append(IssueReceipt(step.receipt_text[language]))
            effects += [Say(step.text_for(language, session.channel)), End()]
            status = SessionStatus.FINISHED if session.case_opened else SessionStatus.DECLINED
            return replace(session, step=None, history=(), status=status)
        effects.append(_ask(flow, step, session))
        return replace(session, step=step.id)
    raise FlowError(f"{flow.label}: the flow runs in a circle or stops without an end step")


def _move(
    flow: Flow, session: Session, step: Step, target: str | None, effects: list[Effect]
) -> tuple[Session, list[Effect]]:
    """Leave the answered (or skipped) ``step`` for ``target``, remembering it for Back."""
    session = replace(session, history=(*session.history, step.id)[-MAX_HISTORY:])
    return _enter(flow, session, target, effects), effects


def _ask(flow: Flow, step: Step, session: Session) -> Ask:
    language = session.language
    options: tuple[Option, ...]
    if step.kind == "yesno":
        yes, no = flow.text("yes_label", language, session.channel), flow.text("no_label", language, session.channel)
        options = (Option("yes", yes), Option("no", no))
    else:
        options = tuple(Option(option.value, option.label[language]) for option in step.options)
    hint = flow.text(
        f"hint_{step.kind}", language, session.channel, min=step.min, max=step.max, max_length=step.max_length
    )
    if step.optional:
        hint = f"{hint} {flow.text('hint_optional', language, session.channel)}"
    return Ask(
        step.id,
        step.text_for(language, session.channel),
        step.kind,
        options,
        step.optional,
        hint,
        can_go_back=bool(session.history),
    )


def _reask(flow: Flow, session: Session, step: Step, reason: str, **values: object) -> tuple[Session, list[Effect]]:
    """Explain what is expected and ask the same question again; the session does not move."""
    explanation = flow.text(reason, session.language, session.channel, **values)
    return session, [Say(explanation), _ask(flow, step, session)]


def _intro(flow: Flow, session: Session) -> list[Effect]:
    """The info steps that opened the conversation, while nothing has been answered yet.

    Someone who switches language at the very first question has not read the introduction (what
    the hotline is, what it promises) in a language they understand; they should, before consenting.
    """
    if session.history or session.case_opened:
        return []
    said: list[Effect] = []
    step = flow.steps[flow.start]
    while step.kind == "info" and not step.open_case and step.next is not None:
        said.append(Say(step.text_for(session.language, session.channel)))
        step = flow.steps[step.next]
    return said if step.id == session.step else []


def _back(flow: Flow, session: Session, step: Step) -> tuple[Session, list[Effect]]:
    if not session.history:
        return _reask(flow, session, step, "back_not_possible")
    previous = flow.steps[session.history[-1]]
    session = replace(session, step=previous.id, history=session.history[:-1])
    return session, [_ask(flow, previous, session)]


def _hand_over(flow: Flow, session: Session) -> tuple[Session, list[Effect]]:
    effects: list[Effect] = [] if session.case_opened else [OpenCase()]
    if flow.handover_priority is not None:
        effects.append(RaisePriority(flow.handover_priority, PriorityReason.TALK_TO_PERSON.value))
    effects += [HandOver(), Say(flow.text("handover", session.language, session.channel)), End()]
    session = replace(session, step=None, history=(), case_opened=True, status=SessionStatus.HANDED_OVER)
    return session, effects


def _set_language(flow: Flow, session: Session, step: Step, code: str) -> tuple[Session, list[Effect]]:
    language = _language(flow, code)
    if language is None:
        names = ", ".join(flow.text("language_name", other) for other in flow.languages)
        return _reask(flow, session, step, "language_unavailable", languages=names)
    session = replace(session, language=language)
    return session, [*_intro(flow, session), _ask(flow, step, session)]


def _language(flow: Flow, code: str | None) -> str | None:
    """``uk``, ``UK`` and ``uk-UA`` all mean Ukrainian; a language the flow lacks means None."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in flow.languages else None


# -- answers ---------------------------------------------------------------------------------------


def _answer(flow: Flow, session: Session, step: Step, given: Text | Choose) -> tuple[Session, list[Effect]]:
    if isinstance(given, Choose) and given.step not in (None, step.id):
        return _reask(flow, session, step, "wrong_question")
    raised: list[Effect] = []
    if step.kind == "choice":
        option = _option(step, given)
        if option is None:
            return _reask(flow, session, step, "invalid_choice")
        value, target = option.value, option.next or step.next
        if option.priority is not None and option.priority_reason is not None:
            raised.append(RaisePriority(option.priority, option.priority_reason))
    elif step.kind == "yesno":
        yes = _yes_or_no(flow, given)
        if yes is None:
            return _reask(flow, session, step, "invalid_yesno")
        value, target = ("yes", step.next_yes or step.next) if yes else ("no", step.next_no or step.next)
    elif isinstance(given, Choose):
        return _reask(flow, session, step, "wrong_question")  # no buttons on a text or number question
    elif step.kind == "number":
        number = _number(given.text)
        assert step.min is not None and step.max is not None  # the loader requires both
        if number is None or not step.min <= number <= step.max:
            return _reask(flow, session, step, "invalid_number", min=step.min, max=step.max)
        value, target = str(number), step.next
    else:
        value, target = given.text.strip(), step.next
        if not value:
            return _reask(flow, session, step, "empty_answer")
        if step.max_length is not None and len(value) > step.max_length:
            return _reask(flow, session, step, "too_long", max_length=step.max_length, length=len(value))
    return _move(flow, session, step, target, [*_store(step, value), *raised])


def _store(step: Step, value: str) -> list[Effect]:
    if step.field is None:
        return []
    if step.store == "metadata" and step.metadata_key is not None:
        return [SetMetadata(step.metadata_key, value)]
    return [StoreAnswer(step.field, value)]


def _option(step: Step, given: Text | Choose) -> StepOption | None:
    """A button's value; or typed text: the option's number, or its label in any of the flow's languages."""
    if isinstance(given, Choose):
        return next((option for option in step.options if option.value == given.value), None)
    typed = normalise(given.text)
    if _OPTION_NUMBER.fullmatch(typed) and 1 <= int(typed) <= len(step.options):
        return step.options[int(typed) - 1]
    for option in step.options:
        if typed == option.value or typed in {normalise(label) for label in option.label.values()}:
            return option
    return None


def _yes_or_no(flow: Flow, given: Text | Choose) -> bool | None:
    """Yes/no from a button, a word in any of the flow's languages, or 1/2 as on a phone keypad."""
    if isinstance(given, Choose):
        return {"yes": True, "no": False}.get(given.value)
    typed = normalise(given.text)
    if typed in answer_words(flow.texts, "yes") | {"1"}:
        return True
    if typed in answer_words(flow.texts, "no") | {"2"}:
        return False
    return None


def _number(text: str) -> int | None:
    match = _NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    sign, digits = match.groups()
    return -int(digits) if sign else int(digits)
