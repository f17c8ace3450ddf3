"""A published release as the public gets it: page context (tables, charts), CSV, JSON and the Atom
feed. Everything here reads the release's frozen numbers only, never the cases, so what the public
sees is exactly what was approved."""

from __future__ import annotations

import csv
import functools
import io
import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hotline.figures import charts, texts
from hotline.figures.models import Release

ATOM_NS = "http://www.w3.org/2005/Atom"


def title(release: Release, language: str) -> str:
    words = {"en": "Figures", "ru": "Цифры", "uk": "Цифри"}[language]
    start, end = release.period_start.isoformat(), release.period_end.isoformat()
    version = f" (v{release.version})" if release.version > 1 else ""
    return f"{words}: {start} — {end}{version}"


@functools.lru_cache(maxsize=256)
def _chart(release_id: int, name: str, language: str, labels: tuple[str, ...], values: tuple[int, ...]) -> str:
    # Keyed by the release id too: a published release never changes, so its charts never do.
    return charts.bar_chart(labels, values, title=texts.table_label(name, language), line=name in ("month", "week"))


def tables(release: Release, language: str, *, with_charts: bool = True) -> list[dict[str, Any]]:
    out = []
    for table in release.published.get("tables", []):
        name = table["name"]
        rows = [(texts.cell_label(name, key, language), int(n)) for key, n in table["cells"].items()]
        chart = ""
        if with_charts and rows:
            labels = tuple(label for label, _n in rows)
            chart = _chart(release.pk, name, language, labels, tuple(n for _label, n in rows))
        out.append(
            {
                "name": name,
                "label": texts.table_label(name, language),
                "rows": [(label, texts.number(n, language)) for label, n in rows],
                "total": texts.number(int(table["total"]), language),
                "chart": chart,
            }
        )
    return out


def as_json(release: Release) -> str:
    data = {
        "release": release.pk,
        "lineage": release.lineage,
        "version": release.version,
        "supersedes": release.supersedes_id,
        "period": {"start": release.period_start.isoformat(), "end": release.period_end.isoformat()},
        "published_at": release.approved_at.isoformat() if release.approved_at else None,
        "rounding_base": release.published.get("base", 5),
        "total": release.published["total"],
        "since_launch": release.published["cumulative"],
        "tables": [{"name": t["name"], "cells": t["cells"], "total": t["total"]} for t in release.published["tables"]],
        "texts": release.texts,
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def as_csv(release: Release, language: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["release", "version", "period_start", "period_end", "table", "cell", "label", "count"])
    head = [release.pk, release.version, release.period_start.isoformat(), release.period_end.isoformat()]
    for table in release.published["tables"]:
        name = table["name"]
        for key, n in table["cells"].items():
            writer.writerow([*head, name, key, texts.cell_label(name, key, language), n])
        writer.writerow([*head, name, "total", "", table["total"]])
    writer.writerow([*head, "all", "total", "", release.published["total"]])
    writer.writerow([*head, "all", "since_launch", "", release.published["cumulative"]])
    return buffer.getvalue()


def atom(releases: list[Release], language: str, *, self_href: str, link_of: Any) -> str:
    """The feed for journalists: one entry per published release (newest first), with the summary.
    Links are relative to the feed's own address, so it works on every mirror and from the export."""
    updated = max((r.approved_at for r in releases if r.approved_at), default=None)
    feed_title = {"en": "Hotline figures", "ru": "Цифры горячей линии", "uk": "Цифри гарячої лінії"}[language]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="{ATOM_NS}" xml:lang="{language}">',
        f"<title>{escape(feed_title)}</title>",
        f"<id>urn:hotline:figures:{language}</id>",
        f"<updated>{(updated.isoformat() if updated else '1970-01-01T00:00:00+00:00')}</updated>",
        f'<link rel="self" href={quoteattr(self_href)}/>',
        "<author><name>Hotline</name></author>",
    ]
    for release in releases:
        when = release.approved_at.isoformat() if release.approved_at else ""
        lines += [
            "<entry>",
            f"<title>{escape(title(release, language))}</title>",
            f"<id>urn:hotline:release:{release.pk}</id>",
            f"<updated>{when}</updated>",
            f"<published>{when}</published>",
            f'<link rel="alternate" type="text/html" href={quoteattr(link_of(release))}/>',
            f"<summary>{escape(texts.summary(release, language))}</summary>",
            f'<content type="text">{escape(release.texts.get(language, ""))}</content>',
            "</entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"
