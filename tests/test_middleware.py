"""Lean requests: the portal, the webhook and the liveness checks pass by the console's sessions,
users, second factor and language negotiation; the console keeps all of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from hotline.cases.actions import find_case_by_receipt
from hotline.middleware import is_lean
from hotline.portal import limits
from tests.conftest import Org
from tests.test_portal_helpers import WebApplicant, receipt_on


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/en",
        "/ru/",
        "/uk/faq/",
        "/en/receipt/",
        "/apply/ru/",
        "/contacts.json",
        "/ping",
        "/healthz",
        "/telegram/webhook",
    ],
)
def test_the_portal_the_webhook_and_the_liveness_checks_are_lean(path: str) -> None:
    assert is_lean(path)


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/cases/",
        "/accounts/login/",
        "/static/portal/portal.css",
        "/pingx",
        "/telegram/webhook/x",
        "/de/",
    ],
)
def test_everything_else_runs_the_whole_stack(path: str) -> None:
    assert not is_lean(path)


def test_a_lean_request_neither_reads_nor_sets_a_session_even_with_cookies_sent(client: Client, org: Org) -> None:
    client.cookies["sessionid"] = "someone-elses-session"
    client.cookies["csrftoken"] = "x" * 32
    for path in ("/ru/", "/apply/uk/", "/en/faq/", "/ping"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not response.cookies, path
        assert "Cookie" not in response.headers.get("Vary", ""), path
        assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "user"), path
    page = client.get("/uk/")
    assert page["Content-Language"] == "uk" and page["Content-Security-Policy"].startswith("default-src 'self'")
    assert page["Cache-Control"] == "no-store" and page["X-Frame-Options"] == "DENY"


def test_the_console_keeps_sessions_users_and_csrf(org: Org) -> None:
    browser = Client(enforce_csrf_checks=True)
    login = browser.get(reverse("accounts:login"))
    assert login.status_code == 200 and "csrftoken" in login.cookies
    assert hasattr(login.wsgi_request, "session") and hasattr(login.wsgi_request, "user")
    assert not login.wsgi_request.user.is_authenticated
    refused = browser.post(reverse("accounts:login"), {"username": "a", "password": "b"})
    assert refused.status_code == 403  # no CSRF token: refused before the view runs
    queue = browser.get("/console/")
    assert queue.status_code == 302 and reverse("accounts:login") in queue["Location"]


def test_a_host_not_allowed_is_refused_on_lean_paths_too(client: Client, org: Org) -> None:
    assert client.get("/ru/", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/ping", HTTP_HOST="evil.example").status_code == 400


def test_each_applicant_sees_their_own_receipt_on_the_cached_page(org: Org) -> None:
    seen: set[str] = set()
    for n in range(3):
        applicant = WebApplicant(Client(), lang="ru", address=f"198.51.100.{n + 1}")
        applicant.start()
        done = applicant.complete()
        receipt = receipt_on(done)
        assert receipt is not None and receipt not in seen
        seen.add(receipt)
        assert "placeholder" not in done.content.decode()
        assert find_case_by_receipt(receipt) is not None


def test_requests_send_only_the_signal_handlers_that_have_work_here(client: Client) -> None:
    """The statement log is kept only with DEBUG, no cache here has a connection to close; a failed
    database connection is still replaced after every request."""
    from django.core import signals
    from django.core.cache import close_caches
    from django.db import close_old_connections, reset_queries

    from hotline.middleware import trim_request_signals

    def receivers(signal: object) -> set[object]:
        return {entry[1]() for entry in signal.receivers}  # type: ignore[attr-defined]

    # As Django connects them (and as a test's query counting connects reset_queries back).
    signals.request_started.connect(reset_queries)
    signals.request_finished.connect(close_caches)
    trim_request_signals()
    started, finished = receivers(signals.request_started), receivers(signals.request_finished)
    assert reset_queries not in started and close_caches not in finished
    assert close_old_connections in started and close_old_connections in finished
    assert client.get("/ping").status_code == 200
