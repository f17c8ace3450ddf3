"""The search index: BM25 over the ways people ask, per language. Pure Python, no Django.

Why this shape:

* A knowledge base of this size is a few hundred question variants per language, so the index is
  rebuilt from scratch in memory whenever an article changes; no search server, no database index.
* Each question variant (and the title) is its own small document: a question matches the article
  whose *closest* variant it resembles. Short documents make BM25 sharp; the article's pooled
  variants and its answer are added with small weights (``Tuning``) for questions that borrow words
  from several variants or from the answer.
* Every text is indexed twice: as lemmas (stems in English) and as the words as written, and the
  two BM25 scores are added, the surface one at ``Tuning.surface_weight``. A lemma is a guess that
  joins inflected forms but also merges different words («данные» is read as «данный» and «дать»
  too); where the question uses the article's very word form, the surface field tells them apart.
  (Measured and left out: character 4-grams raised top-1 a little more but made confident answers
  less accurate.)
* A word the dictionary does not know and the index has never seen is most often a typo; it is
  matched to index terms one edit away, at reduced weight: its guessed lemma against the lemmas,
  and the word itself against the words the articles write (a misspelt form gets a lemma that is
  often further off than the form is: «павестку» → «павесткать», one edit from «повестку»).
* "Confident" means the bot may answer on its own. It needs three things at once: a score that is
  high enough, a clear lead over the runner-up article, and most of the question's informative words
  found in the article (so "what's the weather" matches nothing, even though "what" is everywhere).
  The thresholds are tuned on the articles' own question variants (``bench/kb.py --tune``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from hotline.kb.text import Analyzer, analyzer, written_in


@dataclass(frozen=True)
class Entry:
    """One article in one language, as the index sees it."""

    slug: str
    title: str
    questions: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Match:
    """An article found for a question. ``confident`` says the bot may answer with it on its own."""

    slug: str
    language: str
    title: str
    answer: str
    score: float
    confident: bool
    # The variant or title that matched best: shows an admin why this article was chosen.
    matched_question: str
    margin: float = 0.0
    coverage: float = 0.0


@dataclass(frozen=True)
class Tuning:
    """Ranking weights and confidence thresholds, as chosen by ``bench/kb.py --tune`` on the articles'
    own question variants (leave one out; never on the held-out questions). Retune after large
    content changes."""

    k1: float = 1.6
    b: float = 0.75
    # The article's pooled variants and its answer, added to the best single variant's score.
    pooled_weight: float = 0.8
    answer_weight: float = 1.0
    # A typo correction counts for less than the word itself.
    typo_weight: float = 0.7
    min_score: float = 20.0
    min_margin: float = 0.25
    # Share of the question's informative words (by idf) found in the article (title, variants, answer).
    min_coverage: float = 0.7
    # The words as written, indexed beside the lemmas and fused with their scores at this weight
    # (0: lemmas only). A lemma is a guess; the surface form keeps what the guess throws away.
    surface_weight: float = 1.0


DEFAULT_TUNING = Tuning()


@dataclass
class _Field:
    """A BM25 field: term -> [(document, precomputed term weight)]."""

    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    unseen_idf: float = 0.0

    @classmethod
    def build(cls, documents: Sequence[list[str]], k1: float, b: float) -> _Field:
        n = len(documents)
        avgdl = (sum(len(d) for d in documents) / n) if n else 0.0
        df: Counter[str] = Counter()
        for doc in documents:
            df.update(set(doc))
        out = cls(unseen_idf=_idf(n, 0))
        out.idf = {t: _idf(n, c) for t, c in df.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, doc in enumerate(documents):
            norm = k1 * (1 - b + b * len(doc) / avgdl) if avgdl else k1
            for term, tf in Counter(doc).items():
                postings[term].append((i, out.idf[term] * tf * (k1 + 1) / (tf + norm)))
        out.postings = dict(postings)
        return out

    def scores(self, query: dict[str, float]) -> dict[int, float]:
        acc: dict[int, float] = defaultdict(float)
        for term, weight in query.items():
            for doc, w in self.postings.get(term, ()):
                acc[doc] += weight * w
        return acc


@dataclass
class _View:
    """One way of turning text into terms, with a BM25 field per kind of document."""

    weight: float
    terms: Callable[[str], list[str]]
    variants: _Field
    pooled: _Field
    answers: _Field


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _one_delete(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau–Levenshtein distance ≤ 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


MIN_TYPO_LENGTH = 5


class LanguageIndex:
    """Every published article in one language."""

    def __init__(
        self,
        language: str,
        entries: Iterable[Entry],
        tuning: Tuning = DEFAULT_TUNING,
        *,
        typos: bool = True,
        morphology: bool = True,
    ) -> None:
        self.language = language
        self.tuning = tuning
        self.analyzer: Analyzer = analyzer(language, morphology=morphology)
        self.entries = list(entries)
        self._by_slug = {e.slug: e for e in self.entries}
        self._typos = typos
        self._variant_owner: list[int] = []
        self._variant_text: list[str] = []
        for i, entry in enumerate(self.entries):
            for text in (entry.title, *entry.questions):
                self._variant_owner.append(i)
                self._variant_text.append(text)
        self._lemmas = self._view(1.0, self.analyzer.terms)
        self._views = [self._lemmas]
        if morphology and tuning.surface_weight > 0:
            self._views.append(self._view(tuning.surface_weight, self.analyzer.surface))
        self._vocabulary = set(self._lemmas.variants.postings) | set(self._lemmas.answers.postings)
        owners: dict[str, set[int]] = defaultdict(set)
        for f in (self._lemmas.pooled, self._lemmas.answers):
            for term, postings in f.postings.items():
                owners[term].update(doc for doc, _ in postings)
        self._owners = {t: frozenset(docs) for t, docs in owners.items()}
        self._surface_words = {w for text in self._variant_text for w in self.analyzer.surface(text)}
        self._surface_words |= {w for entry in self.entries for w in self.analyzer.surface(entry.answer)}
        self._deletes_built: dict[str, list[tuple[str, str]]] | None = None

    def _view(self, weight: float, terms: Callable[[str], list[str]]) -> _View:
        variant_docs: list[list[str]] = []
        pooled_docs: list[list[str]] = []
        answer_docs: list[list[str]] = []
        for entry in self.entries:
            pooled: list[str] = []
            for text in (entry.title, *entry.questions):
                found = terms(text)
                variant_docs.append(found)
                pooled.extend(found)
            pooled_docs.append(pooled)
            answer_docs.append(terms(entry.answer))
        k1, b = self.tuning.k1, self.tuning.b
        return _View(
            weight=weight,
            terms=terms,
            variants=_Field.build(variant_docs, k1, b),
            pooled=_Field.build(pooled_docs, k1, b),
            answers=_Field.build(answer_docs, k1, b),
        )

    def entry(self, slug: str) -> Entry | None:
        return self._by_slug.get(slug)

    # --- query -----------------------------------------------------------------------------------

    def _query(self, text: str) -> tuple[dict[str, float], dict[str, tuple[float, list[str]]]]:
        """The weighted index terms to look up, and for each term of the question its idf (how
        informative it is) with the index terms standing for it (itself, or its typo corrections)."""
        query: dict[str, float] = {}
        informative: dict[str, tuple[float, list[str]]] = {}
        for word in dict.fromkeys(self.analyzer.surface(text)):
            for term in self.analyzer.terms(word):
                if term in informative:
                    continue
                idf = self._lemmas.variants.idf.get(term, self._lemmas.variants.unseen_idf)
                if term in self._vocabulary:
                    query[term] = 1.0
                    informative[term] = (idf, [term])
                    continue
                corrections = self._corrections(term, word)
                for candidate in corrections:
                    query[candidate] = max(query.get(candidate, 0.0), self.tuning.typo_weight)
                informative[term] = (idf, corrections)
        return query, informative

    def _deletes(self) -> dict[str, list[tuple[str, str]]]:
        """Every index term, and every word as the texts write it, under each of its one-letter
        deletions (SymSpell), with the index term it stands for; built on first need. (Lists of
        shared pairs: as sets they took three times the memory.)"""
        if self._deletes_built is None:
            forms = {(term, term) for term in self._vocabulary}
            for word in self._surface_words:
                forms.update((word, term) for term in self.analyzer.terms(word) if term in self._vocabulary)
            # Each pair is unique, and so is each of its deletions: lists hold no repeats.
            deletes: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for pair in forms:
                if len(pair[0]) >= MIN_TYPO_LENGTH - 1:
                    for d in _one_delete(pair[0]) | {pair[0]}:
                        deletes[d].append(pair)
            self._deletes_built = dict(deletes)
        return self._deletes_built

    def _corrections(self, term: str, word: str) -> list[str]:
        """Index terms one edit away from ``term`` or from the ``word`` it came from, if that is a typo.

        A word the dictionary does not know gets a guessed lemma («павестку» → «павесткать»), often
        further from the right lemma than the word is from a form the articles use («повестку»)."""
        if not self._typos:
            return []
        deletes = self._deletes()
        found: set[str] = set()
        for probe in dict.fromkeys((term, word)):
            if len(probe) < MIN_TYPO_LENGTH or self.analyzer.is_known(probe):
                continue
            for d in _one_delete(probe) | {probe}:
                found.update(t for form, t in deletes.get(d, ()) if _within_one_edit(form, probe))
        return sorted(found)

    def rank(self, text: str, limit: int = 5) -> list[Match]:
        """The best ``limit`` articles for ``text``, best first; only the first may be confident."""
        query, informative = self._query(text)
        t = self.tuning
        totals: dict[int, float] = defaultdict(float)
        by_variant: dict[int, float] = defaultdict(float)
        for view in self._views:
            view_query = query if view is self._lemmas else dict.fromkeys(view.terms(text), 1.0)
            for doc, score in view.variants.scores(view_query).items():
                by_variant[doc] += view.weight * score
            for owner, score in view.pooled.scores(view_query).items():
                totals[owner] += view.weight * t.pooled_weight * score
            for owner, score in view.answers.scores(view_query).items():
                totals[owner] += view.weight * t.answer_weight * score
        best_variant: dict[int, tuple[float, int]] = {}
        for doc, score in by_variant.items():
            owner = self._variant_owner[doc]
            if score > best_variant.get(owner, (0.0, -1))[0]:
                best_variant[owner] = (score, doc)
        for owner, (score, _) in best_variant.items():
            totals[owner] += score
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], self.entries[kv[0]].slug))
        if not ranked:
            return []
        top_score = ranked[0][1]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        ranked = ranked[: max(1, limit)]
        margin = (top_score - runner_up) / top_score if top_score > 0 else 0.0
        out = []
        for position, (owner, score) in enumerate(ranked):
            coverage = self._coverage(owner, query, informative)
            confident = position == 0 and score >= t.min_score and margin >= t.min_margin and coverage >= t.min_coverage
            entry = self.entries[owner]
            variant = best_variant.get(owner, (0.0, -1))[1]
            out.append(
                Match(
                    slug=entry.slug,
                    language=self.language,
                    title=entry.title,
                    answer=entry.answer,
                    score=round(score, 3),
                    confident=confident,
                    matched_question=self._variant_text[variant] if variant >= 0 else entry.title,
                    margin=round(margin if position == 0 else 0.0, 3),
                    coverage=round(coverage, 3),
                )
            )
        return out

    def _coverage(self, owner: int, query: dict[str, float], informative: dict[str, tuple[float, list[str]]]) -> float:
        """Share of the question's informative weight (idf) that the article contains (title, variants
        or answer: a question may borrow the answer's words, and still be about nothing else)."""
        total = sum(idf for idf, _ in informative.values())
        if total <= 0:
            return 0.0
        found = 0.0
        for idf, stand_ins in informative.values():
            weights = [query[t] for t in stand_ins if owner in self._owners.get(t, ())]
            if weights:
                found += idf * max(weights)
        return found / total


class Index:
    """All languages. Immutable once built: a rebuilt index replaces the old one whole."""

    def __init__(
        self,
        entries: dict[str, list[Entry]],
        tuning: Tuning = DEFAULT_TUNING,
        *,
        typos: bool = True,
        morphology: bool = True,
    ) -> None:
        self.languages = {
            lang: LanguageIndex(lang, items, tuning, typos=typos, morphology=morphology)
            for lang, items in entries.items()
        }

    def rank(self, text: str, language: str, limit: int = 5) -> list[Match]:
        """Results in exactly ``language``."""
        index = self.languages.get(language)
        return index.rank(text, limit) if index is not None else []

    def lookup(self, text: str, language: str, limit: int = 5) -> list[Match]:
        """Results for someone who chose ``language``, whatever language they actually wrote in.

        People often write in another language than the one they chose (Russian to a Ukrainian
        bot is common), so the text is also looked up in every language its letters allow; the
        better result wins (a confident one first, then the larger share of the question found),
        and comes back in ``language`` whenever the article has it.
        """
        best: list[Match] = []
        for lang in [language, *sorted(written_in(text) - {language})]:
            found = self.rank(text, lang, limit)
            if found and (not best or (found[0].confident, found[0].coverage) > (best[0].confident, best[0].coverage)):
                best = found
        return [self._in_language(m, language) for m in best]

    def _in_language(self, match: Match, language: str) -> Match:
        index = self.languages.get(language)
        entry = index.entry(match.slug) if index is not None and match.language != language else None
        if entry is None:
            return match
        return replace(match, language=language, title=entry.title, answer=entry.answer)
