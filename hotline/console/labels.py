"""Words for the values the console shows (statuses, channels, categories…), in the reader's language.

Values are stored as stable English codes; this is the one place that turns them into words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

LABELS: dict[str, Promise] = {
    # statuses
    "new": _("new"),
    "triage": _("in triage"),
    "waiting": _("waiting for applicant"),
    "ready": _("ready for handoff"),
    "handed_off": _("handed off"),
    "completed": _("completed"),
    "closed": _("closed"),
    "rejected": _("rejected"),
    # channels
    "telegram": _("Telegram"),
    "web": _("website"),
    "phone": _("phone"),
    # categories
    "serviceman": _("serviceman"),
    "mobilized": _("mobilized"),
    "awaiting_mobilization": _("awaiting mobilization"),
    "relative": _("relative"),
    "occupied_resident": _("resident of occupied territory"),
    "other": _("other"),
    "unknown": _("unknown"),
    # regions
    "russia": _("Russia"),
    "crimea": _("Crimea"),
    "occupied_other": _("other occupied territory"),
    "belarus": _("Belarus"),
    # priorities
    "normal": _("normal"),
    "high": _("high"),
    "urgent": _("urgent"),
    # delivery
    "received": _("received"),
    "queued": _("queued"),
    "sent": _("sent"),
    "failed": _("failed"),
    # reject reasons
    "probe": _("probe"),
    "spam": _("spam"),
    # handoff outcomes
    "accepted": _("accepted: handing off now"),
    "returned": _("returned to operators"),
    # preferences after surrender
    "exchange": _("exchange (return home)"),
    "stay_in_ukraine": _("stay in Ukraine"),
    "third_country": _("go to a third country"),
    "undecided": _("undecided"),
    # calls and callbacks (the phone line)
    "menu": _("in the voice menu"),
    "ringing": _("ringing operators"),
    "talking": _("talking"),
    "recording": _("leaving a voicemail"),
    "requested": _("requested"),
    "calling": _("calling"),
    "done": _("done"),
    # roles
    "operator": _("operator"),
    "supervisor": _("supervisor"),
    "coordinator": _("coordinator"),
    "analyst": _("analyst"),
    "admin": _("admin"),
}
# Why a priority changed (hotline/core/metadata.PriorityReason): a code in the audit log, words here.
PRIORITY_REASON_LABELS: dict[str, Promise] = {
    "wounded": _("wounded or ill"),
    "talk_to_person": _("asked to talk to a person"),
    "callback": _("asked for a callback"),
    "voicemail": _("left a voicemail"),
    "missed_call": _("missed call"),
    "deadline": _("a deadline is near"),
    "safety_risk": _("safety risk"),
    "resolved": _("the urgency is over"),
    "other": _("other reason"),
}
# Words that differ by context: an outcome "completed"/"failed" vs the status of that name.
OUTCOME_LABELS: dict[str, Promise] = {
    "accepted": _("accepted: handing off now"),
    "returned": _("returned to operators"),
    "completed": _("completed: the person is safe"),
    "failed": _("failed: the handoff did not happen"),
}


def label(value: object) -> str:
    text = str(value)
    return str(LABELS.get(text, text))


def reason_label(code: object) -> str:
    text = str(code)
    return str(PRIORITY_REASON_LABELS.get(text, text))


def priority_change(details: dict[str, Any]) -> str:
    """A ``case.priority`` audit event in words: "priority: normal → urgent (wounded or ill)"."""
    if "to" not in details:  # an event written before changes had to give a reason
        return gettext("priority: %(priority)s") % {"priority": label(details.get("priority", ""))}
    return gettext("priority: %(from)s → %(to)s (%(reason)s)") % {
        "from": label(details.get("from", "")),
        "to": label(details.get("to", "")),
        "reason": reason_label(details.get("reason", "")),
    }


def compact_age(when: datetime | None, now: datetime) -> str:
    """A duration for dense tables: "7 min", "3 h 12 min", "4 d"."""
    if when is None:
        return "—"
    minutes = max(0, int((now - when).total_seconds() // 60))
    if minutes < 60:
        return gettext("%(m)s min") % {"m": minutes}
    if minutes < 48 * 60:
        return gettext("%(h)s h %(m)s min") % {"h": minutes // 60, "m": minutes % 60}
    return gettext("%(d)s d") % {"d": minutes // (24 * 60)}
