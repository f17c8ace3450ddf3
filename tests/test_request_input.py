"""What every request may carry (hotline/inputs.py): a body within the limit, and no control characters
in its path, cookies and parameters; anything else is a 4xx that says why, whatever view it was for.

The console is used by its first admin ("admin", who may open every page); "mallory" sends what no
page of the site sends.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from hotline.cases.models import CannedReply, Tag
from hotline.channels.telegram.models import ProcessedUpdate
from hotline.portal import limits
from tests.conftest import Org
from tests.console_support import admin_staff, signed_in_client
from tests.telegram_harness import SECRET
from tests.test_portal_helpers import page_text

THIRTY_MB = 30 * 1024 * 1024


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


@pytest.fixture
def admin(org: Org) -> Client:
    return signed_in_client(admin_staff(org))


@pytest.fixture
def mallory() -> Client:
    return Client()


# --- control characters ---------------------------------------------------------------------------


def test_a_nul_in_an_audit_filter_is_refused_naming_the_parameter(admin: Client) -> None:
    """Before: 500 on PostgreSQL (it refuses NUL in a text), a silent 200 on SQLite."""
    response = admin.get("/console/audit/?actor=a%00b")
    assert response.status_code == 400
    assert "The field “actor” contains a control character" in page_text(response)


def test_a_nul_in_a_canned_replys_title_is_refused_and_nothing_is_saved(admin: Client) -> None:
    """Before: 500 on PostgreSQL."""
    response = admin.post("/console/content/canned/", {"title": "a\x00b", "language": "ru", "body": "Hello"})
    assert response.status_code == 400
    assert "“title”" in page_text(response)
    assert not CannedReply.objects.exists()


def test_a_control_character_in_a_parameter_name_or_an_htmx_request_is_refused(admin: Client) -> None:
    response = admin.get("/console/queue/", {"tab\x01": "new"})
    assert response.status_code == 400 and "A field name contains a control character" in page_text(response)
    fragment = admin.get("/console/queue/rows/?tab=new%1b", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 400
    assert fragment.content.decode().startswith('<p class="error" role="alert">')


def test_tabs_and_line_breaks_in_typed_text_are_taken(admin: Client) -> None:
    response = admin.post("/console/content/canned/", {"title": "Route", "language": "ru", "body": "one\r\n\ttwo"})
    assert response.status_code == 302
    assert CannedReply.objects.get().body == "one\r\n\ttwo"


def test_a_nul_in_a_cookie_is_refused(mallory: Client) -> None:
    """Before: 500 on PostgreSQL (the session is looked up with the cookie's value)."""
    mallory.cookies["sessionid"] = "abc\x00defghijkl"
    response = mallory.get("/console/queue/")
    assert response.status_code == 400 and "A cookie contains a control character" in page_text(response)


def test_a_nul_in_the_path_is_refused(mallory: Client) -> None:
    response = mallory.get("/console/content/pages/r%00u/home/edit/")
    assert response.status_code == 400 and "The address contains a control character" in page_text(response)


def test_a_nul_in_a_portal_form_is_refused_in_the_pages_language(mallory: Client, db: None) -> None:
    response = mallory.post("/uk/receipt/", {"receipt": "ABCD\x00"})
    assert response.status_code == 400
    assert response["Content-Language"] == "uk"
    assert response["Content-Security-Policy"].startswith("default-src 'self'")  # the portal's own headers
    assert "Поле «receipt» містить керівний символ" in page_text(response)


def test_a_nul_in_a_webhook_parameter_is_refused_as_json(mallory: Client, settings: Any, db: None) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    response = mallory.post(
        "/telegram/webhook?x=%00",
        json.dumps({"update_id": 1}),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "The field “x” contains a control character, which no form of this site sends.",
    }
    assert not ProcessedUpdate.objects.exists()


def test_too_many_fields_get_400_with_the_reason_and_no_traceback(
    admin: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Django's own answer was a bare "Bad Request" page and a traceback in the log."""
    response = admin.get("/console/queue/?" + "&".join(f"f{i}=1" for i in range(1001)))
    assert response.status_code == 400 and "more than 1000 fields" in page_text(response)
    assert not [r for r in caplog.records if r.exc_info]


# --- bodies ------------------------------------------------------------------------------------------


def _big_form(size: int) -> bytes:
    return b"body=" + b"x" * (size - 5)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/ru/receipt/", "Запрос слишком большой: принимается не более 2621440 байт."),
        ("/apply/en/", "The request is too large: at most 2621440 bytes are accepted."),
        ("/accounts/login/", "The request is too large: at most 2621440 bytes are accepted."),
        ("/console/content/canned/", "The request is too large: at most 2621440 bytes are accepted."),
    ],
)
def test_a_body_of_30_mb_gets_413_with_the_reason(mallory: Client, db: None, path: str, reason: str) -> None:
    """Before: Django's RequestDataTooBig, a bare 400 (through the real server: a reset connection)."""
    response = mallory.post(path, _big_form(THIRTY_MB), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert reason in page_text(response)


def test_a_body_within_the_limit_is_read_as_usual(admin: Client) -> None:
    body = "x" * 4000
    response = admin.post("/console/content/canned/", {"title": "Long", "language": "en", "body": body})
    assert response.status_code == 302 and CannedReply.objects.get().body == body


def _chunked(client: Client, path: str, body: bytes, **extra: Any) -> Any:
    """A body sent without a length, as a server that reads it to its end (granian) hands it over."""
    environ = {
        "wsgi.input": extra.pop("wsgi.input", io.BytesIO(body)),
        "wsgi.input_terminated": True,
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
    }
    return client.generic("POST", path, b"", **environ, **extra)


def test_a_chunked_form_is_read_and_a_chunked_body_past_the_limit_gets_413(admin: Client) -> None:
    """Before: Django saw an empty form (no Content-Length means no body to it)."""
    csrf = admin.cookies["csrftoken"].value
    response = _chunked(admin, "/console/content/tags/", b"name=wounded", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 302 and Tag.objects.filter(name="wounded").exists(), page_text(response)
    refused = _chunked(admin, "/console/content/tags/", _big_form(3 * 1024 * 1024), HTTP_X_CSRFTOKEN=csrf)
    assert refused.status_code == 413


class _Gone(io.RawIOBase):
    """The input of a client that went away while sending."""

    def read(self, size: int = -1) -> bytes:
        raise OSError("connection reset by peer")


def test_a_chunked_body_whose_client_went_away_gets_400(mallory: Client, db: None) -> None:
    response = _chunked(mallory, "/en/receipt/", b"", **{"wsgi.input": _Gone()})
    assert response.status_code == 400 and "The form data could not be read." in page_text(response)
