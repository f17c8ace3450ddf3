"""``hotline backup``: a consistent copy of the database, without key material."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hotline.cases.backup import BackupError, backup, default_path


class Command(BaseCommand):
    help = "Write a consistent backup of the database (keys are backed up separately; see docs/operations.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", type=Path, help="file to write (default: under HOTLINE_BACKUP_DIR)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = backup(options["output"] or default_path())
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(path))
