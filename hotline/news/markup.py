"""Telegram's HTML subset, as posts are written in it: checking a text, counting it, previewing it.

A post is sent with ``parse_mode=HTML``, so a text Telegram would refuse ("can't parse entities") must
be refused here, when the author can still fix it, with the reason and where. Only a small set of
tags is allowed, ``<a>`` is the only tag with an attribute (``href``, http/https/tg only), and ``<``,
``>`` and ``&`` outside tags must be written as entities. The length limit applies to the text
as the phone shows it (tags gone, entities decoded), counted in UTF-16 code units as Telegram counts
(an emoji outside the Basic Multilingual Plane counts twice): 4096 for a message, 1024 for a caption.

The preview is built from the checked tokens: every piece of text is escaped, and the only markup
emitted is a fixed tag for each allowed one, so nothing the author typed can become live HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"})
# Tags whose content Telegram shows verbatim: no other tag may open inside them.
VERBATIM = frozenset({"code", "pre"})
LINK_SCHEMES = ("http://", "https://", "tg://")
MAX_TEXT = 4096
MAX_CAPTION = 1024

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)\s*>")
_HREF = re.compile(r"""^\s+href\s*=\s*(?:"([^"]*)"|'([^']*)')\s*$""")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
# How the preview shows each tag (a spoiler is a span the console's stylesheet blurs).
_PREVIEW = {"tg-spoiler": ('<span class="spoiler">', "</span>")}


class MarkupError(ValueError):
    """A text Telegram would refuse, with a reason fit to show its author."""


@dataclass(frozen=True)
class Token:
    kind: str  # "text", "open", "close"
    value: str  # the decoded text, or the tag name
    href: str = ""


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return _("line %(line)s") % {"line": line}


def tokens(text: str) -> list[Token]:
    """The text split into decoded text runs and tags; :class:`MarkupError` if Telegram would refuse it."""
    out: list[Token] = []
    stack: list[str] = []
    pos = 0
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(Token("text", "".join(run)))
            run.clear()

    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if match is None:
                raise MarkupError(
                    _("“<” that does not start a tag (%(where)s): write &lt; for the character itself.")
                    % {"where": _where(text, pos)}
                )
            closing, name, attrs = match.group(1) == "/", match.group(2).lower(), match.group(3)
            if name not in ALLOWED_TAGS:
                raise MarkupError(
                    _("The tag <%(tag)s> is not allowed (%(where)s). Allowed: %(allowed)s.")
                    % {"tag": name, "where": _where(text, pos), "allowed": ", ".join(sorted(ALLOWED_TAGS))}
                )
            flush()
            if closing:
                if attrs.strip():
                    raise MarkupError(_("A closing tag has attributes (%(where)s).") % {"where": _where(text, pos)})
                if not stack or stack[-1] != name:
                    expected = f"</{stack[-1]}>" if stack else _("no closing tag")
                    raise MarkupError(
                        _("</%(tag)s> does not close the open tag (%(where)s); expected %(expected)s.")
                        % {"tag": name, "where": _where(text, pos), "expected": expected}
                    )
                stack.pop()
                out.append(Token("close", name))
            else:
                if any(open_tag in VERBATIM for open_tag in stack):
                    raise MarkupError(
                        _("No tag may be used inside <code> or <pre> (%(where)s).") % {"where": _where(text, pos)}
                    )
                href = _href(name, attrs, text, pos)
                stack.append(name)
                out.append(Token("open", name, href))
            pos = match.end()
        elif char == ">":
            raise MarkupError(
                _("“>” outside a tag (%(where)s): write &gt; for the character itself.") % {"where": _where(text, pos)}
            )
        elif char == "&":
            entity = _ENTITY.match(text, pos)
            if entity is None:
                raise MarkupError(
                    _("“&” that is not an entity (%(where)s): write &amp; for the character itself.")
                    % {"where": _where(text, pos)}
                )
            decoded = html.unescape(entity.group(0))
            if not decoded or any(0xD800 <= ord(c) <= 0xDFFF or ord(c) == 0 for c in decoded):
                raise MarkupError(_("An entity names no character (%(where)s).") % {"where": _where(text, pos)})
            run.append(decoded)
            pos = entity.end()
        else:
            run.append(char)
            pos += 1
    flush()
    if stack:
        raise MarkupError(_("The tag <%(tag)s> is never closed.") % {"tag": stack[-1]})
    return out


def _href(name: str, attrs: str, text: str, pos: int) -> str:
    if name != "a":
        if attrs.strip():
            raise MarkupError(
                _("The tag <%(tag)s> takes no attributes (%(where)s).") % {"tag": name, "where": _where(text, pos)}
            )
        return ""
    match = _HREF.match(attrs)
    if match is None:
        raise MarkupError(_('A link needs exactly one attribute, href="…" (%(where)s).') % {"where": _where(text, pos)})
    href = html.unescape(match.group(1) if match.group(1) is not None else match.group(2)).strip()
    if not href.lower().startswith(LINK_SCHEMES) or any(c.isspace() or ord(c) < 32 for c in href):
        raise MarkupError(
            _("A link may point only to an http://, https:// or tg:// address (%(where)s).")
            % {"where": _where(text, pos)}
        )
    return href


def visible_text(parsed: list[Token]) -> str:
    return "".join(t.value for t in parsed if t.kind == "text")


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def check(text: str, *, caption: bool = False) -> list[Token]:
    """Check a post text; return its tokens or raise :class:`MarkupError` with the reason."""
    parsed = tokens(text)
    shown = visible_text(parsed)
    if not shown.strip():
        raise MarkupError(_("The text is empty."))
    limit = MAX_CAPTION if caption else MAX_TEXT
    length = telegram_length(shown)
    if length > limit:
        if caption:
            reason = _("With an image the text may be at most %(limit)s characters; it has %(n)s.")
        else:
            reason = _("The text may be at most %(limit)s characters; it has %(n)s.")
        raise MarkupError(reason % {"limit": limit, "n": length})
    return parsed


def preview(text: str) -> SafeString:
    """The text as HTML for the console's preview (call after :func:`check`; an invalid text is shown
    escaped, as typed)."""
    try:
        parsed = tokens(text)
    except MarkupError:
        return mark_safe(f"<pre>{escape(text)}</pre>")  # noqa: S308 (escaped)
    parts: list[str] = []
    for token in parsed:
        if token.kind == "text":
            parts.append(escape(token.value).replace("\n", "<br>"))
        elif token.kind == "open" and token.value == "a":
            parts.append(f'<a href="{escape(token.href)}" rel="noopener noreferrer nofollow" target="_blank">')
        elif token.kind == "open":
            parts.append(_PREVIEW.get(token.value, (f"<{token.value}>", ""))[0])
        else:
            parts.append(_PREVIEW.get(token.value, ("", f"</{token.value}>"))[1])
    return mark_safe("".join(parts))  # noqa: S308 (every text run escaped, tags from a fixed table)
