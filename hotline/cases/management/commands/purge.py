"""``hotline purge``: crypto-shred finished cases past retention now (the worker does it hourly)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from hotline.cases.retention import expired_cases, purge_expired


class Command(BaseCommand):
    help = "Erase (crypto-shred) cases finished longer than HOTLINE_RETENTION_DAYS ago."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="override HOTLINE_RETENTION_DAYS for this run")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be erased")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.HOTLINE_RETENTION_DAYS if options["days"] is None else options["days"]
        if days < 0:
            self.stderr.write("--days cannot be negative")
            raise SystemExit(2)
        if options["dry_run"]:
            n = len(expired_cases(timezone.now(), days))
            self.stdout.write(f"{n}{'+' if n >= 1000 else ''} case(s) would be erased.")
            return
        n = purge_expired(days=days)
        self.stdout.write(self.style.SUCCESS(f"{n} case(s) erased."))
