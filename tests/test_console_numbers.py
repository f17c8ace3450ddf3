"""Numbers in console requests: every one goes through ``hotline.inputs.parse_int`` with its bounds (ASCII
digits only, never ``str.isdigit()`` and ``int()``), and every number in a path is an ``<id:…>`` of at
most 18 digits, so none reaches the database past 64 bits. A number that is not one is a 400 that
says why; an id past 18 digits matches no page (404).

The console is used by its first admin ("admin", who may open every page); "alice" is an operator.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from hotline.audit.models import AuditEvent
from hotline.cases.models import CaseTag
from hotline.core.lifecycle import Role
from hotline.inputs import parse_int
from tests.conftest import Org
from tests.console_support import admin_staff, make_staff, open_case, signed_in_client
from tests.test_portal_helpers import page_text

HUGE = "99999999999999999999999"  # past 64 bits


@pytest.fixture
def admin(org: Org) -> Client:
    return signed_in_client(admin_staff(org))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("²", None),
        ("١٢", None),
        ("1_000", None),
        (" 5", None),
        ("5\n", None),
        ("", None),
        ("-", None),
        (HUGE, None),
        ("101", None),
    ],
)
def test_parse_int_takes_ascii_digits_within_bounds_only(text: str, expected: int | None) -> None:
    assert parse_int(text, minimum=-100, maximum=100) == expected


def test_a_tag_id_past_64_bits_or_not_a_number_is_an_unknown_tag(admin: Client) -> None:
    """Before: 500 on SQLite (OverflowError) for the huge id, 500 everywhere for "²" (int() refuses it)."""
    case = open_case()
    for value in (HUGE, "²", "-1"):
        response = admin.post(f"/console/case/{case.pk}/tags/", {"tag": value})
        assert response.status_code == 400 and "Unknown tag." in page_text(response), value
    assert not CaseTag.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/console/goto/", {"number": "²"}),
        ("get", "/console/audit/", {"before": "²"}),
        ("get", "/console/figures/", {"days": HUGE}),
        ("post", "/console/phone/log/", {"reference": "²", "summary": "Called about the route"}),
        ("post", "/console/content/pages/ru/home/rollback/", {"version": "²"}),
        ("post", "/console/content/pages/ru/home/edit/", {"text": "x", "based_on": "²", "action": "save"}),
    ],
)
def test_a_number_that_is_not_ascii_digits_gets_400(
    admin: Client, method: str, path: str, data: dict[str, str]
) -> None:
    """Before: 500 on both databases ("²".isdigit() is true, int("²") raises)."""
    response = getattr(admin, method)(path, data)
    assert response.status_code == 400, response.content[:300]


def test_an_audit_filter_by_a_number_that_is_not_ascii_digits_looks_for_that_text(admin: Client) -> None:
    """Before: 500 on both databases."""
    response = admin.get("/console/audit/", {"object": "#²"})
    assert response.status_code == 200 and "<code>" not in response.content.decode()


@pytest.mark.parametrize("case_field", ["assign", "link"])
def test_a_case_form_number_that_is_not_ascii_digits_gets_400(admin: Client, case_field: str) -> None:
    case = open_case()
    data = {"assignee": "²"} if case_field == "assign" else {"number": "²"}
    assert admin.post(f"/console/case/{case.pk}/{case_field}/", data).status_code == 400


@pytest.mark.parametrize(
    "after",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"],
)
def test_a_queue_cursor_at_the_end_of_time_is_a_broken_link(admin: Client, after: str) -> None:
    """Before: 500 on SQLite (OverflowError turning the time into UTC)."""
    response = admin.get("/console/queue/", {"after": f"{after}~00000000-0000-0000-0000-000000000000"})
    assert response.status_code == 400 and "That page link is broken" in page_text(response)


def test_an_id_in_a_path_past_18_digits_matches_no_page(org: Org, admin: Client) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    assert admin.post(f"/console/staff/{HUGE}/role/", {"role": "operator"}).status_code == 404
    assert admin.post(f"/console/content/tags/{HUGE}/delete/").status_code == 404
    assert admin.post(f"/console/staff/{alice.pk}/role/", {"role": "supervisor"}).status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="tag").exists()


def _patterns(resolver: URLResolver) -> Iterator[URLPattern | URLResolver]:
    for entry in resolver.url_patterns:
        yield entry
        if isinstance(entry, URLResolver):
            yield from _patterns(entry)


def test_no_url_takes_an_unbounded_integer() -> None:
    """Every number in a path is an ``<id:…>`` (at most 18 digits), never Django's ``<int:…>``."""
    unbounded = [
        str(entry.pattern)
        for entry in _patterns(get_resolver())
        for converter in getattr(entry.pattern, "converters", {}).values()
        if isinstance(converter, IntConverter)
    ]
    assert unbounded == []
