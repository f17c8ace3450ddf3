"""``hotline kb load [DIR]`` and ``hotline kb ask --lang ru "question"``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hotline.kb import search
from hotline.kb.actions import KbError
from hotline.kb.content import LANGUAGES, ContentError
from hotline.kb.loader import load_directory


class Command(BaseCommand):
    help = "The knowledge base: load the starter articles, or ask it a question as the bot would."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="create or update articles from *.yaml files (safe to run again)")
        load.add_argument("directory", nargs="?", type=Path, help="default: HOTLINE_KB_DIR")
        load.add_argument("--force", action="store_true", help="overwrite articles edited in the console")
        ask = sub.add_parser("ask", help="print the article the bot would answer with, as JSON")
        ask.add_argument("question")
        ask.add_argument("--lang", default="ru", choices=LANGUAGES)
        ask.add_argument("--limit", type=int, default=3, help="how many alternatives to list")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            self._load(options["directory"] or settings.HOTLINE_KB_DIR, options["force"])
        else:
            self._ask(options["question"], options["lang"], options["limit"])

    def _load(self, directory: Path, force: bool) -> None:
        try:
            report = load_directory(directory, force=force)
        except (ContentError, KbError) as exc:
            raise CommandError(str(exc)) from exc
        for slug in report.kept:
            self.stderr.write(f"{slug}: edited in the console since it was loaded; kept (use --force to overwrite)")
        self.stdout.write(self.style.SUCCESS(f"{directory}: {report.summary()}"))

    def _ask(self, question: str, language: str, limit: int) -> None:
        found = search.search(question, language, limit=max(1, limit))
        top = found[0] if found else None
        result = {
            "question": question,
            "language": language,
            "slug": top.slug if top else None,
            "title": top.title if top else None,
            "score": top.score if top else 0.0,
            "confident": top.confident if top else False,
            "margin": top.margin if top else 0.0,
            "coverage": top.coverage if top else 0.0,
            "matched_question": top.matched_question if top else None,
            "alternatives": [{"slug": m.slug, "score": m.score} for m in found[1:]],
        }
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
