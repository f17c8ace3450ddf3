"""The console's search: by each plaintext field, combined, a page at a time, hostile input refused
with a reason, every search audited (a receipt never in clear), and only cases the searcher may see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from hotline.accounts.staff import actor_of
from hotline.audit.models import AuditEvent
from hotline.cases import actions, search, triage
from hotline.cases.models import Case
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import Category, ChannelKind, Region
from tests.conftest import Org
from tests.console_support import INTAKE, Staff, assign, make_staff, move, signed_in_client

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _case(
    chat: str,
    *,
    opened: datetime = DAY,
    channel: ChannelKind = ChannelKind.TELEGRAM,
    category: Category = Category.SERVICEMAN,
    region: Region = Region.CRIMEA,
) -> Case:
    case = actions.do_open_case(
        INTAKE, channel=channel, address=chat, language="ru", category=category, region=region, answers={}
    )
    Case.objects.filter(pk=case.pk).update(created_at=opened)  # set-up: opened on a pinned day
    case.refresh_from_db()
    return case


def _numbers(response: object) -> list[int]:
    text = response.content.decode()  # type: ignore[attr-defined]
    assert 'class="queue search-results"' in text or "No case you may see matches." in text, text[:2000]
    return [
        int(part.split("<", 1)[0])
        for part in text.split('class="row-link" href="/console/case/')[1:]
        for part in [part.split(">#", 1)[1]]
    ]


def _find(client: Client, **fields: str) -> list[int]:
    response = client.post("/console/search/", fields)
    assert response.status_code == 200, response.content[:500]
    return _numbers(response)


@pytest.fixture
def sam(org: Org) -> Staff:
    return make_staff(org, "sam", Role.SUPERVISOR)


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


def test_it_finds_by_each_field(org: Org, sam: Staff) -> None:
    a = _case("1", opened=DAY)
    b = _case("2", opened=DAY + timedelta(days=3), channel=ChannelKind.WEB, category=Category.RELATIVE)
    c = _case("3", opened=DAY + timedelta(days=5), region=Region.RUSSIA)
    tag = triage.do_create_tag(actor_of(sam.user), "urgent-review")
    triage.do_set_tags(actor_of(sam.user), b, [tag])
    receipt = actions.do_issue_receipt(INTAKE, c)
    move(b, Status.TRIAGE, by=sam)
    client = signed_in_client(sam)
    n = {case.pk: case.number.id for case in (a, b, c)}

    assert _find(client, number=str(n[a.pk])) == [n[a.pk]]
    assert _find(client, number=f"#{n[b.pk]}") == [n[b.pk]]
    assert _find(client, receipt=receipt.lower().replace("-", " ")) == [n[c.pk]]
    assert _find(client, pseudonym=a.applicant.pseudonym.lower()) == [n[a.pk]]
    assert _find(client, tag="urgent-review") == [n[b.pk]]
    assert _find(client, status="triage") == [n[b.pk]]
    assert _find(client, category="relative") == [n[b.pk]]
    assert _find(client, region="russia") == [n[c.pk]]
    assert _find(client, channel="web") == [n[b.pk]]
    assert _find(client, opened_from="2026-03-13") == [n[c.pk], n[b.pk]]  # newest first
    assert _find(client, opened_to="2026-03-13") == [n[b.pk], n[a.pk]]
    assert _find(client, opened_from="2026-03-11", opened_to="2026-03-14") == [n[b.pk]]


def test_criteria_combine(org: Org, sam: Staff) -> None:
    a = _case("1", region=Region.RUSSIA)
    _case("2", region=Region.RUSSIA, channel=ChannelKind.WEB)
    _case("3", region=Region.CRIMEA)
    client = signed_in_client(sam)
    assert _find(client, region="russia", channel="telegram") == [a.number.id]
    assert _find(client, region="crimea", channel="web") == []
    assert _find(client, region="russia", channel="telegram", opened_from="2026-03-11") == []


def test_results_come_a_page_at_a_time(org: Org, sam: Staff) -> None:
    cases = [_case(str(i), opened=DAY + timedelta(minutes=i)) for i in range(search.PAGE_SIZE + 7)]
    client = signed_in_client(sam)
    first = client.post("/console/search/", {"region": "crimea"})
    shown = _numbers(first)
    assert len(shown) == search.PAGE_SIZE
    after = first.content.decode().split('name="after" value="', 1)[1].split('"', 1)[0]
    second = client.post("/console/search/", {"region": "crimea", "after": after})
    rest = _numbers(second)
    assert 'name="after"' not in second.content.decode()
    newest_first = [c.number.id for c in reversed(cases)]
    assert shown + rest == newest_first


def test_an_operator_finds_only_cases_they_may_work(org: Org, alice: Staff) -> None:
    bob = make_staff(org, "bob", Role.OPERATOR)
    mine = _case("1")
    assign(mine, alice)
    theirs = _case("2")
    assign(theirs, bob)
    free = _case("3")
    client = signed_in_client(alice)
    assert sorted(_find(client, region="crimea")) == sorted([mine.number.id, free.number.id])
    assert _find(client, number=str(theirs.number.id)) == [], "bob's case looks like no case"


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ANALYST])
def test_coordinators_and_analysts_may_not_search(org: Org, role: Role) -> None:
    client = signed_in_client(make_staff(org, "someone", role))
    assert client.get("/console/search/").status_code == 403
    assert client.post("/console/search/", {"region": "crimea"}).status_code == 403


def test_every_search_is_audited_without_the_receipt(org: Org, sam: Staff) -> None:
    case = _case("1")
    receipt = actions.do_issue_receipt(INTAKE, case)
    client = signed_in_client(sam)
    assert client.get("/console/search/").status_code == 200  # the empty form is no search
    assert not AuditEvent.objects.filter(action="case.search").exists()
    _find(client, receipt=receipt, region="crimea")
    event = AuditEvent.objects.get(action="case.search")
    assert event.actor_label == "sam"
    assert event.details == {"receipt": "given", "region": "crimea", "page": "first"}
    bare = receipt.replace("-", "")
    for row in AuditEvent.objects.all():
        assert bare not in json.dumps(row.details).replace("-", "")


def test_the_page_says_why_messages_cannot_be_searched(org: Org, alice: Staff) -> None:
    text = signed_in_client(alice).get("/console/search/").content.decode()
    assert "cannot be searched" in text and "stolen copy of the database" in text
    assert 'href="/console/search/"' in text, "search is in the navigation"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"opened_from": "2026-13-45"}, "is not a date on the calendar"),
        ({"opened_to": "2026-02-30"}, "is not a date on the calendar"),
        ({"opened_from": "10/03/2026"}, "YYYY-MM-DD"),
        ({"opened_from": "1900-01-01"}, "Dates go from"),
        ({"opened_from": "2026-03-12", "opened_to": "2026-03-11"}, "after the last"),
        ({"number": "99999999999999999999999999"}, "whole number"),
        ({"number": "-4"}, "whole number"),
        ({"number": "²"}, "whole number"),
        ({"status": "open-ish"}, "Unknown value"),
        ({"category": "x" * 64}, "Unknown value"),
        ({"channel": "x" * 65}, "too long"),
        ({"tag": "no-such-tag"}, "There is no tag"),
        ({"pseudonym": "Ivan"}, "A-XXXX-XXXX"),
        ({"receipt": "ABCD-EFGH"}, "receipt is mistyped"),
        ({"region": "crimea", "after": "12.zz"}, "page link is broken"),
        ({"region": "crimea", "after": "99999999999999999." + "0" * 32}, "page link is broken"),
    ],
)
def test_bad_input_is_a_400_with_a_reason(org: Org, sam: Staff, fields: dict[str, str], reason: str) -> None:
    client = signed_in_client(sam)
    response = client.post("/console/search/", fields)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not AuditEvent.objects.filter(action="case.search").exists()


def test_a_nul_byte_is_refused_before_the_search(org: Org, sam: Staff) -> None:
    client = signed_in_client(sam)
    response = client.post("/console/search/", {"pseudonym": "A-\x00"})
    assert response.status_code == 400
    response = client.get("/console/search/", {"region": "cri\x00mea"})
    assert response.status_code == 400


def test_a_receipt_in_an_address_is_refused(org: Org, sam: Staff) -> None:
    case = _case("1")
    receipt = actions.do_issue_receipt(INTAKE, case)
    response = signed_in_client(sam).get("/console/search/", {"receipt": receipt})
    assert response.status_code == 400
    text = response.content.decode()
    assert "must not travel in an address" in text
    assert 'name="receipt" value=""' in text, "the form does not show it again"
