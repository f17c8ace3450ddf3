"""The case page: one decrypted timeline, and everything an operator does from it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import translation

from hotline.accounts.staff import actor_of
from hotline.audit.models import AuditEvent
from hotline.cases import triage
from hotline.cases.actions import (
    do_issue_receipt,
    do_open_case,
    do_set_answers,
    do_set_metadata,
    do_shred_case,
    do_transition,
)
from hotline.cases.content import do_read_case
from hotline.cases.models import CaseGroupMember, ChannelIdentity, Message
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import ChannelKind, DeliveryState, Direction, Region
from tests.conftest import Org
from tests.console_support import (
    INTAKE,
    Staff,
    admin_staff,
    assign,
    inbound,
    make_staff,
    open_case,
    signed_in_client,
)


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


@pytest.fixture
def client(alice: Staff) -> Client:
    return signed_in_client(alice)


def test_the_timeline_shows_answers_messages_notes_and_events_decrypted(org: Org, alice: Staff, client: Client) -> None:
    case = open_case(identity_details="Private Ivanov, 3rd company")
    inbound(case, "I want to surrender near the river")
    assign(case, alice)
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "Private Ivanov, 3rd company" in page
    assert "I want to surrender near the river" in page
    assert "opened the case" in page and "assigned the case to alice" in page
    reads = AuditEvent.objects.filter(action="case.read", object_id=str(case.pk), actor_label="alice")
    assert reads.count() == 1
    assert "read the case" in client.get(f"/console/case/{case.pk}/").content.decode()


def test_a_reply_goes_out_on_the_applicants_channel_and_shows_its_delivery_state(alice: Staff, client: Client) -> None:
    case = do_open_case(Actor.system("web"), channel=ChannelKind.WEB, address="portal-session-1", language="uk")
    response = client.post(f"/console/case/{case.pk}/reply/", {"body": "Stay where you are.", "channel": "web"})
    assert response.status_code == 302
    message = Message.objects.get(case=case, direction=Direction.OUTBOUND)
    assert (message.channel, message.author_id) == ("web", alice.pk)
    # Routing is the channel's business (outbox, mailbox…); the console shows whatever state it set.
    assert message.delivery_state in {s.value for s in DeliveryState}
    page = client.get(response.url).content.decode()
    assert "Stay where you are." in page and f"delivery-{message.delivery_state}" in page
    expected = "cannot be reached" if message.delivery_state == DeliveryState.FAILED else "Reply queued for delivery"
    assert expected in page


def test_a_reply_can_set_the_case_waiting(alice: Staff, client: Client, org: Org) -> None:
    case = open_case()
    client.post(f"/console/case/{case.pk}/status/", {"to": "triage"})
    client.post(
        f"/console/case/{case.pk}/reply/",
        {"body": "Send a photo of the document.", "channel": "telegram", "then_wait": "1"},
    )
    case.refresh_from_db()
    assert case.status == Status.WAITING


def test_notes_transitions_and_assignment(alice: Staff, client: Client) -> None:
    case = open_case()
    assert client.post(f"/console/case/{case.pk}/assign/", {"assignee": "me"}).status_code == 302
    assert client.post(f"/console/case/{case.pk}/note/", {"body": "Seems genuine."}).status_code == 302
    assert client.post(f"/console/case/{case.pk}/status/", {"to": "triage"}).status_code == 302
    assert client.post(f"/console/case/{case.pk}/status/", {"to": "ready"}).status_code == 302
    refused = client.post(f"/console/case/{case.pk}/status/", {"to": "handed_off"})
    assert refused.status_code == 400 and b"may not" in refused.content
    case.refresh_from_db()
    assert (case.status, case.assignee_id) == (Status.READY, alice.pk)
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "Seems genuine." in page and "status: triage → ready" in page


def test_an_operator_cannot_hand_a_case_to_someone_else(org: Org, alice: Staff, client: Client) -> None:
    bob = make_staff(org, "bob", Role.OPERATOR)
    case = open_case()
    response = client.post(f"/console/case/{case.pk}/assign/", {"assignee": str(bob.pk)})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.assignee_id is None


def test_tags_come_from_the_supervisors_list(org: Org, client: Client) -> None:
    needs = triage.do_create_tag(org.admin_actor, "needs-callback")
    triage.do_create_tag(org.admin_actor, "verified")
    case = open_case()
    assert client.post(f"/console/case/{case.pk}/tags/", {"tag": [str(needs.pk)]}).status_code == 302
    assert [t.tag.name for t in case.case_tags.select_related("tag")] == ["needs-callback"]
    assert client.post(f"/console/case/{case.pk}/tags/", {}).status_code == 302
    assert case.case_tags.count() == 0


def test_linking_applicants_who_surrender_together(client: Client) -> None:
    first, second, third = open_case("1"), open_case("2"), open_case("3")
    assert client.post(f"/console/case/{first.pk}/link/", {"number": str(second.number.id)}).status_code == 302
    assert client.post(f"/console/case/{third.pk}/link/", {"number": f"#{first.number.id}"}).status_code == 302
    groups = set(CaseGroupMember.objects.values_list("group_id", flat=True))
    assert len(groups) == 1 and CaseGroupMember.objects.count() == 3
    page = client.get(f"/console/case/{first.pk}/").content.decode()
    assert f"#{second.number.id}" in page and f"#{third.number.id}" in page
    assert client.post(f"/console/case/{first.pk}/unlink/").status_code == 302
    assert CaseGroupMember.objects.count() == 2


def test_flagging_blocks_the_sender_and_quarantines_what_they_send_next(org: Org, alice: Staff, client: Client) -> None:
    case = open_case("666")
    response = client.post(f"/console/case/{case.pk}/flag/", {"reason": "probe"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.reject_reason) == (Status.REJECTED, "probe")
    assert ChannelIdentity.objects.get(applicant=case.applicant).blocked
    triage.do_add_quarantined_message(
        Actor.system("telegram"), case, channel=ChannelKind.TELEGRAM, body="are you there?"
    )
    case.refresh_from_db()
    assert case.status == Status.REJECTED
    # Not in any working tab; a new case from the same sender stays out of the queue too.
    later = open_case("666")
    queue = client.get("/console/queue/?tab=unassigned").content.decode()
    assert f"#{later.number.id}<" not in queue and f"#{case.number.id}<" not in queue
    sam = signed_in_client(make_staff(org, "sam", Role.SUPERVISOR))
    flagged = sam.get("/console/queue/?tab=flagged").content.decode()
    assert f"#{case.number.id}<" in flagged
    page = sam.get(f"/console/case/{case.pk}/").content.decode()
    assert "are you there?" in page and "quarantined" in page
    assert sam.post(f"/console/case/{case.pk}/unblock/").status_code == 302
    assert not ChannelIdentity.objects.get(applicant=case.applicant).blocked


def test_the_preference_after_surrender_is_a_sealed_answer(org: Org, client: Client) -> None:
    case = open_case()
    assert (
        client.post(f"/console/case/{case.pk}/preference/", {"choice": "exchange", "detail": "to Voronezh"}).status_code
        == 302
    )
    assert do_read_case(org.admin_actor, case, org.private_key).answers["after_surrender"] == "exchange: to Voronezh"
    assert b"Voronezh" not in b"".join(bytes(v) for v in case.answers.values_list("value_sealed", flat=True))
    # The side panel says it in words, with the detail.
    side = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "Recorded: <strong>exchange (return home): to Voronezh</strong>" in side, side[side.find("Recorded") :][:200]


def test_attachments_open_in_memory_inline_or_as_a_download(org: Org, alice: Staff, client: Client) -> None:
    case = open_case()
    inbound(case, "my documents")
    message = Message.objects.get(case=case)
    actor = actor_of(org.admin)
    photo = triage.do_add_attachment(
        actor, message, kind="photo", content=b"\x89PNG-bytes", filename="id.png", mime="image/png"
    )
    voice = triage.do_add_attachment(
        actor, message, kind="voice", content=b"OggS-bytes", filename="v.ogg", mime="audio/ogg"
    )
    doc = triage.do_add_attachment(
        actor, message, kind="document", content=b"<svg onload=x>", filename="x.svg", mime="image/svg+xml"
    )
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert f'<img src="/console/attachment/{photo.pk}/"' in page
    assert f'<audio controls preload="none" src="/console/attachment/{voice.pk}/"' in page
    shown = client.get(f"/console/attachment/{photo.pk}/")
    assert shown.content == b"\x89PNG-bytes" and shown["Content-Type"] == "image/png"
    assert shown["Cache-Control"] == "no-store" and "sandbox" in shown["Content-Security-Policy"]
    risky = client.get(f"/console/attachment/{doc.pk}/")
    assert risky["Content-Type"] == "application/octet-stream" and risky["Content-Disposition"].startswith("attachment")
    assert client.get(f"/console/attachment/{photo.pk}/?download=1")["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(action="attachment.read", object_id=str(photo.pk)).count() == 2


def test_canned_replies_are_offered_in_the_cases_language_first(org: Org, client: Client) -> None:
    triage.do_save_canned_reply(org.admin_actor, title="Greeting", language="uk", body="Вітаємо")
    triage.do_save_canned_reply(org.admin_actor, title="Greeting", language="ru", body="Здравствуйте")
    page = client.get(f"/console/case/{open_case().pk}/").content.decode()
    assert page.index("Здравствуйте") < page.index("Вітаємо")


def test_an_erased_case_says_so(org: Org) -> None:
    sam = make_staff(org, "sam", Role.SUPERVISOR)
    case = open_case()
    do_transition(actor_of(sam.user), case, Status.CLOSED)
    do_shred_case(Actor.system("retention"), case)
    assert signed_in_client(sam).get(f"/console/case/{case.pk}/").status_code == 410


def test_the_case_reads_like_a_conversation_with_labels_and_folded_bookkeeping(org: Org, client: Client) -> None:
    case = open_case()
    for _ in range(19):  # the applicant went back and forth on one question
        do_set_answers(INTAKE, case, {"with_others": "yes"})
    do_set_answers(INTAKE, case, {"after_surrender": "stay_in_ukraine", "situation": "front", "identity": "Ivan P."})
    do_set_answers(INTAKE, case, {"unit_number": "41"})  # a question the flow no longer asks
    do_set_metadata(INTAKE, case, region=Region.CRIMEA)
    do_issue_receipt(INTAKE, case)
    inbound(case, "I want to surrender near the river")
    for _ in range(4):
        client.get(f"/console/case/{case.pk}/")
    html = client.get(f"/console/case/{case.pk}/").content.decode()

    answers = html[html.index('class="entry answers"') : html.index("</dl>")]
    assert "Others surrendering too</dt><dd>Yes" in answers and "After surrender</dt><dd>Stay in Ukraine" in answers
    assert "Where now</dt><dd>At the front" in answers and "About themselves</dt><dd>Ivan P." in answers
    assert "unit_number</dt><dd>41" in answers
    assert "stay_in_ukraine" not in answers and ">with_others<" not in answers
    assert answers.index("Where now") < answers.index("Others surrendering") < answers.index("After surrender")

    # The intake's 23 events are one line before the message; alice's five reads are one line after it.
    folds = re.findall(r"<summary>.*? · (.*?)</summary>", html)
    assert folds == ["intake: 6 answers", "read 5 times by alice"]
    assert html.index("intake: 6 answers") < html.index("I want to surrender") < html.index("read 5 times")
    assert "changed answers: with_others ×19" in html  # inside the fold, still one click away
    assert html.count("<details>") == 2
    assert "Full audit log of this case" not in html  # the audit log is for admins

    admin = signed_in_client(admin_staff(org))
    page = admin.get(f"/console/case/{case.pk}/").content.decode()
    assert f'href="/console/audit/?object={case.pk}"' in page
    audit = admin.get(f"/console/audit/?object={case.pk}").content.decode()
    assert audit.count("<code>case.answers</code>") == 21


def test_the_answers_are_worded_in_the_operators_language(org: Org, client: Client) -> None:
    case = open_case(with_others="no", after_surrender="third_country")
    with translation.override("en"):  # the requests switch this thread to Ukrainian; leave it as it was
        client.post("/accounts/language/", {"language": "uk", "next": "/console/"})
        html = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "Здаються разом з іншими</dt><dd>Ні" in html and "Після полону</dt><dd>Виїхати до іншої країни" in html
