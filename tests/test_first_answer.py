"""First answers: the queue serves urgent, high, then normal cases, each longest-waiting first, and marks
the ones past their target; the load page gives each day's median, 90th percentile and cases over target.

The clock is pinned: ``django.utils.timezone.now`` returns ``clock.now``, which each test moves by hand.
The targets are the defaults (urgent 15, high 60, normal 240 minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from hotline.accounts.staff import actor_of
from hotline.cases import targets
from hotline.cases.actions import do_add_message, do_open_case, do_set_priority
from hotline.cases.models import Case
from hotline.console import queue
from hotline.console.views.oversight import FirstAnswerDay, first_answer_days
from hotline.core.lifecycle import Role
from hotline.core.metadata import ChannelKind, Direction, Priority, PriorityReason
from tests.conftest import Org
from tests.console_support import INTAKE, Staff, make_staff, open_case, signed_in_client

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning, server time (UTC)


@dataclass
class Clock:
    now: datetime

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(T0)
    monkeypatch.setattr(timezone, "now", lambda: pinned.now)
    return pinned


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


def numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="row-link" href="[^"]+">#(\d+)<', html)]


def rows_by_number(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr class="prio-\w+">(.*?)</tr>', html, re.DOTALL)
    return {int(re.search(r">#(\d+)<", row).group(1)): row for row in rows}  # type: ignore[union-attr]


def raised(case: Case, alice: Staff, priority: Priority) -> Case:
    return do_set_priority(actor_of(alice.user), case, priority, PriorityReason.OTHER)


def reply(org: Org, case: Case) -> None:
    do_add_message(org.admin_actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="Hello")


@pytest.fixture
def five(clock: Clock, alice: Staff) -> dict[str, Case]:
    """Normal at 0 and 15 minutes, urgent at 5 and 20, high at 10."""
    opened: dict[str, Case] = {}
    for minute, name, priority in [
        (0, "normal_old", None),
        (5, "urgent_old", Priority.URGENT),
        (10, "high", Priority.HIGH),
        (15, "normal_new", None),
        (20, "urgent_new", Priority.URGENT),
    ]:
        clock.at(minute)
        case = open_case(str(minute))
        opened[name] = raised(case, alice, priority) if priority else case
    return opened


def test_the_queue_serves_urgent_then_high_then_normal_each_longest_waiting_first(
    five: dict[str, Case], alice: Staff, clock: Clock
) -> None:
    clock.at(30)
    order = ["urgent_old", "urgent_new", "high", "normal_old", "normal_new"]
    expected = [five[name].number.id for name in order]
    client = signed_in_client(alice)
    assert numbers(client.get("/console/queue/?tab=new").content.decode()) == expected
    assert numbers(client.get("/console/queue/rows/?tab=unassigned").content.decode()) == expected
    assert queue.first_case(alice.user, "new", queue.Filters()) == five["urgent_old"]
    only_high = client.get("/console/queue/?tab=new&priority=high").content.decode()
    assert numbers(only_high) == [five["high"].number.id]


def test_pages_follow_the_priority_order_without_gaps_or_repeats(
    five: dict[str, Case], alice: Staff, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.at(30)
    # Two urgent cases opened in the same instant still page correctly (ties are broken by id).
    Case.objects.filter(pk=five["urgent_new"].pk).update(created_at=five["urgent_old"].created_at)
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    client = signed_in_client(alice)
    pages: list[list[int]] = []
    url: str | None = "/console/queue/?tab=new"
    while url:
        html = client.get(url).content.decode()
        pages.append(numbers(html))
        link = re.search(r'href="([^"]+after=[^"]+)"', html)
        url = link.group(1).replace("&amp;", "&") if link else None
    urgent = sorted([five["urgent_old"], five["urgent_new"]], key=lambda c: str(c.pk))
    tail = [five[name].number.id for name in ("high", "normal_old", "normal_new")]
    assert pages == [[c.number.id for c in urgent], tail[:2], tail[2:]]


def test_an_old_page_link_without_a_priority_is_a_400_not_a_500(alice: Staff) -> None:
    response = signed_in_client(alice).get("/console/queue/?tab=new&after=2026-03-02T09:00:00%2B00:00~" + "0" * 32)
    assert response.status_code == 400 and "That page link is broken" in response.content.decode()


def test_each_row_says_how_long_it_has_waited_and_marks_those_over_target(
    five: dict[str, Case], org: Org, alice: Staff, clock: Clock
) -> None:
    clock.at(100)
    reply(org, five["urgent_new"])
    clock.at(241)  # 4 h 1 min after the first case opened
    html = signed_in_client(alice).get("/console/queue/?tab=new").content.decode()
    rows = rows_by_number(html)
    row = {name: rows[case.number.id] for name, case in five.items()}
    assert "waiting 4 h 1 min" in row["normal_old"] and "over target" in row["normal_old"]  # 241 > 240
    assert "waiting 3 h 46 min" in row["normal_new"] and "over target" not in row["normal_new"]  # 226
    assert "waiting 3 h 56 min" in row["urgent_old"] and "over target" in row["urgent_old"]  # > 15
    assert "waiting 3 h 51 min" in row["high"] and "over target" in row["high"]  # > 60
    assert "answered" in row["urgent_new"] and "over target" not in row["urgent_new"]
    assert 'title="first answer within 240 min"' in row["normal_old"]
    # The queue and targets.over_target agree on which cases are late.
    late = set(targets.over_target(clock.now).values_list("pk", flat=True))
    assert late == {five[name].pk for name in ("normal_old", "urgent_old", "high")}


def test_an_answered_applicant_who_writes_again_is_shown_as_such(org: Org, alice: Staff, clock: Clock) -> None:
    case = open_case("1")
    clock.at(5)
    reply(org, case)
    clock.at(50)
    do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body="Are you there?")
    clock.at(62)
    html = signed_in_client(alice).get("/console/queue/?tab=new").content.decode()
    assert "answered; wrote again 12 min ago" in rows_by_number(html)[case.number.id]


@override_settings(HOTLINE_FIRST_ANSWER_TARGETS={"urgent": 5, "high": 60, "normal": 10})
def test_the_targets_come_from_the_setting(alice: Staff, clock: Clock) -> None:
    case = open_case("1")
    clock.at(11)
    html = signed_in_client(alice).get("/console/queue/?tab=new").content.decode()
    assert "over target" in rows_by_number(html)[case.number.id]


# --- the load page ------------------------------------------------------------------------------------------


@pytest.fixture
def two_days(org: Org, clock: Clock) -> None:
    """Yesterday: one case answered after 5 h. Today from 09:00: answers after 10, 20 (urgent: late) and
    30 minutes, a high case nobody answered, and a normal one opened at 11:00 and still within target."""
    phone = INTAKE

    def opened(minutes: float, priority: Priority = Priority.NORMAL, answer_after: float | None = None) -> None:
        clock.at(minutes)
        reason = None if priority == Priority.NORMAL else PriorityReason.OTHER
        case = do_open_case(
            phone, channel=ChannelKind.TELEGRAM, address=str(minutes), priority=priority, priority_reason=reason
        )
        if answer_after is not None:
            clock.at(minutes + answer_after + 0.5)  # half a minute more: whole minutes are counted
            reply(org, case)

    opened(-23 * 60, answer_after=300)
    opened(0, answer_after=10)
    opened(1, Priority.URGENT, answer_after=20)
    opened(2, answer_after=30)
    opened(3, Priority.HIGH)
    opened(120)


def test_the_load_page_gives_each_days_median_90th_percentile_and_cases_over_target(
    two_days: None, clock: Clock
) -> None:
    clock.at(180)  # today 12:00
    days = first_answer_days(clock.now)
    assert len(days) == 7 and days[0].day == T0.date()
    assert days[0] == FirstAnswerDay(T0.date(), answered=3, median_minutes=20, p90_minutes=30, over_target=2)
    yesterday = T0.date() - timedelta(days=1)
    assert days[1] == FirstAnswerDay(yesterday, answered=1, median_minutes=300, p90_minutes=300, over_target=1)
    assert all(d.answered == 0 and d.median_minutes is None and d.over_target == 0 for d in days[2:])


def test_the_load_page_shows_the_table(org: Org, two_days: None, clock: Clock) -> None:
    clock.at(180)
    sam: Client = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    html = sam.get("/console/load/").content.decode()
    cells = r'<td class="num">{}</td>' * 4
    today = r'<th scope="row">2026-03-02</th>' + cells.format("3", "20 min", "30 min", "2")
    assert re.search(today, html), html
    assert re.search(r'<th scope="row">2026-03-01</th>' + cells.format("1", "300 min", "300 min", "1"), html)
    assert "urgent 15 min, high 60 min, normal 240 min" in html
    assert signed_in_client(make_staff(org, "alice", Role.OPERATOR)).get("/console/load/").status_code == 403
