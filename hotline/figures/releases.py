"""The only writers of releases. Each action runs in one transaction and records an audit event.

* :func:`do_prepare` — an analyst (or supervisor, admin) chooses a period, the breakdowns and a short
  text per language. The counts are taken now, rounded (:func:`published_numbers`: consistently
  across releases, docs/figures.md), audited as an attacker would, and the rounded numbers are frozen
  into the release. Nothing else about the counts is kept.
* :func:`do_approve` — a supervisor or admin other than the preparer (four eyes) approves a draft:
  it is published as it is, and never changes again.
* :func:`do_discard` — a draft nobody approved can be thrown away.
* A correction is prepared with ``corrects=`` an approved release: a new version of the same
  lineage, published on approval, shown instead of the old one, which stays.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline.accounts.models import User
from hotline.audit import log as audit
from hotline.core.actor import Actor
from hotline.core.disclosure import ConsistentRounding, round_tables
from hotline.core.lifecycle import Role
from hotline.figures import compute
from hotline.figures.models import Release
from hotline.keyring import server_keys

log = logging.getLogger("hotline.figures")

BASE = 5
PREPARERS = frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})
APPROVERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
FIRST_DAY = date(2022, 1, 1)  # nothing the hotline counts is older
MAX_DAYS = 5 * 366  # a release covers at most five years (weekly tables stay readable)
MAX_TEXT = 1000
TEXT_LANGUAGES = ("ru", "uk", "en")


class ReleaseError(Exception):
    """A request the actions refuse; the message says why (shown to staff, 4xx)."""


@dataclass(frozen=True)
class Request:
    start: date
    end: date
    breakdowns: tuple[str, ...]
    texts: Mapping[str, str]


def check(request: Request, *, today: date | None = None) -> None:
    today = today or timezone.localdate()
    if request.start < FIRST_DAY:
        raise ReleaseError(_("The period cannot start before %(day)s.") % {"day": FIRST_DAY.isoformat()})
    if request.end >= today:
        raise ReleaseError(_("The period must end before today: a day still under way is not counted."))
    if request.end < request.start:
        raise ReleaseError(_("The period ends before it starts."))
    if (request.end - request.start).days + 1 > MAX_DAYS:
        raise ReleaseError(_("The period is too long: at most %(days)s days.") % {"days": MAX_DAYS})
    if not request.breakdowns:
        raise ReleaseError(_("Choose at least one breakdown."))
    unknown = [b for b in request.breakdowns if b not in compute.BREAKDOWNS]
    if unknown:
        raise ReleaseError(_("Unknown breakdown: %(names)s") % {"names": ", ".join(sorted(unknown))[:200]})
    if len(set(request.breakdowns)) != len(request.breakdowns):
        raise ReleaseError(_("A breakdown is chosen twice."))
    if set(request.texts) - set(TEXT_LANGUAGES):
        raise ReleaseError(_("Texts are in Russian, Ukrainian and English only."))
    for language, text in request.texts.items():
        if len(text) > MAX_TEXT:
            raise ReleaseError(
                _("The %(language)s text is too long: at most %(n)s characters.")
                % {"language": language, "n": MAX_TEXT}
            )


def rounding_secret() -> int:
    """The installation's private number for rounding consistently across releases (derived from the
    index key, so it is never stored and never published)."""
    return int.from_bytes(server_keys.get().blind_index("figures:rounding", "v1")[:8], "big")


def published_numbers(request: Request, seed: int) -> dict[str, object]:
    """Count in the database and round: what the release will publish, and nothing else.

    * The period's total and every time series are rounded on the running count since the launch
      (``ConsistentRounding``): a period shows the same figures in every release, and consecutive
      periods add up to the "since the launch" figure exactly, so no two releases can be subtracted
      to pin a small count.
    * The breakdowns (channel, category, …) are controlled-rounded to that total with the release's
      seed. Releases cover separate periods (:func:`do_prepare` refuses an overlap), and a correction
      reuses its predecessor's seed, so no two breakdowns of the same cases are rounded apart.
    * Before anything is kept, the attacker's audit (``figures_audit``) must find no count below the
      threshold that these numbers pin down.
    """
    rounding = ConsistentRounding(rounding_secret(), base=BASE)
    period = compute.Period(request.start, request.end)
    before = compute.total_until(request.start - timedelta(days=1))
    count = compute.total(period)
    published_total = rounding.period_total(count, before=before)
    fields = [n for n in request.breakdowns if n in compute.FIELD_BREAKDOWNS]
    field_true = {n: compute.breakdown(period, n) for n in fields}
    if len({sum(t.values()) for t in field_true.values()} | {count}) > 1:
        # The tally and the cases disagree (cases dated into a tallied day, a changed time zone):
        # count this release from the cases alone, so its tables describe one population.
        log.warning("figures: the daily tally disagrees with the cases; counting the release from the cases")
        field_true = {n: compute.breakdown(period, n, from_cases=True) for n in fields}
        count = sum(next(iter(field_true.values())).values())
    series_true = {n: compute.breakdown(period, n) for n in request.breakdowns if n in compute.TIME_BREAKDOWNS}
    rounded = (
        {t.name: t for t in round_tables(field_true, base=BASE, seed=seed, published_total=published_total)}
        if field_true
        else {}
    )
    for name, counts in series_true.items():
        rounded[name] = rounding.series(name, counts, before=before)
    from hotline.figures_audit import audit_tables  # scipy, only when a release is prepared

    true_tables = {**field_true, **series_true}
    violations = audit_tables(true_tables, list(rounded.values()), base=BASE) if true_tables else []
    if violations:
        raise ReleaseError(_("These figures would let a reader work out a count under 5; the release is refused."))
    return {
        "base": BASE,
        "total": published_total,
        "cumulative": rounding.cumulative(before + count),
        "tables": [
            {"name": name, "cells": dict(rounded[name].cells), "total": rounded[name].total}
            for name in request.breakdowns
        ],
    }


def _overlapping(request: Request, corrects: Release | None) -> Release | None:
    """A published release of another lineage whose period shares a day with the request's."""
    found = Release.objects.filter(
        state=Release.State.APPROVED, period_start__lte=request.end, period_end__gte=request.start
    )
    if corrects is not None:
        found = found.exclude(lineage=corrects.lineage)
    return found.order_by("period_start").first()


def do_prepare(actor: Actor, user: User, request: Request, *, corrects: Release | None = None) -> Release:
    if user.staff_role not in PREPARERS:
        raise ReleaseError(_("Only analysts, supervisors and admins prepare releases."))
    check(request)
    if corrects is not None and corrects.state != Release.State.APPROVED:
        raise ReleaseError(_("Only a published release can be corrected."))
    other = _overlapping(request, corrects)
    if other is not None:
        raise ReleaseError(
            _(
                "The period overlaps a published release (%(start)s – %(end)s): releases cover separate periods, "
                "so that no two of them can be subtracted. Correct that release instead, or choose other days."
            )
            % {"start": other.period_start.isoformat(), "end": other.period_end.isoformat()}
        )
    # A correction keeps its predecessor's seed: the same cases are never rounded two ways.
    seed = corrects.seed if corrects is not None else secrets.randbits(62)
    numbers = published_numbers(request, seed)
    with transaction.atomic():
        release = Release(
            state=Release.State.DRAFT,
            period_start=request.start,
            period_end=request.end,
            breakdowns=list(request.breakdowns),
            texts={k: v.strip() for k, v in request.texts.items() if v.strip()},
            seed=seed,
            published=numbers,
            prepared_by=user,
            prepared_at=timezone.now(),
        )
        if corrects is not None:
            latest = Release.objects.filter(lineage=corrects.lineage).order_by("-version").first()
            release.lineage = corrects.lineage
            release.version = (latest.version if latest else corrects.version) + 1
            release.supersedes = corrects
        release.save()
        if release.lineage is None:
            Release.objects.filter(pk=release.pk).update(lineage=release.pk)
            release.lineage = release.pk
        audit.record(
            actor,
            "figures.release.prepare",
            "release",
            release.pk,
            {
                "period": f"{request.start.isoformat()}/{request.end.isoformat()}",
                "breakdowns": list(request.breakdowns),
                "version": release.version,
                "corrects": corrects.pk if corrects else None,
            },
        )
    return release


def do_approve(actor: Actor, user: User, release_id: int) -> Release:
    if user.staff_role not in APPROVERS:
        raise ReleaseError(_("Only supervisors and admins approve releases."))
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(pk=release_id).first()
        if release is None:
            raise ReleaseError(_("There is no such release."))
        if release.state != Release.State.DRAFT:
            raise ReleaseError(_("This release is already published."))
        if release.prepared_by_id == user.pk:
            raise ReleaseError(_("Someone other than the person who prepared a release approves it."))
        if (
            release.supersedes_id is not None
            and Release.objects.filter(
                lineage=release.lineage, state=Release.State.APPROVED, version__gt=release.version
            ).exists()
        ):
            raise ReleaseError(_("A newer version of this release is already published."))
        now = timezone.now()
        Release.objects.filter(pk=release.pk, state=Release.State.DRAFT).update(
            state=Release.State.APPROVED, approved_by=user, approved_at=now
        )
        audit.record(actor, "figures.release.approve", "release", release.pk, {"version": release.version})
    release.refresh_from_db()
    return release


def do_discard(actor: Actor, user: User, release_id: int) -> None:
    if user.staff_role not in PREPARERS:
        raise ReleaseError(_("Only analysts, supervisors and admins handle releases."))
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(pk=release_id).first()
        if release is None:
            raise ReleaseError(_("There is no such release."))
        if release.state != Release.State.DRAFT:
            raise ReleaseError(_("A published release is never deleted; publish a correction instead."))
        audit.record(actor, "figures.release.discard", "release", release.pk, {"version": release.version})
        release.delete()


def public_releases() -> list[Release]:
    """What the public sees: per lineage the newest approved version, newest first."""
    approved = list(Release.objects.filter(state=Release.State.APPROVED).order_by("-approved_at", "-pk"))
    seen: set[int | None] = set()
    shown: list[Release] = []
    for release in sorted(approved, key=lambda r: -r.version):
        if release.lineage not in seen:
            seen.add(release.lineage)
            shown.append(release)
    shown.sort(key=lambda r: (r.approved_at, r.pk), reverse=True)
    return shown


def public_release(release_id: int) -> Release | None:
    """An approved release by id (an older, superseded version too: it stays at its address)."""
    return Release.objects.filter(pk=release_id, state=Release.State.APPROVED).first()


def superseded_by(release: Release) -> Release | None:
    return (
        Release.objects.filter(lineage=release.lineage, state=Release.State.APPROVED, version__gt=release.version)
        .order_by("-version")
        .first()
    )


def default_period(today: date | None = None) -> tuple[date, date]:
    """Last full calendar month."""
    today = today or timezone.localdate()
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def tables_of(release: Release) -> Sequence[dict[str, object]]:
    return list(release.published.get("tables", []))
