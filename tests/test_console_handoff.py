"""The coordinator's handoff: only what it needs, nothing that says how the case began."""

from __future__ import annotations

import pytest
from django.test import Client

from hotline.cases import triage
from hotline.cases.models import HandoffOutcome
from hotline.core.lifecycle import Role, Status
from tests.conftest import Org
from tests.console_support import Staff, inbound, make_staff, move, open_case, signed_in_client


@pytest.fixture
def sam(org: Org) -> Staff:
    return make_staff(org, "sam", Role.SUPERVISOR)


@pytest.fixture
def carol(org: Org) -> Client:
    return signed_in_client(make_staff(org, "carol", Role.COORDINATOR))


def test_the_handoff_shows_what_is_needed_and_not_the_channel(org: Org, sam: Staff, carol: Client) -> None:
    case = open_case("5551", identity="Ivan Petrov, 3rd company", telegram_username="@ivan_p")
    inbound(case, "I sent this from my phone")
    triage.do_set_preference(org.admin_actor, case, "stay_in_ukraine")
    move(case, Status.TRIAGE, Status.READY, by=sam)
    listing = carol.get("/console/handoff/").content.decode()
    assert f"#{case.number.id}" in listing
    page = carol.get(f"/console/handoff/{case.pk}/").content.decode()
    assert "Ivan Petrov" in page and "3rd company" in page
    # Worded as on the case page: the flow's question and option, not the stored codes.
    assert '<dt title="identity">About themselves</dt>' in page
    assert '<dt title="after_surrender">After surrender</dt><dd>Stay in Ukraine</dd>' in page
    assert ">stay_in_ukraine<" not in page
    for revealing in (
        "Telegram",
        "telegram",
        "@ivan_p",
        "I sent this from my phone",
        case.created_at.strftime("%Y-%m-%d"),
    ):
        assert revealing not in page, revealing


def test_the_handoff_words_answers_in_the_coordinators_language(org: Org, sam: Staff, carol: Client) -> None:
    case = open_case("5552", identity="Олег", safe_contact="только вечером")
    triage.do_set_preference(org.admin_actor, case, "exchange", "via Sumy")
    move(case, Status.TRIAGE, Status.READY, by=sam)
    page = carol.get(f"/console/handoff/{case.pk}/", HTTP_ACCEPT_LANGUAGE="uk").content.decode()
    assert "Про себе" in page and "Олег" in page and "только вечером" in page
    assert "Повернутися додому за обміном: via Sumy" in page  # the option's words, the detail as written
    assert page.index("Про себе") < page.index("Після полону")  # in the flow's order


def test_recording_outcomes_moves_the_case_on(org: Org, sam: Staff, carol: Client) -> None:
    case = move(open_case(), Status.TRIAGE, Status.READY, by=sam)
    assert carol.post(f"/console/handoff/{case.pk}/outcome/", {"outcome": "completed"}).status_code == 400
    assert carol.post(f"/console/handoff/{case.pk}/outcome/", {"outcome": "accepted"}).status_code == 302
    case.refresh_from_db()
    assert case.status == Status.HANDED_OFF
    assert carol.post(f"/console/handoff/{case.pk}/outcome/", {"outcome": "completed"}).status_code == 302
    case.refresh_from_db()
    assert case.status == Status.COMPLETED
    assert list(HandoffOutcome.objects.filter(case=case).values_list("outcome", flat=True)) == ["accepted", "completed"]
    assert carol.get(f"/console/handoff/{case.pk}/").status_code == 404


def test_a_coordinator_can_send_a_case_back_or_record_a_failure(sam: Staff, carol: Client) -> None:
    back = move(open_case("1"), Status.TRIAGE, Status.READY, by=sam)
    failed = move(open_case("2"), Status.TRIAGE, Status.READY, Status.HANDED_OFF, by=sam)
    assert carol.post(f"/console/handoff/{back.pk}/outcome/", {"outcome": "returned"}).status_code == 302
    assert carol.post(f"/console/handoff/{failed.pk}/outcome/", {"outcome": "failed"}).status_code == 302
    back.refresh_from_db()
    failed.refresh_from_db()
    assert (back.status, failed.status) == (Status.TRIAGE, Status.CLOSED)


def test_an_empty_handoff_list_says_so(carol: Client) -> None:
    assert "No case is ready for handoff" in carol.get("/console/handoff/").content.decode()
