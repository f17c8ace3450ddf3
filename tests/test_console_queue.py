"""The queue: tabs per role, filters, counts, keyset pages and the self-refreshing part."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from hotline.cases.actions import do_add_message, do_open_case
from hotline.cases.models import Case
from hotline.console import queue
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import ChannelKind, Direction
from tests.conftest import Org
from tests.console_support import INTAKE, Staff, assign, inbound, make_staff, move, open_case, signed_in_client


def numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="row-link" href="[^"]+">#(\d+)<', html)]


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


@pytest.fixture
def bob(org: Org) -> Staff:
    return make_staff(org, "bob", Role.OPERATOR)


def test_operators_see_unassigned_and_their_own_cases_only(org: Org, alice: Staff, bob: Staff) -> None:
    free, mine, theirs = open_case("1"), open_case("2"), open_case("3")
    assign(mine, alice)
    assign(theirs, bob)
    client = signed_in_client(alice)
    assert numbers(client.get("/console/queue/?tab=new").content.decode()) == [free.number.id, mine.number.id]
    assert numbers(client.get("/console/queue/?tab=unassigned").content.decode()) == [free.number.id]
    assert numbers(client.get("/console/queue/?tab=mine").content.decode()) == [mine.number.id]
    sam = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    assert len(numbers(sam.get("/console/queue/?tab=new").content.decode())) == 3


def test_the_tabs_count_and_the_waiting_tab_lists_cases_waiting_for_the_applicant(alice: Staff) -> None:
    case = open_case("1")
    assign(case, alice)
    move(case, Status.TRIAGE, Status.WAITING, by=alice)
    open_case("2")
    client = signed_in_client(alice)
    page = client.get("/console/queue/?tab=waiting").content.decode()
    assert numbers(page) == [case.number.id]
    assert re.search(r'tab=waiting"[^>]*>[^<]*<span class="count">1</span>', page)
    assert re.search(r'tab=unassigned"[^>]*>[^<]*<span class="count">1</span>', page)


def test_waiting_time_counts_from_the_first_unanswered_message(org: Org, alice: Staff) -> None:
    case = open_case("1")
    inbound(case, "hello?")
    rows = queue.page_of(alice.user, "new", queue.Filters()).rows
    assert rows[0].waiting_since == case.created_at
    do_add_message(org.admin_actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body="hi")
    assert queue.page_of(alice.user, "new", queue.Filters()).rows[0].waiting_since is None
    inbound(case, "are you there?")
    assert queue.page_of(alice.user, "new", queue.Filters()).rows[0].waiting_since is not None


def test_filters_narrow_the_tab(alice: Staff) -> None:
    open_case("1")
    web = do_open_case(INTAKE, channel=ChannelKind.WEB, address="s1", language="uk")
    client = signed_in_client(alice)
    assert numbers(client.get("/console/queue/?tab=new&channel=web").content.decode()) == [web.number.id]
    assert numbers(client.get("/console/queue/?tab=new&language=uk").content.decode()) == [web.number.id]
    assert client.get("/console/queue/?tab=new&channel=fax").status_code == 400


def test_pages_follow_each_other_without_gaps_or_repeats(org: Org, alice: Staff) -> None:
    cases = [open_case(str(n)) for n in range(7)]
    # Two cases created in the same instant still page correctly (ties are broken by id).
    Case.objects.filter(pk=cases[3].pk).update(created_at=cases[2].created_at)
    assign(cases[5], alice)
    seen: list[int] = []
    cursor = None
    while True:
        page = queue.page_of(
            alice.user, "new", queue.Filters(), queue.Cursor.decode(cursor) if cursor else None, size=2
        )
        seen += [r.case.number.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(c.number.id for c in cases) and len(seen) == len(set(seen))


def test_the_next_page_link_works_over_http(alice: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    for n in range(3):
        open_case(str(n))
    client = signed_in_client(alice)
    first = client.get("/console/queue/?tab=new").content.decode()
    link = re.search(r'href="([^"]+after=[^"]+)"', first)
    assert link is not None
    second = client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert len(numbers(first)) == 2 and len(numbers(second)) == 1
    assert not set(numbers(first)) & set(numbers(second))


def test_counts_stop_at_the_cap(alice: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "COUNT_CAP", 3)
    for n in range(5):
        open_case(str(n))
    assert queue.count_of(alice.user, "new", queue.Filters()) == 3
    assert ">3+</span>" in signed_in_client(alice).get("/console/queue/?tab=new").content.decode()


def test_the_table_refreshes_itself_without_counting_as_activity(alice: Staff) -> None:
    client = signed_in_client(alice)
    page = client.get("/console/queue/").content.decode()
    assert 'hx-get="/console/queue/rows/?tab=unassigned"' in page and 'hx-trigger="every 15s"' in page
    case = open_case("9")
    rows = client.get("/console/queue/rows/?tab=unassigned", HTTP_HX_REQUEST="true", HTTP_X_HOTLINE_POLL="1")
    assert rows.status_code == 200 and b"<html" not in rows.content
    assert numbers(rows.content.decode()) == [case.number.id]


def test_next_case_opens_the_longest_waiting_one(alice: Staff) -> None:
    older, _newer = open_case("1"), open_case("2")
    Case.objects.filter(pk=older.pk).update(created_at=older.created_at - timedelta(hours=1))
    client = signed_in_client(alice)
    assert client.get("/console/next/?tab=unassigned").url == f"/console/case/{older.pk}/"
    assign(older, alice)
    assign(_newer, alice)
    empty = client.get("/console/next/?tab=unassigned")
    assert empty.url == "/console/queue/?tab=unassigned"
    assert "Nothing is waiting" in client.get(empty.url).content.decode()


def test_an_empty_queue_says_so(alice: Staff) -> None:
    page = signed_in_client(alice).get("/console/queue/?tab=mine").content.decode()
    assert "You hold no open case" in page


def test_goto_an_application_number(alice: Staff) -> None:
    case = open_case()
    client = signed_in_client(alice)
    assert client.get("/console/goto/", {"number": f"#{case.number.id}"}).url == f"/console/case/{case.pk}/"
    assert client.get("/console/goto/", {"number": "424242"}).status_code == 404


def test_coordinators_and_analysts_start_elsewhere(org: Org) -> None:
    carol = signed_in_client(make_staff(org, "carol", Role.COORDINATOR))
    assert carol.get("/console/").url == "/console/handoff/"
    ana = signed_in_client(make_staff(org, "ana", Role.ANALYST))
    assert ana.get("/console/").url == "/console/figures/"
    assert isinstance(ana, Client)
