"""A web application form: the intake flow, one question per page, carried by the page itself.

Nothing about an unfinished form is stored anywhere on the server, and the browser holds no cookie:

* Every step page carries the whole form in one hidden field, ``t``: where the applicant is in the
  flow (the engine's :class:`~hotline.core.flow.Session`) and what they have answered so far, as
  JSON sealed under the server's transport key (XChaCha20-Poly1305, bound to this purpose), so the
  page holds only ciphertext and a forged or altered field does not open. The sealed form carries
  its start time and expires after ``HOTLINE_PORTAL_SESSION_HOURS``.
* Each post runs the pure engine on the carried session (``engine.advance``, the same flow file the
  bot and phone intake use) and folds the effects that would touch the case store into the form:
  answers, metadata, "a case opens here". Answering a question costs no database access at all.
* When the flow ends with a case (finished, or handed to a person) the form is *submitted*: one
  transaction (in the process's group commit, as a Telegram update) creates the web identity (its
  address is the form's random id, so a second post of the same last page finds it and opens
  nothing twice), opens the case with every answer sealed to the case key, issues the receipt and
  its mailbox. On the web the receipt is the only way back.
* An abandoned form leaves nothing to prune: it was never stored.

Nothing here renders HTML; the portal's views turn a :class:`FormState` into a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings

from hotline import rows
from hotline.cases import actions
from hotline.cases.models import Case
from hotline.core import crypto
from hotline.core import flow as engine
from hotline.core.actor import Actor
from hotline.core.metadata import Category, ChannelKind, Priority, PriorityReason, Region, priority_rank
from hotline.dbwrite import run_write
from hotline.flows import registry
from hotline.flows.runner import INTAKE, Reply
from hotline.keyring import server_keys

ACTOR = Actor.system("web")
FIELD = "t"  # the hidden form field that carries the sealed form
MAX_SEALED = 96_000  # far above a form with every answer at its limit; longer is refused unread
_AAD = b"hotline:v1:web-form:state"
_FORM_VERSION = 1

Action = Literal["answer", "back", "skip", "person", "show"]
Ended = Literal["finished", "handed_over", "declined", "already_sent"]


class FormClosed(Exception):
    """The posted form does not open: forged, altered, made with a key this server no longer has,
    or older than the form lifetime. The applicant starts again."""


# --- the carried form ------------------------------------------------------------------------------


@dataclass
class Form:
    """Everything an unfinished application is, carried sealed by its own page."""

    id: str  # 256 random bits; becomes the web identity's address when the form is submitted
    started: int  # unix time, for the lifetime check
    session: engine.Session
    opened: bool = False  # the flow reached the step that opens a case
    case_language: str = ""  # the language the case opens in (the flow's language at that step)
    answers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    # The highest priority an answer or the hand-over asked for, and its reason code ("" for none).
    priority: str = ""
    priority_reason: str = ""

    def fold(self, effects: list[engine.Effect], language: str) -> None:
        """Take in what the engine asked to store; the last answer to a question wins, as in the bot."""
        for effect in effects:
            match effect:
                case engine.OpenCase():
                    if not self.opened:
                        self.opened, self.case_language = True, language
                case engine.StoreAnswer(field=name, value=value):
                    self.answers[name] = value
                case engine.SetMetadata(key=key, value=value):
                    self.metadata[key] = value
                case engine.RaisePriority(priority=priority, reason=reason):
                    if priority_rank(priority) > priority_rank(self.priority):
                        self.priority, self.priority_reason = priority, reason

    def seal(self) -> str:
        data = {
            "v": _FORM_VERSION,
            "id": self.id,
            "started": self.started,
            "session": self.session.to_dict(),
            "opened": self.opened,
            "case_language": self.case_language,
            "answers": self.answers,
            "metadata": self.metadata,
            "priority": self.priority,
            "priority_reason": self.priority_reason,
        }
        plaintext = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        blob = server_keys.get().transport_encrypt(plaintext, _AAD)
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")

    @classmethod
    def open(cls, sealed: str, *, now: float | None = None) -> Form:
        if not sealed or len(sealed) > MAX_SEALED:
            raise FormClosed("no form, or one far too long")
        try:
            blob = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            data = json.loads(server_keys.get().transport_decrypt(blob, _AAD))
            form = cls(
                id=_typed(data["id"], str),
                started=_typed(data["started"], int),
                session=engine.Session.from_dict(_typed(data["session"], dict)),
                opened=_typed(data["opened"], bool),
                case_language=_typed(data["case_language"], str),
                answers=_strings(data["answers"]),
                metadata=_strings(data["metadata"]),
                # a form carried from before priorities were folded has neither
                priority=_typed(data.get("priority", ""), str),
                priority_reason=_typed(data.get("priority_reason", ""), str),
            )
            if form.priority and not _known_priority(form.priority, form.priority_reason):
                raise ValueError("a priority this server does not know")
        except (binascii.Error, ValueError, KeyError, TypeError, crypto.DecryptionError, engine.FlowError) as exc:
            raise FormClosed(type(exc).__name__) from exc
        if data.get("v") != _FORM_VERSION:
            raise FormClosed("a form from another version of the site")
        now = time.time() if now is None else now
        if not 0 <= now - form.started <= settings.HOTLINE_PORTAL_SESSION_SECONDS:
            raise FormClosed("expired")
        return form


def _known_priority(priority: str, reason: str) -> bool:
    return priority in {p.value for p in Priority} and reason in {r.value for r in PriorityReason}


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}")
    return value


def _strings(value: Any) -> dict[str, str]:
    mapping = _typed(value, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise TypeError("expected a mapping of strings")
    return dict(mapping)


# --- what the page shows ---------------------------------------------------------------------------


@dataclass
class FormState:
    """What the page shows: the flow's words and question (with the sealed form), or how it ended."""

    flow: engine.Flow
    language: str
    replies: list[Reply] = field(default_factory=list)
    ended: Ended | None = None
    receipt: str | None = None  # display form, shown once
    stale: bool = False  # the post answered a question that is not the current one
    form: Form | None = None

    @property
    def sealed(self) -> str:
        assert self.form is not None, "an ended form has nothing to carry"
        return self.form.seal()

    @property
    def session(self) -> engine.Session | None:
        return self.form.session if self.form is not None else None

    @property
    def can_go_back(self) -> bool:
        return self.session is not None and bool(self.session.history)

    @property
    def ask(self) -> Reply | None:
        return next((r for r in reversed(self.replies) if r.step), None)

    @property
    def says(self) -> list[str]:
        """Texts before the question (introduction, explanations of a refused answer)."""
        return [r.text for r in self.replies if not r.step]

    @property
    def step(self) -> engine.Step | None:
        ask = self.ask
        return self.flow.steps[ask.step] if ask is not None and ask.step else None


def _replies(effects: list[engine.Effect], receipt: str | None = None) -> list[Reply]:
    out: list[Reply] = []
    for effect in effects:
        if isinstance(effect, engine.Say):
            out.append(Reply(text=effect.text))
        elif isinstance(effect, engine.Ask):
            out.append(
                Reply(
                    text=effect.text,
                    step=effect.step,
                    kind=effect.kind,
                    options=tuple(effect.options),
                    optional=effect.optional,
                )
            )
        elif isinstance(effect, engine.IssueReceipt) and receipt is not None:
            out.append(Reply(text=effect.text_template.replace("{receipt}", receipt)))
    return out


_ENDED: dict[engine.SessionStatus, Ended] = {
    engine.SessionStatus.FINISHED: "finished",
    engine.SessionStatus.HANDED_OVER: "handed_over",
    engine.SessionStatus.DECLINED: "declined",
}


# --- the steps -------------------------------------------------------------------------------------


def start(language: str) -> FormState:
    """A new form at its first question. Writes nothing anywhere."""
    flow = registry.current(INTAKE)
    session, effects = engine.advance(flow, None, engine.Start(language=language, channel=ChannelKind.WEB.value))
    form = Form(id=secrets.token_urlsafe(32), started=int(time.time()), session=session)
    form.fold(effects, session.language)
    return FormState(flow=flow, language=language, replies=_replies(effects), form=form)


def step(
    sealed: str, language: str, action: Action, *, step_id: str = "", value: str = "", text: str = ""
) -> FormState:
    """Apply one form post and return what to show next.

    Raises :class:`FormClosed` for a form that does not open. Touches the database only when the
    post ends the flow with a case (then in one transaction, see :func:`_submit`).
    """
    form = Form.open(sealed)
    session = form.session
    flow = registry.version(session.flow_id, session.flow_version)
    if session.status is not engine.SessionStatus.ACTIVE:
        return FormState(flow=flow, language=language, ended=_ENDED.get(session.status, "declined"))
    if session.language != language:  # the applicant switched language: carry on in the new one
        session, effects = engine.advance(flow, session, engine.SetLanguage(language))
        form.session = session
        form.fold(effects, session.language)
    given = _input(session, action, step_id, value, text)
    if given is None:  # a redisplay, or a post about a question that is no longer the current one
        _, effects = engine.advance(flow, session, engine.Start())
        return FormState(flow=flow, language=language, replies=_replies(effects), stale=action != "show", form=form)
    session, effects = engine.advance(flow, session, given)
    form.session = session
    form.fold(effects, session.language)
    ended = _ENDED.get(session.status)
    if ended is None:
        return FormState(flow=flow, language=language, replies=_replies(effects), form=form)
    if ended == "declined" or not form.opened:
        return FormState(flow=flow, language=language, replies=_replies(effects), ended="declined")
    receipt = _submit(form)
    if receipt is None:
        return FormState(flow=flow, language=language, ended="already_sent")
    return FormState(flow=flow, language=language, replies=_replies(effects, receipt), ended=ended, receipt=receipt)


def _input(session: engine.Session, action: Action, step_id: str, value: str, text: str) -> engine.Input | None:
    """The engine input for a form post, or None when there is nothing to answer."""
    if action == "person":
        return engine.TalkToPerson()  # whatever page it came from: the applicant wants a person
    if action == "show" or step_id != session.step:
        return None
    if action == "back":
        return engine.Back()
    if action == "skip":
        return engine.Skip()
    if value:
        return engine.Choose(value, step=step_id)
    return engine.Text(text)


def _has_case(applicant_id: object) -> bool:
    """Whether the applicant has a case (a plain statement: it runs in the writer turn)."""
    return rows.fetch(Case, {"applicant_id": applicant_id}) is not None


def _submit(form: Form) -> str | None:
    """Store the application: identity, case with its sealed answers, receipt, mailbox; one transaction.

    Returns the receipt, or None when this form was submitted before (the same last page posted twice).
    The transaction joins the process's group commit (:func:`hotline.dbwrite.run_write`), as a
    Telegram update does.
    """
    return run_write(_store, form)


def _store(form: Form) -> str | None:
    metadata = form.metadata
    identity = actions.get_or_create_identity(ChannelKind.WEB, form.id)
    if _has_case(identity.applicant_id):
        return None
    case = actions.do_open_case(
        ACTOR,
        channel=ChannelKind.WEB,
        identity=identity,
        language=form.case_language or form.session.language,
        category=Category(metadata.get("category", Category.UNKNOWN)),
        region=Region(metadata.get("region", Region.UNKNOWN)),
        group_size=int(metadata.get("group_size", "1")),
        priority=Priority(form.priority or Priority.NORMAL),
        priority_reason=PriorityReason(form.priority_reason) if form.priority_reason else None,
        answers=form.answers,
    )
    return actions.do_issue_receipt(ACTOR, case)
