"""Knowledge base search: accuracy on held-out questions, and answer latency beside a same-run baseline.

    .venv/bin/python bench/kb.py            # the figures (one JSON object)
    .venv/bin/python bench/kb.py --tune     # tune the ranking weights and confidence thresholds

Accuracy is measured on ``bench/kb_eval/{ru,uk,en}.yaml``: paraphrased questions written separately
from the articles (other wording, typos, colloquial speech), at least five per article and language,
plus off-topic questions the bot must not answer on its own. That set is never used for tuning.

Three methods, each given the same published articles:

* ``lemma_bm25`` — the hotline's search (``hotline.kb.engine``): pymorphy3 lemmas for ru/uk, Snowball
  stems for en, fused with the words as written, BM25 over question variants and titles, typo
  correction; reported as the API answers (also looking in the language the letters suggest) and in
  the question's language only;
* ``tokens_bm25`` — the same ranking over surface words (no lemmas, no typo correction): what the
  morphology is worth;
* ``fts5`` — SQLite FTS5 (unicode61 tokenizer, built-in bm25 ranking) over the same variants and
  answers, the full-text search an embedded installation has for free.

``--tune`` (about three minutes) uses only the articles' own question variants: each variant is asked of an index built
without it (leave-one-out) for the ranking weights; for the confidence thresholds, each is also asked
of an index without its whole article, so that "the knowledge base has no answer" is represented.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotline.kb.content import LANGUAGES, ArticleFile, read_directory  # noqa: E402
from hotline.kb.engine import DEFAULT_TUNING, Entry, Index, LanguageIndex, Match, Tuning  # noqa: E402
from hotline.kb.text import STOP_WORDS, analyzer, fold, words  # noqa: E402

ARTICLES = ROOT / "kb" / "articles"
EVAL = ROOT / "bench" / "kb_eval"


def entries_by_language(articles: Iterable[ArticleFile]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {lang: [] for lang in LANGUAGES}
    for a in articles:
        for lang, t in a.texts.items():
            out[lang].append(Entry(a.slug, t.title, t.questions, t.answer))
    return out


@dataclass(frozen=True)
class Question:
    language: str
    text: str
    slug: str | None  # None: off-topic, nothing should be answered confidently


def read_eval(directory: Path) -> list[Question]:
    out = []
    for lang in LANGUAGES:
        data = yaml.safe_load((directory / f"{lang}.yaml").read_text(encoding="utf-8"))
        for slug, questions in data["articles"].items():
            out += [Question(lang, q, slug) for q in questions]
        out += [Question(lang, q, None) for q in data.get("off_topic", [])]
    return out


# --- the comparison: SQLite FTS5 ----------------------------------------------------------------------


class Fts5:
    """One FTS5 table of variants and answers; a question's words are OR-ed, ranked by bm25()."""

    def __init__(self, entries: dict[str, list[Entry]]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(slug UNINDEXED, lang UNINDEXED, question, answer,"
            " tokenize = 'unicode61 remove_diacritics 2')"
        )
        rows = []
        for lang, items in entries.items():
            for e in items:
                rows += [(e.slug, lang, fold(q), "") for q in (e.title, *e.questions)]
                rows.append((e.slug, lang, "", fold(e.answer)))
        self.db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", rows)
        # bm25 weights per column (slug, lang, question, answer): the answer counts for a tenth.
        self.db.execute("INSERT INTO docs(docs, rank) VALUES ('rank', 'bm25(0, 0, 1.0, 0.1)')")

    def rank(self, text: str, language: str, limit: int = 5) -> list[str]:
        terms = [w for w in words(text, language) if len(w) > 1 and w not in STOP_WORDS[language]]
        if not terms:
            return []
        query = " OR ".join('"' + t.replace('"', "") + '"' for t in dict.fromkeys(terms))
        rows = self.db.execute(
            "SELECT slug FROM docs WHERE docs MATCH ? AND lang = ? ORDER BY rank LIMIT 400", (query, language)
        ).fetchall()
        return list(dict.fromkeys(slug for (slug,) in rows))[:limit]


# --- accuracy ---------------------------------------------------------------------------------------------


def accuracy(questions: list[Question], top: Callable[[Question], list[Match]]) -> dict[str, dict[str, float]]:
    """Per language: top-1 and top-3 accuracy; the share of confident answers and their accuracy;
    the share of off-topic questions answered confidently (should be near 0)."""
    out: dict[str, dict[str, float]] = {}
    for lang in LANGUAGES:
        on = [q for q in questions if q.language == lang and q.slug]
        off = [q for q in questions if q.language == lang and not q.slug]
        results = [(q, top(q)) for q in on]
        top1 = sum(1 for q, r in results if r and r[0].slug == q.slug)
        top3 = sum(1 for q, r in results if any(m.slug == q.slug for m in r[:3]))
        confident = [(q, r[0]) for q, r in results if r and r[0].confident]
        right = sum(1 for q, m in confident if m.slug == q.slug)
        off_confident = sum(1 for q in off if (r := top(q)) and r[0].confident)
        out[lang] = {
            "questions": len(on),
            "top1": round(top1 / len(on), 3),
            "top3": round(top3 / len(on), 3),
            "confident_share": round(len(confident) / len(on), 3),
            "confident_accuracy": round(right / len(confident), 3) if confident else 0.0,
            "off_topic_questions": len(off),
            "off_topic_confident": round(off_confident / len(off), 3) if off else 0.0,
        }
    return out


def top1_only(questions: list[Question], rank: Callable[[Question], list[str]]) -> dict[str, dict[str, float]]:
    out = {}
    for lang in LANGUAGES:
        on = [q for q in questions if q.language == lang and q.slug]
        ranked = [(q, rank(q)) for q in on]
        out[lang] = {
            "questions": len(on),
            "top1": round(sum(1 for q, r in ranked if r and r[0] == q.slug) / len(on), 3),
            "top3": round(sum(1 for q, r in ranked if q.slug in r[:3]) / len(on), 3),
        }
    return out


# --- latency ---------------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered) * 1000, 4), "p99": round(p99 * 1000, 4)}


def latency(questions: list[Question], entries: dict[str, list[Entry]], fts: Fts5) -> dict[str, object]:
    """Every question answered once, in shuffled order, by a freshly built index (its word caches hold
    only the articles' words, as after a start or an edit), each call timed on its own; then once
    more (words seen before). The baseline, splitting the question into words (which every method
    must do), is timed in the same loop."""
    analyzer.cache_clear()
    index = Index(entries)
    order = list(questions)
    random.Random(5).shuffle(order)
    first: list[float] = []
    again: list[float] = []
    baseline: list[float] = []
    full_text: list[float] = []
    for timings in (first, again):
        for q in order:
            t0 = time.perf_counter()
            words(q.text, q.language)
            t1 = time.perf_counter()
            index.lookup(q.text, q.language, 2)
            t2 = time.perf_counter()
            fts.rank(q.text, q.language, 2)
            t3 = time.perf_counter()
            baseline.append(t1 - t0)
            timings.append(t2 - t1)
            full_text.append(t3 - t2)
    o, b = percentiles(first), percentiles(baseline)
    return {
        "calls": len(order),
        "answer_ms": o,
        "answer_seen_words_ms": percentiles(again),
        "fts5_ms": percentiles(full_text),
        "baseline_tokenise_ms": b,
        "ratio_p50": round(o["p50"] / b["p50"], 1),
        "ratio_p99": round(o["p99"] / b["p99"], 1),
    }


def cold_start(entries: dict[str, list[Entry]]) -> dict[str, float]:
    """Building the index the first time (dictionaries loaded) and again (what an article edit costs)."""
    t0 = time.perf_counter()
    Index(entries)
    t1 = time.perf_counter()
    Index(entries)
    t2 = time.perf_counter()
    return {"first_build_ms": round((t1 - t0) * 1000, 1), "rebuild_ms": round((t2 - t1) * 1000, 1)}


# --- tuning on the variants (leave one out) ----------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    language: str
    slug: str
    question: str
    # The index without this variant (a known question, new wording) and without its whole article.
    with_article: list[Entry]
    without_article: list[Entry]


def probes(entries: dict[str, list[Entry]]) -> list[Probe]:
    out = []
    for lang, items in entries.items():
        for i, e in enumerate(items):
            others = items[:i] + items[i + 1 :]
            for q in e.questions:
                rest = tuple(x for x in e.questions if x != q)
                reduced = [*items[:i], replace(e, questions=rest), *items[i + 1 :]]
                out.append(Probe(lang, e.slug, q, reduced, others))
    return out


def loo(all_probes: list[Probe], tuning: Tuning) -> tuple[float, list[tuple[Match, bool]], list[Match]]:
    """Leave-one-out top-1 accuracy, the (top match, right?) pairs, and the top matches when the
    article is missing altogether."""
    hits, known, unknown = 0, [], []
    for p in all_probes:
        found = LanguageIndex(p.language, p.with_article, tuning).rank(p.question, 2)
        if found:
            known.append((found[0], found[0].slug == p.slug))
            hits += found[0].slug == p.slug
        missing = LanguageIndex(p.language, p.without_article, tuning).rank(p.question, 2)
        if missing:
            unknown.append(missing[0])
    return hits / len(all_probes), known, unknown


def as_written(entries: dict[str, list[Entry]], tuning: Tuning) -> list[tuple[Match, bool]]:
    """Each variant asked of the full index: a question asked exactly as an article lists it must be
    answered with confidence, so these count beside the leave-one-out ones when choosing thresholds."""
    out = []
    for lang, items in entries.items():
        index = LanguageIndex(lang, items, tuning)
        for e in items:
            for q in e.questions:
                found = index.rank(q, 2)
                if found:
                    out.append((found[0], found[0].slug == e.slug))
    return out


def confident(m: Match, t: Tuning) -> bool:
    return m.score >= t.min_score and m.margin >= t.min_margin and m.coverage >= t.min_coverage


# What a confident answer costs when it is wrong, counting a confident right answer as 1: a wrong
# article sent on the bot's own (the person still has the button to reach an operator) costs 2;
# answering when the knowledge base has no article for the question costs 1, because the nearest
# article left is usually a related one. Questions left to operators cost nothing here: they are
# answered anyway, only later.
WRONG_COST = 2.0
MISSING_COST = 1.0


def tune_thresholds(
    known: list[tuple[Match, bool]], unknown: list[Match], base: Tuning
) -> tuple[Tuning, dict[str, float]]:
    best: tuple[float, Tuning] | None = None
    scores = [float(s) for s in range(0, 26, 2)]
    margins = [m / 20 for m in range(13)]
    coverages = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    for s, m, c in itertools.product(scores, margins, coverages):
        t = replace(base, min_score=s, min_margin=m, min_coverage=c)
        right = sum(1 for match, ok in known if ok and confident(match, t))
        wrong = sum(1 for match, ok in known if not ok and confident(match, t))
        false = sum(1 for match in unknown if confident(match, t))
        utility = right - WRONG_COST * wrong - MISSING_COST * false
        if best is None or utility > best[0]:
            best = (utility, t)
    assert best is not None
    t = best[1]
    conf = [(match, ok) for match, ok in known if confident(match, t)]
    return t, {
        "utility": best[0],
        "confident_share": round(len(conf) / len(known), 3),
        "confident_accuracy": round(sum(ok for _, ok in conf) / len(conf), 3) if conf else 0.0,
        "confident_without_article": round(sum(confident(m, t) for m in unknown) / max(1, len(unknown)), 3),
    }


def tune(entries: dict[str, list[Entry]]) -> dict[str, object]:
    """The surface-word weight is chosen by what the product wants (questions answered on their own,
    rightly, minus the wrong ones; ``tune_thresholds``), each candidate with its own thresholds. The
    BM25 weights were chosen before (``k1``, ``b``, ``pooled_weight``, ``answer_weight``: LOO top-1
    over a grid) and are kept; widen ``RANKING_GRID`` to search them again (a few minutes each)."""
    all_probes = probes(entries)
    best: tuple[float, float, Tuning, dict[str, float]] | None = None
    for surface in SURFACE_GRID:
        ranking = replace(DEFAULT_TUNING, surface_weight=surface)
        acc, known, unknown = loo(all_probes, ranking)
        tuned, figures = tune_thresholds(known + as_written(entries, ranking), unknown, ranking)
        print(f"surface_weight={surface}: loo top1 {acc:.3f}, utility {figures['utility']}", file=sys.stderr)
        if best is None or figures["utility"] > best[0]:
            best = (figures["utility"], acc, tuned, figures)
    assert best is not None
    _, acc, tuned, figures = best
    return {"variants": len(all_probes), "loo_top1": round(acc, 3), "tuning": asdict(tuned), **figures}


SURFACE_GRID = (0.0, 0.3, 0.6, 1.0)


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="tune on the article variants, print the settings")
    parser.add_argument("--articles", type=Path, default=ARTICLES)
    parser.add_argument("--eval", type=Path, default=EVAL)
    args = parser.parse_args()
    articles = read_directory(args.articles)
    entries = entries_by_language(articles)
    if args.tune:
        print(json.dumps({"benchmark": "kb-tune", **tune(entries)}, indent=2))
        return
    build = cold_start(entries)
    questions = read_eval(args.eval)
    index = Index(entries)
    plain = Index(entries, typos=False, morphology=False)
    fts = Fts5(entries)
    all_probes = probes(entries)
    loo_acc, known, unknown = loo(all_probes, DEFAULT_TUNING)
    result = {
        "benchmark": "kb",
        "articles": len(articles),
        "held_out": {
            # As the bot and the portal get it (search.answer): with the cross-language lookup.
            "lemma_bm25": accuracy(questions, lambda q: index.lookup(q.text, q.language, 3)),
            # The three methods compared on equal terms: only the question's own language.
            "lemma_bm25_same_language": accuracy(questions, lambda q: index.rank(q.text, q.language, 3)),
            "tokens_bm25": accuracy(questions, lambda q: plain.rank(q.text, q.language, 3)),
            "fts5": top1_only(questions, lambda q: fts.rank(q.text, q.language, 3)),
        },
        "tuning_set_variants_loo": {
            "variants": len(all_probes),
            "top1": round(loo_acc, 3),
            "confident_share": round(sum(confident(m, DEFAULT_TUNING) for m, _ in known) / len(known), 3),
            "confident_without_article": round(
                sum(confident(m, DEFAULT_TUNING) for m in unknown) / max(1, len(unknown)), 3
            ),
        },
        "latency": latency(questions, entries, fts),
        "index": build,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
