"""A form session: the web channel's identity and its way through the intake flow.

* The applicant's browser holds a random 256-bit token in a signed, HttpOnly, SameSite=Strict
  cookie, issued only when they press "Start". The signature (Django's ``TimestampSigner``) lets a
  forged or expired cookie be refused before any database access.
* The token is the web channel's *address*: the identity row stores it like every other channel
  address (blind index for lookup, transport-key ciphertext), and is created at the first answer,
  not at "Start", so pressing Start costs no database write.
* Each form post is one flow step through ``hotline.flows.runner`` — the same runner and flow file
  the Telegram bot uses — inside one transaction (SQLite writers queue on ``dbwrite.write_turn``).
* When the flow ends with a case (finished, or handed to a person) the applicant always gets a
  receipt and its mailbox, because on the web the receipt is the only way back.

Nothing here renders HTML; the portal's views turn a :class:`FormState` into a page.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from hotline.audit import log as audit
from hotline.cases import actions
from hotline.cases.models import ChannelIdentity
from hotline.core import flow as engine
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind
from hotline.dbwrite import write_turn
from hotline.flows import registry, runner

from . import mailbox

ACTOR = Actor.system("web")
COOKIE = "hotline_form"
_SALT = "hotline.channels.web.session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

Action = Literal["answer", "back", "skip", "person"]
Ended = Literal["finished", "handed_over", "declined"]


# --- tokens ----------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_value(token: str) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(token)


def token_from_cookie(value: str | None) -> str | None:
    """The token in a cookie, or None when there is none or it is forged, malformed or too old."""
    if not value or len(value) > 200:
        return None
    try:
        token = signing.TimestampSigner(salt=_SALT).unsign(value, max_age=settings.HOTLINE_PORTAL_SESSION_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    return token if _TOKEN.match(token) else None


def form_token(token: str) -> str:
    """A per-session value every form carries: a post from another site cannot know it."""
    return salted_hmac(_SALT + ".form", token).hexdigest()[:32]


def form_token_ok(token: str, given: str) -> bool:
    return constant_time_compare(form_token(token), given)


# --- state -------------------------------------------------------------------------------------------


@dataclass
class FormState:
    """What the form shows: the flow's words and question, or how it ended."""

    flow: engine.Flow
    language: str
    replies: list[runner.Reply] = field(default_factory=list)
    ended: Ended | None = None
    receipt: str | None = None  # display form, shown once
    stale: bool = False  # the post answered a question that is no longer the current one
    session: engine.Session | None = None

    @property
    def can_go_back(self) -> bool:
        return self.session is not None and bool(self.session.history)

    @property
    def ask(self) -> runner.Reply | None:
        return next((r for r in reversed(self.replies) if r.step), None)

    @property
    def says(self) -> list[str]:
        """Texts before the question (introduction, explanations of a refused answer)."""
        return [r.text for r in self.replies if not r.step]

    @property
    def step(self) -> engine.Step | None:
        ask = self.ask
        return self.flow.steps[ask.step] if ask is not None and ask.step else None


def _replies(effects: list[engine.Effect]) -> list[runner.Reply]:
    out: list[runner.Reply] = []
    for effect in effects:
        if isinstance(effect, engine.Say):
            out.append(runner.Reply(text=effect.text))
        elif isinstance(effect, engine.Ask):
            out.append(
                runner.Reply(
                    text=effect.text,
                    step=effect.step,
                    kind=effect.kind,
                    options=effect.options,
                    optional=effect.optional,
                )
            )
    return out


_ENDED: dict[engine.SessionStatus, Ended] = {
    engine.SessionStatus.FINISHED: "finished",
    engine.SessionStatus.HANDED_OVER: "handed_over",
    engine.SessionStatus.DECLINED: "declined",
}


def _ended(session: engine.Session) -> Ended | None:
    return _ENDED.get(session.status)


def _identity(token: str, *, lock: bool) -> ChannelIdentity | None:
    qs = ChannelIdentity.objects.filter(
        kind=ChannelKind.WEB, address_index=actions.address_index(ChannelKind.WEB, token)
    )
    return (qs.select_for_update() if lock else qs).first()


def current(token: str | None, language: str) -> FormState:
    """The form as it stands, in ``language``, computed without writing anything.

    The engine is pure, so re-asking the current question in another language (or for a reload) is
    a call to ``advance`` whose new session is simply not saved.
    """
    identity = _identity(token, lock=False) if token else None
    loaded = runner.load_session(identity, lock=False) if identity is not None else (None, None)
    session = loaded[1]
    if session is None:
        flow = registry.current(runner.INTAKE)
        _, effects = engine.advance(flow, None, engine.Start(language=language))
        return FormState(flow=flow, language=language, replies=_replies(effects))
    flow = registry.version(session.flow_id, session.flow_version)
    ended = _ended(session)
    if ended is not None:
        return FormState(flow=flow, language=language, ended=ended)
    given: engine.Input = engine.Start() if session.language == language else engine.SetLanguage(language)
    shown, effects = engine.advance(flow, session, given)
    return FormState(flow=flow, language=language, replies=_replies(effects), session=shown)


def step(token: str, language: str, action: Action, *, step_id: str = "", value: str = "", text: str = "") -> FormState:
    """Apply one form post and return what to show next. Runs in its own transaction."""
    with write_turn(), transaction.atomic(), audit.batch():
        identity = actions.get_or_create_identity(ChannelKind.WEB, token)
        loaded: runner.Loaded | None = runner.load_session(identity)
        session = loaded[1] if loaded is not None else None

        def run(given: object, *, restart: bool = False) -> runner.StepResult:
            nonlocal loaded
            result = runner.run_step(
                identity, given, channel=ChannelKind.WEB, actor=ACTOR, restart=restart, loaded=loaded
            )
            loaded = None  # the row changed; the next step in this post reloads it
            return result

        if session is None:
            session = run(engine.Start(language=language), restart=True).session
        assert session is not None
        flow = registry.version(session.flow_id, session.flow_version)
        if session.status in (engine.SessionStatus.FINISHED, engine.SessionStatus.HANDED_OVER):
            return FormState(flow=flow, language=language, ended=_ended(session))
        if session.language != language and session.status == engine.SessionStatus.ACTIVE:
            session = run(engine.SetLanguage(language)).session
            assert session is not None

        given = _input(session, action, step_id, value, text)
        if given is None:  # a post from a page that is no longer current: show the current question
            _, effects = engine.advance(flow, session, engine.Start())
            return FormState(flow=flow, language=language, replies=_replies(effects), stale=True, session=session)
        result = run(given)
        assert result.session is not None
        state = FormState(
            flow=flow,
            language=language,
            replies=result.replies,
            ended=_ended(result.session),
            session=result.session,
        )
        if state.ended in ("finished", "handed_over") and result.case is not None:
            state.receipt = result.receipt or actions.do_issue_receipt(ACTOR, result.case)
            mailbox.open_for_new_receipt(result.case, state.receipt)
    return state


def _input(session: engine.Session, action: Action, step_id: str, value: str, text: str) -> engine.Input | None:
    """The engine input for a form post, or None for a post about a question no longer asked."""
    if action == "person":
        return engine.TalkToPerson()  # whatever page it came from: the applicant wants a person
    if session.status == engine.SessionStatus.DECLINED:
        return engine.Start(language=session.language)
    if step_id != session.step:
        return None
    if action == "back":
        return engine.Back()
    if action == "skip":
        return engine.Skip()
    if value:
        return engine.Choose(value, step=step_id)
    return engine.Text(text)
