"""Figure releases: what the spokesperson may publish.

A release is prepared by an analyst (period, breakdowns, a short text per language); its published
numbers are computed once, at preparation, by controlled rounding (``hotline.core.disclosure``) with a
random seed kept on the row, and frozen here as JSON. Approval publishes it. An approved release is
never changed: a correction is a new version of the same lineage that supersedes it, and the old
one stays. Only ``hotline.figures.releases`` writes these rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class ReleaseImmutable(Exception):
    """An approved release was about to be changed."""


class Release(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"  # prepared, waiting for approval: never leaves the console
        APPROVED = "approved"  # published

    # The first version's id; every version of one release shares it.
    lineage = models.PositiveBigIntegerField(null=True, db_index=True)
    version = models.PositiveIntegerField(default=1)
    supersedes = models.ForeignKey("self", null=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    period_start = models.DateField()
    period_end = models.DateField()  # inclusive
    breakdowns = models.JSONField()  # names, in the order chosen
    texts = models.JSONField()  # {"ru": "...", "uk": "...", "en": "..."}
    seed = models.BigIntegerField()
    # {"total": int, "cumulative": int, "tables": [{"name", "cells": {key: int}, "total"}], "base": 5}
    published = models.JSONField()
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    prepared_at = models.DateTimeField()
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lineage", "version"], name="release_unique_version")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and Release.objects.filter(pk=self.pk, state=Release.State.APPROVED).exists():
            raise ReleaseImmutable(f"release {self.pk} is published and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self.state == Release.State.APPROVED:
            raise ReleaseImmutable(f"release {self.pk} is published and cannot be deleted")
        return super().delete(*args, **kwargs)


class FigureDay(models.Model):
    """The count of cases opened on one finished day, per value of one field (``field="total"``: all of
    them, written for every tallied day, zero included — its presence says the day is tallied).

    Kept by the worker (``figures-tally``) for days before today, so counting a year of a million
    cases reads a few thousand rows, and so the counts of a published day never change afterwards
    (a later edit of a case's category is not a change of what was published)."""

    day = models.DateField()
    field = models.CharField(max_length=16)
    value = models.CharField(max_length=32)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "day", "value"], name="figure_day_unique")]
