"""Every response carries a Content-Security-Policy and Cache-Control, errors included, from one place
(hotline/headers.py); HSTS when configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from hotline.portal import limits


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


def _responses(client: Client) -> dict[str, Any]:
    return {
        "404 outside portal and console": client.get("/nope"),
        "404 favicon": client.get("/favicon.ico"),
        "404 under static": client.get("/static/no-such-file.css"),
        "404 in the portal": client.get("/en/no-such-page/"),
        "404 in the console": client.get("/console/no-such-page/"),
        "405": client.post("/healthz"),
        "400 unknown host": client.get("/en/", HTTP_HOST="evil.example"),
        "webhook without a secret": client.post("/telegram/webhook", data=b"{}", content_type="application/json"),
        "healthz": client.get("/healthz"),
        "ping": client.get("/ping"),
        "portal page": client.get("/en/"),
        "sign-in page": client.get("/accounts/login/"),
    }


def test_every_response_errors_included_carries_a_policy_and_is_not_stored(client: Client, db: None) -> None:
    for what, response in _responses(client).items():
        policy = response.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy, what
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, what
        assert response.get("Cache-Control") == "no-store", what
        assert response.get("X-Content-Type-Options") == "nosniff", what
        assert response.get("Referrer-Policy") in ("no-referrer", "same-origin"), what


def test_each_part_of_the_site_gets_its_own_policy(client: Client, db: None) -> None:
    responses = _responses(client)
    nothing = "default-src 'none'"
    for what in ("404 outside portal and console", "404 favicon", "healthz", "ping", "webhook without a secret"):
        assert responses[what]["Content-Security-Policy"].startswith(nothing), what
        assert responses[what]["Referrer-Policy"] == "no-referrer", what
    for what in ("404 in the portal", "portal page"):
        assert "script-src 'none'" in responses[what]["Content-Security-Policy"], what
        assert responses[what]["Referrer-Policy"] == "no-referrer", what
    for what in ("404 in the console", "sign-in page"):
        assert "script-src 'self'" in responses[what]["Content-Security-Policy"], what
        assert responses[what]["Referrer-Policy"] == "same-origin", what


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_a_portal_429_carries_the_portal_policy(client: Client, db: None, settings: Any) -> None:
    settings.HOTLINE_PORTAL_CLIENT_RATE = 1  # bursts of 5
    limits.reset()
    statuses = []
    for _ in range(7):
        response = client.get("/en/faq/", REMOTE_ADDR="203.0.113.66")
        statuses.append(response.status_code)
    assert statuses[-1] == 429
    assert "script-src 'none'" in response["Content-Security-Policy"] and response["Cache-Control"] == "no-store"


def test_a_static_file_keeps_its_caching_and_gets_a_policy(client: Client, db: None) -> None:
    response = client.get("/static/portal/portal.css")
    assert response.status_code == 200
    assert response["Cache-Control"] != "no-store" and "max-age" in response["Cache-Control"]
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_view_with_a_stricter_policy_keeps_it(client: Client, db: None) -> None:
    from django.http import HttpResponse

    from hotline.headers import SecurityHeadersMiddleware

    def view(request: Any) -> HttpResponse:
        response = HttpResponse("x")
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    from django.test import RequestFactory

    response = SecurityHeadersMiddleware(view)(RequestFactory().get("/console/case/1/attachment/2/"))
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "no-store"


def test_no_hsts_unless_configured(client: Client, db: None) -> None:
    for what, response in _responses(client).items():
        assert "Strict-Transport-Security" not in response, what


def test_hsts_when_configured_on_every_response_whatever_the_scheme_behind_the_proxy(
    client: Client, db: None, settings: Any
) -> None:
    settings.SECURE_HSTS_SECONDS = 31_536_000
    for what, response in _responses(client).items():
        assert response["Strict-Transport-Security"] == "max-age=31536000", what
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    assert client.get("/en/")["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert client.get("/en/", secure=True)["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_hsts_variables_reach_the_settings(tmp_path: Any) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DJANGO_"))}
    env |= {"HOTLINE_DATA_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "hotline.settings"}
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS]))"
    )
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(unset.stdout) == [0, False]
    env |= {"HOTLINE_HSTS_SECONDS": "63072000", "HOTLINE_HSTS_INCLUDE_SUBDOMAINS": "true"}
    given = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(given.stdout) == [63072000, True]
    env["HOTLINE_HSTS_SECONDS"] = "-1"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "HOTLINE_HSTS_SECONDS must be at least 0" in refused.stderr
