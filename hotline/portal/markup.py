"""A small, safe text format for the portal's pages (a strict subset of Markdown).

Every character of the source is HTML-escaped first; only the constructs below become markup, so a
page text can never inject HTML, script or a request to another host:

    # Title                      the page title (first line)
    ## Heading  /  ### Heading   section headings; ``## Heading {#anchor}`` gives it an id
    - item                       bulleted list (a line indented by two spaces continues the item)
    1. item                      numbered list
    > text                       a highlighted note
    **bold**                     strong emphasis
    [words](page:safety)         a link to another portal page (``page:slug`` or ``page:slug#anchor``,
                                 or ``#anchor`` on the same page) — links to other hosts are refused

Blocks are separated by blank lines; lines of a paragraph are joined.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

LinkResolver = Callable[[str, str], str]  # (slug, anchor) -> URL

_ANCHOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_HEADING = re.compile(r"^(#{1,3}) +(.+?)(?: +\{#([a-z0-9-]+)\})?$")
_ORDERED = re.compile(r"^\d{1,3}\. +")
# Applied to escaped text: brackets and parentheses survive html.escape unchanged.
_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


class MarkupError(ValueError):
    """Page text the format does not allow, with the line it is on."""


@dataclass(frozen=True)
class Document:
    title: str
    body: SafeString


def render(source: str, pages: Iterable[str], link: LinkResolver) -> Document:
    """The title and the HTML body of ``source``. ``pages`` are the slugs a link may name."""
    known = set(pages)
    lines = source.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].startswith("# "):
        raise MarkupError(_("line %(n)s: a page starts with '# Title'") % {"n": 1})
    title = lines[0][2:].strip()
    out: list[str] = []
    for number, block in _blocks(lines[1:], first_line=2):
        out.append(_block(block, number, known, link))
    return Document(title=title, body=mark_safe("\n".join(out)))  # noqa: S308 (everything was escaped)


def _blocks(lines: list[str], first_line: int) -> Iterable[tuple[int, list[str]]]:
    block: list[str] = []
    start = first_line
    for offset, line in enumerate(lines):
        if line.strip():
            if not block:
                start = first_line + offset
            block.append(line.rstrip())
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _block(block: list[str], number: int, known: set[str], link: LinkResolver) -> str:
    def inline(text: str) -> str:
        return _inline(text, number, known, link)

    first = block[0]
    heading = _HEADING.match(first)
    if heading and len(block) == 1:
        level = len(heading.group(1))
        if level == 1:
            raise MarkupError(_("line %(n)s: only the first line is a '# Title'") % {"n": number})
        anchor = heading.group(3)
        if anchor is not None and not _ANCHOR.match(anchor):
            raise MarkupError(_("line %(n)s: an anchor is lower-case letters, digits and hyphens") % {"n": number})
        ident = f' id="{anchor}"' if anchor else ""
        return f"<h{level}{ident}>{inline(heading.group(2))}</h{level}>"
    if first.startswith("- "):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in _items(block, number, "- ")) + "</ul>"
    if _ORDERED.match(first):
        return "<ol>" + "".join(f"<li>{inline(i)}</li>" for i in _items(block, number, None)) + "</ol>"
    if first.startswith(">"):
        if not all(line.startswith(">") for line in block):
            raise MarkupError(_("line %(n)s: every line of a note starts with '>'") % {"n": number})
        text = " ".join(line[1:].strip() for line in block)
        return f'<aside class="note"><p>{inline(text)}</p></aside>'
    return f"<p>{inline(' '.join(line.strip() for line in block))}</p>"


def _items(block: list[str], number: int, marker: str | None) -> list[str]:
    items: list[str] = []
    for offset, line in enumerate(block):
        if marker is not None and line.startswith(marker):
            items.append(line[len(marker) :].strip())
        elif marker is None and _ORDERED.match(line):
            items.append(_ORDERED.sub("", line, count=1).strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        else:
            raise MarkupError(_("line %(n)s: a list item starts with '- ' or '1. '") % {"n": number + offset})
    return items


def _inline(text: str, number: int, known: set[str], link: LinkResolver) -> str:
    escaped = html.escape(text, quote=True)

    def replace_link(match: re.Match[str]) -> str:
        words, target = match.group(1), html.unescape(match.group(2))
        return f'<a href="{html.escape(_target(target, number, known, link), quote=True)}">{words}</a>'

    linked = _LINK.sub(replace_link, escaped)
    if "](" in _LINK.sub("", escaped):
        raise MarkupError(
            _("line %(n)s: a link is [words](page:slug), with no spaces or brackets in the target") % {"n": number}
        )
    return _BOLD.sub(r"<strong>\1</strong>", linked)


def _target(target: str, number: int, known: set[str], link: LinkResolver) -> str:
    if target.startswith("#"):
        if not _ANCHOR.match(target[1:]):
            raise MarkupError(_("line %(n)s: %(target)r is not an anchor") % {"n": number, "target": target})
        return target
    if not target.startswith("page:"):
        raise MarkupError(
            _("line %(n)s: links go to portal pages (page:slug), not %(target)r") % {"n": number, "target": target[:60]}
        )
    slug, _sep, anchor = target[5:].partition("#")
    if slug not in known:
        raise MarkupError(_("line %(n)s: there is no page %(slug)r") % {"n": number, "slug": slug})
    if anchor and not _ANCHOR.match(anchor):
        raise MarkupError(_("line %(n)s: %(target)r is not an anchor") % {"n": number, "target": anchor})
    return link(slug, anchor)


def plain_paragraphs(text: str) -> SafeString:
    """Text from elsewhere (a knowledge-base answer) as escaped paragraphs and line breaks."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    html_parts = ["<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paragraphs]
    return mark_safe("\n".join(html_parts))  # noqa: S308 (everything was escaped)
