"""``hotline flows check FILE``: validate a flow file before deploying it."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hotline.core.flow import check_flow_file


class Command(BaseCommand):
    help = "Check flow files: unknown or unreachable steps, missing translations, choices without a branch."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="validate one or more flow files")
        check.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for path in options["files"]:
            if not path.is_file():
                self.stderr.write(f"{path}: no such file")
                failed += 1
                continue
            errors = check_flow_file(path)
            if errors:
                failed += 1
                for error in errors:
                    self.stderr.write(error)
            else:
                self.stdout.write(self.style.SUCCESS(f"{path}: OK"))
        if failed:
            raise CommandError(f"{failed} flow file(s) have problems")
