"""Search: caseworkers find cases by plaintext metadata (``cases/search.py``). The form's values are
checked here, each refusal a 400 that says what was wrong; the search itself is audited."""

from __future__ import annotations

import re
import uuid
from datetime import date

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from hotline.accounts.staff import actor_of
from hotline.cases import search
from hotline.cases.models import Tag
from hotline.console.access import CASEWORKERS, case_number, staff_view, workable_cases
from hotline.console.labels import label
from hotline.console.render import page
from hotline.console.views.queue import me
from hotline.core import codes, receipts
from hotline.core.lifecycle import Status
from hotline.core.metadata import Category, ChannelKind, Region
from hotline.inputs import parse_int
from hotline.notify.signals import decode_cursor, encode_cursor

FIELDS = (
    "number",
    "receipt",
    "pseudonym",
    "tag",
    "status",
    "category",
    "region",
    "channel",
    "opened_from",
    "opened_to",
)
MAX_LENGTH = 64
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
PSEUDONYM = re.compile(r"A-[0-9A-Z]{4}-[0-9A-Z]{4}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AFTER = re.compile(r"([0-9]{1,16})\.([0-9a-f]{32})")
CHOICES = {
    "status": [s.value for s in Status],
    "category": [c.value for c in Category],
    "region": [r.value for r in Region],
    "channel": [c.value for c in ChannelKind],
}

SELECTS = [
    ("status", gettext_lazy("Status")),
    ("category", gettext_lazy("Category")),
    ("region", gettext_lazy("Region")),
    ("channel", gettext_lazy("Channel")),
]


class BadSearch(ValueError):
    """A value the search cannot use; the message says which and why."""


@staff_view(CASEWORKERS)
@require_http_methods(["GET", "HEAD", "POST"])
def search_page(request: HttpRequest) -> HttpResponse:
    """The form posts (so a receipt never ends up in an address, a log or the browser's history);
    a link may still search by the other fields with GET."""
    query = request.POST if request.method == "POST" else request.GET
    # Shown again in the form; a receipt never is (it finds one case at most, so no page follows).
    values = {name: query.get(name, "").strip()[:MAX_LENGTH] for name in FIELDS if name != "receipt"}
    context: dict[str, object] = {
        "values": values,
        "selects": [(name, heading, [(v, label(v)) for v in CHOICES[name]], values[name]) for name, heading in SELECTS],
        "tags": list(Tag.objects.values_list("name", flat=True)),
        "searched": False,
    }
    try:
        if request.method != "POST" and query.get("receipt", ""):
            raise BadSearch(_("Search by receipt with the form: a receipt must not travel in an address."))
        criteria = parse_criteria(query)
        after = parse_after(query.get("after", "").strip())
    except BadSearch as exc:
        context["error"] = str(exc)
        return page(request, "console/search.html", context, status=400)
    if criteria.given():
        user = me(request)
        found = search.do_search(actor_of(user), criteria, workable_cases(user), after)
        context["searched"] = True
        context["cases"] = found.cases
        if found.next_page is not None:
            context["next_after"] = f"{encode_cursor(found.next_page.created_at)}.{found.next_page.id.hex}"
    return page(request, "console/search.html", context)


def parse_criteria(query: QueryDict) -> search.Criteria:
    """The search the form asks for, or :class:`BadSearch` naming the field and what is wrong."""
    raw = {name: query.get(name, "").strip() for name in FIELDS}
    for name, value in raw.items():
        if len(value) > MAX_LENGTH:
            raise BadSearch(_("The field “%(field)s” is too long.") % {"field": name})
    found: dict[str, object] = {}
    if raw["number"]:
        number = case_number(raw["number"])
        if number is None:
            raise BadSearch(_("An application number is a whole number from 1 to 999999999999."))
        found["number"] = number
    if raw["receipt"]:
        try:
            found["receipt"] = receipts.parse_receipt(raw["receipt"])
        except codes.CodeError:
            raise BadSearch(
                _("That receipt is mistyped: check its length and characters (the last one is a check character).")
            ) from None
    if raw["pseudonym"]:
        pseudonym = raw["pseudonym"].upper()
        if not PSEUDONYM.fullmatch(pseudonym):
            raise BadSearch(_("A pseudonym looks like A-XXXX-XXXX."))
        found["pseudonym"] = pseudonym
    if raw["tag"]:
        if not Tag.objects.filter(name=raw["tag"]).exists():
            raise BadSearch(_("There is no tag “%(tag)s”.") % {"tag": raw["tag"]})
        found["tag"] = raw["tag"]
    for name, options in CHOICES.items():
        if raw[name]:
            if raw[name] not in options:
                raise BadSearch(_("Unknown value for “%(field)s”.") % {"field": name})
            found[name] = raw[name]
    for name in ("opened_from", "opened_to"):
        if raw[name]:
            found[name] = _day(raw[name])
    start, end = found.get("opened_from"), found.get("opened_to")
    if isinstance(start, date) and isinstance(end, date) and start > end:
        raise BadSearch(_("The first day of the range is after the last."))
    return search.Criteria(**found)  # type: ignore[arg-type]


def _day(text: str) -> date:
    if not DATE.fullmatch(text):
        raise BadSearch(_("A date is written YYYY-MM-DD, like 2026-03-01."))
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadSearch(_("%(text)s is not a date on the calendar.") % {"text": text}) from None
    if not EARLIEST <= day <= LATEST:
        raise BadSearch(_("Dates go from 2000-01-01 to 2100-12-31."))
    return day


def parse_after(text: str) -> search.After | None:
    if not text:
        return None
    matched = AFTER.fullmatch(text)
    micros = parse_int(matched.group(1), minimum=0, maximum=4_102_444_800_000_000) if matched else None
    if matched is None or micros is None:
        raise BadSearch(_("That page link is broken; start from the first page."))
    return search.After(decode_cursor(micros), uuid.UUID(hex=matched.group(2)))
