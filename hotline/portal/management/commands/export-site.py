"""``hotline export-site DIR``: the information pages as a static site, for any mirror or file host."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hotline.portal import export


class Command(BaseCommand):
    help = "Write the portal's information pages as a static site (relative links) into DIR."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("directory", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            written = export.export_site(options["directory"])
        except export.ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {len(written)} files to {options['directory']}")
