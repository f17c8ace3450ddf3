"""Published figures: controlled rounding to base 5 and the attacker's linear-programming audit."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.core.disclosure import (
    ConsistentRounding,
    MonthCounts,
    PublishedTable,
    is_rounding_of,
    round_cells,
    round_table,
    round_tables,
    round_total,
)
from hotline.figures_audit import AuditedRelease, Violation, audit, audit_tables

BASE = 5
STATUS = {"new": 5, "completed": 1, "rejected": 1}


def assert_controlled(table: PublishedTable, counts: Mapping[str, int], *, base: int = BASE) -> None:
    assert set(table.cells) == set(counts)
    assert sum(table.cells.values()) == table.total
    assert is_rounding_of(table.total, sum(counts.values()), base=base)
    for label, true in counts.items():
        published = table.cells[label]
        assert published % base == 0
        assert abs(published - true) < base
        if true % base == 0:
            assert published == true


# --- The differencing example from the issue ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_the_differencing_example_no_longer_recovers_anything(seed: int) -> None:
    published = round_tables({"status": STATUS}, seed=seed)
    assert_controlled(published[0], STATUS)
    assert audit_tables({"status": STATUS}, published) == []


def test_the_old_less_than_five_scheme_fails_the_same_audit() -> None:
    # Today's console: total 7, "new" 5, and "<5" twice. Encoded for the attacker: exact values and [1, 4].
    old = PublishedTable("status", {"new": 5, "completed": 0, "rejected": 0}, total=5)
    bounds: dict[str, dict[str | None, tuple[int, int]]] = {
        "status": {None: (7, 7), "new": (5, 5), "completed": (1, 4), "rejected": (1, 4)}
    }
    violations = audit_tables({"status": STATUS}, [old], bounds=bounds)
    pinned = {v.cell: (v.true_value, v.low, v.high) for v in violations}
    assert pinned["completed"] == (1, 1.0, 1.0)
    assert pinned["rejected"] == (1, 1.0, 1.0)
    # ... and "everything but new" is pinned to 2 as well.
    assert any(v.cell.startswith("(total) − ") and v.true_value == 2 for v in violations)


def test_the_audit_flags_a_published_small_cell_left_exact() -> None:
    exact = PublishedTable("by_channel", {"telegram": 10, "phone": 0}, total=10)
    bounds: dict[str, dict[str | None, tuple[int, int]]] = {"by_channel": {"phone": (2, 2)}}
    violations = audit_tables({"by_channel": {"telegram": 8, "phone": 2}}, [exact], bounds=bounds)
    assert [v.cell for v in violations] == ["phone"]


# --- Properties of the rounding --------------------------------------------------------------------------

labels = st.text(min_size=0, max_size=6)
counts_strategy = st.dictionaries(labels, st.integers(0, 60), max_size=12)


@given(counts=counts_strategy, seed=st.integers(0, 2**32), base=st.sampled_from([2, 3, 5, 10]))
def test_round_table_is_a_zero_restricted_controlled_rounding(counts: dict[str, int], seed: int, base: int) -> None:
    table = round_table("t", counts, total=sum(counts.values()), base=base, rng=random.Random(seed))
    assert table.name == "t"
    assert_controlled(table, counts, base=base)


@given(
    tables=st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=8), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_round_tables_share_one_total(tables: list[list[int]], seed: int) -> None:
    # Make every table add up to the first one's total (a population described several ways).
    total = sum(tables[0])
    shaped = {}
    for number, cells in enumerate(tables):
        rest = total - sum(cells[1:])
        fixed = [max(rest, 0), *cells[1:]] if rest >= 0 else [total]
        shaped[f"t{number}"] = {f"c{i}": value for i, value in enumerate(fixed)}
    published = round_tables(shaped, seed=seed)
    assert len({t.total for t in published}) == 1
    for table in published:
        assert_controlled(table, shaped[table.name])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=st.dictionaries(labels, st.integers(0, 12), min_size=1, max_size=10), seed=st.integers(0, 2**32))
def test_the_audit_finds_nothing_on_random_tables(counts: dict[str, int], seed: int) -> None:
    other = {"all": sum(counts.values())}
    published = round_tables({"t": counts, "other": other}, seed=seed)
    assert audit_tables({"t": counts, "other": other}, published) == []


def test_rounding_is_unbiased() -> None:
    counts = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 13, "f": 0, "g": 25}
    sums: Counter[str] = Counter()
    totals = 0
    runs = 4000
    rng = random.Random(2024)
    for _ in range(runs):
        table = round_table("t", counts, total=sum(counts.values()), rng=rng)
        sums.update(table.cells)
        totals += table.total
    for label, true in counts.items():
        assert sums[label] / runs == pytest.approx(true, abs=0.25)
    assert totals / runs == pytest.approx(sum(counts.values()), abs=0.25)
    assert sums["f"] == 0 and sums["g"] == 25 * runs


def test_round_total_goes_up_with_the_residue_probability() -> None:
    rng = random.Random(7)
    ups = sum(round_total(7, rng=rng) == 10 for _ in range(5000))
    assert ups / 5000 == pytest.approx(0.4, abs=0.03)
    assert {round_total(7, rng=rng) for _ in range(200)} == {5, 10}
    assert round_total(0, rng=rng) == 0 and round_total(35, rng=rng) == 35


def test_same_seed_same_figures_and_tables_do_not_disturb_each_other() -> None:
    one = {"a": 3, "b": 4, "c": 1}
    two = {"x": 6, "y": 2}
    first = round_tables({"one": one, "two": two}, seed=99)
    again = round_tables({"two": two, "one": one}, seed=99)
    assert {t.name: t for t in first} == {t.name: t for t in again}
    assert round_tables({"one": one}, seed=99)[0] == first[0]


def test_the_cells_are_not_always_rounded_the_same_way() -> None:
    seen = {tuple(round_tables({"s": STATUS}, seed=seed)[0].cells.values()) for seed in range(60)}
    assert len(seen) >= 3


# --- Edge cases ----------------------------------------------------------------------------------------


def test_edge_cases() -> None:
    rng = random.Random(1)
    assert round_table("empty", {}, total=0, rng=rng) == PublishedTable("empty", {}, 0)
    assert round_tables({}, seed=1) == []
    assert round_table("zeros", {"a": 0, "b": 0}, total=0, rng=rng).cells == {"a": 0, "b": 0}
    single = round_table("one", {"only": 3}, total=3, rng=rng)
    assert single.cells["only"] == single.total in (0, 5)
    fives = round_table("fives", {"a": 2, "b": 3, "c": 5}, total=10, rng=rng)
    assert fives.total == 10 and fives.cells["c"] == 5 and sorted(fives.cells.values()) == [0, 5, 5]
    big = {"many": 1_000_003, "few": 2, "none": 0}
    table = round_table("big", big, total=1_000_005, rng=rng)
    assert_controlled(table, big)
    assert table.total == 1_000_005
    weird = {"": 1, "a/b\x00c": 2, "Крим 🇺🇦": 3, " ": 4}
    assert_controlled(round_table("weird", weird, total=10, rng=rng), weird)


def test_bad_input_is_refused() -> None:
    rng = random.Random(1)
    with pytest.raises(ValueError, match="add up"):
        round_table("t", {"a": 1}, total=2, rng=rng)
    with pytest.raises(ValueError, match="negative"):
        round_table("t", {"a": -1, "b": 2}, total=1, rng=rng)
    with pytest.raises(ValueError, match="one population"):
        round_tables({"a": {"x": 1}, "b": {"x": 2}}, seed=1)
    with pytest.raises(ValueError, match="not a rounding"):
        round_cells("t", {"a": 3}, published_total=10, rng=rng)
    with pytest.raises(ValueError, match="not a rounding"):
        round_tables({"a": {"x": 5}}, seed=1, published_total=10)


# --- Adversarial shapes ----------------------------------------------------------------------------------


def test_one_big_cell_and_many_tiny_ones() -> None:
    counts = {"big": 10_000, **{f"tiny{i}": 1 for i in range(40)}}
    for seed in range(5):
        published = round_tables({"t": counts}, seed=seed)
        assert_controlled(published[0], counts)
        assert published[0].cells["big"] == 10_000
        assert sum(v == 5 for k, v in published[0].cells.items() if k != "big") == 8
        assert audit_tables({"t": counts}, published) == []


def test_all_ones_and_totals_of_one_to_nine() -> None:
    for total in range(1, 10):
        ones = {f"c{i}": 1 for i in range(total)}
        lumped = {"a": total, "b": 0}
        for seed in range(8):
            published = round_tables({"ones": ones, "lumped": lumped}, seed=seed)
            assert audit_tables({"ones": ones, "lumped": lumped}, published) == []


def test_a_single_case_week() -> None:
    week = {f"2025-03-{day:02d}": 0 for day in range(3, 10)}
    week["2025-03-05"] = 1
    for secret in range(20):
        rounding = ConsistentRounding(secret)
        series = rounding.series("by_day", week, before=123)
        assert_controlled(series, week)
        assert audit_tables({"by_day": week}, [series]) == []
        published = round_tables({"by_day": week, "by_channel": {"telegram": 1, "phone": 0}}, seed=secret)
        assert audit_tables({"by_day": week, "by_channel": {"telegram": 1, "phone": 0}}, published) == []


def test_five_tables_of_fifty_cells() -> None:
    rng = random.Random(5)
    total = 150
    tables = {}
    for number in range(5):
        cells = Counter(f"c{rng.randrange(50)}" for _ in range(total))
        tables[f"t{number}"] = {f"c{i}": cells[f"c{i}"] for i in range(50)}
    published = round_tables(tables, seed=11)
    assert audit_tables(tables, published) == []


# --- Time series and releases that overlap ---------------------------------------------------------------

LAUNCH = date(2025, 1, 1)
CHANNELS = ("telegram", "website", "phone")


def cases_of(rng: random.Random, days: int, rate: float) -> list[tuple[date, str]]:
    """Synthetic cases: a few per day at most, many days with none."""
    cases = []
    for offset in range(days):
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3]) if rng.random() < rate else 0):
            cases.append((LAUNCH + timedelta(days=offset), rng.choice(CHANNELS)))
    return cases


def month_of(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def month_counts(cases: Sequence[tuple[date, str]], months: Sequence[str]) -> list[MonthCounts]:
    result = []
    before = sum(1 for day, _ in cases if month_of(day) < months[0])
    for month in months:
        inside = [channel for day, channel in cases if month_of(day) == month]
        channels = Counter(inside)
        result.append(MonthCounts(month, before, len(inside), {"by_channel": {c: channels[c] for c in CHANNELS}}))
        before += len(inside)
    return result


def days_of(months: Sequence[str]) -> list[date]:
    day, days = LAUNCH, []
    while day < date(2025, 4, 1):
        if month_of(day) in months:
            days.append(day)
        day += timedelta(days=1)
    return days


def release(
    key: str,
    cases: Sequence[tuple[date, str]],
    months: Sequence[str],
    *,
    rounding: ConsistentRounding | None,
    seed: int = 0,
) -> AuditedRelease:
    """A release of ``months``: channels, and the daily series. Consistent, or (rounding=None) rounded alone."""
    per_day = Counter(day for day, _ in cases)
    daily = {d.isoformat(): per_day[d] for d in days_of(months)}
    units = month_counts(cases, months)
    channels = {c: sum(u.tables["by_channel"][c] for u in units) for c in CHANNELS}
    if rounding is None:
        tables = round_tables({"by_channel": channels, "by_day": daily}, seed=seed)
    else:
        tables = rounding.release(units, series={"by_day": daily})
    elements = {
        "by_channel": {c: [f"{m}|by_channel|{c}" for m in months] for c in CHANNELS},
        "by_day": {d: [d] for d in daily},
    }
    return AuditedRelease(key, tables, {"by_channel": channels, "by_day": daily}, elements)


def month_identities(months: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """What the attacker knows besides the figures: each month's channels and days count the same cases."""
    return [([f"{m}|by_channel|{c}" for c in CHANNELS], [d.isoformat() for d in days_of([m])]) for m in months]


def test_consistent_rounding_publishes_every_period_the_same_way() -> None:
    rng = random.Random(3)
    cases = cases_of(rng, 90, 0.3)
    rounding = ConsistentRounding(secret=42)
    january = release("jan", cases, ["2025-01"], rounding=rounding)
    february = release("feb", cases, ["2025-02"], rounding=rounding)
    both = release("jan-feb", cases, ["2025-01", "2025-02"], rounding=rounding)
    by_name = {r.key: {t.name: t for t in r.tables} for r in (january, february, both)}
    assert by_name["jan-feb"]["by_day"].total == by_name["jan"]["by_day"].total + by_name["feb"]["by_day"].total
    for channel in CHANNELS:
        jan, feb = by_name["jan"]["by_channel"].cells[channel], by_name["feb"]["by_channel"].cells[channel]
        assert by_name["jan-feb"]["by_channel"].cells[channel] == jan + feb
    for day, value in by_name["jan"]["by_day"].cells.items():
        assert by_name["jan-feb"]["by_day"].cells[day] == value
    for r in (january, february, both):
        for table in r.tables:
            assert sum(table.cells.values()) == table.total
            assert is_rounding_of(table.total, sum(r.true_tables[table.name].values()))
        assert_controlled({t.name: t for t in r.tables}["by_day"], r.true_tables["by_day"])


def test_every_period_of_a_cumulative_series_is_within_one_base() -> None:
    rng = random.Random(8)
    counts = [rng.choice([0, 0, 1, 2, 7]) for _ in range(120)]
    for secret in range(10):
        rounding = ConsistentRounding(secret)
        published = rounding.series("by_day", {str(i): c for i, c in enumerate(counts)}, before=0)
        values = list(published.cells.values())
        for start in range(0, 120, 7):
            for end in range(start + 1, 121, 11):
                assert is_rounding_of(sum(values[start:end]), sum(counts[start:end]))
                assert sum(values[start:end]) == rounding.period_total(
                    sum(counts[start:end]), before=sum(counts[:start])
                )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), rate=st.sampled_from([0.05, 0.2, 0.6]))
def test_january_february_and_both_pass_the_audit_together(seed: int, rate: float) -> None:
    rng = random.Random(seed)
    cases = cases_of(rng, 59, rate)
    rounding = ConsistentRounding(secret=rng.getrandbits(64))
    releases = [
        release("jan", cases, ["2025-01"], rounding=rounding),
        release("feb", cases, ["2025-02"], rounding=rounding),
        release("jan-feb", cases, ["2025-01", "2025-02"], rounding=rounding),
    ]
    assert audit(releases, identities=month_identities(["2025-01", "2025-02"])) == []


def test_a_quarter_and_its_months_pass_the_audit_as_integer_programs_too() -> None:
    cases = cases_of(random.Random(12), 90, 0.1)
    rounding = ConsistentRounding(secret=7)
    months = ["2025-01", "2025-02", "2025-03"]
    releases = [release(m, cases, [m], rounding=rounding) for m in months]
    releases.append(release("q1", cases, months, rounding=rounding))
    assert audit(releases, identities=month_identities(months), integral=True) == []


def test_rounding_each_release_on_its_own_is_caught_by_the_audit() -> None:
    # One case in January, none in February: January and January–February both hold exactly one case.
    cases = [(date(2025, 1, 17), "telegram")]
    caught: list[Violation] = []
    for seed in range(6):
        releases = [
            release("jan", cases, ["2025-01"], rounding=None, seed=seed),
            release("feb", cases, ["2025-02"], rounding=None, seed=seed + 1000),
            release("jan-feb", cases, ["2025-01", "2025-02"], rounding=None, seed=seed + 2000),
        ]
        caught += audit(releases)
        consistent = ConsistentRounding(secret=seed)
        releases = [
            release("jan", cases, ["2025-01"], rounding=consistent),
            release("feb", cases, ["2025-02"], rounding=consistent),
            release("jan-feb", cases, ["2025-01", "2025-02"], rounding=consistent),
        ]
        assert audit(releases, identities=month_identities(["2025-01", "2025-02"])) == []
    assert caught, "independent rounding of overlapping releases should let differencing pin the single case"
    assert all(v.true_value == 1 and v.high - v.low < 4 for v in caught)


def test_release_refuses_months_that_do_not_follow_each_other() -> None:
    rounding = ConsistentRounding(secret=1)
    jan = MonthCounts("2025-01", 0, 3, {"by_channel": {"telegram": 3}})
    mar = MonthCounts("2025-03", 10, 2, {"by_channel": {"telegram": 2}})
    with pytest.raises(ValueError, match="consecutive"):
        rounding.release([jan, mar])
    with pytest.raises(ValueError, match="adds up"):
        rounding.release([jan], series={"by_day": {"1": 1}})
