"""Versions of the portal's page texts. Public text, not sealed: the website shows it to anyone.

Write them only through ``hotline.pagetexts.actions``: a version is never changed or deleted, a
rollback is a new version with old text.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PageVersion(models.Model):
    """One saved text of one page (``slug``) in one language; the highest ``number`` is what shows."""

    slug = models.CharField(max_length=32)
    language = models.CharField(max_length=8)
    number = models.PositiveIntegerField()
    # The page text in the portal's markup (hotline/portal/markup.py); empty when ``uses_file``.
    text = models.TextField(blank=True)
    # True: this version hands the page back to its file (the shipped text or the deployment's own).
    uses_file = models.BooleanField(default=False)
    # The version whose text this one restores (0: the file), or None for an edit.
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Kept when the staff account is gone.
    author_label = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["slug", "language", "number"]
        # The unique index also serves the portal's one query per page view: newest version of a page.
        constraints = [models.UniqueConstraint(fields=["slug", "language", "number"], name="pagetexts_version_unique")]

    def __str__(self) -> str:
        return f"{self.language}/{self.slug} v{self.number}"
