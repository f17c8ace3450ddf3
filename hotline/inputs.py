"""What a request may carry, checked once for every view: the body's size, its parameters, its numbers.

Bad input gets a clear answer, a 4xx that says what was wrong, and never reaches the database in a
shape the database refuses (a 500 on PostgreSQL for a NUL in a text, on SQLite for an integer past 64
bits). The checks live here, in one place, rather than in each view:

* :class:`RequestInputMiddleware` runs for every request before any view, form or middleware reads
  the body or the parameters:

  - a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Content-Length, or a chunked body read up
    to one byte past the limit) is answered 413. The rest of the body is first read and dropped (at
    most :data:`DRAIN_BYTES`, for at most :data:`DRAIN_SECONDS`), because a server that answers and
    closes while the client is still sending makes the client see a reset connection instead of the
    answer;
  - a control character (C0: NUL to U+001F) in the path, a cookie, a parameter's name, or a
    parameter's value (where tab, CR and LF are allowed: they are typed in text boxes) is answered
    400, naming the parameter. No form or link of this site sends one, and PostgreSQL refuses NUL
    in a text;
  - more parameters than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``, and a body Django cannot parse, are
    answered 400 with the reason (Django's own answer is a bare page and a traceback in the log).

* Numbers from requests go through :func:`parse_int` with the bounds the view needs (never
  ``str.isdigit()`` and ``int()``: ``"²".isdigit()`` is true and ``int("²")`` fails), and path
  parameters through the :class:`IdConverter` (``<id:…>``), which matches at most 18 digits.

* JSON bodies (the Telegram webhook) go through :func:`read_body` and :func:`parse_json`: size,
  nesting depth and integers within a signed 64-bit range, each refused with its reason;
  :func:`check_integers` applies the same range to a validated model, where pydantic may have made
  an integer out of a string of digits.

The answer's form follows the path: JSON for the webhook, the portal's page in its language, the
console's page otherwise.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.translation import gettext as _
from pydantic import BaseModel

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Deeper than any Telegram update (an update, a message, the message it replies to, its keyboard,
# a row, a button, the button's login URL: about ten levels).
MAX_JSON_DEPTH = 32
# Reading the rest of a refused body, so the client gets the 413: no more than this.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0
_CHUNK = 64 * 1024

WEBHOOK_PATH = "/telegram/webhook"


class InputError(Exception):
    """A request the server will not take: the HTTP status to answer and the reason to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- numbers ---------------------------------------------------------------------------------------

_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only


def parse_int(text: str, *, minimum: int, maximum: int) -> int | None:
    """The whole number ``text`` spells (ASCII digits, an optional minus), if within the bounds; else None."""
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


class IdConverter:
    """``<id:name>``: a database id in a path, 1 to 18 digits, so always within a signed 64-bit integer.

    Django's ``<int:…>`` takes any number of digits, and looking up a number past 64 bits fails in the
    database driver instead of finding nothing. A longer number here simply matches no URL (404).
    """

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


# --- bodies ----------------------------------------------------------------------------------------


# The console's post editor takes an image (at most 5 MB) with its form; no other view takes files.
UPLOAD_PATHS = ("/console/posts/",)
UPLOAD_MAX_BODY = 6 * 1024 * 1024


def takes_files(path: str) -> bool:
    return path.startswith(UPLOAD_PATHS)


def max_body(path: str = "") -> int:
    """The largest body a view at ``path`` takes: Django's own limit for a form body (2.5 MiB by
    default), or :data:`UPLOAD_MAX_BODY` where a form carries a file."""
    return UPLOAD_MAX_BODY if takes_files(path) else int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def declared_length(request: HttpRequest) -> int | None:
    """The body's Content-Length, or None when the request has none (or one that is not a number)."""
    raw = request.META.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def _unsized_stream(request: HttpRequest) -> Any:
    """The raw input of a body sent without a length (chunked), if the server lets it be read to its end."""
    if declared_length(request) is not None:
        return None
    if "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    if not request.META.get("wsgi.input_terminated"):
        return None  # per PEP 3333, reading past the (missing) length would block
    return request.META.get("wsgi.input")


def too_large(limit: int) -> InputError:
    return InputError(413, _("The request is too large: at most %(n)s bytes are accepted.") % {"n": limit})


def discard_body(request: HttpRequest) -> None:
    """Read what is left of a refused body and drop it, so that the refusal reaches the client.

    Bounded: nothing is read of a body declared larger than :data:`DRAIN_BYTES` (that client sees
    the connection close), and reading stops after :data:`DRAIN_SECONDS`. A client that announced
    ``Expect: 100-continue`` has not sent its body and will not: nothing to read.
    """
    if request.META.get("HTTP_EXPECT", "").lower() == "100-continue":
        return
    declared = declared_length(request)
    stream: Any = request if declared is not None else _unsized_stream(request)
    if stream is None or (declared is not None and declared > DRAIN_BYTES):
        return
    deadline = time.monotonic() + DRAIN_SECONDS
    left = DRAIN_BYTES
    try:
        while left > 0 and time.monotonic() < deadline:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except OSError:
        return  # the client went away


def _read_unsized(request: HttpRequest, limit: int) -> None:
    """Read a body sent without a length (at most ``limit`` + 1 bytes) and let Django see it as a sized one.

    Raises :class:`InputError` 413 when it is longer than ``limit``.
    """
    stream = _unsized_stream(request)
    if stream is None:
        return
    parts: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = stream.read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except OSError:
        raise InputError(400, _("The form data could not be read.")) from None  # the client went away
    if size > limit:
        discard_body(request)
        raise too_large(limit)
    request._body = b"".join(parts)  # what HttpRequest.body returns and form parsing reads
    request.META["CONTENT_LENGTH"] = str(size)


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request body, or :class:`InputError` 413 when it is larger than ``limit`` (what was sent of
    it is then read and dropped, :func:`discard_body`)."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        discard_body(request)
        raise too_large(limit)
    body = request.body
    if len(body) > limit:
        raise too_large(limit)
    return body


# --- JSON --------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _nesting(text: str, limit: int) -> bool:
    """True if the JSON ``text`` nests containers deeper than ``limit`` (strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def _out_of_range() -> InputError:
    return InputError(400, "an integer is outside the signed 64-bit range")


def _int64(literal: str) -> int:
    if len(literal) > 20:
        raise _out_of_range()
    value = int(literal)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _out_of_range()
    return value


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InputError(400, "a number is too large for a 64-bit float")
    return value


def _not_json(literal: str) -> NoReturn:
    raise InputError(400, f"body is not JSON ({literal} is not a JSON number)")


def parse_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``body`` (UTF-8), or :class:`InputError` 400 saying what is wrong with it:
    not JSON, nested deeper than ``max_depth``, or an integer outside the signed 64-bit range."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(400, "body is not JSON (not UTF-8)") from None
    if _nesting(text, max_depth):
        raise InputError(400, f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_int64, parse_float=_finite, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise InputError(400, "body is not JSON") from None


def check_integers(value: object) -> None:
    """:class:`InputError` 400 if any integer in ``value`` (dicts, lists, pydantic models and their
    extra fields, at any depth) is outside the signed 64-bit range."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str | float):
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise _out_of_range()
        elif isinstance(item, BaseModel):
            pending.extend(item.__dict__.values())
            if item.__pydantic_extra__:
                pending.extend(item.__pydantic_extra__.values())
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


# --- parameters --------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # tab, LF and CR are typed in text boxes
_NAME_SHOWN = 40
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")  # what Django parses into POST


def _control_in(params: QueryDict) -> InputError | None:
    for name, values in params.lists():
        if _CONTROL.search(name):
            return InputError(400, _("A field name contains a control character, which no form of this site sends."))
        if any(_CONTROL_IN_TEXT.search(value) for value in values):
            shown = name[:_NAME_SHOWN]
            return InputError(
                400,
                _("The field “%(name)s” contains a control character, which no form of this site sends.")
                % {"name": shown},
            )
    return None


def check_parameters(request: HttpRequest) -> None:
    """:class:`InputError` for a request whose path, cookies or parameters no page of this site sends."""
    if _CONTROL.search(request.path_info):
        raise InputError(400, _("The address contains a control character, which no link of this site has."))
    if request.META.get("HTTP_COOKIE"):
        for name, value in request.COOKIES.items():
            if _CONTROL.search(name) or _CONTROL.search(value):
                raise InputError(
                    400, _("A cookie contains a control character. Delete this site's cookies and try again.")
                )
    try:
        found = _control_in(request.GET) if request.META.get("QUERY_STRING") else None
        if found is None and request.method == "POST" and request.content_type in _FORM_TYPES:
            # Read into memory first (it is within max_body()): a multipart form would otherwise be
            # parsed from the stream, and the body could not be read again by a view that wants it.
            # A form with a file is parsed from the stream: Django counts only its fields, not the
            # file, against DATA_UPLOAD_MAX_MEMORY_SIZE (the file stays in memory all the same:
            # FILE_UPLOAD_MAX_MEMORY_SIZE is the upload body's limit).
            if not (takes_files(request.path_info) and request.content_type == "multipart/form-data"):
                request.body  # noqa: B018
            found = _control_in(request.POST)
    except (TooManyFieldsSent, TooManyFilesSent):
        raise InputError(
            400, _("The request has more than %(n)s fields.") % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        ) from None
    except RequestDataTooBig:
        raise too_large(max_body(request.path_info)) from None
    except (MultiPartParserError, BadRequest, SuspiciousOperation, OSError):
        raise InputError(400, _("The form data could not be read.")) from None
    if found is not None:
        raise found


def check_body(request: HttpRequest) -> None:
    """:class:`InputError` 413 for a body larger than :func:`max_body` (after reading and dropping it)."""
    limit = max_body(request.path_info)
    declared = declared_length(request)
    if declared is not None and declared > limit:
        discard_body(request)
        raise too_large(limit)
    _read_unsized(request, limit)


# --- the middleware ----------------------------------------------------------------------------------


def refusal(request: HttpRequest, error: InputError) -> HttpResponse:
    """The answer to a request refused here, in the form its path expects."""
    path = request.path_info
    if path == WEBHOOK_PATH:
        return JsonResponse({"ok": False, "error": error.reason}, status=error.status)
    from hotline.portal.middleware import is_portal_path, language_of

    if is_portal_path(path):
        from hotline.portal.views.common import problem

        return problem(request, language_of(path), error.reason, status=error.status)
    # The console's page, without the parts that need the session or the signed-in user.
    template = "console/_problem.html" if request.headers.get("HX-Request") else "console/problem.html"
    return render(request, template, {"message": error.reason, "flash": [], "nav": [], "me": None}, status=error.status)


class RequestInputMiddleware:
    """Refuse, with the reason, a request whose body or parameters no view of this site takes.

    It sits after the language is chosen (so the reason is in the reader's language) and before
    anything reads the body or the parameters: CSRF's check reads them, but only after every
    middleware's ``__call__`` has run.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if (
            meta.get("QUERY_STRING")
            or meta.get("CONTENT_LENGTH")
            or meta.get("HTTP_TRANSFER_ENCODING")
            or meta.get("HTTP_COOKIE")
            or _CONTROL.search(request.path_info)
        ):
            try:
                check_body(request)
                check_parameters(request)
            except InputError as error:
                return refusal(request, error)
        return self.get_response(request)
