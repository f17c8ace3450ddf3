"""The migrations match the models, and the ones that fill a new column from existing rows do."""

from __future__ import annotations

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from hotline.cases.models import Case, Message
from hotline.core.metadata import ChannelKind, Direction
from tests.conftest import Org
from tests.console_support import inbound, open_case

pytestmark = pytest.mark.django_db


def test_the_migrations_match_the_models() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits 1 if a model changed


def test_existing_cases_get_their_first_answer_time_from_their_first_outbound_message(org: Org) -> None:
    from hotline.cases.actions import do_add_message

    answered, unanswered = open_case("71"), open_case("72")
    inbound(unanswered, "hello")
    for body in ("first", "second"):
        do_add_message(org.admin_actor, answered, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body=body)
    first, second = Message.objects.filter(case=answered, direction=Direction.OUTBOUND).order_by("created_at")
    # Stored before the column existed: no first-answer time, messages from an hour ago.
    earlier = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=first.pk).update(created_at=earlier)
    Message.objects.filter(pk=second.pk).update(created_at=earlier + timedelta(minutes=5))
    Case.objects.update(first_answer_at=None)

    migration = importlib.import_module("hotline.cases.migrations.0006_first_answer_at")
    migration.fill(apps, SimpleNamespace(connection=connection))
    assert Case.objects.get(pk=answered.pk).first_answer_at == earlier
    assert Case.objects.get(pk=unanswered.pk).first_answer_at is None


def test_the_first_outbound_message_sets_the_first_answer_time_and_later_ones_do_not(org: Org) -> None:
    from hotline.cases.actions import do_add_message

    case = open_case("73")
    inbound(case, "hello")
    assert Case.objects.get(pk=case.pk).first_answer_at is None
    reply = do_add_message(org.admin_actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="a")
    do_add_message(org.admin_actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="b")
    inbound(case, "thanks")
    assert Case.objects.get(pk=case.pk).first_answer_at == reply.created_at
