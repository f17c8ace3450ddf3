"""``hotline export-site DIR``: the information pages as plain files, for mirrors and file hosts.

The pages are rendered from the same templates and texts as the live site, with relative links
(``faq.html``, ``../uk/faq.html``, ``../static/portal.css``), so the directory works from any host,
any path, or straight from a disk. The form and the mailbox need the live server: in the export,
"Apply online" and "I have a receipt" lead to a page that links to the live channels listed in the
signed contacts manifest (onion address, mirrors, the Telegram bot, phone numbers). The manifest and
its signature are copied too, so a copy of the mirror can be checked like any other.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import translation

from hotline import languages
from hotline.portal import contacts, content, kb
from hotline.portal.views.common import frame

CSS = "../static/portal.css"


class ExportError(Exception):
    pass


def live_links(signed: contacts.Signed | None, language: str) -> list[dict[str, str]]:
    """Where the live service is, from the signed manifest: the only links to other hosts, and only
    in the export (the live site never links elsewhere)."""
    if signed is None:
        return []
    m = signed.manifest
    links: list[dict[str, str]] = []
    for onion in m.onion:
        links.append(
            {
                "kind": "onion",
                "label": onion,
                "apply": f"http://{onion}/apply/{language}/",
                "receipt": f"http://{onion}/{language}/receipt/",
            }
        )
    for mirror in m.mirrors:
        links.append(
            {
                "kind": "mirror",
                "label": mirror,
                "apply": f"https://{mirror}/apply/{language}/",
                "receipt": f"https://{mirror}/{language}/receipt/",
            }
        )
    for bot in m.telegram:
        links.append({"kind": "telegram", "label": bot, "apply": f"https://t.me/{bot.lstrip('@')}", "receipt": ""})
    for phone in m.phones:
        links.append(
            {
                "kind": "phone",
                "label": phone,
                "apply": "tel:" + "".join(c for c in phone if c in "+0123456789"),
                "receipt": "",
            }
        )
    return links


def _frame(language: str, slug: str) -> dict[str, object]:
    context = dict(frame(language, slug, mode="export", css=CSS))
    context["languages"] = [{**item, "url": f"../{item['code']}/{item['url']}"} for item in context["languages"]]
    return context


def _export_figures(language: str, put: Callable[[str, str], None]) -> None:
    """The published figures: the list page, a page, CSV and JSON per release, and the Atom feed."""
    from hotline.figures import publish, releases
    from hotline.portal.views import figures

    frame_ = _frame(language, "figures")
    put(
        f"{language}/figures.html",
        render_to_string("portal/figures.html", {**frame_, **figures.list_context(language, "export")}),
    )
    shown = releases.public_releases()
    older = [r for r in _approved() if r not in shown]
    for release in [*shown, *older]:
        context = {
            **frame_,
            "words": figures.WORDS[figures.shown_in(language)],
            "feed": figures.feed_link("export", language),
            **figures.release_context(release, language, "export"),
        }
        put(f"{language}/figures-{release.pk}.html", render_to_string("portal/figures_release.html", context))
        put(f"{language}/figures-{release.pk}.csv", publish.as_csv(release, figures.shown_in(language)))
        put(f"{language}/figures-{release.pk}.json", publish.as_json(release))
    feed = publish.atom(
        shown,
        figures.shown_in(language),
        self_href="figures.atom",
        link_of=lambda r: figures.links("export", language, r)["page"],
    )
    put(f"{language}/figures.atom", feed)


def _approved() -> list[Any]:
    from hotline.figures.models import Release

    return list(Release.objects.filter(state=Release.State.APPROVED).order_by("pk"))


def export_site(directory: Path) -> list[Path]:
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    try:
        signed = contacts.published()
    except contacts.ContactsError as exc:
        raise ExportError(f"the contacts manifest fails its check, so no mirror is made: {exc}") from None
    written: list[Path] = []

    def put(relative: str, text: str) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    extra = {"signed": signed, "contacts_error": None}
    for language in languages.codes():
        with translation.override(language):
            for slug in (*content.NAVIGATION, "apply"):
                doc = content.page(language, slug, mode="export")
                context: dict[str, object] = {**_frame(language, slug), "doc": doc, "set_up": True, **extra}
                template = {
                    "home": "portal/home.html",
                    "how-to-apply": "portal/how_to_apply.html",
                    "contacts": "portal/contacts.html",
                    "faq": "portal/faq.html",
                    "apply": "portal/export_apply.html",
                }.get(slug, "portal/page.html")
                if slug == "faq":
                    context.update(entries=kb.published(language), can_search=False, results=None, query="")
                if slug == "apply":
                    context["live"] = live_links(signed, language)
                put(f"{language}/{content.link('export', language, slug)}", render_to_string(template, context))
        with translation.override(language):
            _export_figures(language, put)
    put("index.html", render_to_string("portal/export_index.html", {"languages": languages.choices()}))
    css = finders.find("portal/portal.css")
    if not css:
        raise ExportError("the portal's style sheet is missing")
    (directory / "static").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(css), directory / "static" / "portal.css")
    written.append(directory / "static" / "portal.css")
    if signed is not None:
        source = Path(settings.HOTLINE_CONTACTS_FILE)
        for src in (source, contacts.signature_path(source)):
            shutil.copyfile(src, directory / src.name)
            written.append(directory / src.name)
    return written
