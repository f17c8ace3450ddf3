"""The authorization matrix: every console and sign-in URL × every role, generated from the URL
configuration. A view added without a row in RULES fails here, and so does a view whose decorator
does not say the same as its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.cases import triage
from hotline.cases.models import Case, Message
from hotline.console.access import ADMINS, ANY_STAFF, CASEWORKERS, FIGURES, HANDOFF, SEE_ALL
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import ChannelKind, Direction
from hotline.kb.actions import do_create_article
from hotline.kb.content import ArticleContent
from tests.conftest import Org
from tests.console_support import Staff, admin_staff, assign, inbound, make_staff, move, open_case, signed_in_client

PUBLIC = "public"
ARTICLE = "matrix-article"  # a published knowledge-base article

# url name -> who may use it. Case-level rules (whose case) are tested below the matrix.
RULES: dict[str, frozenset[Role] | str] = {
    "accounts:login": PUBLIC,
    "accounts:enrol": PUBLIC,
    "accounts:language": PUBLIC,
    "accounts:password": ANY_STAFF,
    "accounts:logout": ANY_STAFF,
    "accounts:logout_everywhere": ANY_STAFF,
    "console:home": ANY_STAFF,
    "console:queue": CASEWORKERS,
    "console:phone": CASEWORKERS,
    "console:phone_start": CASEWORKERS,
    "console:phone_log": CASEWORKERS,
    "console:phone_step": CASEWORKERS,
    "console:duty": CASEWORKERS,
    "console:duty_line": CASEWORKERS,
    "console:duty_toggle": CASEWORKERS,
    "console:notify_counts": CASEWORKERS,
    "console:notify_settings": CASEWORKERS,
    "console:notify_link": CASEWORKERS,
    "console:notify_unlink": CASEWORKERS,
    "console:search": CASEWORKERS,
    "console:case_callback": CASEWORKERS,
    "console:queue_rows": CASEWORKERS,
    "console:next": CASEWORKERS,
    "console:goto": CASEWORKERS,
    "console:case": CASEWORKERS,
    "console:case_reply": CASEWORKERS,
    "console:case_note": CASEWORKERS,
    "console:case_transition": CASEWORKERS,
    "console:case_assign": CASEWORKERS,
    "console:case_priority": CASEWORKERS,
    "console:case_tags": CASEWORKERS,
    "console:case_link": CASEWORKERS,
    "console:case_unlink": CASEWORKERS,
    "console:case_flag": CASEWORKERS,
    "console:case_unblock": SEE_ALL,
    "console:case_preference": CASEWORKERS,
    "console:attachment": CASEWORKERS,
    "console:handoff": HANDOFF,
    "console:handoff_case": HANDOFF,
    "console:handoff_outcome": HANDOFF,
    "console:load": SEE_ALL,
    "console:figures": FIGURES,
    "console:figures_releases": FIGURES,
    "console:figures_release_new": FIGURES,
    "console:figures_release": FIGURES,
    "console:figures_release_approve": SEE_ALL,
    "console:figures_release_discard": FIGURES,
    "console:audit": ADMINS,
    "console:audit_verify": ADMINS,
    "console:staff": ADMINS,
    "console:staff_add": ADMINS,
    "console:staff_remove": ADMINS,
    "console:staff_reset": ADMINS,
    "console:staff_role": ADMINS,
    "console:content": SEE_ALL,
    "console:canned_add": SEE_ALL,
    "console:canned_delete": SEE_ALL,
    "console:tag_add": SEE_ALL,
    "console:tag_delete": SEE_ALL,
    "console:pages": ADMINS,
    "console:page_edit": ADMINS,
    "console:page_history": ADMINS,
    "console:page_rollback": ADMINS,
    "console:articles": ADMINS,
    "console:article_new": ADMINS,
    "console:article_edit": ADMINS,
    "console:article_publish": ADMINS,
    "console:article_history": ADMINS,
    "console:article_rollback": ADMINS,
    "console:reply_article": CASEWORKERS,
    "console:posts": SEE_ALL,
    "console:post_new": SEE_ALL,
    "console:post": SEE_ALL,
    "console:post_edit": SEE_ALL,
    "console:post_image": SEE_ALL,
    "console:post_action": SEE_ALL,
    "console:post_broadcast": SEE_ALL,
    "console:broadcast": SEE_ALL,
    "console:broadcast_control": SEE_ALL,
}
# Run last: they end the session the rest of the matrix uses.
LAST = ("accounts:logout_everywhere", "accounts:logout")


def _patterns(resolver: URLResolver, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, inner)
        elif entry.name:
            yield f"{namespace}{entry.name}", entry


def console_patterns() -> dict[str, URLPattern]:
    return {name: p for name, p in _patterns(get_resolver()) if name.startswith(("console:", "accounts:"))}


def test_every_console_url_has_a_rule_and_its_view_declares_the_same() -> None:
    patterns = console_patterns()
    assert set(patterns) == set(RULES), (
        f"views without a rule: {set(patterns) - set(RULES)}; stale rules: {set(RULES) - set(patterns)}"
    )
    for name, pattern in patterns.items():
        declared = getattr(pattern.callback, "allowed_roles", None)
        assert declared == RULES[name], f"{name}: the view declares {declared!r}, the matrix expects {RULES[name]!r}"


@dataclass
class World:
    org: Org
    staff: dict[str, Staff]
    work: Case  # new, unassigned: every caseworker may open it
    ready: Case  # ready for handoff
    theirs: Case  # bob's: alice must see nothing of it
    spare: User  # an account the admin's matrix row may remove
    reply_id: int
    tag_id: int
    call_id: uuid.UUID  # a phone intake in progress
    post_id: uuid.UUID  # a published post with an image
    broadcast_id: uuid.UUID  # a broadcast of it
    release_id: int  # a figures release the analyst prepared (a draft)

    def args_for(self, name: str, case: Case | None = None) -> dict[str, object]:
        pattern = console_patterns()[name]
        wanted = pattern.pattern.converters.keys()  # type: ignore[attr-defined]
        case = case or (self.ready if name.startswith("console:handoff_") else self.work)
        values: dict[str, object] = {
            "case_id": case.pk,
            "attachment_id": self.attachment_of(case),
            "user_id": self.spare.pk,
            "reply_id": self.reply_id,
            "tag_id": self.tag_id,
            "identity_id": self.call_id,
            "language": "en",
            "page_slug": "safety",
            "slug": ARTICLE,
            "post_id": self.post_id,
            "broadcast_id": self.broadcast_id,
            "release_id": self.release_id,
        }
        return {k: values[k] for k in wanted}

    def attachment_of(self, case: Case) -> uuid.UUID:
        message = Message.objects.filter(case=case).first()
        assert message is not None
        return triage.do_add_attachment(
            actor_of(self.org.admin), message, kind="photo", content=b"\x89PNG...", filename="a.png", mime="image/png"
        ).pk


@pytest.fixture
def world(org: Org) -> World:
    staff = {
        "operator": make_staff(org, "alice", Role.OPERATOR),
        "supervisor": make_staff(org, "sam", Role.SUPERVISOR),
        "coordinator": make_staff(org, "carol", Role.COORDINATOR),
        "analyst": make_staff(org, "ana", Role.ANALYST),
        "admin": admin_staff(org),
    }
    bob = make_staff(org, "bob", Role.OPERATOR)
    cases = []
    for chat in ("11", "12", "13"):
        case = open_case(chat, identity_details="x")
        inbound(case, "hello")
        cases.append(case)
    work, ready, theirs = cases
    ready = move(ready, Status.TRIAGE, Status.READY, by=staff["supervisor"])
    assign(theirs, bob)
    reply = triage.do_save_canned_reply(actor_of(org.admin), title="t", language="", body="b")
    tag = triage.do_create_tag(actor_of(org.admin), "tag-one")
    spare = User.objects.create_user(username="spare", password="x" * 20, role=Role.OPERATOR)
    do_create_article(
        actor_of(org.admin),
        ARTICLE,
        {"en": ArticleContent(title="A question", questions=("what now?",), answer="An answer.")},
        published=True,
    )
    post, broadcast = _post_and_broadcast(org)
    release = _release(staff["analyst"])
    return World(org, staff, work, ready, theirs, spare, reply.pk, tag.pk, _phone_call(org), post, broadcast, release)


def _release(analyst: Staff) -> int:
    from datetime import timedelta

    from django.utils import timezone

    from hotline.figures import releases

    end = timezone.localdate() - timedelta(days=1)
    wanted = releases.Request(end - timedelta(days=30), end, ("channel", "status"), {"en": "Matrix"})
    return releases.do_prepare(actor_of(analyst.user), analyst.user, wanted).pk


def _post_and_broadcast(org: Org) -> tuple[uuid.UUID, uuid.UUID]:
    from hotline.news import posts
    from hotline.news.broadcasts import do_start_broadcast

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    post = posts.do_create_post(org.admin_actor, posts.Draft("Matrix", {"en": "<b>News</b>"}), image=png)
    post = posts.do_publish(org.admin_actor, post)
    return post.pk, do_start_broadcast(org.admin_actor, post, "en").pk


def _phone_call(org: Org) -> uuid.UUID:
    from django.db import transaction

    from hotline.cases.actions import get_or_create_identity
    from hotline.core import flow as engine
    from hotline.core.metadata import ChannelKind
    from hotline.flows import runner

    with transaction.atomic():
        identity = get_or_create_identity(ChannelKind.PHONE, "call-matrix")
        runner.run_step(identity, engine.Start(language="en"), channel=ChannelKind.PHONE, actor=org.admin_actor)
    return identity.pk


def _to_login(response: object) -> bool:
    location = getattr(response, "headers", {}).get("Location", "") or getattr(response, "headers", {}).get(
        "HX-Redirect", ""
    )
    return str(location).startswith("/accounts/login/")


def _ordered() -> list[str]:
    return sorted(RULES, key=lambda n: (n in LAST, LAST.index(n) if n in LAST else 0, n))


def _check(client: Client, world: World, who: str) -> list[str]:
    """Request every URL with GET and an empty POST; return what did not match the rules."""
    problems = []
    for name in _ordered():
        rule = RULES[name]
        url = reverse(name, kwargs=world.args_for(name))
        # Signing out everywhere is exercised in test_console_login; here its GET (405) shows the gate.
        methods = ("get",) if name == "accounts:logout_everywhere" else ("get", "post")
        for method in methods:
            response = getattr(client, method)(url)
            status = response.status_code
            allowed = rule == PUBLIC or (who != "anonymous" and Role(who) in rule)  # type: ignore[operator]
            if status >= 500:
                problems.append(f"{who} {method.upper()} {name}: {status}")
            elif rule == PUBLIC:
                if status == 403:
                    problems.append(f"{who} {method.upper()} {name}: public view refused ({status})")
            elif who == "anonymous":
                if not _to_login(response):
                    problems.append(f"{who} {method.upper()} {name}: expected a sign-in redirect, got {status}")
            elif name == "accounts:logout" and method == "post":
                if not _to_login(response):
                    problems.append(f"{who} POST {name}: expected to be signed out, got {status}")
            elif allowed and (status in (401, 403, 404) or _to_login(response)):
                problems.append(f"{who} {method.upper()} {name}: expected access, got {status}")
            elif not allowed and status != 403:
                problems.append(f"{who} {method.upper()} {name}: expected 403, got {status}")
    return problems


@pytest.mark.parametrize("role", ["anonymous", "operator", "supervisor", "coordinator", "analyst", "admin"])
def test_the_matrix(world: World, role: str) -> None:
    client = Client() if role == "anonymous" else signed_in_client(world.staff[role])
    assert _check(client, world, role) == []


CASE_URLS = [n for n, r in RULES.items() if n.startswith(("console:case", "console:attachment")) and r == CASEWORKERS]


def test_another_operators_case_looks_exactly_like_no_case(world: World) -> None:
    client = signed_in_client(world.staff["operator"])
    for name in CASE_URLS:
        theirs = reverse(name, kwargs=world.args_for(name, world.theirs))
        missing = theirs.replace(str(world.theirs.pk), str(uuid.uuid4()))
        for method in ("get", "post"):
            a, b = getattr(client, method)(theirs), getattr(client, method)(missing)
            assert a.status_code == b.status_code in (404, 405), f"{method} {name}"
            assert a.content == b.content
        natural = "get" if name in ("console:case", "console:attachment") else "post"
        assert getattr(client, natural)(theirs).status_code == 404, name
    assert client.get("/console/goto/", {"number": world.theirs.number.id}).status_code == 404


def test_an_operator_does_not_see_finished_cases_of_others(world: World) -> None:
    sam = world.staff["supervisor"]
    closed = move(open_case("77"), Status.CLOSED, by=sam)
    client = signed_in_client(world.staff["operator"])
    assert client.get(f"/console/case/{closed.pk}/").status_code == 404
    assert signed_in_client(sam).get(f"/console/case/{closed.pk}/").status_code == 200


def test_coordinators_reach_only_cases_ready_or_handed_off(world: World) -> None:
    client = signed_in_client(world.staff["coordinator"])
    assert client.get(f"/console/handoff/{world.ready.pk}/").status_code == 200
    assert client.get(f"/console/handoff/{world.work.pk}/").status_code == 404
    assert client.get(f"/console/case/{world.ready.pk}/").status_code == 403


def test_analysts_see_figures_and_no_case(world: World) -> None:
    client = signed_in_client(world.staff["analyst"])
    assert client.get("/console/figures/").status_code == 200
    for url in (f"/console/case/{world.work.pk}/", f"/console/handoff/{world.ready.pk}/", "/console/queue/"):
        assert client.get(url).status_code == 403


def test_bad_input_never_causes_a_server_error(world: World) -> None:
    client = signed_in_client(world.staff["supervisor"])
    case = f"/console/case/{world.work.pk}"
    junk: list[tuple[str, dict[str, object]]] = [
        ("/console/queue/?tab=nope", {}),
        ("/console/queue/?channel=fax", {}),
        ("/console/queue/?after=yesterday", {}),
        ("/console/queue/?language=<script>", {}),
        ("/console/goto/?number=abc", {}),
        ("/console/figures/?days=-1", {}),
        ("/console/audit/?before=x", {}),
        ("/console/case/not-a-uuid/", {}),
    ]
    for url, _data in junk:
        assert 400 <= client.get(url).status_code < 500, url
    posts: list[tuple[str, dict[str, object]]] = [
        (f"{case}/reply/", {"body": "x" * 70_000, "channel": "telegram"}),
        (f"{case}/reply/", {"body": "hi", "channel": "carrier-pigeon"}),
        (f"{case}/status/", {"to": "flying"}),
        (f"{case}/status/", {"to": "completed"}),
        (f"{case}/assign/", {"assignee": "999999"}),
        (f"{case}/assign/", {"assignee": "root"}),
        (f"{case}/tags/", {"tag": ["x"]}),
        (f"{case}/tags/", {"tag": ["424242"]}),
        (f"{case}/link/", {"number": "99999"}),
        (f"{case}/link/", {"number": str(world.work.number.id)}),
        (f"{case}/flag/", {"reason": "dislike"}),
        (f"{case}/preference/", {"choice": "moon"}),
        ("/console/content/tags/", {"name": "Not A Tag!"}),
        ("/console/content/canned/", {"title": "", "body": ""}),
    ]
    for url, data in posts:
        status = client.post(url, data).status_code
        assert 400 <= status < 500, (url, data, status)
    world.work.refresh_from_db()
    assert world.work.status == Status.NEW
    assert Message.objects.filter(case=world.work, direction=Direction.OUTBOUND).count() == 0
    assert ChannelKind.TELEGRAM  # the case's channel is unchanged by any of this
