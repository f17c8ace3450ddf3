"""``hotline audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hotline.audit import log


class Command(BaseCommand):
    help = "Verify the audit log: report every edited, deleted or reordered event."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="walk the hash chain and report breaks")
        verify.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        result = log.verify()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "checked": result.checked,
                        "head": result.head_seq,
                        "breaks": [{"seq": b.seq, "problem": b.problem} for b in result.breaks],
                    }
                )
            )
        elif result.ok:
            seq, digest = log.head()
            self.stdout.write(self.style.SUCCESS(f"Audit log intact: {result.checked} event(s), head {seq} {digest}."))
        else:
            for brk in result.breaks:
                self.stderr.write(str(brk))
        if not result.ok:
            raise CommandError(f"the audit log is broken in {len(result.breaks)} place(s)")
