"""Coming back with a receipt: read operators' replies, write a message, update details.

No cookie: every page of the mailbox is the answer to a post that carries the receipt (typed in, or
kept in the page's own forms), so nothing stays in the browser once it is closed, and a page of
replies is never at a URL. Reading the replies needs the receipt itself (see
``channels/web/mailbox.py``); the applicant's own messages are counted, not shown again, so a
receipt that falls into the wrong hands does not also reveal what the applicant wrote.

Look-ups that find nothing are limited per client and overall (``portal/limits.py``); a receipt that
fails its check character is answered at once with "a character seems mistyped" and costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from hotline.audit import log as audit
from hotline.cases import actions
from hotline.cases.models import Case, Receipt
from hotline.channels.web import mailbox
from hotline.core import codes, receipts
from hotline.core.lifecycle import OPEN, Status
from hotline.core.metadata import ChannelKind, Direction
from hotline.dbwrite import write_turn
from hotline.portal import content, limits
from hotline.portal.middleware import too_many
from hotline.portal.views.common import clean_field, from_elsewhere, problem, refused_elsewhere, render, speaks
from hotline.portal.views.unavailable import unavailable

MAX_RECEIPT = 64
MAX_MESSAGE = 4000
_SEPARATORS = str.maketrans("", "", " -_.\t\n")  # as hotline.core.codes reads codes
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def receipt_problem(text: str) -> str | None:
    """What is wrong with a typed receipt, in the applicant's language; None when it is well formed."""
    if not text.strip():
        return _("Please type your receipt.")
    try:
        receipts.parse_receipt(text)
    except codes.CodeError:
        pass
    else:
        return None
    cleaned = text.upper().translate(_SEPARATORS).translate(_LOOKALIKES)
    expected = receipts.RECEIPT_DIGITS + 1
    if len(cleaned) != expected:
        return _("A receipt has %(expected)s characters (like XXXX-XXXX-XXXX-XXXX-X); this one has %(got)s.") % {
            "expected": expected,
            "got": len(cleaned),
        }
    if any(ch not in codes.ALPHABET for ch in cleaned):
        return _("A receipt uses only the digits 0–9 and the letters A–Z except I, L, O and U.")
    return _(
        "A character seems mistyped: the last character of the receipt does not match the others. Please check it."
    )


def status_text(case: Case, *, answered: bool = False) -> str:
    """Where the application stands, in words. ``answered``: an operator's reply is the last word,
    so the page must not promise an answer that is already there."""
    status = Status(case.status)
    if status in (Status.NEW, Status.TRIAGE):
        if answered:
            return _("An operator has answered: the reply is below. You can write back.")
        return _("Your application has been received. An operator will answer as soon as they can.")
    if status == Status.WAITING:
        return _("An operator has answered and is waiting for your reply.")
    if status in OPEN:
        return _("Operators are working on your application.")
    return _("Your application is closed. If you need help again, you can apply again at any time.")


@dataclass(frozen=True)
class Opened:
    case: Case
    row: Receipt
    receipt: str  # canonical


def _open(request: HttpRequest, lang: str) -> Opened | HttpResponse:
    """The case a posted receipt opens, or the page that says why not."""
    text = clean_field(request, "receipt", MAX_RECEIPT)
    if text is None:
        return _form(request, lang, _("That is far too long to be a receipt."), status=400)
    wrong = receipt_problem(text)
    if wrong is not None:
        return _form(request, lang, wrong, typed=text, status=400)
    key = limits.client_key(request)
    wait = limits.get().admit_receipt(key)
    if wait:
        return too_many(lang, wait)
    canonical = receipts.parse_receipt(text)
    row = Receipt.objects.filter(index=actions.receipt_index(canonical)).select_related("case").first()
    if row is None or row.case.is_shredded:
        limits.get().receipt_failed(key)
        return _form(
            request,
            lang,
            _(
                "No application was found for this receipt. Please check it. Applications are erased "
                "some time after they are closed."
            ),
            typed=text,
            status=404,
        )
    return Opened(row.case, row, canonical)


def _form(request: HttpRequest, lang: str, error: str = "", typed: str = "", status: int = 200) -> HttpResponse:
    return render(
        request,
        lang,
        "portal/receipt_form.html",
        "receipt",
        {"doc": content.page(lang, "receipt"), "error": error, "typed": typed[:MAX_RECEIPT]},
        status=status,
    )


def _answered(view: mailbox.MailboxView) -> bool:
    """An operator's reply came after the applicant's last message (or the application itself)."""
    if not view.replies:
        return False
    return view.last_sent_at is None or view.replies[-1].created_at >= view.last_sent_at


def _mailbox(request: HttpRequest, lang: str, opened: Opened, notice: str = "") -> HttpResponse:
    with write_turn():
        view = mailbox.read(opened.case, opened.row, opened.receipt)
    return render(
        request,
        lang,
        "portal/mailbox.html",
        "receipt",
        {
            "view": view,
            "status": status_text(view.case, answered=_answered(view)),
            "can_write": Status(view.case.status) in OPEN,
            "receipt": receipts.display(opened.receipt),
            "notice": notice,
            "max_message": MAX_MESSAGE,
        },
    )


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@speaks
def receipt(request: HttpRequest, lang: str) -> HttpResponse:
    if request.method != "POST":
        return _form(request, lang)
    if from_elsewhere(request):
        return refused_elsewhere(request, lang)
    try:
        opened = _open(request, lang)
        if isinstance(opened, HttpResponse):
            return opened
        return _mailbox(request, lang, opened)
    except DatabaseError as exc:
        return unavailable(request, lang, exc)


@csrf_exempt
@require_POST
@speaks
def write(request: HttpRequest, lang: str) -> HttpResponse:
    """A new message, or an update of the details ("I am now at the front"), for the operators."""
    if from_elsewhere(request):
        return refused_elsewhere(request, lang)
    kind = request.POST.get("kind", "message")
    body = clean_field(request, "body", MAX_MESSAGE)
    if kind not in ("message", "update"):
        return problem(request, lang, _("This form button is not known."), slug="receipt")
    if body is None:
        return problem(
            request,
            lang,
            _("A message can be at most %(n)s characters.") % {"n": MAX_MESSAGE},
            status=413,
            slug="receipt",
        )
    try:
        opened = _open(request, lang)
        if isinstance(opened, HttpResponse):
            return opened
        if not body.strip():
            return _mailbox(request, lang, opened, _("The message was empty, so nothing was sent."))
        if Status(opened.case.status) not in OPEN:
            return _mailbox(request, lang, opened, _("This application is closed, so the message was not sent."))
        text = f"[update] {body.strip()}" if kind == "update" else body.strip()
        with write_turn(), transaction.atomic(), audit.batch():
            actions.do_add_message(
                mailbox.ACTOR, opened.case, direction=Direction.INBOUND, channel=ChannelKind.WEB, body=text
            )
        opened.case.refresh_from_db()
        sent = _("Your update has been sent.") if kind == "update" else _("Your message has been sent.")
        return _mailbox(request, lang, opened, sent)
    except DatabaseError as exc:
        return unavailable(request, lang, exc)
