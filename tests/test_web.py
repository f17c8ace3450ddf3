"""The foundation's pages: home says what to do next; healthz tells a load balancer the truth."""

from __future__ import annotations

from django.test import Client

from tests.conftest import Org, database_down


def test_home_tells_a_newcomer_to_run_setup(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"hotline setup" in response.content
    assert response["X-Frame-Options"] == "DENY"


def test_home_after_setup(client: Client, org: Org) -> None:
    assert b"hotline setup" not in client.get("/").content


def test_healthz_is_503_when_the_database_is_down(client: Client, db: None) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    with database_down():
        response = client.get("/healthz")
    assert response.status_code == 503


def test_unknown_pages_and_methods_get_4xx(client: Client, db: None) -> None:
    assert client.get("/nope").status_code == 404
    assert client.post("/healthz").status_code == 405
