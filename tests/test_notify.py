"""Notifications without content: the counts an open console polls for, the on/off switches, the
Telegram link code and the job's coalesced message (delivery through the Bot API emulator is in
tests/test_notify_telegram.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hotline.accounts.staff import actor_of
from hotline.audit.models import AuditEvent
from hotline.cases import actions
from hotline.cases.models import Case, Message
from hotline.core.lifecycle import Role
from hotline.core.metadata import ChannelKind, Direction, Priority
from hotline.keyring.transport_fields import open_field
from hotline.notify import actions as notify
from hotline.notify.models import NotificationSettings
from hotline.notify.signals import Counts, counts_for, decode_cursor, encode_cursor
from hotline.outbox.enqueue import payload_of
from hotline.outbox.models import OutboxMessage
from tests.conftest import Org
from tests.console_support import Staff, assign, make_staff, open_case, signed_in_client

pytestmark = pytest.mark.django_db

PLANTED = "Planted words from the applicant"
CHAT_ID = 987654321


def _aged(case: Case, ago: timedelta, now: datetime) -> Case:
    """Test set-up: move a case (and its messages) back in time, as if it had been opened ``ago``."""
    Case.objects.filter(pk=case.pk).update(created_at=now - ago)
    Message.objects.filter(case=case).update(created_at=now - ago)
    case.refresh_from_db()
    return case


def _message(case: Case, ago: timedelta, now: datetime, body: str = PLANTED) -> None:
    msg = actions.do_add_message(
        actions.Actor.system("telegram"), case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=body
    )
    Message.objects.filter(pk=msg.pk).update(created_at=now - ago)


def _switch(client: Client, **switches: str) -> int:
    return client.post("/console/notify/settings/", switches).status_code


def _counts(client: Client, since: str | None = None) -> dict[str, object]:
    response = client.get("/console/notify/counts/", {"since": since} if since else {}, HTTP_X_HOTLINE_POLL="1")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert isinstance(data, dict)
    return data


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


@pytest.fixture
def bob(org: Org) -> Staff:
    return make_staff(org, "bob", Role.OPERATOR)


@pytest.fixture
def sam(org: Org) -> Staff:
    return make_staff(org, "sam", Role.SUPERVISOR)


def test_the_counts_are_numbers_only_and_follow_the_cursor(alice: Staff, bob: Staff) -> None:
    now = timezone.now()
    fresh = _aged(open_case("201", identity_details=PLANTED), timedelta(minutes=2), now)  # unassigned, new
    held = _aged(open_case("202"), timedelta(minutes=50), now)
    assign(held, alice)
    _message(held, timedelta(minutes=1), now)  # a new message on alice's case
    theirs = _aged(open_case("203"), timedelta(minutes=2), now)
    assign(theirs, bob)
    _message(theirs, timedelta(minutes=1), now)  # bob's: alice hears nothing of it
    client = signed_in_client(alice)
    assert _switch(client, in_console="1") == 302

    first = _counts(client)
    assert first["new_cases"] == first["new_messages"] == first["over_target"] == 0, "no cursor: nothing yet"
    since = encode_cursor(now - timedelta(minutes=10))
    data = _counts(client, since)
    assert set(data) == {"cursor", "new_cases", "new_messages", "over_target"}
    assert (data["new_cases"], data["new_messages"], data["over_target"]) == (1, 1, 0)
    assert all(type(value) is int for key, value in data.items() if key != "cursor"), "counts and nothing else"
    assert str(data["cursor"]).isdigit()
    body = json.dumps(data)
    for secret in (PLANTED, fresh.applicant.pseudonym, str(fresh.pk), "alice", "bob"):
        assert secret not in body
    again = _counts(client, str(data["cursor"]))
    assert (again["new_cases"], again["new_messages"]) == (0, 0), "nothing arrived after the cursor"
    assert decode_cursor(int(str(data["cursor"]))) <= timezone.now()


def test_a_case_counts_for_whoever_may_work_it(alice: Staff, bob: Staff, sam: Staff) -> None:
    now = timezone.now()
    _aged(open_case("211"), timedelta(minutes=2), now)
    assigned = _aged(open_case("212"), timedelta(minutes=2), now)
    assign(assigned, bob)
    window = (now - timedelta(minutes=10), now)
    assert counts_for(alice.user, *window).new_cases == 1  # the unassigned one only
    assert counts_for(bob.user, *window).new_cases == 2
    assert counts_for(sam.user, *window).new_cases == 2


def test_with_the_console_switch_off_nothing_is_counted_and_the_page_does_not_poll(alice: Staff) -> None:
    now = timezone.now()
    _aged(open_case("221"), timedelta(minutes=2), now)
    client = signed_in_client(alice)
    since = encode_cursor(now - timedelta(minutes=10))
    assert _counts(client, since)["new_cases"] == 0
    assert b"data-notify-url" not in client.get("/console/duty/").content

    assert _switch(client, in_console="1") == 302
    assert b'data-notify-url="/console/notify/counts/"' in client.get("/console/queue/").content
    assert _counts(client, since)["new_cases"] == 1

    assert _switch(client) == 302  # both boxes unticked
    assert NotificationSettings.objects.get(user=alice.user).in_console is False
    assert _counts(client, since)["new_cases"] == 0
    events = AuditEvent.objects.filter(action="notify.settings", object_id=str(alice.pk))
    assert [e.details["console"] for e in events.order_by("seq")] == [True, False]


def test_notifications_are_off_until_switched_on(alice: Staff) -> None:
    assert notify.settings_of(alice.user).in_console is False
    assert notify.settings_of(alice.user).by_telegram is False
    assert not NotificationSettings.objects.exists()


def test_coordinators_and_analysts_get_no_counts(org: Org) -> None:
    for name, role in (("carol", Role.COORDINATOR), ("ana", Role.ANALYST)):
        client = signed_in_client(make_staff(org, name, role))
        assert client.get("/console/notify/counts/").status_code == 403
        assert client.post("/console/notify/settings/", {"in_console": "1"}).status_code == 403
        assert client.post("/console/notify/telegram/link/").status_code == 403
    assert Client().get("/console/notify/counts/").status_code == 302  # to the sign-in page


@pytest.mark.parametrize("since", ["abc", "-5", "1e9", "99999999999999999999999", "١٢٣", " "])
def test_a_bad_cursor_is_a_400_with_a_reason(alice: Staff, since: str) -> None:
    client = signed_in_client(alice)
    response = client.get("/console/notify/counts/", {"since": since})
    assert response.status_code == 400
    assert b"cursor" in response.content


@pytest.mark.parametrize("value", ["yes", "2", "on "])
def test_a_switch_is_on_or_off(alice: Staff, value: str) -> None:
    client = signed_in_client(alice)
    response = client.post("/console/notify/settings/", {"in_console": value})
    assert response.status_code == 400
    assert b"either on or off" in response.content


def test_a_supervisor_hears_when_a_case_goes_past_its_target(org: Org, alice: Staff, sam: Staff) -> None:
    opened = timezone.now() - timedelta(days=1)  # pinned: everything below is relative to it
    case = _aged(open_case("231"), timedelta(0), opened)
    target = timedelta(minutes=240)  # normal priority, the default HOTLINE_FIRST_ANSWER_TARGETS
    assert case.priority == Priority.NORMAL
    crossing = opened + target
    before = (crossing - timedelta(minutes=5), crossing - timedelta(seconds=1))
    across = (crossing - timedelta(minutes=1), crossing + timedelta(minutes=1))
    after = (crossing + timedelta(minutes=1), crossing + timedelta(minutes=9))
    assert counts_for(sam.user, *before).over_target == 0
    assert counts_for(sam.user, *across).over_target == 1
    assert counts_for(sam.user, *after).over_target == 0, "told once, when it crossed"
    assert counts_for(alice.user, *across).over_target == 0, "operators are not told about targets"
    # An answered case is not waiting for a first answer.
    actions.do_add_message(
        actor_of(sam.user), case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="hello"
    )
    assert counts_for(sam.user, *across).over_target == 0


def test_a_supervisor_sees_the_over_target_count_in_the_console(sam: Staff) -> None:
    now = timezone.now()
    _aged(open_case("241"), timedelta(minutes=245), now)  # went past 240 minutes five minutes ago
    client = signed_in_client(sam)
    assert _switch(client, in_console="1") == 302
    data = _counts(client, encode_cursor(now - timedelta(minutes=10)))
    assert data["over_target"] == 1


# --- Telegram: the link code and the job ------------------------------------------------------------


def _link(staff: Staff, chat_id: int = CHAT_ID) -> NotificationSettings:
    code = notify.parse_link_code(notify.do_start_telegram_link(staff.user))
    assert code is not None
    linked = notify.do_link_telegram(code, chat_id)
    assert linked is not None
    return linked


def test_a_link_code_works_once_and_not_after_it_expires(alice: Staff, bob: Staff) -> None:
    shown = notify.do_start_telegram_link(alice.user)
    code = notify.parse_link_code(shown)
    assert code is not None
    row = NotificationSettings.objects.get(user=alice.user)
    assert code.encode() not in bytes(row.link_code_index) and shown.encode() not in bytes(row.link_code_index)
    linked = notify.do_link_telegram(code, CHAT_ID)
    assert linked is not None and linked.user_id == alice.pk and linked.by_telegram
    assert notify.do_link_telegram(code, 111) is None, "a code works once"

    late = notify.parse_link_code(notify.do_start_telegram_link(bob.user))
    assert late is not None
    in_20_minutes = timezone.now() + timedelta(minutes=20)
    assert notify.do_link_telegram(late, 222, now=in_20_minutes) is None
    assert notify.parse_link_code(shown[:-1] + ("0" if shown[-1] != "0" else "1")) is None, "a typo is caught"


def test_the_chat_id_is_kept_under_the_transport_key_and_never_audited(alice: Staff) -> None:
    row = _link(alice)
    row.refresh_from_db()
    assert str(CHAT_ID).encode() not in bytes(row.telegram_chat_enc)
    assert open_field(row, "telegram_chat_enc") == str(CHAT_ID)
    for event in AuditEvent.objects.filter(action__startswith="notify."):
        assert str(CHAT_ID) not in json.dumps(event.details)


def test_telegram_cannot_be_switched_on_without_a_linked_account(alice: Staff) -> None:
    client = signed_in_client(alice)
    response = client.post("/console/notify/settings/", {"by_telegram": "1"})
    assert response.status_code == 400
    assert b"Link your Telegram account first" in response.content


def test_the_link_code_is_shown_once_and_unlinking_stops_telegram(alice: Staff) -> None:
    client = signed_in_client(alice)
    page = client.post("/console/notify/telegram/link/")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<code id="link-code">/start ' in text
    shown = text.split('<code id="link-code">/start ', 1)[1].split("<", 1)[0]
    assert shown not in client.get("/console/duty/").content.decode()
    code = notify.parse_link_code(shown)
    assert code is not None and notify.do_link_telegram(code, CHAT_ID) is not None
    assert "Linked on" in client.get("/console/duty/").content.decode()
    assert client.post("/console/notify/telegram/unlink/").status_code == 302
    row = NotificationSettings.objects.get(user=alice.user)
    assert row.telegram_chat_enc is None and row.by_telegram is False


def test_the_link_page_opens_the_bot_when_its_username_is_known(alice: Staff, settings: Any) -> None:
    client = signed_in_client(alice)
    settings.TELEGRAM_BOT_USERNAME = ""
    assert "t.me/" not in client.post("/console/notify/telegram/link/").content.decode()
    settings.TELEGRAM_BOT_USERNAME = "hotline_test_bot"
    text = client.post("/console/notify/telegram/link/").content.decode()
    shown = text.split('<code id="link-code">/start ', 1)[1].split("<", 1)[0]
    url = f"https://t.me/hotline_test_bot?start={shown}"
    assert f'<a href="{url}" id="link-open" rel="noreferrer noopener"' in text
    assert '<svg class="qr" role="img" aria-label="QR code that opens the bot' in text
    assert notify.parse_link_code(shown) is not None


@pytest.mark.parametrize(
    ("language", "counts", "text"),
    [
        ("en", Counts(2, 1, 0), "2 new cases\n1 new message"),
        ("en", Counts(1, 0, 3), "1 new case\n3 cases over their first-answer target"),
        ("uk", Counts(2, 5, 0), "2 нові справи\n5 нових повідомлень"),
        ("uk", Counts(1, 0, 1), "1 нова справа\n1 справа перевищила строк першої відповіді"),
    ],
)
def test_the_telegram_text_is_counts_in_the_persons_language(language: str, counts: Counts, text: str) -> None:
    assert notify.telegram_text(counts, language) == text


def test_the_job_sends_one_message_a_minute_adding_up_what_arrived(alice: Staff, settings: object) -> None:
    _link(alice)
    start = timezone.now() + timedelta(minutes=1)  # pinned; the link set the cursor at the real now
    _aged(open_case("251", identity_details=PLANTED), timedelta(seconds=30), start)
    held = _aged(open_case("252"), timedelta(hours=3), start)
    assign(held, alice)
    _message(held, timedelta(seconds=20), start)

    assert notify.send_due(start) == 1
    rows = list(OutboxMessage.objects.all())
    assert len(rows) == 1
    assert payload_of(rows[0]) == {"chat_id": CHAT_ID, "text": "1 new case\n1 new message"}

    _aged(open_case("253"), timedelta(seconds=10), start + timedelta(seconds=20))
    _message(held, timedelta(seconds=5), start + timedelta(seconds=20))
    _message(held, timedelta(seconds=1), start + timedelta(seconds=30))
    assert notify.send_due(start + timedelta(seconds=30)) == 0, "at most one message a minute"
    assert notify.send_due(start + timedelta(seconds=61)) == 1
    latest = OutboxMessage.objects.order_by("-id").first()
    assert latest is not None
    assert payload_of(latest) == {"chat_id": CHAT_ID, "text": "1 new case\n2 new messages"}
    assert notify.send_due(start + timedelta(minutes=3)) == 0, "nothing new: no message"


def test_the_job_leaves_out_those_who_switched_telegram_off_or_left(alice: Staff, bob: Staff) -> None:
    _link(alice, 1)
    _link(bob, 2)
    start = timezone.now() + timedelta(minutes=1)
    _aged(open_case("261"), timedelta(seconds=30), start)
    client = signed_in_client(alice)
    assert _switch(client, in_console="1") == 302  # Telegram unticked
    bob.user.is_active = False
    bob.user.save(update_fields=["is_active"])
    assert notify.send_due(start) == 0
    assert not OutboxMessage.objects.exists()
