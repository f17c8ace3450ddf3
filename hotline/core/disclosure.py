"""Disclosure control for published figures: unbiased, zero-restricted controlled rounding to a base.

Every published number — each cell and the table's total — is a multiple of ``base`` (5), within less than
one base of the true count, and the published cells add up to the published total. A true multiple of the
base (zero included) is published unchanged; any other count is rounded to one of its two adjacent multiples
at random, up with probability ``residue / base``, so the expected published value is the true value.

The method is *unbiased zero-restricted controlled rounding* (Cox, "A constructive procedure for unbiased
controlled rounding", JASA 82, 1987; Hundepool et al., *Handbook on Statistical Disclosure Control*, §5.5,
controlled rounding as implemented in τ-ARGUS). For a one-dimensional table with its total the constructive
procedure is systematic sampling (Madow's systematic selection with probabilities proportional to size):
lay the residues ``count mod base`` end to end, in random order, and round up the cells hit by the points
``u, u + base, u + 2·base, …`` for a random start ``u``. Each cell is hit with probability ``residue/base``
(no residue is longer than the spacing, so no cell is hit twice), and the number of cells rounded up is
fixed by the published total: the start ``u`` is drawn conditionally on the total's rounding, so several
tables of one population can share one rounded total and each stays unbiased.

Time series and releases that overlap in time (January; February; January–March; since the launch) use the
same idea on the *cumulative* count: ``R(c) = base·⌊(c + s)/base⌋`` with one secret offset ``s`` in
``[0, base)`` (see :class:`ConsistentRounding`). The published count of any period ``[a, b)`` is
``R(C(b)) − R(C(a))``: every period, day, week, month or "since the launch", is rounded to an adjacent
multiple (both cumulative errors lie in one window of ``base`` values, so their difference is less than one
base), periods add up exactly, and a period published in two releases is published identically, so
comparing releases tells a reader nothing new. Breakdowns are controlled-rounded once per calendar month
(the elementary unit) to that month's published total and a longer period publishes the sums of its months'
rounded cells: additive and consistent across releases, unbiased, but a k-month cell may differ from the
true count by up to k·(base − 1) (its total never by more than base − 1).

Pure Python: no I/O, no Django. Deterministic given the seed or secret, which must stay private.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_BASE = 5
TOTAL_SERIES = "total"


@dataclass(frozen=True)
class PublishedTable:
    name: str  # e.g. "by_channel"
    cells: dict[str, int]  # label -> published value (a multiple of base)
    total: int  # published total (== sum(cells.values()))


def derive_seed(seed: int, *parts: str) -> int:
    """A 64-bit seed for one purpose, derived from ``seed`` and ``parts`` (stable across processes)."""
    digest = hashlib.blake2b(digest_size=8, person=b"hotline-sdc")
    digest.update(str(seed).encode())
    for part in parts:
        digest.update(b"\x1f" + part.encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest(), "big")


def _check_base(base: int) -> None:
    if base < 1:
        raise ValueError(f"base must be a positive integer, not {base}")


def _check_counts(counts: Mapping[str, int], total: int) -> None:
    for label, count in counts.items():
        if count < 0:
            raise ValueError(f"count for {label!r} is negative: {count}")
    if sum(counts.values()) != total:
        raise ValueError(f"cells add up to {sum(counts.values())}, not to the total {total}")


def is_rounding_of(published: int, true: int, *, base: int = DEFAULT_BASE) -> bool:
    """True when ``published`` is a multiple of ``base`` adjacent to ``true`` (``true`` itself if a multiple)."""
    if published % base:
        return False
    if true % base == 0:
        return published == true
    return abs(published - true) < base


def round_total(total: int, *, base: int = DEFAULT_BASE, rng: random.Random) -> int:
    """``total`` rounded to an adjacent multiple of ``base``: up with probability ``(total mod base)/base``."""
    _check_base(base)
    if total < 0:
        raise ValueError(f"total is negative: {total}")
    floor, residue = divmod(total, base)
    return base * (floor + (1 if rng.randrange(base) < residue else 0))


def round_cells(
    name: str, counts: Mapping[str, int], *, published_total: int, base: int = DEFAULT_BASE, rng: random.Random
) -> PublishedTable:
    """Controlled rounding of ``counts`` so that the cells add up to ``published_total``.

    ``published_total`` must itself be a rounding of the true total (see :func:`is_rounding_of`): it fixes
    how many cells are rounded up, and the systematic start is drawn conditionally on it. If the total was
    rounded up with probability ``residue/base`` (as :func:`round_total` does), every cell is rounded up with
    probability exactly ``its residue/base``.
    """
    _check_base(base)
    total = sum(counts.values())
    _check_counts(counts, total)
    if not is_rounding_of(published_total, total, base=base):
        raise ValueError(f"{published_total} is not a rounding of {total} to base {base}")
    residues = {label: count % base for label, count in counts.items()}
    spread = sum(residues.values())  # the residues laid end to end, in cases
    full, rest = divmod(spread, base)
    ups = published_total // base - sum(count // base for count in counts.values())
    # The points u, u+base, … hit `full + 1` residues when u < rest, `full` otherwise.
    start = rng.randrange(rest) if ups == full + 1 else rest + rng.randrange(base - rest)
    order = [label for label in counts if residues[label]]
    rng.shuffle(order)
    rounded_up: set[str] = set()
    position = 0
    point = start
    for label in order:
        end = position + residues[label]
        if position <= point < end:
            rounded_up.add(label)
            point += base
        position = end
    assert len(rounded_up) == ups
    cells = {label: base * (count // base + (1 if label in rounded_up else 0)) for label, count in counts.items()}
    return PublishedTable(name=name, cells=cells, total=published_total)


def round_table(
    name: str, counts: Mapping[str, int], *, total: int, base: int = DEFAULT_BASE, rng: random.Random
) -> PublishedTable:
    """Round ``total`` (:func:`round_total`), then controlled-round the cells to add up to it."""
    _check_base(base)
    _check_counts(counts, total)
    published_total = round_total(total, base=base, rng=rng)
    return round_cells(name, counts, published_total=published_total, base=base, rng=rng)


def round_tables(
    tables: Mapping[str, Mapping[str, int]],
    *,
    base: int = DEFAULT_BASE,
    seed: int,
    published_total: int | None = None,
) -> list[PublishedTable]:
    """Several breakdowns of one population: one rounded total, each table controlled-rounded to it.

    All tables must add up to the same true total. The total is rounded once (or ``published_total`` is
    used, when the caller has it from :class:`ConsistentRounding`); each table gets its own random stream
    derived from ``seed`` and its name, so adding or reordering tables does not change the others.
    """
    _check_base(base)
    totals = {name: sum(counts.values()) for name, counts in tables.items()}
    if len(set(totals.values())) > 1:
        raise ValueError(f"the tables do not describe one population: totals {totals}")
    true_total = next(iter(totals.values()), 0)
    if published_total is None:
        published_total = round_total(true_total, base=base, rng=_stream(seed, "total"))
    elif not is_rounding_of(published_total, true_total, base=base):
        raise ValueError(f"{published_total} is not a rounding of {true_total} to base {base}")
    return [
        round_cells(name, counts, published_total=published_total, base=base, rng=_stream(seed, "table", name))
        for name, counts in tables.items()
    ]


def _stream(seed: int, *parts: str) -> random.Random:
    return random.Random(derive_seed(seed, *parts))  # noqa: S311 -- seeded and reproducible; the seed is secret


# --- Consistent rounding across releases -------------------------------------------------------------------


@dataclass(frozen=True)
class MonthCounts:
    """The true counts of one elementary unit (a calendar month) for a release.

    ``before`` is the number of cases counted from the origin (the launch) up to the month's start;
    ``tables`` are its breakdowns (each adding up to ``total``).
    """

    key: str  # e.g. "2025-01"
    before: int
    total: int
    tables: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class ConsistentRounding:
    """Rounding that gives every period the same published figures in every release that shows it.

    ``secret`` is one private number for the whole installation (never published); a release stores it, or
    a reference to it, so that its figures can be re-derived and audited. Counts must come from a tally that
    never changes for a past period (figures of a closed month are frozen), or releases would differ.
    """

    secret: int
    base: int = DEFAULT_BASE

    def offset(self, series: str = TOTAL_SERIES) -> int:
        return derive_seed(self.secret, "offset", series) % self.base

    def cumulative(self, count: int, *, series: str = TOTAL_SERIES) -> int:
        """The published cumulative count ``base·⌊(count + s)/base⌋`` (0 for 0)."""
        return self.base * ((count + self.offset(series)) // self.base)

    def period_total(self, count: int, *, before: int, series: str = TOTAL_SERIES) -> int:
        """The published count of a period holding ``count`` cases, ``before`` cases after the origin."""
        if count < 0 or before < 0:
            raise ValueError("counts are never negative")
        return self.cumulative(before + count, series=series) - self.cumulative(before, series=series)

    def series(
        self, name: str, counts: Mapping[str, int], *, before: int, series: str = TOTAL_SERIES
    ) -> PublishedTable:
        """A time series (``counts`` in time order: days, weeks or months) rounded on its cumulative count."""
        cells: dict[str, int] = {}
        running = before
        for label, count in counts.items():
            if count < 0:
                raise ValueError(f"count for {label!r} is negative: {count}")
            cells[label] = self.period_total(count, before=running, series=series)
            running += count
        return PublishedTable(name=name, cells=cells, total=self.period_total(running - before, before=before))

    def month(self, month: MonthCounts) -> list[PublishedTable]:
        """The breakdowns of one month, controlled-rounded (once and for all) to the month's published total."""
        return round_tables(
            month.tables,
            base=self.base,
            seed=derive_seed(self.secret, "month", month.key),
            published_total=self.period_total(month.total, before=month.before),
        )

    def release(
        self, months: Sequence[MonthCounts], *, series: Mapping[str, Mapping[str, int]] | None = None
    ) -> list[PublishedTable]:
        """The tables of a release covering consecutive ``months``: breakdowns as sums of the months' rounded
        breakdowns, and each time series in ``series`` (covering exactly those months) rounded cumulatively.
        """
        for earlier, later in itertools.pairwise(months):
            if later.before != earlier.before + earlier.total:
                raise ValueError(f"months {earlier.key} and {later.key} are not consecutive")
        names = {frozenset(month.tables) for month in months}
        if len(names) > 1:
            raise ValueError("every month of a release must have the same breakdowns")
        start = months[0].before if months else 0
        count = sum(month.total for month in months)
        total = self.period_total(count, before=start)
        sums: dict[str, dict[str, int]] = {}
        for month in months:
            for table in self.month(month):
                cells = sums.setdefault(table.name, {})
                for label, value in table.cells.items():
                    cells[label] = cells.get(label, 0) + value
        published = [PublishedTable(name=name, cells=cells, total=total) for name, cells in sums.items()]
        for name, counts in (series or {}).items():
            if sum(counts.values()) != count:
                raise ValueError(f"series {name!r} adds up to {sum(counts.values())}, not to the months' {count}")
            published.append(self.series(name, counts, before=start))
        return published
