"""PLACEHOLDER — to be replaced by the disclosure branch (controlled rounding with an LP audit).

This stand-in only has the agreed signature of :func:`round_tables`, so the figures app can be built
and tested meanwhile. It rounds the shared total to base ``base`` and, in each table, every cell to a
multiple of ``base`` by largest remainder so that the cells add up to that rounded total (ties broken
by ``seed``). It is NOT the disclosure control the issue asks for: it gives no proof against
differencing across tables or releases. When the two branches meet, the other branch's version of
this file wins.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedTable:
    name: str
    cells: dict[str, int]
    total: int


def _round_total(total: int, base: int, rng: random.Random) -> int:
    low = total - total % base
    if total % base == 0:
        return total
    # Unbiased random rounding: up with probability remainder/base.
    return low + base if rng.random() < (total % base) / base else low


def round_tables(tables: Mapping[str, Mapping[str, int]], *, base: int = 5, seed: int) -> list[PublishedTable]:
    """Round every cell and the shared total of one-dimensional breakdowns of one population.

    Every table must add up to the same total (they describe one population). Each published cell
    is a multiple of ``base``, and each table's cells add up to the published total.
    """
    if base < 1:
        raise ValueError("base must be positive")
    totals = {sum(cells.values()) for cells in tables.values()}
    if len(totals) > 1:
        raise ValueError("the tables do not describe one population (their totals differ)")
    rng = random.Random(seed)  # noqa: S311 (reproducible rounding from the stored seed, not a secret)
    true_total = totals.pop() if totals else 0
    total = _round_total(true_total, base, rng)
    published: list[PublishedTable] = []
    for name in sorted(tables):
        cells = dict(tables[name])
        if any(n < 0 for n in cells.values()):
            raise ValueError(f"{name}: negative count")
        floors = {k: n - n % base for k, n in cells.items()}
        units = (total - sum(floors.values())) // base
        order = sorted(cells, key=lambda k: (-(cells[k] % base), rng.random()))
        rounded = dict(floors)
        if units >= 0:
            for k in order[:units]:
                rounded[k] += base
            # More units than cells can take (total rounded up past every remainder): spread them.
            for i in range(max(0, units - len(order))):
                rounded[order[i % len(order)]] += base
        else:
            for k in sorted((k for k in cells if rounded[k] > 0), key=lambda k: (cells[k] % base, rng.random()))[
                :-units
            ]:
                rounded[k] -= base
        published.append(PublishedTable(name=name, cells=rounded, total=total))
    return published
