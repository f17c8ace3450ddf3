"""Generated input at every way in: the Telegram webhook, every portal page and form, every console and
sign-in page and form. Whatever is sent, the answer is never a 5xx, no exception escapes, and nothing
is logged at ERROR or with a traceback (bad input is a 4xx with a reason: hotline/inputs.py).

Nothing here lists the forms by hand. The routes come from the URL configuration; the fields each
route takes come from the forms on the pages themselves (every page is rendered once, the console's
signed in as the first admin, who may open all of them, and each ``<form>`` read for its action, its
fields and the values it offers) and from the names the view's module reads from ``request.GET`` and
``request.POST``. A new page or form is fuzzed the day it exists.

Every field of every route first gets each value of :data:`SWEEP` (explicit examples: the kinds of
value that once gave a 500 — a digit ``int()`` refuses, a number past 64 bits, a NUL, a time with no
UTC), then :data:`EXAMPLES` generated requests mixing what the pages offer with what no page sends
(control characters in one example in ten, text far over every limit, names no form has, path
parameters that exist or not). The webhook gets :data:`WEBHOOK_EXAMPLES` bodies: Telegram updates
with fields changed, deleted or replaced by any JSON, any JSON, any bytes, deep nesting. The file
takes about 20 seconds per database.
"""

from __future__ import annotations

import html
import inspect
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hotline.cases.models import CannedReply, Tag
from hotline.core.lifecycle import Role, Status
from hotline.portal import limits
from tests.conftest import Org
from tests.console_support import admin_staff, assign, make_staff, move, open_case, signed_in_client
from tests.telegram_harness import SECRET
from tests.test_portal_helpers import WebApplicant, receipt_on

EXAMPLES = 10
WEBHOOK_EXAMPLES = 150
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=_HEALTH)

# --- values ------------------------------------------------------------------------------------------

# Values no page sends, but without control characters: these reach the views.
ODD = [
    "",
    "0",
    "-1",
    "1",
    "²",
    "١٢",
    "1_000",
    " 42 ",
    "99999999999999999999999",
    str(2**63),
    str(-(2**63) - 1),
    "1" * 5000,
    "1e999",
    "NaN",
    "#1",
    "#²",
    "me",
    "yes",
    "ru",
    "xx-YY",
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "'; DROP TABLE cases; --",
    "x" * 70_000,
    "Ж" * 3000,
    "😀" * 100,
    "line\nbreak\ttab\r\n",
    "\ufffd\ufeff\u202e\x7f",
    "0001-01-01T00:00:00+05:00~00000000-0000-0000-0000-000000000000",
    "9999-12-31T23:59:59-05:00~00000000-0000-0000-0000-000000000000",
    "2024-01-01T00:00:00+00:00~not-a-uuid",
    str(uuid.UUID(int=0)),
    "ABCD-EFGH-JKMN-PQRS-T",
]
odd_text = st.one_of(
    st.sampled_from(ODD),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)
# Values and names with control characters: refused before any view runs (one in ten examples has one).
control_text = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\x1b[2J", "\x01", "x\x0b"]),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5),
)
odd_names = st.sampled_from(["x" * 300, "ü", "", "csrfmiddlewaretoken", "a b", "a[]"])
control_names = st.sampled_from(["\x00", "a\x00", "tab\t"])
GENERIC_NAMES = ["action", "value", "text", "next", "q", "t", "step", "number", "tab", "days"]


# --- routes and their fields -------------------------------------------------------------------------


@dataclass
class Route:
    name: str  # "console:case_reply"
    template: str  # "/console/case/<uuid:case_id>/reply/"
    module: str
    fields: dict[str, set[str]] = field(default_factory=dict)  # field name -> values the pages offer
    methods: set[str] = field(default_factory=set)  # as the pages' forms and links use it

    def add(self, name: str, value: str | None = None) -> None:
        values = self.fields.setdefault(name, set())
        if value is not None and len(values) < 20:
            values.add(value)


def _walk(resolver: URLResolver, prefix: str = "/", namespace: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            module = inspect.unwrap(entry.callback).__module__
            yield Route(f"{namespace}{entry.name}", prefix + str(entry.pattern), module)


_READS = re.compile(
    r"""(?:\.(?:GET|POST)(?:\.get|\.getlist)?\(|\.(?:GET|POST)\[|clean_field\(request,\s*)["']([\w-]+)["']"""
)
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_FIELD = re.compile(r"<(?:input|textarea|button)\b([^>]*)>", re.I)
_SELECT = re.compile(r"<select\b([^>]*)>(.*?)</select>", re.S | re.I)
_OPTION = re.compile(r"<option\b([^>]*)>", re.I)


def _attr(attrs: str, name: str) -> str | None:
    match = re.search(rf'\b{name}="([^"]*)"', attrs, re.I)
    return html.unescape(match.group(1)) if match else None


Pick = Callable[[str, str], str]  # (parameter name, converter) -> the value in the path


def _fill(template: str, values: tuple[str, ...]) -> str:
    given = iter(values)
    return _PARAM.sub(lambda _match: quote(next(given), safe=""), template)


@dataclass
class Site:
    """The installation being fuzzed: its routes, the values its paths take, the signed-in admin."""

    admin: Client
    routes: dict[str, Route]
    path_values: dict[str, list[str]]

    def path(self, route: Route, pick: Pick) -> str:
        return _PARAM.sub(lambda m: quote(pick(m.group(2), m.group(1) or "str"), safe=""), route.template)

    def seeded(self, name: str, converter: str) -> str:
        """A path parameter's first known value (to render each page once)."""
        known = self.path_values.get(name)
        return known[0] if known else {"uuid": str(uuid.UUID(int=0)), "id": "1", "lang": "en"}.get(converter, "home")

    def param(self, name: str, converter: str) -> st.SearchStrategy[str]:
        """Values for a path parameter: mostly ones that exist (so most requests get past the look-up
        to the view's checks), sometimes anything the converter matches."""
        fallback: st.SearchStrategy[str]
        if converter == "uuid":
            fallback = st.uuids().map(str)
        elif converter == "id":
            fallback = st.integers(min_value=0, max_value=10**18 - 1).map(str)
        elif converter == "slug":
            fallback = st.from_regex(r"[-a-zA-Z0-9_]{1,70}", fullmatch=True)
        elif converter == "lang":
            fallback = st.sampled_from(["ru", "uk", "en"])
        else:
            fallback = odd_text.filter(lambda s: s not in ("", ".", "..") and "/" not in s)
        known = self.path_values.get(name)
        return st.one_of([st.sampled_from(known)] * 3 + [fallback]) if known else fallback

    def paths(self, route: Route) -> st.SearchStrategy[str]:
        params = _PARAM.findall(route.template)
        values = st.tuples(*(self.param(name, converter or "str") for converter, name in params))
        return values.map(lambda drawn: _fill(route.template, drawn))

    def harvest(self, page: str, response: HttpResponse) -> None:
        """Every form on a page teaches its action's route the form's fields and offered values."""
        if "html" not in response.get("Content-Type", ""):
            return
        body = response.content.decode(errors="replace")
        for attrs, inner in _FORM.findall(body):
            action = urlsplit(_attr(attrs, "action") or page).path or page
            try:
                route = self.routes.get(resolve(action).view_name)
            except Resolver404:
                continue
            if route is None:
                continue
            route.methods.add((_attr(attrs, "method") or "get").upper())
            for field_attrs in _FIELD.findall(inner):
                name = _attr(field_attrs, "name")
                if name and name != "csrfmiddlewaretoken":
                    route.add(name, _attr(field_attrs, "value"))
            for select_attrs, options in _SELECT.findall(inner):
                name = _attr(select_attrs, "name")
                for option in _OPTION.findall(options):
                    if name:
                        route.add(name, _attr(option, "value"))


@pytest.fixture
def site(org: Org, settings: Any) -> Iterator[Site]:
    """Staff, cases in the states the pages need, content, a phone call and a web applicant with a
    receipt; then every page rendered once, so its forms are known."""
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_BOT_TOKEN = "1:fuzz"
    for name in (
        "HOTLINE_PORTAL_CLIENT_RATE",
        "HOTLINE_PORTAL_CLIENT_STARTS_PER_HOUR",
        "HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND",
        "HOTLINE_PORTAL_RECEIPT_FAILURES_PER_HOUR",
        "HOTLINE_PORTAL_GLOBAL_RECEIPT_FAILURES_PER_SECOND",
    ):
        setattr(settings, name, 1_000_000)  # the fuzzing is not a flood: let every request reach its view
    limits.reset()
    admin = admin_staff(org)
    alice = make_staff(org, "alice", Role.OPERATOR)
    client = signed_in_client(admin)
    assigned = assign(open_case("700100200", identity="PLANTED-fuzz"), alice)
    ready = move(open_case("700100201"), Status.TRIAGE, Status.READY, by=admin)
    client.post("/console/content/canned/", {"title": "Route", "language": "ru", "body": "Hello"})
    client.post("/console/content/tags/", {"name": "wounded"})
    client.post(
        "/console/content/articles/new/",
        {"slug": "route", "position": "1", "en-title": "Route", "en-questions": "How?", "en-answer": "Like this."},
    )
    call = client.post("/console/phone/start/", {"language": "en", "phone": ""})
    olena = WebApplicant(Client())
    receipt = receipt_on(olena.complete()) or ""
    routes = {route.name: route for route in _walk(get_resolver())}
    site = Site(
        client,
        routes,
        {
            "case_id": [str(assigned.pk), str(ready.pk)],
            "identity_id": [call["Location"].rstrip("/").rsplit("/", 1)[-1]],
            "user_id": [str(alice.pk), str(admin.pk)],
            "reply_id": [str(pk) for pk in CannedReply.objects.values_list("pk", flat=True)],
            "tag_id": [str(pk) for pk in Tag.objects.values_list("pk", flat=True)],
            "language": ["en", "ru", "uk"],
            "slug": ["route", "guarantees", "safety"],
            "page_slug": ["home", "guarantees"],
        },
    )
    for route in routes.values():
        for name in _READS.findall(inspect.getsource(sys.modules[route.module])):
            route.add(name)
        if "logout" not in route.name and route.name != "telegram-webhook":
            page = site.path(route, site.seeded)
            response = client.get(page)
            if response.status_code == 200:
                route.methods.add("GET")
            site.harvest(page, response)
    site.harvest("/apply/en/", olena.start())
    for case in (assigned, ready):
        site.harvest(f"/console/case/{case.pk}/", client.get(f"/console/case/{case.pk}/"))
    for name in ("portal:receipt", "portal:receipt-write"):
        routes[name].add("receipt", receipt)
    yield site
    limits.reset()


# --- the log -----------------------------------------------------------------------------------------


class _Problems(logging.Handler):
    """Records at ERROR, or with a traceback at any level."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return found


@pytest.fixture
def logged() -> Iterator[_Problems]:
    handler = _Problems()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


# --- pages and forms ---------------------------------------------------------------------------------


def _send(client: Client, method: str, path: str, pairs: list[tuple[str, str]], encoding: str, htmx: bool) -> Any:
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    if method == "GET":
        return client.get(path, data, **extra)
    if method == "HEAD":
        return client.head(path, data, **extra)
    if encoding == "multipart":
        return client.post(path, data, **extra)
    body = urlencode(pairs)
    return client.post(path, body, content_type="application/x-www-form-urlencoded", **extra)


# Every field of every form also gets each of these, one field at a time (explicit examples, run
# before the generated ones): a digit int() refuses, a number past 64 bits, a NUL, a time with no UTC.
SWEEP = ["²", "99999999999999999999999", "a\x00b", "0001-01-01T00:00:00+05:00~00000000-0000-0000-0000-000000000000"]


def _pairs(route: Route, names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    def with_value(name: str) -> st.SearchStrategy[tuple[str, str]]:
        offered = sorted(route.fields.get(name, ()))
        values = st.one_of(st.sampled_from(offered), st.sampled_from(offered), odd_text) if offered else odd_text
        return values.map(lambda value: (name, value))

    fields = st.lists((st.sampled_from(names) | st.sampled_from(names) | odd_names).flatmap(with_value), max_size=6)
    poisoned = (st.sampled_from(names) | control_names).flatmap(
        lambda n: (control_text | odd_text).map(lambda v: (n, v))
    )
    poison = st.one_of([st.just([])] * 9 + [st.lists(poisoned, min_size=1, max_size=1)])  # one example in ten
    return st.tuples(fields, poison).map(lambda both: both[0] + both[1])


def _sweep(site: Site, route: Route) -> Iterator[dict[str, Any]]:
    """One request per field and :data:`SWEEP` value, the other fields as the page offers them."""
    method = "POST" if "POST" in route.methods else "GET"
    path = site.path(route, site.seeded)
    usual = {name: min(values) for name, values in route.fields.items() if values}
    for name in sorted(route.fields):
        for bad in SWEEP:
            pairs = [(other, value) for other, value in usual.items() if other != name] + [(name, bad)]
            yield {"method": method, "path": path, "pairs": pairs, "encoding": "urlencoded", "htmx": False}


def fuzz(site: Site, route: Route, client: Client, logged: _Problems) -> None:
    """Requests to ``route``, :data:`SWEEP` and :data:`EXAMPLES` generated ones: none may get a 5xx
    or log a problem."""
    names = sorted(route.fields) or GENERIC_NAMES
    usual = st.sampled_from(sorted(route.methods)) if route.methods else st.nothing()

    @FUZZ
    @given(
        method=st.one_of(usual, usual, usual, st.sampled_from(["GET", "POST", "HEAD"])),
        path=site.paths(route),
        pairs=_pairs(route, names),
        encoding=st.sampled_from(["urlencoded", "multipart"]),
        htmx=st.booleans(),
    )
    def one(method: str, path: str, pairs: list[tuple[str, str]], encoding: str, htmx: bool) -> None:
        limits.reset()
        response = _send(client, method, path, pairs, encoding, htmx)
        assert response.status_code < 500, (route.name, method, path, pairs, response.content[:500])
        assert logged.take() == [], (route.name, method, path, pairs)

    for case in _sweep(site, route):
        one = example(**case)(one)
    one()


def test_every_portal_page_and_form_answers_bad_input_with_a_4xx(site: Site, logged: _Problems) -> None:
    portal = [r for r in site.routes.values() if r.name.startswith("portal:") or r.name in ("ping", "healthz")]
    assert {"portal:apply", "portal:receipt", "portal:receipt-write", "portal:faq"} <= {r.name for r in portal}
    assert {"t", "step", "value", "text", "action"} <= set(site.routes["portal:apply"].fields)
    for route in portal:
        fuzz(site, route, Client(), logged)


def test_every_console_page_and_form_answers_bad_input_with_a_4xx(site: Site, logged: _Problems) -> None:
    console = [r for r in site.routes.values() if r.name.startswith(("console:", "accounts:"))]
    assert len(console) > 50
    assert {"title", "language", "body"} <= set(site.routes["console:canned_add"].fields)
    assert {"tag"} <= set(site.routes["console:case_tags"].fields)
    for route in console:
        # Signing out would sign the admin out for the routes after it: those get a client of their own.
        client = Client() if "logout" in route.name else site.admin
        fuzz(site, route, client, logged)


# --- the webhook ---------------------------------------------------------------------------------------

_integers = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [2**63 - 1, 2**63, -(2**63), -(2**63) - 1]
)
_texts = st.text(max_size=30) | st.sampled_from(ODD[:28]) | control_text
_leaf = st.one_of(st.none(), st.booleans(), _integers, st.floats(allow_nan=False, allow_infinity=False), _texts)
json_values = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)


def _message(chat_id: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private", "first_name": "A"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "A", "language_code": "ru"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return message


BASES: list[dict[str, Any]] = [
    {"message": _message(900_001, "/start")},
    {"message": _message(900_002, "I want to surrender")},
    {"message": _message(900_003, "/forget")},
    {"edited_message": {**_message(900_004, "edited"), "edit_date": 1_700_000_100}},
    {
        "callback_query": {
            "id": "1",
            "from": _message(900_001, "x")["from"],
            "chat_instance": "1",
            "data": "yes",
            "message": _message(900_001, "question"),
        }
    },
    {"message": {**_message(900_005, ""), "document": {"file_id": "f", "file_unique_id": "u", "file_size": 10}}},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from _paths(inner, (*prefix, index))


@st.composite
def webhook_bodies(draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    kind = draw(st.sampled_from(["update"] * 6 + ["json", "bytes", "deep"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=300)))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=5000))
        return ('{"update_id": 1, "x": ' + "[" * depth + "]" * depth + "}").encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    update_id = draw(st.integers(min_value=1, max_value=2**40))
    update = json.loads(json.dumps({"update_id": update_id, **draw(st.sampled_from(BASES))}))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = list(_paths(update))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = update
        for key in path[:-1]:
            parent = parent[key]
        was = parent[path[-1]]
        if isinstance(was, bool) or draw(st.integers(min_value=0, max_value=3)) == 0:
            if isinstance(parent, dict) and draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(json_values)
        elif isinstance(was, int):  # mostly a value of the same kind, so the update stays an update
            parent[path[-1]] = draw(_integers | _integers.map(str))
        elif isinstance(was, str):
            parent[path[-1]] = draw(_texts)
        else:
            parent[path[-1]] = draw(json_values)
    return json.dumps(update, allow_nan=False).encode()


@pytest.fixture
def webhook(org: Org, settings: Any) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_BOT_TOKEN = "1:fuzz"


def _changed(path: tuple[Any, ...], value: Any) -> bytes:
    update: dict[str, Any] = json.loads(json.dumps({"update_id": 5_000, **BASES[0]}))
    parent = update
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return json.dumps(update).encode()


@settings(max_examples=WEBHOOK_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
@given(body=webhook_bodies())
@example(body=_changed(("update_id",), 2**63))
@example(body=_changed(("message", "chat", "id"), 2**64))
@example(body=_changed(("message", "message_id"), 10**20))
@example(body=_changed(("message", "message_id"), "100000000000000000000"))
@example(body=('{"update_id": 1, "x": ' + "[" * 1000 + "]" * 1000 + "}").encode())
@example(body=('{"update_id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode())
def test_the_webhook_answers_any_body_with_a_2xx_or_a_4xx(webhook: None, logged: _Problems, body: bytes) -> None:
    response = Client().post(
        "/telegram/webhook", body, content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET
    )
    assert response.status_code < 500, response.content[:300]
    assert logged.take() == []
