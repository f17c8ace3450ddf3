"""``hotline audit verify`` / ``hotline audit anchor``: check the audit log's hash chain against its anchors."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from hotline.audit import anchors, log


class Command(BaseCommand):
    help = "Verify the audit log: report every edited, deleted, reordered or truncated event."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="walk the hash chain and check it against the anchors")
        verify.add_argument("--json", action="store_true")
        verify.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="an anchor kept outside this machine (printed by `hotline audit anchor`); repeatable",
        )
        verify.add_argument("--no-anchor-file", action="store_true", help="ignore the anchor file")
        anchor = sub.add_parser("anchor", help="print the chain head as SEQ:HASH and add it to the anchor file")
        anchor.add_argument("--print-only", action="store_true", help="do not write the anchor file")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "anchor":
            self._anchor(print_only=options["print_only"])
            return
        try:
            given = [anchors.parse(text) for text in options["anchor"]]
        except anchors.AnchorError as exc:
            raise CommandError(str(exc)) from None
        result = log.verify(given, anchor_file=not options["no_anchor_file"])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "checked": result.checked,
                        "head": result.head_seq,
                        "anchors": result.anchors,
                        "breaks": [{"seq": b.seq, "problem": b.problem} for b in result.breaks],
                    }
                )
            )
        elif result.ok:
            seq, digest = log.head()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Audit log intact: {result.checked} event(s), checked against {result.anchors} anchor(s); "
                    f"head {seq}:{digest}"
                )
            )
        else:
            for brk in result.breaks:
                self.stderr.write(str(brk))
        if not result.ok:
            raise CommandError(f"the audit log is broken in {len(result.breaks)} place(s)")

    def _anchor(self, *, print_only: bool) -> None:
        if print_only:
            seq, digest = log.head()
        else:
            seq, digest = log.anchor_head()
        self.stdout.write(f"{seq}:{digest}")
