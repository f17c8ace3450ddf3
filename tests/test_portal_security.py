"""What the portal leaves behind and how it holds up: no IP address or form content in logs or in the
raw database, and floods turned away before any database work while others carry on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from hotline.cases import actions
from hotline.cases.backup import backup
from hotline.cases.models import Case, ChannelIdentity
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Direction
from hotline.keyring import actions as keyring
from hotline.keyring.transport_fields import open_field
from hotline.portal import limits
from tests.conftest import ADMIN_PASSWORD, sqlite_file_bytes
from tests.test_portal_helpers import ANYTHING_ELSE, IDENTITY, SAFE_CONTACT, WebApplicant, page_text, receipt_on

ADDRESS = "198.51.100.187"
MESSAGE = "PLANTED-I-will-be-at-the-checkpoint-at-dawn"
REPLY = "PLANTED-REPLY-white-building-third-floor"


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


def _everything_an_applicant_does(client: Client) -> dict[str, str]:
    """Apply, get a reply, read it, write, mistype, fail a look-up: every portal path with content."""
    olena = WebApplicant(client, address=ADDRESS)
    receipt = receipt_on(olena.complete())
    assert receipt is not None
    token = open_field(ChannelIdentity.objects.get(kind=ChannelKind.WEB), "address_enc")
    case = Case.objects.get()
    actions.do_add_message(
        Actor.system("console"), case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY
    )
    assert REPLY in page_text(client.post("/en/receipt/", {"receipt": receipt}, REMOTE_ADDR=ADDRESS))
    client.post("/en/receipt/write", {"receipt": receipt, "body": MESSAGE}, REMOTE_ADDR=ADDRESS)
    client.post("/en/receipt/", {"receipt": receipt[:-1] + "Z"}, REMOTE_ADDR=ADDRESS)
    client.post("/en/receipt/", {"receipt": "ABCD-EFGH-JKMN-PQRS-T"}, REMOTE_ADDR=ADDRESS)
    client.post("/apply/en/", {"action": "answer", "text": SAFE_CONTACT}, REMOTE_ADDR=ADDRESS)  # no session
    return {
        "address": ADDRESS,
        "identity": IDENTITY,
        "safe contact": SAFE_CONTACT,
        "anything else": ANYTHING_ELSE,
        "message": MESSAGE,
        "reply": REPLY,
        "receipt": receipt,
        "receipt (canonical)": receipt.replace("-", ""),
        "session token": token,
    }


def test_no_ip_address_or_form_content_reaches_the_logs(client: Client, org: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    # Django's request loggers are quieted in settings; open them up, so this test sees the most.
    for name in ("django.request", "django.server", "django.security", "hotline"):
        caplog.set_level(logging.DEBUG, logger=name)
    planted = _everything_an_applicant_does(client)
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    leaked = [label for label, text in planted.items() if text in caplog.text]
    assert leaked == [], f"found in the logs: {leaked}"


@pytest.mark.django_db(transaction=True)
def test_no_ip_address_or_form_content_is_in_the_raw_database(client: Client, tmp_path: Path) -> None:
    keyring.do_setup("admin", ADMIN_PASSWORD)
    planted = _everything_an_applicant_does(client)
    if connection.vendor == "sqlite":
        connection.close()
        base = Path(connection.settings_dict["NAME"])
        blob = sqlite_file_bytes(base)
    else:
        blob = backup(tmp_path / "raw.pgdump").read_bytes()
    assert len(blob) > 10_000
    found = [label for label, text in planted.items() if text.encode() in blob or text.encode("utf-16-le") in blob]
    assert found == [], f"found in the raw database: {found}"


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_a_flood_from_one_address_is_turned_away_before_the_database(
    client: Client, db: None, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.HOTLINE_PORTAL_CLIENT_RATE = 2  # bursts of 10
    limits.reset()
    statuses = [client.get("/ru/faq/", REMOTE_ADDR="203.0.113.66").status_code for _ in range(14)]
    assert statuses.count(200) >= 10 and statuses[-1] == 429
    with django_assert_num_queries(0):
        rejected = client.post("/apply/ru/", {"action": "start"}, REMOTE_ADDR="203.0.113.66")
    assert rejected.status_code == 429 and int(rejected["Retry-After"]) >= 1
    assert "Подождите немного" in page_text(rejected) and rejected["Content-Security-Policy"]
    assert not rejected.cookies
    # Somebody else, and the rest of the hotline, are not affected.
    assert client.get("/ru/faq/", REMOTE_ADDR="198.51.100.5").status_code == 200
    assert all(client.get("/ping", REMOTE_ADDR="203.0.113.66").status_code == 200 for _ in range(20))


def test_addresses_are_kept_only_as_keyed_hashes_and_the_table_is_bounded() -> None:
    from django.test import RequestFactory

    factory = RequestFactory()
    a = limits.client_key(factory.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1"))
    b = limits.client_key(factory.get("/", REMOTE_ADDR="2001:db8:1:2:bbbb::2"))
    assert a == b and len(a) == 16 and b"2001" not in a  # one /64 is one client
    tor_a = limits.client_key(factory.get("/", REMOTE_ADDR="fc00:dead:beef:4dad::1"))
    tor_b = limits.client_key(factory.get("/", REMOTE_ADDR="fc00:dead:beef:4dad::2"))
    assert tor_a != tor_b  # each Tor circuit counts alone
    buckets = limits.Buckets(rate=1, burst=1, max_clients=100)
    for n in range(1000):
        buckets.take(n.to_bytes(4, "big"), now=0.0)
    assert len(buckets) == 100


@pytest.mark.usefixtures("portal_clock_stands_still")
def test_behind_a_proxy_the_forwarded_address_counts(client: Client, db: None, settings: Any) -> None:
    settings.HOTLINE_PORTAL_CLIENT_RATE = 1  # bursts of 5
    settings.HOTLINE_TRUST_X_FORWARDED_FOR = True
    limits.reset()
    for _ in range(6):
        client.get("/en/", HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert client.get("/en/", HTTP_X_FORWARDED_FOR="203.0.113.66").status_code == 429
    assert client.get("/en/", HTTP_X_FORWARDED_FOR="198.51.100.5").status_code == 200


def test_a_database_that_is_down_gets_a_503_that_says_try_again(client: Client, db: None) -> None:
    from hotline.core import receipts
    from tests.conftest import database_down

    with database_down():
        receipt = client.post("/en/receipt/", {"receipt": receipts.display(receipts.new_receipt())})
        start = client.post("/apply/en/", {"action": "start"})
    for refused in (receipt, start):
        assert refused.status_code == 503 and "try again in a minute" in page_text(refused) and refused["Retry-After"]


def test_the_information_pages_stay_up_while_the_database_is_down(client: Client, org: Any) -> None:
    """Their texts fall back to the files; the home page says nothing about set-up it cannot know."""
    from hotline.portal import content
    from tests.conftest import database_down

    paths = ["/"]
    for lang in ("en", "ru", "uk"):
        paths += [f"/{lang}/", f"/{lang}/faq/", f"/{lang}/contacts/"]
        paths += [f"/{lang}/{slug}/" for slug in content.TEXT_PAGES if slug != "home"]
    with database_down():
        shown = {path: client.get(path) for path in paths}
    for path, response in shown.items():
        assert response.status_code == 200, path
        assert "hotline setup" not in response.content.decode(), path
    assert "Apply online" in page_text(shown["/en/"])
