"""Flow definitions: the data model of a flow file, and the loader that refuses a bad one.

A flow is data (``flows/intake.yaml``); the engine in :mod:`hotline.core.flow` runs it. Everything that
can be checked before a conversation starts is checked here, so a mistake in a flow file shows up in
``hotline flows check`` and in CI, never as a stuck applicant: every step is reachable, every step can
reach an end, every text exists in every declared language and fits in one Telegram message, nothing is
stored before the case is opened, and metadata stays inside the coarse sets in :mod:`.metadata`.

Errors are collected, not raised one at a time, and each names its place:
``intake v3: step 'region': option 'x' has no next step``.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hotline.core.metadata import Category, ChannelKind, Priority, PriorityReason, Region

KINDS = ("info", "choice", "text", "number", "yesno", "end")
ASKING_KINDS = frozenset({"choice", "text", "number", "yesno"})
STORES = ("sealed", "metadata")

# Plaintext metadata is coarse on purpose: only these values may ever leave a flow unencrypted.
METADATA_VALUES: dict[str, frozenset[str] | None] = {
    "category": frozenset(c.value for c in Category if c is not Category.UNKNOWN),
    "region": frozenset(r.value for r in Region if r is not Region.UNKNOWN),
    "group_size": None,  # a number step; its bounds are the step's min and max
}

# Engine texts every flow provides in every language, with the placeholders each may use.
ENGINE_TEXTS: dict[str, frozenset[str]] = {
    "language_name": frozenset(),  # the language's name in itself, for a language menu
    "yes_label": frozenset(),
    "no_label": frozenset(),
    "yes_words": frozenset(),  # comma-separated words also accepted as "yes"
    "no_words": frozenset(),
    "hint_choice": frozenset(),
    "hint_yesno": frozenset(),
    "hint_number": frozenset({"min", "max"}),
    "hint_text": frozenset({"max_length"}),
    "hint_optional": frozenset(),
    "invalid_choice": frozenset(),
    "invalid_yesno": frozenset(),
    "invalid_number": frozenset({"min", "max"}),
    "too_long": frozenset({"max_length", "length"}),
    "empty_answer": frozenset(),
    "wrong_question": frozenset(),
    "back_not_possible": frozenset(),
    "skip_not_possible": frozenset(),
    "language_unavailable": frozenset({"languages"}),
    "handover": frozenset(),
}

# A Telegram message holds at most 4096 characters; the strictest of our channels sets the limit.
MAX_MESSAGE = 4096
MAX_LABEL = 64  # buttons longer than this are cut off on a phone screen
DEFAULT_MAX_LENGTH = 2000
NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
# A button carries its step id and option value in Telegram's 64-byte callback data, with a few
# bytes left for the adapter's own prefix and separators.
MAX_BUTTON_DATA = 56
LANGUAGE = re.compile(r"[a-z]{2,3}")

_TOP_KEYS = frozenset(
    {"id", "version", "languages", "default_language", "texts", "channel_texts", "steps", "handover_priority"}
)
_ASKING_KEYS = frozenset({"field", "store", "metadata_key", "optional", "open_case", "label"})
_STEP_KEYS: dict[str, frozenset[str]] = {
    "info": frozenset({"next", "open_case"}),
    "choice": _ASKING_KEYS | {"options", "next"},
    "text": _ASKING_KEYS | {"next", "max_length"},
    "number": _ASKING_KEYS | {"next", "min", "max"},
    "yesno": _ASKING_KEYS | {"next", "next_yes", "next_no"},
    "end": frozenset({"issue_receipt", "receipt_text"}),
}
# Every step's text may be replaced for one channel (``channel_text: {web: {ru: …, …}}``): the bot's
# "this conversation will be deleted from your phone" is not true of a web page or a phone call.
CHANNELS = tuple(kind.value for kind in ChannelKind)
_OPTION_KEYS = frozenset({"value", "label", "next", "priority", "priority_reason"})
# An answer or a hand-over may only raise a case's priority, to one of these.
RAISED_PRIORITIES = (Priority.HIGH.value, Priority.URGENT.value)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_EDGE_PUNCTUATION = " .,;:!?\"'«»„“”()[]-–—"


class FlowError(ValueError):
    """A flow that cannot be run, or a session that does not fit its flow. ``errors`` lists every problem."""

    def __init__(self, message: str, errors: Iterable[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = list(errors) if errors is not None else [message]


@dataclass(frozen=True)
class StepOption:
    """One answer of a choice step: a stable ``value`` (stored, sent as button data) and its labels."""

    value: str
    label: Mapping[str, str]
    next: str | None = None
    # Choosing this answer raises the case to ``priority`` (high | urgent) for ``priority_reason``.
    priority: str | None = None
    priority_reason: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    text: Mapping[str, str]
    field: str | None = None
    store: str | None = None
    metadata_key: str | None = None
    open_case: bool = False
    optional: bool = False
    options: tuple[StepOption, ...] = ()
    next: str | None = None
    next_yes: str | None = None
    next_no: str | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    issue_receipt: bool = False
    receipt_text: Mapping[str, str] | None = None
    # channel -> language -> text, replacing ``text`` on that channel
    channel_text: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    # a question's short name for staff (the console's case page), per language; may be empty
    label: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def text_for(self, language: str, channel: str = "") -> str:
        """The step's text in ``language``, as worded for ``channel`` when it has its own wording."""
        return self.channel_text.get(channel, self.text)[language]

    @property
    def asks(self) -> bool:
        return self.kind in ASKING_KINDS

    def targets(self) -> list[str]:
        """Every step this one can lead to, in file order."""
        found = [option.next for option in self.options] + [self.next, self.next_yes, self.next_no]
        return list(dict.fromkeys(target for target in found if target is not None))


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    languages: tuple[str, ...]
    default_language: str
    texts: Mapping[str, Mapping[str, str]]
    steps: Mapping[str, Step]  # in file order; the first is the start
    # channel -> engine text key -> language -> text, replacing ``texts`` on that channel
    channel_texts: Mapping[str, Mapping[str, Mapping[str, str]]] = dataclasses.field(default_factory=dict)
    # Asking for a person raises the case to this priority (reason ``talk_to_person``); None: no raise.
    handover_priority: str | None = None

    @property
    def label(self) -> str:
        return f"{self.id} v{self.version}"

    @property
    def start(self) -> str:
        return next(iter(self.steps))

    def text(self, key: str, language: str, channel: str = "", **values: object) -> str:
        """An engine text in ``language`` (as worded for ``channel`` where the flow has its own wording)
        with its placeholders filled in."""
        texts = self.channel_texts.get(channel, {}).get(key) or self.texts[key]
        return fill(texts[language], values)


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` placeholders. Plain replacement, like the adapters do for ``{receipt}``."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def normalise(text: str) -> str:
    """How typed answers are compared with labels and words: case, ё/е, spacing and edge punctuation ignored."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(text.split()).strip(_EDGE_PUNCTUATION)


def answer_words(texts: Mapping[str, Mapping[str, str]], answer: str) -> set[str]:
    """Everything typed that means ``answer`` ("yes" or "no"), in any of the flow's languages."""
    given = [*texts.get(f"{answer}_words", {}).values(), *texts.get(f"{answer}_label", {}).values()]
    return {normalise(word) for text in given for word in text.split(",")} - {""}


def load_flow(text: str) -> Flow:
    """Parse and validate a flow file; :class:`FlowError` lists every problem found."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader that also refuses duplicate keys
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise FlowError(f"flow: not valid YAML: {message}") from exc
    checker = _Checker()
    flow = checker.flow(data)
    if checker.errors or flow is None:
        raise FlowError("\n".join(checker.errors), checker.errors)
    return flow


def check_flow(text: str) -> list[str]:
    """The problems in a flow file's text, or an empty list when it is fine."""
    try:
        load_flow(text)
    except FlowError as exc:
        return exc.errors
    return []


def check_flow_file(path: str | Path) -> list[str]:
    """For ``hotline flows check FILE``: the file's problems, or an empty list. Only this reads a file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read the file: {exc}"]
    return [f"{path}: {error}" for error in check_flow(text)]


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a second ``uk:`` would hide a translation."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
            )
        if isinstance(key, Hashable):
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Checker:
    """Builds a :class:`Flow` from parsed YAML, collecting every problem with its place."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.prefix = "flow"
        self.languages: tuple[str, ...] = ()
        # Every well-formed step id, including steps with other mistakes, so a reference to such a
        # step is not reported as a second, misleading error.
        self.step_ids: set[str] = set()

    def error(self, place: str, problem: str) -> None:
        self.errors.append(f"{self.prefix}: {place}{problem}")

    # -- the file as a whole -------------------------------------------------------------------------

    def flow(self, data: object) -> Flow | None:
        if not isinstance(data, dict):
            self.error("", "the file must be a mapping with id, version, languages, texts and steps")
            return None
        flow_id = data.get("id")
        version = data.get("version")
        if isinstance(flow_id, str) and NAME.fullmatch(flow_id):
            self.prefix = flow_id
        else:
            self.error("", "'id' must be a short lower_snake_case name")
            flow_id = "flow"
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            self.prefix = f"{flow_id} v{version}"
        elif version is None:
            self.error("", "'version' is missing (an integer, raised on every change)")
        else:
            self.error("", "'version' must be a positive integer")
        self.unknown_keys("", data, _TOP_KEYS)
        default = self.language_list(data)
        texts = self.engine_texts(data.get("texts"))
        channel_texts = self.channel_engine_texts(data.get("channel_texts", {}))
        steps = self.steps(data.get("steps"))
        if steps:
            self.graph(steps)
        handover_priority = self.one_of(data, "handover_priority", RAISED_PRIORITIES, "")
        if self.errors or not isinstance(version, int) or default is None:
            return None
        return Flow(flow_id, version, self.languages, default, texts, steps, channel_texts, handover_priority)

    def language_list(self, data: dict[Any, Any]) -> str | None:
        languages = data.get("languages")
        if not isinstance(languages, list) or not languages:
            self.error("", "'languages' must be a non-empty list of language codes such as ru, uk, en")
            return None
        codes = [code for code in languages if isinstance(code, str) and LANGUAGE.fullmatch(code)]
        if len(codes) != len(languages):
            self.error("", "'languages' must hold two- or three-letter lowercase codes (quote 'no')")
        if len(set(codes)) != len(codes):
            self.error("", "'languages' lists a language twice")
        self.languages = tuple(dict.fromkeys(codes))
        default = data.get("default_language")
        if default not in self.languages:
            self.error("", "'default_language' must be one of the declared languages")
            return None
        return str(default)

    def channel_engine_texts(self, value: object) -> dict[str, dict[str, dict[str, str]]]:
        """``channel_texts``: for a channel, some engine texts worded for it (every language each)."""
        if not isinstance(value, dict):
            self.error("", f"'channel_texts' must map channels ({', '.join(CHANNELS)}) to engine texts")
            return {}
        result: dict[str, dict[str, dict[str, str]]] = {}
        for channel, texts in value.items():
            place = f"channel_texts: {channel}: "
            if channel not in CHANNELS:
                self.error("", f"channel_texts: unknown channel {channel!r} (expected one of {', '.join(CHANNELS)})")
                continue
            if not isinstance(texts, dict):
                self.error(place, "must be a mapping of engine texts")
                continue
            self.unknown_keys(place, texts, ENGINE_TEXTS.keys())
            result[channel] = {
                key: self.translations(texts[key], f"{place}'{key}'", ENGINE_TEXTS[key])
                for key in texts
                if key in ENGINE_TEXTS
            }
        return result

    def engine_texts(self, texts: object) -> dict[str, dict[str, str]]:
        if not isinstance(texts, dict):
            self.error("", "'texts' must be a mapping of engine texts (see the comment in flows/intake.yaml)")
            return {}
        result: dict[str, dict[str, str]] = {}
        for key in ENGINE_TEXTS:
            if key not in texts:
                self.error("texts: ", f"'{key}' is missing")
                continue
            result[key] = self.translations(texts[key], f"texts: '{key}'", ENGINE_TEXTS[key])
        self.unknown_keys("texts: ", texts, ENGINE_TEXTS.keys())
        self.yes_no_words(result)
        return result

    def yes_no_words(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        """A word that means yes in one language must not mean no in another."""
        for word in sorted(answer_words(texts, "yes") & answer_words(texts, "no")):
            self.error("texts: ", f"'{word}' is both a yes word and a no word")

    # -- steps ---------------------------------------------------------------------------------------

    def steps(self, steps: object) -> dict[str, Step]:
        if not isinstance(steps, list) or not steps:
            self.error("", "'steps' must be a non-empty list; the first step is the start")
            return {}
        result: dict[str, Step] = {}
        fields: dict[str, str] = {}
        for index, raw in enumerate(steps, start=1):
            step = self.step(raw, index)
            if step is None:
                continue
            if step.id in result:
                self.error(f"step '{step.id}': ", "the id is used by two steps")
                continue
            if step.field is not None:
                if step.field in fields:
                    self.error(
                        f"step '{step.id}': ", f"field '{step.field}' is already used by step '{fields[step.field]}'"
                    )
                fields[step.field] = step.id
            result[step.id] = step
        return result

    def step(self, raw: object, index: int) -> Step | None:
        if not isinstance(raw, dict):
            self.error(f"step #{index}: ", "must be a mapping with id, kind and text")
            return None
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not NAME.fullmatch(step_id):
            self.error(f"step #{index}: ", "'id' must be a short lower_snake_case name")
            return None
        self.step_ids.add(step_id)
        place = f"step '{step_id}': "
        kind = raw.get("kind")
        if kind not in KINDS:
            self.error(place, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
            return None
        self.unknown_keys(place, raw, {"id", "kind", "text", "channel_text"} | _STEP_KEYS[kind], kind)
        errors_before = len(self.errors)
        step = Step(
            id=step_id,
            kind=kind,
            text=self.translations(raw.get("text"), f"{place}text", frozenset()),
            field=self.name(raw, "field", place),
            store=self.one_of(raw, "store", STORES, place),
            metadata_key=self.one_of(raw, "metadata_key", tuple(METADATA_VALUES), place),
            open_case=self.flag(raw, "open_case", place),
            optional=self.flag(raw, "optional", place),
            options=self.options(raw, step_id) if kind == "choice" else (),
            next=self.name(raw, "next", place),
            next_yes=self.name(raw, "next_yes", place),
            next_no=self.name(raw, "next_no", place),
            min=self.integer(raw, "min", place, required=kind == "number"),
            max=self.integer(raw, "max", place, required=kind == "number"),
            max_length=self.max_length(raw, kind, place),
            issue_receipt=self.flag(raw, "issue_receipt", place),
            receipt_text=self.receipt_text(raw, place),
            channel_text=self.channel_text(raw, place),
            label=self.translations(raw["label"], f"{place}label", frozenset(), MAX_LABEL) if "label" in raw else {},
        )
        self.storage(step, place)
        self.bounds(step, place)
        return step if len(self.errors) == errors_before else None

    def options(self, raw: dict[Any, Any], step_id: str) -> tuple[StepOption, ...]:
        place = f"step '{step_id}': "
        options = raw.get("options")
        if not isinstance(options, list) or len(options) < 2:
            self.error(place, "a choice needs 'options': a list of at least two")
            return ()
        result: list[StepOption] = []
        labels: dict[str, str] = {}
        for index, option in enumerate(options, start=1):
            if not isinstance(option, dict):
                self.error(place, f"option #{index} must be a mapping with value and label")
                continue
            value = option.get("value")
            if not isinstance(value, str) or not NAME.fullmatch(value):
                self.error(place, f"option #{index}: 'value' must be a short lower_snake_case name (quote yes/no)")
                continue
            where = f"{place}option '{value}': "
            self.unknown_keys(where, option, _OPTION_KEYS)
            if len(step_id) + len(value) > MAX_BUTTON_DATA:
                self.error(where, f"step id and value together exceed {MAX_BUTTON_DATA} characters (button data)")
            if any(existing.value == value for existing in result):
                self.error(where, "the value is used by two options")
            label = self.translations(option.get("label"), f"{where}label", frozenset(), MAX_LABEL)
            for text in label.values():
                other = labels.setdefault(normalise(text), value)
                if other != value:
                    self.error(where, f"label '{text}' is also a label of option '{other}'")
            priority, reason = self.option_priority(option, where)
            result.append(StepOption(value, label, self.name(option, "next", where), priority, reason))
        return tuple(result)

    def option_priority(self, option: dict[Any, Any], where: str) -> tuple[str | None, str | None]:
        """``priority`` and ``priority_reason`` come together: a raise always says why (a code from
        :class:`PriorityReason`, which is stored in clear)."""
        priority = self.one_of(option, "priority", RAISED_PRIORITIES, where)
        reasons = tuple(r.value for r in PriorityReason)
        reason = self.one_of(option, "priority_reason", reasons, where)
        if ("priority" in option) != ("priority_reason" in option):
            self.error(where, "'priority' and 'priority_reason' go together")
        return priority, reason

    def storage(self, step: Step, place: str) -> None:
        """Where an answer goes is never left to a default: sealed content, or coarse metadata."""
        if step.field is not None and step.store is None:
            self.error(place, "a step with a 'field' needs 'store: sealed' or 'store: metadata'")
        if step.store is not None and step.field is None:
            self.error(place, "'store' needs a 'field' (the answer's name)")
        if step.store == "metadata" and step.metadata_key is None:
            self.error(place, f"'store: metadata' needs a 'metadata_key' ({', '.join(METADATA_VALUES)})")
        if step.store != "metadata" and step.metadata_key is not None:
            self.error(place, "'metadata_key' is only for 'store: metadata'")
        if step.store != "metadata" or step.metadata_key is None:
            return
        allowed = METADATA_VALUES[step.metadata_key]
        expected_kind = "number" if allowed is None else "choice"
        if step.kind != expected_kind:
            self.error(place, f"metadata '{step.metadata_key}' comes from a {expected_kind} step")
            return
        for option in step.options:
            if allowed is not None and option.value not in allowed:
                self.error(
                    f"{place}option '{option.value}': ",
                    f"not an allowed {step.metadata_key} (allowed: {', '.join(sorted(allowed))})",
                )

    def bounds(self, step: Step, place: str) -> None:
        if step.min is not None and step.max is not None and step.min > step.max:
            self.error(place, "'min' is greater than 'max'")
        if step.metadata_key == "group_size" and step.min is not None and step.min < 1:
            self.error(place, "a group size starts at 1")
        if step.max_length is not None and not 1 <= step.max_length <= MAX_MESSAGE:
            self.error(place, f"'max_length' must be between 1 and {MAX_MESSAGE}")
        if step.kind == "end" and step.issue_receipt and step.receipt_text is None:
            self.error(place, "'issue_receipt: true' needs a 'receipt_text' with {receipt} in every language")
        if step.receipt_text is not None and not step.issue_receipt:
            self.error(place, "'receipt_text' is only used with 'issue_receipt: true'")

    def channel_text(self, raw: dict[Any, Any], place: str) -> dict[str, dict[str, str]]:
        value = raw.get("channel_text", {})
        if not isinstance(value, dict):
            self.error(place, f"'channel_text' must map channels ({', '.join(CHANNELS)}) to texts per language")
            return {}
        result: dict[str, dict[str, str]] = {}
        for channel, texts in value.items():
            if channel not in CHANNELS:
                self.error(place, f"channel_text: unknown channel {channel!r} (expected one of {', '.join(CHANNELS)})")
                continue
            result[channel] = self.translations(texts, f"{place}channel_text: {channel}", frozenset())
        return result

    def receipt_text(self, raw: dict[Any, Any], place: str) -> dict[str, str] | None:
        if "receipt_text" not in raw:
            return None
        texts = self.translations(raw["receipt_text"], f"{place}receipt_text", frozenset({"receipt"}))
        for language, text in texts.items():
            if "{receipt}" not in text:
                self.error(place, f"receipt_text ({language}) must contain {{receipt}}")
        return texts

    # -- the graph -----------------------------------------------------------------------------------

    def graph(self, steps: Mapping[str, Step]) -> None:
        before = len(self.errors)
        for step in steps.values():
            self.links(step)
        if len(self.errors) > before or self.step_ids != set(steps):
            return  # reachability on a broken graph would only repeat the same mistakes
        start = next(iter(steps))
        reachable = _reachable(steps, start)
        for step_id in steps:
            if step_id not in reachable:
                self.error(f"step '{step_id}': ", "cannot be reached from the start")
        ends = {step.id for step in steps.values() if step.kind == "end"}
        if not ends:
            self.error("", "the flow has no end step")
            return
        finishing = _leading_to(steps, ends)
        for step_id in steps:
            if step_id in reachable and step_id not in finishing:
                self.error(f"step '{step_id}': ", "no end step can be reached from here")
        self.case_opening(steps, start)

    def links(self, step: Step) -> None:
        place = f"step '{step.id}': "
        for option in step.options:
            if option.next is not None and option.next not in self.step_ids:
                self.error(f"{place}option '{option.value}': ", f"next step '{option.next}' does not exist")
            if option.next is None and step.next is None:
                self.error(f"{place}option '{option.value}': ", "has no next step (and the step has no 'next')")
        for key in ("next", "next_yes", "next_no"):
            target = getattr(step, key)
            if target is not None and target not in self.step_ids:
                self.error(place, f"{key} step '{target}' does not exist")
        if step.kind in ("info", "text", "number") and step.next is None:
            self.error(place, "has no next step")
        if step.kind == "yesno":
            for answer in ("yes", "no"):
                if getattr(step, f"next_{answer}") is None and step.next is None:
                    self.error(place, f"no next step for the answer {answer} ('next_{answer}' or 'next')")
        if step.optional and step.next is None:
            self.error(place, "is optional but has no 'next' for a skipped answer")

    def case_opening(self, steps: Mapping[str, Step], start: str) -> None:
        """Nothing is stored and no receipt is issued on a path that has not opened the case."""
        opening = [step.id for step in steps.values() if step.open_case]
        if len(opening) > 1:
            self.error("", f"only one step may have 'open_case' (found: {', '.join(opening)})")
            return
        before = _reachable(steps, start, stop=set(opening))
        for step_id in before:
            step = steps[step_id]
            if step.open_case:
                continue
            if step.field is not None:
                self.error(
                    f"step '{step_id}': ", "stores an answer before the case is opened (no open_case step on the way)"
                )
            if step.issue_receipt:
                self.error(
                    f"step '{step_id}': ", "issues a receipt before the case is opened (no open_case step on the way)"
                )
            if any(option.priority for option in step.options):
                self.error(f"step '{step_id}': ", "raises the priority before the case is opened (no open_case step)")

    # -- small readers -------------------------------------------------------------------------------

    def translations(
        self, value: object, place: str, placeholders: frozenset[str], limit: int = MAX_MESSAGE
    ) -> dict[str, str]:
        """A text in every declared language and no other, within ``limit``, using only known placeholders."""
        if isinstance(value, str):
            self.error(place, f" must be given per language ({', '.join(self.languages)}), not as one string")
            return {}
        if not isinstance(value, dict):
            self.error(place, " is missing")
            return {}
        result: dict[str, str] = {}
        for language in self.languages:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self.error(place, f" has no '{language}' translation")
                continue
            if len(text) > limit:
                self.error(place, f" ({language}) is {len(text)} characters; the limit is {limit}")
            unknown = {name for name in _PLACEHOLDER.findall(text) if name not in placeholders}
            stray = _PLACEHOLDER.sub("", text)
            if unknown:
                self.error(place, f" ({language}) uses unknown placeholders: {', '.join(sorted(unknown))}")
            elif "{" in stray or "}" in stray:
                self.error(place, f" ({language}) has a brace outside a placeholder")
            result[language] = text.strip()
        for language in value:
            if language not in self.languages:
                self.error(place, f" is given in '{language}', which is not in 'languages'")
        return result

    def unknown_keys(self, place: str, data: Mapping[Any, Any], known: Iterable[str], kind: str | None = None) -> None:
        known = set(known)
        for key in data:
            if key in known:
                continue
            used_elsewhere = kind is not None and any(key in keys for keys in _STEP_KEYS.values())
            self.error(place, f"'{key}' is not used by a {kind} step" if used_elsewhere else f"unknown key {key!r}")

    def name(self, raw: Mapping[Any, Any], key: str, place: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not NAME.fullmatch(value):
            self.error(place, f"'{key}' must be a short lower_snake_case name")
            return None
        return value

    def one_of(self, raw: Mapping[Any, Any], key: str, allowed: tuple[str, ...], place: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if value not in allowed:
            self.error(place, f"'{key}' must be one of {', '.join(allowed)}, not {value!r}")
            return None
        return str(value)

    def flag(self, raw: Mapping[Any, Any], key: str, place: str) -> bool:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            self.error(place, f"'{key}' must be true or false")
            return False
        return value

    def max_length(self, raw: Mapping[Any, Any], kind: str, place: str) -> int | None:
        value = self.integer(raw, "max_length", place)
        return DEFAULT_MAX_LENGTH if value is None and kind == "text" else value

    def integer(self, raw: Mapping[Any, Any], key: str, place: str, *, required: bool = False) -> int | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.error(place, f"'{key}' is missing")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(place, f"'{key}' must be a whole number")
            return None
        return value


def _reachable(steps: Mapping[str, Step], start: str, stop: set[str] | None = None) -> set[str]:
    """Steps reachable from ``start``; a step in ``stop`` is reached but not gone through."""
    seen = {start}
    todo = [start]
    while todo:
        step_id = todo.pop()
        if stop and step_id in stop:
            continue
        for target in steps[step_id].targets():
            if target in steps and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _leading_to(steps: Mapping[str, Step], goals: set[str]) -> set[str]:
    """Steps from which one of ``goals`` can be reached."""
    sources: dict[str, set[str]] = {step_id: set() for step_id in steps}
    for step in steps.values():
        for target in step.targets():
            sources.setdefault(target, set()).add(step.id)
    found = set(goals)
    todo = list(goals)
    while todo:
        for source in sources.get(todo.pop(), ()):
            if source not in found:
                found.add(source)
                todo.append(source)
    return found
