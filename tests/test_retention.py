"""Retention: finished cases past HOTLINE_RETENTION_DAYS are crypto-shredded by the worker and by `hotline purge`."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from hotline.audit import log as audit_log
from hotline.cases import actions
from hotline.cases.models import Answer, Applicant, Case, ChannelIdentity, Message, Note
from hotline.cases.retention import purge_expired
from hotline.core.actor import Actor
from hotline.core.lifecycle import RejectReason, Status
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.worker.jobs import run_due_jobs
from hotline.worker.models import ScheduledJob
from tests.conftest import Org

INTAKE = Actor.system("telegram")


def _case(org: Org, chat: str, finish: Status | None, days_ago: int) -> Case:
    case = actions.do_open_case(
        INTAKE,
        channel=ChannelKind.TELEGRAM,
        address=chat,
        category=Category.RELATIVE,
        region=Region.BELARUS,
        answers={"details": "x"},
        group_size=3,
    )
    actions.do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body="m")
    actions.do_add_message(org.admin_actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="r")
    actions.do_add_note(org.admin_actor, case, "n")
    if finish is not None:
        reason = RejectReason.SPAM if finish == Status.REJECTED else None
        actions.do_transition(org.admin_actor, case, finish, reason)
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(days=days_ago))
    case.refresh_from_db()
    return case


def test_only_cases_finished_long_ago_are_erased(org: Org, settings: object) -> None:
    old_closed = _case(org, "1", Status.CLOSED, days_ago=91)
    old_rejected = _case(org, "2", Status.REJECTED, days_ago=200)
    recent = _case(org, "3", Status.CLOSED, days_ago=10)
    still_open = _case(org, "4", None, days_ago=0)

    assert purge_expired(days=90) == 2

    for case in (old_closed, old_rejected):
        case.refresh_from_db()
        assert case.is_shredded and case.shredded_at is not None
        assert not Answer.objects.filter(case=case).exists()
        assert not Message.objects.filter(case=case).exists()
        assert not Note.objects.filter(case=case).exists()
        # What is kept counts, and points at nobody.
        assert (case.category, case.region, case.group_size, case.channel) == ("relative", "belarus", 3, "telegram")
        assert case.applicant_id is None and case.assignee_id is None
        assert (case.created_at.hour, case.created_at.minute, case.created_at.second) == (0, 0, 0)
        assert case.first_answer_at is None  # a time to the minute goes with the messages
    for case in (recent, still_open):
        case.refresh_from_db()
        assert not case.is_shredded and case.first_answer_at is not None
    # The erased applicants and their Telegram chats are gone; the others remain.
    assert Applicant.objects.count() == 2
    assert ChannelIdentity.objects.count() == 2
    assert audit_log.verify().ok


def test_an_applicant_with_another_live_case_is_kept(org: Org) -> None:
    old = _case(org, "5", Status.CLOSED, days_ago=100)
    live = _case(org, "5", None, days_ago=0)
    assert old.applicant_id == live.applicant_id
    purge_expired(days=90)
    assert Applicant.objects.filter(pk=live.applicant_id).exists()
    assert actions.find_identity(ChannelKind.TELEGRAM, "5") is not None


def test_purge_command_erases_and_dry_run_only_counts(org: Org) -> None:
    _case(org, "6", Status.CLOSED, days_ago=40)
    out = StringIO()
    call_command("purge", days=30, dry_run=True, stdout=out)
    assert "1 case(s) would be erased" in out.getvalue()
    assert Case.objects.filter(sealed_private_key__isnull=False).count() == 1
    call_command("purge", days=30, stdout=out)
    assert Case.objects.filter(sealed_private_key__isnull=False).count() == 0


def test_the_worker_runs_retention_once_per_interval_across_workers(org: Org, settings: object) -> None:
    _case(org, "7", Status.CLOSED, days_ago=400)
    now = timezone.now()
    assert "retention" in run_due_jobs(now)
    assert Case.objects.filter(sealed_private_key__isnull=False).count() == 0
    # A second worker at the same moment finds nothing due.
    assert run_due_jobs(now) == []
    job = ScheduledJob.objects.get(name="retention")
    assert job.next_run_at > now and job.last_error == ""
    assert "retention" in run_due_jobs(now + timedelta(hours=2))
