"""The console's navigation: one list, each entry with the roles that see it.

A new console area adds one line here (phone intake goes right after the queue).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from hotline.accounts.models import User
from hotline.console.access import ADMINS, CASEWORKERS, FIGURES, HANDOFF, SEE_ALL
from hotline.core.lifecycle import Role
from hotline.news.broadcasts import PUBLISHERS


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    roles: frozenset[Role]
    # Other pages that belong to this entry (it is shown as the current one on them).
    also: tuple[str, ...] = ()


CONTENT_PAGES = tuple(
    f"console:{name}"
    for name in (
        "pages",
        "page_edit",
        "page_history",
        "articles",
        "article_new",
        "article_edit",
        "article_history",
    )
)

POST_PAGES = tuple(
    f"console:{name}" for name in ("post_new", "post", "post_edit", "broadcast", "post_action", "post_broadcast")
)

NAV: list[NavItem] = [
    NavItem("console:queue", _("Queue"), CASEWORKERS),
    NavItem("console:phone", _("Phone call"), CASEWORKERS),
    NavItem("console:duty", _("Phone line"), CASEWORKERS),
    NavItem("console:search", _("Search"), CASEWORKERS),
    NavItem("console:handoff", _("Handoff"), HANDOFF),
    NavItem("console:load", _("Load"), SEE_ALL),
    NavItem(
        "console:figures",
        _("Figures"),
        FIGURES,
        also=(
            "console:figures_releases",
            "console:figures_release_new",
            "console:figures_release",
        ),
    ),
    NavItem("console:posts", _("Posts"), PUBLISHERS, also=POST_PAGES),
    NavItem("console:content", _("Replies and tags"), SEE_ALL - ADMINS),
    # Admins also keep the website's pages and the knowledge base: the same entry, three tabs.
    NavItem("console:content", _("Content"), ADMINS, also=CONTENT_PAGES),
    NavItem("console:audit", _("Audit log"), ADMINS),
    NavItem("console:staff", _("Staff"), ADMINS),
]


@dataclass(frozen=True)
class NavLink:
    url: str
    label: str | Promise
    names: tuple[str, ...]  # the view names on which this entry is the current one


def items_for(user: User) -> list[NavLink]:
    role = user.staff_role
    return [
        NavLink(reverse(item.url_name), item.label, (item.url_name, *item.also)) for item in NAV if role in item.roles
    ]
