"""Admins and supervisors: staff, the audit log, live load, figures, canned replies and tags."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from hotline.accounts.models import User
from hotline.audit.models import AuditEvent
from hotline.cases.models import CannedReply, Tag
from hotline.core.lifecycle import Role, Status
from hotline.keyring.actions import unlock_with_password
from tests.conftest import Org
from tests.console_support import Staff, admin_staff, assign, inbound, make_staff, move, open_case, signed_in_client


@pytest.fixture
def admin(org: Org) -> Client:
    return signed_in_client(admin_staff(org))


def test_an_admin_adds_a_staff_member_with_a_one_time_password(org: Org, admin: Client) -> None:
    page = admin.post("/console/staff/add/", {"username": "dora", "role": "coordinator"}).content.decode()
    one_time = re.search(r'<p class="otp"><code>([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    dora = User.objects.get(username="dora")
    assert dora.role == Role.COORDINATOR and dora.must_change_password
    assert unlock_with_password(dora, one_time) == org.private_key
    assert one_time not in str(list(AuditEvent.objects.values_list("details", flat=True)))
    assert admin.post("/console/staff/add/", {"username": "dora", "role": "operator"}).status_code == 400
    assert admin.post("/console/staff/add/", {"username": "Bad Name", "role": "operator"}).status_code == 400
    assert admin.post("/console/staff/add/", {"username": "eve", "role": "god"}).status_code == 400


def test_resetting_access_issues_a_new_password_and_enrolment(org: Org, admin: Client) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    page = admin.post(f"/console/staff/{alice.pk}/reset/").content.decode()
    one_time = re.search(r'<p class="otp"><code>([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    first = Client().post("/accounts/login/", {"username": "alice", "password": one_time, "code": ""})
    assert first["Location"] == "/accounts/enrol/"


def test_roles_can_be_changed_but_not_the_last_admins(org: Org, admin: Client) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    assert admin.post(f"/console/staff/{alice.pk}/role/", {"role": "supervisor"}).status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.role == Role.SUPERVISOR
    assert admin.post(f"/console/staff/{org.admin.pk}/role/", {"role": "operator"}).status_code == 400


def test_the_audit_log_can_be_filtered_and_its_chain_is_verified(org: Org, admin: Client) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    case = open_case()
    signed_in_client(alice).get(f"/console/case/{case.pk}/")
    reads = admin.get("/console/audit/", {"action": "case.read", "object": f"#{case.number.id}"}).content.decode()
    assert reads.count("<code>case.read</code>") == 1 and "alice" in reads
    verified = admin.get("/console/audit/verify/", HTTP_HX_REQUEST="true").content.decode()
    assert "The chain is intact" in verified
    AuditEvent.objects.filter(action="case.read").update(actor_label="someone else")
    assert "The chain is broken" in admin.get("/console/audit/verify/").content.decode()


def test_the_load_view_shows_new_cases_waits_and_who_holds_what(org: Org) -> None:
    sam = make_staff(org, "sam", Role.SUPERVISOR)
    alice = make_staff(org, "alice", Role.OPERATOR)
    first = open_case("1")
    inbound(first, "hello")
    assign(open_case("2"), alice)
    page = signed_in_client(sam).get("/console/load/").content.decode()
    assert "alice" in page and "Applicants waiting" in page
    assert 'hx-trigger="every 30s"' in page


def test_figures_show_internal_counts_and_no_person(org: Org) -> None:
    ana = signed_in_client(make_staff(org, "ana", Role.ANALYST))
    sam = make_staff(org, "sam", Role.SUPERVISOR)
    for n in range(6):
        open_case(str(n), full_name=f"Person {n}")
    move(open_case("99"), Status.CLOSED, by=sam)
    page = ana.get("/console/figures/").content.decode()
    assert "Person" not in page
    assert "internal" in page  # exact counts, marked as never to be published
    assert re.search(r"Telegram</th><td class=\"num\">7<", page)
    assert re.search(r"Closed</th><td class=\"num\">1<", page)
    assert "<svg" in page and "<script" not in page.split("<svg", 1)[1].split("</main>", 1)[0]


def test_supervisors_keep_canned_replies_and_tags(org: Org) -> None:
    sam = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    assert (
        sam.post("/console/content/canned/", {"title": "Greeting", "language": "uk", "body": "Вітаємо"}).status_code
        == 302
    )
    assert sam.post("/console/content/tags/", {"name": "needs-callback"}).status_code == 302
    assert sam.post("/console/content/tags/", {"name": "needs-callback"}).status_code == 400
    page = sam.get("/console/content/").content.decode()
    assert "Вітаємо" in page and "needs-callback" in page
    reply, tag = CannedReply.objects.get(), Tag.objects.get()
    assert sam.post(f"/console/content/canned/{reply.pk}/delete/").status_code == 302
    assert sam.post(f"/console/content/tags/{tag.pk}/delete/").status_code == 302
    assert not CannedReply.objects.exists() and not Tag.objects.exists()
    assert isinstance(admin_staff(org), Staff)
