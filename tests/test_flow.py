"""The flow engine and the intake flow, through ``advance`` and ``load_flow`` only. Pure: no database."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.flow import (
    Ask,
    Back,
    Choose,
    Effect,
    End,
    Flow,
    FlowError,
    HandOver,
    Input,
    IssueReceipt,
    OpenCase,
    Option,
    RaisePriority,
    Say,
    Session,
    SetLanguage,
    SetMetadata,
    Skip,
    Start,
    StoreAnswer,
    TalkToPerson,
    Text,
    advance,
    check_flow_file,
    load_flow,
)
from hotline.core.flow_loader import ENGINE_TEXTS, MAX_MESSAGE, METADATA_VALUES

INTAKE_PATH = Path(__file__).resolve().parents[1] / "flows" / "intake.yaml"
INTAKE = load_flow(INTAKE_PATH.read_text(encoding="utf-8"))


class Chat:
    """One applicant talking to a flow: every input goes through ``advance``, every effect is logged."""

    def __init__(self, flow: Flow = INTAKE, language: str | None = "en") -> None:
        self.flow = flow
        self.session, self.effects = advance(flow, None, Start(language))
        self.log: list[Effect] = list(self.effects)
        self.sessions = [self.session]

    def send(self, event: Input) -> list[Effect]:
        self.session, self.effects = advance(self.flow, self.session, event)
        self.log += self.effects
        self.sessions.append(self.session)
        return self.effects

    def say(self, text: str) -> list[Effect]:
        return self.send(Text(text))

    @property
    def ask(self) -> Ask:
        asks = [effect for effect in self.effects if isinstance(effect, Ask)]
        assert asks, f"no question in {self.effects}"
        return asks[-1]

    def answers(self) -> dict[str, str]:
        return {e.field: e.value for e in self.log if isinstance(e, StoreAnswer)}

    def metadata(self) -> dict[str, str]:
        return {e.key: e.value for e in self.log if isinstance(e, SetMetadata)}

    def count(self, kind: type) -> int:
        return sum(isinstance(effect, kind) for effect in self.log)


def names(effects: Iterable[Effect]) -> list[str]:
    return [type(effect).__name__ for effect in effects]


def label(step: str, value: str, language: str) -> str:
    return next(o.label[language] for o in INTAKE.steps[step].options if o.value == value)


def at(step: str, language: str = "en") -> Chat:
    """A conversation that has answered its way (as a serviceman in a group) up to ``step``."""
    chat = Chat(language=language)
    script: list[tuple[str, Input]] = [
        ("consent", Choose("yes")),
        ("category", Choose("serviceman")),
        ("situation", Choose("front")),
        ("region", Choose("russia")),
        ("with_others", Choose("yes")),
        ("group_size", Text("12")),
        ("identity", Text("Ivan Petrov, 01.02.1990, unit 12345")),
        ("safe_contact", Text("evenings only")),
        ("after_surrender", Choose("third_country")),
        ("anything_else", Text("my leg is wounded")),
    ]
    for step_id, event in script:
        if chat.session.step == step:
            return chat
        assert chat.session.step == step_id
        chat.send(event)
    assert chat.session.step == step
    return chat


# -- the intake file ---------------------------------------------------------------------------------


def test_intake_loads_with_its_version_and_languages() -> None:
    assert (INTAKE.id, INTAKE.version) == ("intake", 4)
    assert INTAKE.languages == ("ru", "uk", "en")
    assert check_flow_file(INTAKE_PATH) == []


def test_every_intake_text_fits_in_one_telegram_message() -> None:
    texts: list[str] = []
    for step in INTAKE.steps.values():
        texts += step.text.values()
        texts += (step.receipt_text or {}).values()
        for option in step.options:
            texts += option.label.values()
    for key in ENGINE_TEXTS:
        texts += INTAKE.texts[key].values()
    assert len(texts) > 150
    assert max(len(text) for text in texts) < MAX_MESSAGE


def test_intake_metadata_uses_only_the_coarse_values() -> None:
    for step in INTAKE.steps.values():
        if step.store == "metadata" and step.metadata_key in ("category", "region"):
            allowed = METADATA_VALUES[step.metadata_key]
            assert allowed is not None
            assert {option.value for option in step.options} <= allowed


# -- a whole conversation ----------------------------------------------------------------------------

TYPED_ANSWERS = {
    "ru": {"yes": "да", "no": "нет"},
    "uk": {"yes": "так", "no": "ні"},
    "en": {"yes": "yes", "no": "no"},
}


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_a_full_intake_typed_in_each_language_ends_with_a_receipt(language: str) -> None:
    words = TYPED_ANSWERS[language]
    chat = Chat(language=language)
    assert names(chat.effects) == ["Say", "Ask"]
    assert chat.effects[0] == Say(INTAKE.steps["welcome"].text[language])
    script = [
        ("consent", words["yes"], ["OpenCase", "Ask"]),
        ("category", label("category", "serviceman", language).upper(), ["SetMetadata", "Ask"]),
        ("situation", label("situation", "front", language), ["StoreAnswer", "Ask"]),
        ("region", label("region", "russia", language).lower(), ["SetMetadata", "Ask"]),
        ("with_others", words["yes"], ["StoreAnswer", "Ask"]),
        ("group_size", "12", ["SetMetadata", "Ask"]),
        ("identity", "Иван Петров, 01.02.1990, в/ч 12345", ["StoreAnswer", "Ask"]),
        ("safe_contact", "вечером", ["StoreAnswer", "Ask"]),
        ("after_surrender", "3", ["StoreAnswer", "Ask"]),
        ("anything_else", "ранен в ногу", ["StoreAnswer", "IssueReceipt", "Say", "End"]),
    ]
    for step_id, typed, expected in script:
        assert chat.session.step == step_id
        assert chat.ask.text == INTAKE.steps[step_id].text[language]
        assert names(chat.say(typed)) == expected, step_id
    assert chat.answers() == {
        "situation": "front",
        "with_others": "yes",
        "identity": "Иван Петров, 01.02.1990, в/ч 12345",
        "safe_contact": "вечером",
        "after_surrender": "third_country",
        "anything_else": "ранен в ногу",
    }
    assert chat.metadata() == {"category": "serviceman", "region": "russia", "group_size": "12"}
    receipt = next(e for e in chat.log if isinstance(e, IssueReceipt))
    assert receipt.text_template == INTAKE.steps["done"].receipt_text[language]  # type: ignore[index]
    assert "{receipt}" in receipt.text_template
    assert chat.effects[-2] == Say(INTAKE.steps["done"].text[language])
    assert (chat.session.step, chat.session.status, chat.session.case_opened) == (None, "finished", True)
    assert chat.count(OpenCase) == 1


def test_each_step_says_and_asks_exactly_this() -> None:
    chat = Chat(language="en")
    assert chat.effects == [
        Say(INTAKE.steps["welcome"].text["en"]),
        Ask(
            "consent",
            INTAKE.steps["consent"].text["en"],
            "yesno",
            (Option("yes", "Yes"), Option("no", "No")),
            optional=False,
            hint="Answer yes or no.",
        ),
    ]
    assert chat.send(Choose("yes"))[0] == OpenCase()
    assert chat.ask.step == "category" and chat.ask.kind == "choice" and not chat.ask.optional
    assert [o.value for o in chat.ask.options] == [
        "serviceman",
        "mobilized",
        "awaiting_mobilization",
        "relative",
        "occupied_resident",
        "other",
    ]
    assert chat.ask.options[0] == Option("serviceman", "I serve under contract")
    assert chat.ask.hint == "Press a button or send the number of your answer."

    assert chat.send(Choose("mobilized"))[0] == SetMetadata("category", "mobilized")
    assert [o.value for o in chat.ask.options] == ["front", "training_or_rear", "home", "hiding", "wounded", "other"]
    assert chat.send(Choose("hiding"))[0] == StoreAnswer("situation", "hiding")
    assert [o.value for o in chat.ask.options] == ["russia", "crimea", "occupied_other", "belarus", "other"]
    assert chat.send(Choose("crimea"))[0] == SetMetadata("region", "crimea")
    assert chat.ask.step == "with_others" and chat.ask.kind == "yesno"
    assert chat.send(Choose("yes"))[0] == StoreAnswer("with_others", "yes")
    assert (chat.ask.step, chat.ask.kind, chat.ask.hint) == ("group_size", "number", "A number from 2 to 500.")
    assert chat.say("we are 7")[0] == SetMetadata("group_size", "7")
    assert (chat.ask.step, chat.ask.kind, chat.ask.optional) == ("identity", "text", True)
    assert chat.ask.hint == "Write in your own words, up to 1000 characters. You can skip this question."
    assert chat.say("  Ivan  ")[0] == StoreAnswer("identity", "Ivan")
    assert (chat.ask.step, chat.ask.optional) == ("safe_contact", False)
    assert chat.say("after 9 pm")[0] == StoreAnswer("safe_contact", "after 9 pm")
    assert chat.send(Choose("undecided"))[0] == StoreAnswer("after_surrender", "undecided")
    assert (chat.ask.step, chat.ask.optional) == ("anything_else", True)
    assert chat.say("no") == [
        StoreAnswer("anything_else", "no"),
        IssueReceipt(INTAKE.steps["done"].receipt_text["en"]),  # type: ignore[index]
        Say(INTAKE.steps["done"].text["en"]),
        End(),
    ]


# -- answers that do not fit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "event", "explanation"),
    [
        ("consent", Text("perhaps"), "Please answer yes or no."),
        ("category", Text("a soldier"), "I could not match that to an answer."),
        ("category", Text("7"), "I could not match that to an answer."),
        ("category", Text("0"), "I could not match that to an answer."),
        ("category", Choose("general"), "I could not match that to an answer."),
        ("group_size", Text("1"), "Please send one whole number from 2 to 500, in digits."),
        ("group_size", Text("501"), "Please send one whole number from 2 to 500, in digits."),
        ("group_size", Text("-5"), "Please send one whole number from 2 to 500, in digits."),
        ("group_size", Text("5-6"), "Please send one whole number from 2 to 500, in digits."),
        ("group_size", Text("many"), "Please send one whole number from 2 to 500, in digits."),
        ("group_size", Text("9" * 5000), "Please send one whole number from 2 to 500, in digits."),
        ("safe_contact", Text("x" * 501), "That answer is too long — 501 characters, and the limit is 500."),
        ("safe_contact", Text("   "), "The answer is empty. Please write at least a few words."),
        ("safe_contact", Choose("front"), "That button belongs to an earlier question. Please answer this one."),
        ("region", Choose("other", step="category"), "That button belongs to an earlier question."),
    ],
)
def test_an_answer_that_does_not_fit_is_explained_and_asked_again(step: str, event: Input, explanation: str) -> None:
    chat = at(step)
    before = chat.session
    question = chat.ask
    effects = chat.send(event)
    assert len(effects) == 2
    assert isinstance(effects[0], Say) and effects[0].text.startswith(explanation)
    assert effects[1] == question
    assert chat.session == before


@pytest.mark.parametrize(
    "event",
    [
        Choose("serviceman"),
        Choose("serviceman", step="category"),
        Text("I serve under contract"),
        Text("  i SERVE under contract. "),
        Text("СЛУЖУ ПО КОНТРАКТУ"),  # a label in another of the flow's languages
        Text("Служу за контрактом"),
        Text("1"),
        Text("1."),
    ],
)
def test_a_choice_accepts_the_button_a_label_in_any_language_or_the_option_number(event: Input) -> None:
    chat = at("category")
    assert chat.send(event)[0] == SetMetadata("category", "serviceman")
    assert chat.session.step == "situation"


def test_a_typed_label_may_differ_in_case_yo_spacing_and_punctuation() -> None:
    data = mini()
    step(data, "ask")["options"][1]["label"]["uk"] = "Всё равно"
    chat = Chat(load_flow(yaml.safe_dump(data, allow_unicode=True)), "uk")
    chat.say("так")
    chat.say("  «ВСЕ   равно!» ")
    assert chat.metadata() == {"region": "belarus"}


@pytest.mark.parametrize("typed", ["да", "Да!", "так", "ТАК", "yes", "Yes.", "ага", "ok", "1"])
def test_yes_is_understood_in_every_language(typed: str) -> None:
    chat = at("consent", language="ru")
    assert chat.say(typed)[0] == OpenCase()


@pytest.mark.parametrize("typed", ["нет", "Нет.", "ні", "НІ", "no", "Nope", "не хочу", "2"])
def test_no_is_understood_in_every_language(typed: str) -> None:
    chat = at("consent", language="uk")
    assert names(chat.say(typed)) == ["Say", "End"]


# -- branches ---------------------------------------------------------------------------------------


def test_a_group_is_asked_its_size_and_someone_alone_is_not() -> None:
    group = at("with_others")
    group.send(Choose("yes"))
    assert group.session.step == "group_size"

    alone = at("with_others")
    alone.say("no")
    assert alone.session.step == "identity"
    assert "group_size" not in alone.metadata()


def test_a_relative_is_asked_about_the_relative_not_about_themselves() -> None:
    chat = at("category")
    chat.send(Choose("relative"))
    assert chat.session.step == "relative_situation"
    assert "relative" in chat.ask.text
    chat.send(Choose("unknown"))
    assert chat.session.step == "relative_region" and chat.ask.optional
    chat.send(Skip())  # they do not know where he is
    assert chat.session.step == "relative_identity"
    assert "your relative" in chat.ask.text
    chat.say("My son Oleg, born 2001, unit 5678")
    assert chat.session.step == "safe_contact"
    chat.say("any time")
    chat.send(Choose("exchange"))
    chat.send(Skip())
    assert chat.session.status == "finished"
    assert chat.answers() == {
        "relative_situation": "unknown",
        "relative_identity": "My son Oleg, born 2001, unit 5678",
        "safe_contact": "any time",
        "after_surrender": "exchange",
    }
    assert chat.metadata() == {"category": "relative"}
    asked = {e.step for e in chat.log if isinstance(e, Ask)}
    assert not asked & {"situation", "region", "with_others", "group_size", "identity"}


def test_saying_no_to_consent_ends_kindly_without_a_case() -> None:
    chat = Chat(language="ru")
    effects = chat.say("нет")
    assert effects == [Say(INTAKE.steps["goodbye"].text["ru"]), End()]
    assert (chat.session.step, chat.session.status, chat.session.case_opened) == (None, "declined", False)
    assert chat.count(OpenCase) == chat.count(IssueReceipt) == chat.count(StoreAnswer) == 0


def test_someone_who_declined_and_writes_again_starts_over() -> None:
    chat = Chat(language="ru")
    chat.say("нет")
    effects = chat.say("я передумал")
    assert names(effects) == ["Say", "Ask"] and chat.ask.step == "consent"
    assert chat.session.status == "active" and chat.session.language == "ru"


# -- Back --------------------------------------------------------------------------------------------


def test_back_asks_the_previous_question_again_and_the_new_answer_counts() -> None:
    chat = at("region")
    assert chat.send(Back()) == [chat.ask]
    assert chat.ask.step == "situation"
    assert chat.send(Back())[0].step == "category"  # type: ignore[union-attr]
    chat.send(Choose("relative"))
    assert chat.session.step == "relative_situation"
    assert chat.metadata()["category"] == "relative"
    assert chat.count(OpenCase) == 1


def test_back_skips_over_info_steps_and_returns_to_a_skipped_question() -> None:
    chat = at("identity")
    chat.send(Skip())
    assert chat.session.step == "safe_contact"
    chat.send(Back())
    assert chat.session.step == "identity"
    chat.send(Back())
    assert chat.session.step == "group_size"


@pytest.mark.parametrize("step", ["consent", "category"])
def test_back_is_refused_at_the_start_and_once_the_case_is_open(step: str) -> None:
    chat = at(step)
    effects = chat.send(Back())
    assert effects == [Say("You cannot go back from here."), chat.ask]
    assert chat.session.step == step


# -- talking to a person --------------------------------------------------------------------------


def test_asking_for_a_person_before_consent_opens_the_case_and_hands_over() -> None:
    chat = Chat(language="uk")
    effects = chat.send(TalkToPerson())
    urgent = RaisePriority("urgent", "talk_to_person")  # handover_priority in the flow file
    assert effects == [OpenCase(), urgent, HandOver(), Say(INTAKE.texts["handover"]["uk"]), End()]
    assert (chat.session.step, chat.session.status, chat.session.case_opened) == (None, "handed_over", True)


def test_asking_for_a_person_after_consent_hands_over_without_a_second_case() -> None:
    chat = at("identity")
    effects = chat.send(TalkToPerson())
    urgent = RaisePriority("urgent", "talk_to_person")
    assert effects == [urgent, HandOver(), Say(INTAKE.texts["handover"]["en"]), End()]
    assert chat.session.status == "handed_over"
    chat.send(TalkToPerson())
    assert chat.count(OpenCase) == 1 and chat.count(HandOver) == 1


def test_someone_who_declined_can_still_ask_for_a_person() -> None:
    chat = at("consent")
    chat.send(Choose("no"))
    assert chat.send(TalkToPerson())[:3] == [OpenCase(), RaisePriority("urgent", "talk_to_person"), HandOver()]


@pytest.mark.parametrize(
    "event", [Text("hello?"), Choose("yes"), Back(), Skip(), TalkToPerson(), Start("uk"), SetLanguage("uk")]
)
@pytest.mark.parametrize("how", ["finished", "handed_over"])
def test_a_conversation_that_has_ended_gives_no_more_flow_effects(event: Input, how: str) -> None:
    chat = at("anything_else")
    chat.send(Skip() if how == "finished" else TalkToPerson())
    assert chat.session.status == how
    before = chat.session
    assert chat.send(event) == []
    assert chat.session.step is None and chat.session.status == how
    expected_language = "uk" if isinstance(event, SetLanguage) else "en"
    assert chat.session == Session(**{**before.__dict__, "language": expected_language})


# -- languages ---------------------------------------------------------------------------------------


def test_changing_language_mid_flow_asks_the_same_question_in_the_new_language() -> None:
    chat = at("region")
    effects = chat.send(SetLanguage("uk"))
    assert effects == [chat.ask]
    assert chat.ask.step == "region" and chat.ask.text == INTAKE.steps["region"].text["uk"]
    assert chat.ask.options[0] == Option("russia", "Росія")
    chat.say("Крим")
    assert chat.metadata()["region"] == "crimea"
    assert chat.ask.text == INTAKE.steps["with_others"].text["uk"]


def test_changing_language_before_any_answer_repeats_the_introduction() -> None:
    chat = Chat(language="ru")
    effects = chat.send(SetLanguage("en-GB"))
    assert effects == [Say(INTAKE.steps["welcome"].text["en"]), chat.ask]
    assert chat.ask.step == "consent" and chat.session.language == "en"


def test_an_unavailable_language_is_explained_in_the_current_one() -> None:
    chat = at("situation")
    effects = chat.send(SetLanguage("de"))
    assert effects == [
        Say("This language is not available yet. Available languages — Русский, Українська, English."),
        chat.ask,
    ]
    assert chat.session.language == "en"


@pytest.mark.parametrize(("code", "language"), [("uk-UA", "uk"), ("EN", "en"), ("be", "ru"), (None, "ru"), ("", "ru")])
def test_a_conversation_starts_in_the_persons_language_or_the_default(code: str | None, language: str) -> None:
    chat = Chat(language=code)
    assert chat.session.language == language
    assert chat.ask.text == INTAKE.steps["consent"].text[language]


# -- Skip --------------------------------------------------------------------------------------------


def test_skip_moves_past_an_optional_question_without_storing_anything() -> None:
    chat = at("identity")
    assert chat.send(Skip()) == [chat.ask]
    assert chat.session.step == "safe_contact"
    assert "identity" not in chat.answers()


def test_an_empty_answer_to_an_optional_question_is_a_skip() -> None:
    chat = at("anything_else")
    chat.say("  ")
    assert chat.session.status == "finished"
    assert "anything_else" not in chat.answers()


@pytest.mark.parametrize("step", ["consent", "category", "group_size", "safe_contact", "after_surrender"])
def test_skip_is_refused_on_a_question_that_is_not_optional(step: str) -> None:
    chat = at(step)
    effects = chat.send(Skip())
    assert effects[0] == Say(INTAKE.texts["skip_not_possible"]["en"])
    assert effects[1:] == [chat.ask] and chat.session.step == step


# -- sessions --------------------------------------------------------------------------------------


def test_a_session_resumes_after_serialisation_at_the_same_step() -> None:
    chat = at("with_others", language="uk")
    data = json.loads(json.dumps(chat.session.to_dict()))
    restored = Session.from_dict(data)
    assert restored == chat.session
    assert restored.flow_version == INTAKE.version == 4
    _, effects = advance(INTAKE, restored, Text("так"))
    assert effects[0] == StoreAnswer("with_others", "yes")
    assert effects[1] == Ask(
        "group_size",
        INTAKE.steps["group_size"].text["uk"],
        "number",
        (),
        optional=False,
        hint="Число від 2 до 500.",
        can_go_back=True,
    )


def test_a_session_holds_no_answer() -> None:
    chat = at("anything_else")
    chat.say("my leg is wounded")
    assert chat.session.status == "finished"
    for session in chat.sessions:
        state = json.dumps(session.to_dict(), ensure_ascii=False)
        for secret in ("Ivan", "Petrov", "evenings", "wounded", "third_country", "serviceman", "russia", "12"):
            assert secret not in state
    assert set(chat.session.to_dict()) == {
        "flow_id",
        "flow_version",
        "language",
        "step",
        "history",
        "case_opened",
        "status",
        "channel",
    }


def test_a_session_keeps_its_flow_version_and_refuses_another() -> None:
    chat = at("region")
    newer = load_flow(INTAKE_PATH.read_text(encoding="utf-8").replace("\nversion: 4\n", "\nversion: 5\n"))
    with pytest.raises(FlowError, match="belongs to intake v4"):
        advance(newer, chat.session, Choose("russia"))
    chat.send(Choose("russia"))
    assert chat.session.flow_version == 4


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"flow_id": "intake"},
        {**at("region").session.to_dict(), "flow_version": "1"},
        {**at("region").session.to_dict(), "history": "category"},
        {**at("region").session.to_dict(), "status": "paused"},
        {**at("region").session.to_dict(), "step": None},  # active but nowhere
    ],
)
def test_broken_session_data_is_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(FlowError, match="session data is not valid"):
        Session.from_dict(broken)


def test_a_session_at_a_step_the_flow_lacks_is_refused() -> None:
    data = {**at("region").session.to_dict(), "step": "no_such_step"}
    with pytest.raises(FlowError, match="does not fit"):
        advance(INTAKE, Session.from_dict(data), Text("x"))


# -- random conversations --------------------------------------------------------------------------

SECRET = "Zx9secret"
_LABELS = sorted({label for step in INTAKE.steps.values() for o in step.options for label in o.label.values()})
_VALUES = sorted({o.value for step in INTAKE.steps.values() for o in step.options} | {"yes", "no", "bogus"})
_WORDS = ["да", "нет", "так", "ні", "yes", "no", "1", "2", "3", "7", "0", "12", "501", "", "  ", SECRET, "x" * 600]

anything: st.SearchStrategy[Input] = st.one_of(
    st.builds(Text, st.sampled_from(_LABELS + _WORDS)),
    st.builds(Text, st.text(max_size=40).map(lambda t: t + SECRET)),
    st.builds(Choose, st.sampled_from(_VALUES), st.one_of(st.none(), st.sampled_from(list(INTAKE.steps)))),
    st.builds(SetLanguage, st.sampled_from(["ru", "uk", "en", "de", "uk-UA"])),
    st.sampled_from([Back(), Skip(), Start("ru"), Start(None), TalkToPerson()]),
)


def fitting(session: Session) -> st.SearchStrategy[Input]:
    """An answer the current question would take, so random conversations get deep into the flow."""
    if session.step is None:
        return anything
    step = INTAKE.steps[session.step]
    if step.kind == "choice":
        buttons: list[Input] = [Choose(option.value, step=step.id) for option in step.options]
        typed: list[Input] = [Text(str(number)) for number in range(1, len(step.options) + 1)]
        return st.sampled_from(buttons + typed)
    if step.kind == "yesno":
        answers: list[Input] = [Choose("yes"), Text("да"), Text("так"), Choose("no")]
        return st.sampled_from(answers)
    if step.kind == "number":
        assert step.min is not None and step.max is not None
        return st.integers(step.min - 2, step.max + 2).map(lambda n: Text(str(n)))
    return st.text(max_size=30).map(lambda t: Text(t + SECRET))


def converse(data: st.DataObject, session: Session, turns: int) -> list[tuple[Input, Session, list[Effect]]]:
    """``turns`` inputs, mostly fitting answers and sometimes anything at all, with what each did."""
    record = []
    for _ in range(turns):
        event: Input = data.draw(st.one_of(fitting(session), fitting(session), anything))
        session, effects = advance(INTAKE, session, event)
        record.append((event, session, effects))
    return record


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(["ru", "uk", "en"]))
def test_random_conversations_keep_the_engine_invariants(data: st.DataObject, language: str) -> None:
    first, log = advance(INTAKE, None, Start(language))
    opened = False
    for _, session, effects in converse(data, first, 40):
        log += effects
        assert session.step is None or session.step in INTAKE.steps
        assert (session.status == "active") == (session.step is not None)
        assert all(step in INTAKE.steps for step in session.history)
        for effect in effects:
            if isinstance(effect, OpenCase):
                assert not opened, "a second case"
                opened = True
            if isinstance(effect, StoreAnswer | SetMetadata | IssueReceipt | HandOver):
                assert opened, f"{effect} before OpenCase"
            if isinstance(effect, SetMetadata):
                allowed = METADATA_VALUES[effect.key]
                assert effect.value in allowed if allowed is not None else 2 <= int(effect.value) <= 500
            if isinstance(effect, Say | Ask):
                assert 0 < len(effect.text) < MAX_MESSAGE
        assert opened == session.case_opened
        assert SECRET not in json.dumps(session.to_dict())
    assert log.count(OpenCase()) <= 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_after_the_end_nothing_more_happens(data: st.DataObject) -> None:
    record = converse(data, advance(INTAKE, None, Start("en"))[0], 40)
    for (_, before, _), (event, after, effects) in itertools.pairwise(record):
        if before.status in ("finished", "handed_over"):
            assert effects == [], event
            assert after.status == before.status and after.step is None


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(0, 40))
def test_a_serialised_session_has_the_same_future(data: st.DataObject, turns: int) -> None:
    record = converse(data, advance(INTAKE, None, Start("en"))[0], turns)
    session = record[-1][1] if record else advance(INTAKE, None, Start("en"))[0]
    restored = Session.from_dict(json.loads(json.dumps(session.to_dict())))
    assert restored == session
    future = converse(data, session, 15)
    replayed = restored
    for event, session_then, effects_then in future:
        replayed, effects = advance(INTAKE, replayed, event)
        assert (replayed, effects) == (session_then, effects_then)


# -- the loader --------------------------------------------------------------------------------------


def mini() -> dict[str, Any]:
    """A small valid flow: consent, one question that opens the case, an optional note, an end."""

    def both(text: str) -> dict[str, str]:
        return {"en": f"{text}.", "uk": f"{text} (uk)."}

    texts = {key: both(key.replace("_", " ")) for key in ENGINE_TEXTS}
    texts.update(
        yes_label={"en": "Yes", "uk": "Так"},
        no_label={"en": "No", "uk": "Ні"},
        yes_words={"en": "yes, y", "uk": "так"},
        no_words={"en": "no, n", "uk": "ні"},
    )
    return {
        "id": "mini",
        "version": 1,
        "languages": ["en", "uk"],
        "default_language": "en",
        "texts": texts,
        "steps": [
            {"id": "hello", "kind": "info", "text": both("Hello"), "next": "consent"},
            {"id": "consent", "kind": "yesno", "text": both("Go on?"), "next_yes": "ask", "next_no": "bye"},
            {"id": "bye", "kind": "end", "text": both("Bye")},
            {
                "id": "ask",
                "kind": "choice",
                "open_case": True,
                "field": "where",
                "store": "metadata",
                "metadata_key": "region",
                "text": both("Where?"),
                "options": [
                    {"value": "russia", "label": both("Russia"), "next": "note"},
                    {"value": "belarus", "label": both("Belarus")},
                ],
                "next": "note",
            },
            {
                "id": "note",
                "kind": "text",
                "optional": True,
                "field": "note",
                "store": "sealed",
                "text": both("Anything else?"),
                "next": "done",
            },
            {
                "id": "done",
                "kind": "end",
                "issue_receipt": True,
                "receipt_text": {"en": "Receipt {receipt}", "uk": "Квитанція {receipt}"},
                "text": both("Done"),
            },
        ],
    }


def step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)


def errors_of(change: Callable[[dict[str, Any]], object]) -> list[str]:
    data = mini()
    change(data)
    with pytest.raises(FlowError) as raised:
        load_flow(yaml.safe_dump(data, allow_unicode=True))
    return raised.value.errors


def test_the_mini_flow_is_valid_and_runs() -> None:
    flow = load_flow(yaml.safe_dump(mini()))
    chat = Chat(flow, "uk")
    chat.say("так")
    chat.say("2")
    chat.say("")
    assert names(chat.log) == ["Say", "Ask", "OpenCase", "Ask", "SetMetadata", "Ask", "IssueReceipt", "Say", "End"]


def test_a_step_can_be_worded_for_one_channel_and_the_session_keeps_its_channel() -> None:
    welcome = INTAKE.steps["welcome"]
    bot, web = (advance(INTAKE, None, Start(language="en", channel=c)) for c in ("telegram", "web"))
    assert bot[1][0] == Say(welcome.text["en"]) and "deleted from your phone" in welcome.text["en"]
    assert web[1][0] == Say(welcome.channel_text["web"]["en"]) and "deleted from your phone" not in web[1][0].text
    assert advance(INTAKE, None, Start(language="en"))[1][0] == bot[1][0]  # no channel: the plain text
    session = web[0]
    assert Session.from_dict(json.loads(json.dumps(session.to_dict()))).channel == "web"
    # The introduction said again after a language switch keeps the channel's wording.
    switched, effects = advance(INTAKE, session, SetLanguage("uk"))
    assert effects[0] == Say(welcome.channel_text["web"]["uk"]) and switched.channel == "web"
    # Engine texts too: handing over on the website says where the answer will be.
    _, handed = advance(INTAKE, session, TalkToPerson())
    web_handover = INTAKE.channel_texts["web"]["handover"]["en"]
    assert Say(web_handover) in handed and "close the chat" not in web_handover
    _, bot_handed = advance(INTAKE, bot[0], TalkToPerson())
    assert Say(INTAKE.texts["handover"]["en"]) in bot_handed
    # A session saved before sessions had a channel reads as channel "".
    old = {k: v for k, v in session.to_dict().items() if k != "channel"}
    assert Session.from_dict(old).channel == ""


BAD_FILES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "engine texts for an unknown channel",
        lambda d: d.update(channel_texts={"fax": {"handover": {"en": "Hi.", "uk": "Привіт."}}}),
        "mini v1: channel_texts: unknown channel 'fax' (expected one of telegram, web, phone)",
    ),
    (
        "an engine text a channel cannot replace",
        lambda d: d.update(channel_texts={"web": {"farewell": {"en": "Bye.", "uk": "Бувай."}}}),
        "mini v1: channel_texts: web: unknown key 'farewell'",
    ),
    (
        "a channel's engine text with a wrong placeholder",
        lambda d: d.update(channel_texts={"web": {"invalid_number": {"en": "{min} to {top}.", "uk": "{min}."}}}),
        "mini v1: channel_texts: web: 'invalid_number' (en) uses unknown placeholders: top",
    ),
    (
        "channel text for an unknown channel",
        lambda d: step(d, "hello").update(channel_text={"fax": {"en": "Hi.", "uk": "Привіт."}}),
        "mini v1: step 'hello': channel_text: unknown channel 'fax' (expected one of telegram, web, phone)",
    ),
    (
        "channel text without a translation",
        lambda d: step(d, "hello").update(channel_text={"web": {"en": "Hi."}}),
        "mini v1: step 'hello': channel_text: web has no 'uk' translation",
    ),
    (
        "unknown step",
        lambda d: step(d, "ask")["options"][1].update(next="nowhere"),
        "mini v1: step 'ask': option 'belarus': next step 'nowhere' does not exist",
    ),
    (
        "unknown next",
        lambda d: step(d, "note").update(next="gone"),
        "mini v1: step 'note': next step 'gone' does not exist",
    ),
    (
        "missing translation",
        lambda d: step(d, "consent")["text"].pop("uk"),
        "mini v1: step 'consent': text has no 'uk' translation",
    ),
    (
        "missing label translation",
        lambda d: step(d, "ask")["options"][0]["label"].pop("uk"),
        "mini v1: step 'ask': option 'russia': label has no 'uk' translation",
    ),
    (
        "missing engine translation",
        lambda d: d["texts"]["invalid_number"].pop("uk"),
        "mini v1: texts: 'invalid_number' has no 'uk' translation",
    ),
    (
        "missing receipt translation",
        lambda d: step(d, "done")["receipt_text"].pop("uk"),
        "mini v1: step 'done': receipt_text has no 'uk' translation",
    ),
    ("missing engine text", lambda d: d["texts"].pop("handover"), "mini v1: texts: 'handover' is missing"),
    (
        "undeclared language",
        lambda d: step(d, "hello")["text"].update(de="Hallo"),
        "mini v1: step 'hello': text is given in 'de', which is not in 'languages'",
    ),
    (
        "unreachable step",
        lambda d: d["steps"].append({"id": "orphan", "kind": "end", "text": {"en": "x", "uk": "x"}}),
        "mini v1: step 'orphan': cannot be reached from the start",
    ),
    (
        "option without next",
        lambda d: step(d, "ask").pop("next"),
        "mini v1: step 'ask': option 'belarus': has no next step (and the step has no 'next')",
    ),
    (
        "duplicate id",
        lambda d: d["steps"].append(copy.deepcopy(step(d, "bye"))),
        "mini v1: step 'bye': the id is used by two steps",
    ),
    (
        "duplicate field",
        lambda d: step(d, "note").update(field="where"),
        "mini v1: step 'note': field 'where' is already used by step 'ask'",
    ),
    (
        "metadata outside the allowed set",
        lambda d: step(d, "ask")["options"][1].update(value="mars"),
        "mini v1: step 'ask': option 'mars': not an allowed region "
        "(allowed: belarus, crimea, occupied_other, other, russia)",
    ),
    (
        "metadata key outside the allowed set",
        lambda d: step(d, "ask").update(metadata_key="name"),
        "mini v1: step 'ask': 'metadata_key' must be one of category, region, group_size, not 'name'",
    ),
    (
        "bad kind",
        lambda d: step(d, "note").update(kind="question"),
        "mini v1: step 'note': unknown kind 'question' (expected one of info, choice, text, number, yesno, end)",
    ),
    ("missing version", lambda d: d.pop("version"), "mini: 'version' is missing (an integer, raised on every change)"),
    ("version not a number", lambda d: d.update(version="1.2"), "mini: 'version' must be a positive integer"),
    (
        "no end reachable",
        lambda d: step(d, "note").update(next="ask"),
        "mini v1: step 'note': no end step can be reached from here",
    ),
    (
        "an info loop",
        lambda d: d["steps"].insert(0, {"id": "loop", "kind": "info", "text": {"en": "a", "uk": "a"}, "next": "loop"}),
        "mini v1: step 'loop': no end step can be reached from here",
    ),
    (
        "storing before the case",
        lambda d: step(d, "consent").update(field="consent", store="sealed"),
        "mini v1: step 'consent': stores an answer before the case is opened (no open_case step on the way)",
    ),
    (
        "two case openings",
        lambda d: step(d, "note").update(open_case=True),
        "mini v1: only one step may have 'open_case' (found: ask, note)",
    ),
    (
        "receipt without placeholder",
        lambda d: step(d, "done")["receipt_text"].update(en="Your receipt"),
        "mini v1: step 'done': receipt_text (en) must contain {receipt}",
    ),
    (
        "a typo in a key",
        lambda d: step(d, "note").update(nxet="done"),
        "mini v1: step 'note': unknown key 'nxet'",
    ),
    (
        "a key of another kind",
        lambda d: step(d, "note").update(min=1),
        "mini v1: step 'note': 'min' is not used by a text step",
    ),
    (
        "a text longer than a Telegram message",
        lambda d: step(d, "hello")["text"].update(uk="я" * 5000),
        "mini v1: step 'hello': text (uk) is 5000 characters; the limit is 4096",
    ),
    (
        "an unknown placeholder",
        lambda d: d["texts"]["invalid_number"].update(en="Between {min} and {maximum}"),
        "mini v1: texts: 'invalid_number' (en) uses unknown placeholders: maximum",
    ),
    (
        "a word both yes and no",
        lambda d: d["texts"]["no_words"].update(uk="ні, так"),
        "mini v1: texts: 'так' is both a yes word and a no word",
    ),
    (
        "one label for two options",
        lambda d: step(d, "ask")["options"][1]["label"].update(uk="Russia"),
        "mini v1: step 'ask': option 'belarus': label 'Russia' is also a label of option 'russia'",
    ),
    (
        "a number without bounds",
        lambda d: step(d, "note").update(kind="number", max=5, max_length=None),
        "mini v1: step 'note': 'min' is missing",
    ),
    (
        "a field without a store",
        lambda d: step(d, "note").pop("store"),
        "mini v1: step 'note': a step with a 'field' needs 'store: sealed' or 'store: metadata'",
    ),
    (
        "an optional step without next",
        lambda d: (step(d, "ask").update(optional=True), step(d, "ask").pop("next")),
        "mini v1: step 'ask': is optional but has no 'next' for a skipped answer",
    ),
    (
        "a button too long for Telegram",
        lambda d: (
            step(d, "ask").update(id="a" * 30),
            step(d, "consent").update(next_yes="a" * 30),
            step(d, "a" * 30)["options"][1].update(value="b" * 30),
        ),
        f"mini v1: step '{'a' * 30}': option '{'b' * 30}': "
        "step id and value together exceed 56 characters (button data)",
    ),
    (
        "a default language not declared",
        lambda d: d.update(default_language="ru"),
        "mini v1: 'default_language' must be one of the declared languages",
    ),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_the_loader_rejects_a_bad_file_naming_the_place(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    assert message in errors_of(change)


def test_the_loader_reports_every_problem_at_once() -> None:
    def two_mistakes(d: dict[str, Any]) -> None:
        step(d, "consent")["text"].pop("uk")
        step(d, "note").update(kind="question")

    assert len(errors_of(two_mistakes)) == 2


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("id: mini\nversion: 1\nversion: 2\n", "version"),
        ("texts:\n  handover:\n    uk: Добре\n    en: All right\n    uk: Гаразд\n", "uk"),
    ],
)
def test_the_loader_refuses_a_key_given_twice(text: str, key: str) -> None:
    # PyYAML alone would keep the last one silently, hiding a translation.
    with pytest.raises(FlowError, match=f"found the key '{key}' twice"):
        load_flow(text)


@pytest.mark.parametrize("text", ["id: [unclosed", "- just\n- a list", ""])
def test_the_loader_refuses_what_is_not_a_flow(text: str) -> None:
    with pytest.raises(FlowError):
        load_flow(text)


def test_check_flow_file_lists_problems_with_the_path(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(mini()), encoding="utf-8")
    assert check_flow_file(good) == []

    data = mini()
    step(data, "note")["next"] = "gone"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert check_flow_file(bad) == [f"{bad}: mini v1: step 'note': next step 'gone' does not exist"]

    missing = tmp_path / "missing.yaml"
    assert check_flow_file(missing)[0].startswith(f"{missing}: cannot read the file")


def test_back_is_offered_only_where_there_is_a_question_to_go_back_to() -> None:
    chat = Chat(language="en")
    assert chat.ask.step == "consent" and not chat.ask.can_go_back, "the very first question"
    chat.send(Choose("yes"))
    assert chat.ask.step == "category" and not chat.ask.can_go_back, "consent is behind the case: never asked twice"
    chat.send(Choose("serviceman"))
    assert chat.ask.can_go_back
    chat.send(Back())
    assert chat.ask.step == "category" and not chat.ask.can_go_back
