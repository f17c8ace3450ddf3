"""Helpers for the portal tests (no tests here): an applicant filling in the form through HTTP.

Named people, as elsewhere: "olena" applies on the web, "ivan" applies through the Telegram bot and
comes to the website with his receipt, "mallory" floods and guesses.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse
from django.test import Client

from hotline.core import flow as engine
from hotline.flows import registry

# Answers planted by the tests, easy to grep for in logs and raw database bytes.
IDENTITY = "PLANTED-Olena-Kovalenko-unit-40121"
SAFE_CONTACT = "PLANTED-only-after-22h"
ANYTHING_ELSE = "PLANTED-wounded-left-arm"


def page_text(response: HttpResponse) -> str:
    """The visible text of a page, whitespace collapsed (for asserting on what a person reads)."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def field_value(response: HttpResponse, name: str) -> str | None:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def receipt_on(response: HttpResponse) -> str | None:
    match = re.search(r'class="receipt" id="receipt">([^<]+)<', response.content.decode())
    return match.group(1).strip() if match else None


@dataclass
class WebApplicant:
    """One person in one browser: each post carries the sealed form the last page showed."""

    client: Client
    lang: str = "en"
    address: str = "198.51.100.23"
    answers: dict[str, str] = field(
        default_factory=lambda: {
            "consent": "yes",
            "category": "serviceman",
            "situation": "front",
            "region": "russia",
            "with_others": "no",
            "identity": IDENTITY,
            "safe_contact": SAFE_CONTACT,
            "after_surrender": "exchange",
            "anything_else": ANYTHING_ELSE,
        }
    )
    last: HttpResponse | None = None

    @property
    def url(self) -> str:
        return f"/apply/{self.lang}/"

    def request(self, method: str, path: str, data: dict[str, Any] | None = None, **extra: Any) -> HttpResponse:
        call = self.client.post if method == "POST" else self.client.get
        response: HttpResponse = call(path, data or {}, REMOTE_ADDR=self.address, **extra)
        self.last = response
        return response

    def start(self) -> HttpResponse:
        return self.request("POST", self.url, {"action": "start"})

    @property
    def step(self) -> str | None:
        return field_value(self.last, "step") if self.last is not None else None

    @property
    def form_token(self) -> str:
        assert self.last is not None
        token = field_value(self.last, "t")
        assert token, "the page has no form"
        return token

    def post(self, **fields: str) -> HttpResponse:
        data = {"t": self.form_token, "step": self.step or "", **fields}
        return self.request("POST", self.url, data)

    def answer(self, value: str) -> HttpResponse:
        """Answer the current question the way a person would on this page: a button for choices
        and yes/no, the text box for the rest."""
        step = self.step
        assert step is not None, "no question on the page"
        kind = registry.current("intake").steps[step].kind
        if kind in ("choice", "yesno"):
            return self.post(value=value)
        return self.post(action="answer", text=value)

    def complete(self, stop_at: str | None = None) -> HttpResponse:
        """Start (if needed) and answer every question until the end (or until ``stop_at``)."""
        if self.last is None or self.step is None:
            self.start()
        flow: engine.Flow = registry.current("intake")
        for _ in range(len(flow.steps) + 2):
            step = self.step
            if step is None or step == stop_at:
                break
            kind = flow.steps[step].kind
            default = "3" if kind == "number" else "some words"
            self.answer(self.answers.get(step, default))
        assert self.last is not None
        return self.last
