"""Intake answers as a person reads them: the question's label and the answer's words from the flow.

Answers are stored as the flow's stable codes (``after_surrender: stay_in_ukraine``, ``with_others: yes``)
so they survive a change of wording; this turns them back into words in the reader's language. Whatever
the flow does not know — free text, an option since removed, a field no longer asked — is shown as
entered, so nothing an applicant said is ever hidden by a flow change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hotline.core.flow_loader import Flow, Step


@dataclass(frozen=True)
class ShownAnswer:
    field: str
    question: str  # the step's label (or its text's first paragraph); the field's name if the flow lacks it
    answer: str  # option labels, "yes"/"no" in words, or the value as entered
    known: bool  # the flow still asks this question


def shown_answers(flow: Flow | None, answers: Mapping[str, str], languages: Sequence[str]) -> list[ShownAnswer]:
    """``answers`` in the flow's step order (fields the flow does not ask follow, by name), worded in the
    first of ``languages`` the flow has a text in, then the flow's default language."""
    preferred = [*languages, flow.default_language] if flow is not None else list(languages)
    steps = {step.field: step for step in flow.steps.values() if step.field} if flow is not None else {}
    shown = [
        ShownAnswer(field, _question(step, preferred), _answer(flow, step, answers[field], preferred), True)
        for field, step in steps.items()
        if field in answers and flow is not None
    ]
    shown += [ShownAnswer(field, field, answers[field], False) for field in sorted(answers) if field not in steps]
    return shown


def pick(texts: Mapping[str, str], languages: Sequence[str]) -> str:
    """The text in the first of ``languages`` that has one (``en-gb`` also finds ``en``), else any."""
    for language in languages:
        for code in (language, language.split("-")[0]):
            if texts.get(code):
                return texts[code]
    return next((text for text in texts.values() if text), "")


def _question(step: Step, languages: Sequence[str]) -> str:
    if step.label:
        return pick(step.label, languages)
    return pick(step.text, languages).split("\n\n")[0].strip()


def _answer(flow: Flow, step: Step, value: str, languages: Sequence[str]) -> str:
    if step.kind == "yesno" and value in ("yes", "no"):
        return pick(flow.texts[f"{value}_label"], languages)
    if step.kind != "choice":
        return value
    labels = {option.value: pick(option.label, languages) for option in step.options}
    if value in labels:
        return labels[value]
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 1 and all(part in labels for part in parts):  # several options chosen
        return ", ".join(labels[part] for part in parts)
    chosen, colon, detail = value.partition(": ")
    if colon and chosen in labels:  # an option with the operator's details ("exchange: to Voronezh")
        return f"{labels[chosen]}: {detail}"
    return value
