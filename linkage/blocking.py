"""Blocking that adapts to the registry at hand: count each pass, keep a budget, tighten.

A blocking pass pairs the persons who share its keys (some also ask for birth years at most
a few years apart). What it costs grows with the square of its blocks: a pass that makes
blocks of a few persons on one registry can make blocks of thousands on another (few
fathers' names, many persons per area), and one such pass then gives most of the
candidate pairs and most of the run's time. So, before anything is scored:

1. **Count.** Each pass's candidate pairs are counted on the prepared persons from grouped
   counts in DuckDB (no pair is built): a block of n persons gives n(n-1)/2 pairs, or, with
   a birth-year window, the pairs of its birth years close enough (a person of unknown
   birth year pairs with the whole block). Passes whose keys cross (first name against
   family name, a year older) are counted as half the join of their two sides.
2. **Budget.** When the passes together would give more than ``max_pairs_per_person``
   candidate pairs per person, the blocks that give the most pairs per person in them
   (their *density*: 2 × pairs / persons, n - 1 for a block of n without a window) are
   **split** by adding a key — the pass's next refinement key (birth year, the area one
   level up, sex, ...) — and split again while still too dense; a block still too dense
   when its pass has no key left is dropped. A density cap is searched for (the largest
   that keeps the total within the budget). Dense blocks go first because they cost the
   most pairs for each duplicate they hold: a block's duplicates grow with its persons,
   its pairs with its persons times its density. Passes whose keys cross are never split.
3. **Order of the keys.** A pass's refinement keys are tried in the order duplicates keep
   them best, measured on *proxy duplicates*: pairs of persons sharing a national id no
   third person shares (and pairs officers confirmed). The same proxies estimate the
   blocking recall of the passes other than the national id's, before and after the
   tightening (duplicates sharing an id are found by the id pass anyway; the estimate says
   what the other passes find of duplicates like them).

Deterministic: counts, the cap (a binary search), the order of the keys (ties in declared
order) and the block column (DuckDB's 64-bit hash of the keys: two blocks sharing a hash
would merely be scored together).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# A refinement key's value when unknown: its own block (two unknowns pair, as equal keys do).
UNKNOWN = "∅"
# The density of the block a level-0 block was split from: none, above any cap.
_NO_PARENT = 1e18
# Fewer proxies found by a pass than this: its keys are tried in declared order.
MIN_PROXIES = 20


@dataclass(frozen=True)
class BlockingPass:
    """A blocking pass, declared as data: the persons sharing ``keys`` (and ``crossed``,
    ``l.<a> = r.<b> + offset``), with birth years at most ``year_window`` apart (or either
    unknown), each meeting ``where`` (SQL over one record, ``{t}`` its alias), and
    ``pair_filter`` (SQL over ``l.`` and ``r.``, reading only ``filter_columns`` besides
    the keys: counted on the grouped persons). ``refine``: keys that may be added to a
    block too dense."""

    name: str
    keys: tuple[str, ...] = ()
    crossed: tuple[tuple[str, str, int], ...] = ()
    year_window: int | None = None
    where: str | None = None
    pair_filter: str | None = None
    filter_columns: tuple[str, ...] = ()
    refine: tuple[str, ...] = ()

    @property
    def symmetric(self) -> bool:
        return not self.crossed

    def condition(self, block_column: str | None = None) -> str:
        """The pass as Splink's blocking rule SQL; with ``block_column``, its keys (and
        any refinement) replaced by that column."""
        parts = ([f"l.{block_column} = r.{block_column}"] if block_column
                 else [f"l.{k} = r.{k}" for k in self.keys])
        parts += [f"l.{a} = r.{b}{_plus(offset)}" for a, b, offset in self.crossed]
        if self.year_window is not None:
            parts.append(near_years("l", "r", self.year_window))
        if self.where:
            parts += [self.where.format(t="l"), self.where.format(t="r")]
        if self.pair_filter:
            parts.append(self.pair_filter)
        return " AND ".join(parts)


def _plus(offset: int) -> str:
    return f" + {offset}" if offset > 0 else f" - {-offset}" if offset < 0 else ""


def near_years(left: str, right: str, window: int) -> str:
    return (f"({left}.birth_year IS NULL OR {right}.birth_year IS NULL "
            f"OR abs({left}.birth_year - {right}.birth_year) <= {int(window)})")


def _refined(column: str, alias: str = "t") -> str:
    """A refinement key as text, unknown values a block of their own."""
    return f"coalesce(CAST({alias}.{column} AS VARCHAR), '{UNKNOWN}')"


def _keys_known(keys: Iterable[str], alias: str = "t") -> str:
    return " AND ".join(f"{alias}.{k} IS NOT NULL" for k in keys) or "true"


def _block_hash(blocking_pass: BlockingPass, refine: Sequence[str], alias: str = "t") -> str:
    """The block of a person at a refinement level: the hash of its keys and the
    refinement keys added."""
    parts = [f"{alias}.{k}" for k in blocking_pass.keys] + [_refined(r, alias) for r in refine]
    return f"hash({', '.join(parts)})"


def _selected(blocking_pass: BlockingPass) -> str:
    """The persons a symmetric pass may pair: keys known, ``where`` met."""
    where = f" AND {blocking_pass.where.format(t='t')}" if blocking_pass.where else ""
    return _keys_known(blocking_pass.keys) + where


# --- counting ----------------------------------------------------------------------------

def _pairs_sql(window: int | None, by_year: str) -> str:
    """Per block of ``by_year`` (block, y, c: persons of each birth year, y NULL
    unknown): block, s (persons) and p (candidate pairs)."""
    if window is None:
        return (f"SELECT block, sum(c) AS s, sum(c) * (sum(c) - 1) / 2 AS p "
                f"FROM {by_year} GROUP BY block")
    return (
        f"WITH years AS {by_year}, "
        f"one AS (SELECT block, sum(c) AS s, "
        f"sum(CASE WHEN y IS NULL THEN 0 ELSE c * (c - 1) / 2 END) AS same_year, "
        f"sum(CASE WHEN y IS NULL THEN c ELSE 0 END) AS unknown FROM years GROUP BY block), "
        f"near AS (SELECT a.block, sum(a.c * b.c) AS p FROM years a JOIN years b "
        f"ON a.block = b.block AND b.y > a.y AND b.y <= a.y + {int(window)} GROUP BY a.block) "
        f"SELECT one.block, s, same_year + coalesce(near.p, 0) + unknown * (s - unknown) "
        f"+ unknown * (unknown - 1) / 2 AS p FROM one LEFT JOIN near USING (block)")


def _crossed_count(con, table: str, blocking_pass: BlockingPass) -> int:
    """Pairs of a pass whose keys cross: half the join of its two sides (a symmetric
    crossing meets each pair twice, a directional one about half its pairs in the order
    the pass takes them), its pair filter applied to the grouped persons."""
    keys = list(blocking_pass.keys)
    kept = [f"t.{c} AS {c}" for c in blocking_pass.filter_columns]
    left = [f"t.{k} AS k{i}" for i, k in enumerate(keys)] + [
        f"t.{a} AS c{i}" for i, (a, _, _) in enumerate(blocking_pass.crossed)] + kept
    right = [f"t.{k} AS k{i}" for i, k in enumerate(keys)] + [
        f"t.{b}{_plus(o)} AS c{i}" for i, (_, b, o) in enumerate(blocking_pass.crossed)] + kept
    known = _keys_known(keys + [a for a, _, _ in blocking_pass.crossed]
                        + [b for _, b, _ in blocking_pass.crossed])
    where = f" AND {blocking_pass.where.format(t='t')}" if blocking_pass.where else ""
    on = " AND ".join([f"l.k{i} = r.k{i}" for i in range(len(keys))] + [
        f"l.c{i} = r.c{i}" for i in range(len(blocking_pass.crossed))]
        + ([blocking_pass.pair_filter] if blocking_pass.pair_filter else []))
    value = con.execute(
        f"WITH a AS (SELECT {', '.join(left)}, count(*) AS n FROM {table} t "
        f"WHERE {known}{where} GROUP BY ALL), "
        f"b AS (SELECT {', '.join(right)}, count(*) AS n FROM {table} t "
        f"WHERE {known}{where} GROUP BY ALL) "
        f"SELECT sum(l.n * r.n) FROM a l JOIN b r ON {on}").fetchall()[0][0]
    return int(value or 0) // 2


def _density(sizes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Candidate pairs per person of each block (n - 1 for a block of n persons)."""
    return 2.0 * pairs / np.maximum(sizes, 1)


@dataclass
class _Counted:
    """A symmetric pass's blocks as declared: its temp table (block, s, p), their
    persons, pairs and density."""

    table: str
    sizes: np.ndarray
    pairs: np.ndarray

    @property
    def densities(self) -> np.ndarray:
        return _density(self.sizes, self.pairs)

    @property
    def largest(self) -> int:
        return int(self.sizes.max()) if len(self.sizes) else 0

    @property
    def densest(self) -> float:
        return float(self.densities.max()) if len(self.sizes) else 0.0

    def upper_total(self, cap: float) -> float:
        """At most the pairs left with the blocks denser than ``cap`` split: a block of s
        persons split into blocks of density ``cap`` at most gives s * cap / 2 pairs."""
        dense = self.densities > cap
        return float(self.pairs[~dense].sum()
                     + np.minimum(self.pairs[dense], self.sizes[dense] * cap / 2).sum())


def _by_year(blocking_pass: BlockingPass, table: str, hashes: Sequence[str],
             join: str = "") -> str:
    columns = ", ".join(f"{h} AS h{level}" for level, h in enumerate(hashes))
    return (f"SELECT {columns}, t.birth_year AS y, count(*) AS c FROM {table} t {join} "
            f"WHERE {_selected(blocking_pass)} GROUP BY ALL")


def _count_blocks(con, table: str, blocking_pass: BlockingPass, tag: str) -> _Counted:
    """Count a symmetric pass's blocks as declared (kept as a temp table)."""
    out = f"blocking_count_{tag}"
    hashed = _by_year(blocking_pass, table, [_block_hash(blocking_pass, ())])
    by_year = f"(SELECT h0 AS block, y, c FROM ({hashed}))"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS "
                f"{_pairs_sql(blocking_pass.year_window, by_year)}")
    found = con.execute(f"SELECT s, p FROM {out}").fetchnumpy()
    return _Counted(out, np.asarray(found["s"], dtype=np.int64),
                    np.asarray(found["p"], dtype=np.float64))


@dataclass
class _Levels:
    """A symmetric pass's blocks denser than ``floor`` at each refinement level: their
    persons, pairs, and the density of the block each was split from (level 0: none); the
    blocks no denser than ``floor`` stay whole (``small_pairs``)."""

    refine: tuple[str, ...]
    small_pairs: float
    sizes: list[np.ndarray]
    pairs: list[np.ndarray]
    parent_densities: list[np.ndarray]
    tables: list[str]  # DuckDB temp tables (block, s, p) per level

    def _final(self, level: int, cap: float) -> np.ndarray:
        dense = _density(self.sizes[level], self.pairs[level]) > cap
        return ~dense & (self.parent_densities[level] > cap)

    def total(self, cap: float) -> int:
        """Pairs with blocks denser than ``cap`` split, dropped past the last level."""
        return int(self.small_pairs + sum(float(self.pairs[level][self._final(level, cap)].sum())
                                          for level in range(len(self.sizes))))

    def depth(self, cap: float) -> int:
        """Refinement keys used at this cap (0: none)."""
        return max([level for level in range(1, len(self.sizes))
                    if (self.parent_densities[level] > cap).any()], default=0)

    def dropped(self, cap: float) -> tuple[int, int]:
        """Blocks, and their persons, still too dense at the last level."""
        dense = _density(self.sizes[-1], self.pairs[-1]) > cap
        return int(dense.sum()), int(self.sizes[-1][dense].sum())


def _levels(con, table: str, blocking_pass: BlockingPass, refine: tuple[str, ...],
            counted: _Counted, floor: float, tag: str) -> _Levels:
    """The blocks denser than ``floor`` of a symmetric pass, at each level of ``refine``
    (temp tables kept for the block column)."""
    hashes = [_block_hash(blocking_pass, refine[:level]) for level in range(len(refine) + 1)]
    fine = f"blocking_fine_{tag}"
    join = (f"JOIN {counted.table} k ON k.block = {hashes[0]} "
            f"AND 2 * k.p > {floor!r} * k.s")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {fine} AS "
                f"{_by_year(blocking_pass, table, hashes, join)}")
    sizes, pairs, parents, tables = [], [], [], []
    for level in range(len(hashes)):
        out = f"blocking_level_{tag}_{level}"
        by_year = f"(SELECT h{level} AS block, y, sum(c) AS c FROM {fine} GROUP BY ALL)"
        parent = f"h{level - 1}" if level else "NULL::UBIGINT"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {out} AS WITH counted AS "
            f"({_pairs_sql(blocking_pass.year_window, by_year)}), "
            f"parents AS (SELECT DISTINCT h{level} AS block, {parent} AS parent FROM {fine}) "
            f"SELECT counted.block, s, p, parent FROM counted JOIN parents USING (block)")
        up = (f"LEFT JOIN blocking_level_{tag}_{level - 1} up ON up.block = o.parent"
              if level else "")
        parent_density = "2.0 * up.p / up.s" if level else f"{_NO_PARENT!r}"
        found = con.execute(f"SELECT o.s, o.p, {parent_density} AS d FROM {out} o {up}"
                            ).fetchnumpy()
        sizes.append(np.asarray(found["s"], dtype=np.int64))
        pairs.append(np.asarray(found["p"], dtype=np.float64))
        parents.append(np.asarray(found["d"], dtype=np.float64))
        tables.append(out)
    con.execute(f"DROP TABLE {fine}")
    small = float(counted.pairs[counted.densities <= floor].sum())
    return _Levels(refine, small, sizes, pairs, parents, tables)


# --- proxies -----------------------------------------------------------------------------

def proxy_pairs(con, table: str, confirmed: Iterable[tuple[str, str]] = ()) -> int:
    """Create the temp table ``blocking_proxies`` (a, b) of proxy duplicates: persons
    sharing a national id no third person shares whose first names, birth years or
    fathers' names come close (two persons given one card mostly share nothing else),
    and the pairs officers confirmed. Their number."""
    import pyarrow as pa

    con.execute(
        f"CREATE OR REPLACE TEMP TABLE blocking_proxies AS "
        f"WITH ids AS (SELECT national_id FROM {table} WHERE national_id IS NOT NULL "
        f"GROUP BY national_id HAVING count(*) = 2) "
        f"SELECT l.unique_id AS a, r.unique_id AS b FROM {table} l "
        f"JOIN {table} r ON l.national_id = r.national_id AND l.unique_id < r.unique_id "
        f"WHERE l.national_id IN (SELECT national_id FROM ids) "
        f"AND (l.first_skel = r.first_skel OR l.first_initial = r.first_initial "
        f"OR abs(l.birth_year - r.birth_year) <= 2 OR l.father_skel = r.father_skel)")
    pairs = sorted({(a, b) if a < b else (b, a) for a, b in confirmed if a != b})
    if pairs:
        con.register("blocking_confirmed", pa.table({
            "a": pa.array([a for a, _ in pairs], type=pa.string()),
            "b": pa.array([b for _, b in pairs], type=pa.string())}))
        try:
            con.execute("INSERT INTO blocking_proxies SELECT a, b FROM blocking_confirmed "
                        "EXCEPT SELECT a, b FROM blocking_proxies")
        finally:
            con.unregister("blocking_confirmed")
    return int(con.execute("SELECT count(*) FROM blocking_proxies").fetchall()[0][0])


def _proxy_hits(con, table: str, conditions: Sequence[str]) -> np.ndarray:
    """For each proxy pair (rows, in order), whether each condition (SQL over l., r.)
    holds (columns)."""
    if not conditions:
        return np.zeros((0, 0), dtype=bool)
    columns = ", ".join(f"coalesce(({sql}), false) AS c{i}" for i, sql in enumerate(conditions))
    rows = con.execute(
        f"SELECT {columns} FROM blocking_proxies x JOIN {table} l ON l.unique_id = x.a "
        f"JOIN {table} r ON r.unique_id = x.b ORDER BY x.a, x.b").fetchall()
    return np.array(rows, dtype=bool).reshape(-1, len(conditions))


def _key_order(con, table: str, blocking_pass: BlockingPass) -> tuple[tuple[str, ...],
                                                                        dict[str, float]]:
    """The pass's refinement keys, those the proxy duplicates it finds keep most often
    first (ties, and a pass finding fewer than MIN_PROXIES proxies: in declared order);
    each key's share kept."""
    if not blocking_pass.refine:
        return (), {}
    conditions = [blocking_pass.condition()] + [
        f"{_refined(k, 'l')} = {_refined(k, 'r')}" for k in blocking_pass.refine]
    hits = _proxy_hits(con, table, conditions)
    found = hits[:, 0] if len(hits) else np.zeros(0, dtype=bool)
    if int(found.sum()) < MIN_PROXIES:
        return blocking_pass.refine, {}
    kept = {k: float(hits[found, i + 1].mean()) for i, k in enumerate(blocking_pass.refine)}
    order = sorted(range(len(blocking_pass.refine)),
                   key=lambda i: (-round(kept[blocking_pass.refine[i]], 6), i))
    return tuple(blocking_pass.refine[i] for i in order), kept


# --- the plan ----------------------------------------------------------------------------

@dataclass
class PassPlan:
    blocking_pass: BlockingPass
    counted: int                   # candidate pairs as declared
    planned: int                   # candidate pairs after tightening
    largest_block: int = 0         # persons in its largest block as declared
    densest_block: float = 0.0     # pairs per person in its densest block as declared
    added: tuple[str, ...] = ()    # refinement keys added to its dense blocks
    dropped_blocks: int = 0
    dropped_persons: int = 0
    kept: dict[str, float] = field(default_factory=dict)  # share of proxies keeping each key
    block_column: str | None = None

    @property
    def name(self) -> str:
        return self.blocking_pass.name

    @property
    def sql(self) -> str:
        return self.blocking_pass.condition(self.block_column)


@dataclass
class BlockingPlan:
    persons: int
    budget: float                  # candidate pairs per person at most
    passes: list[PassPlan]
    cap: float | None = None       # density cap (None: nothing tightened)
    proxies: int = 0
    recall_declared: float | None = None   # estimated on the proxies, id pass left out
    recall_planned: float | None = None

    @property
    def rules(self) -> list[tuple[str, str]]:
        return [(p.name, p.sql) for p in self.passes]

    @property
    def counted(self) -> int:
        return sum(p.counted for p in self.passes)

    @property
    def planned(self) -> int:
        return sum(p.planned for p in self.passes)

    @property
    def tightened(self) -> bool:
        return self.cap is not None

    def report(self) -> pd.DataFrame:
        """One row a pass: rule, counted, planned (candidate pairs before and after
        tightening), largest_block, added_keys, dropped_blocks, dropped_persons."""
        return pd.DataFrame([{
            "rule": p.name, "counted": p.counted, "planned": p.planned,
            "largest_block": p.largest_block, "added_keys": ", ".join(p.added),
            "dropped_blocks": p.dropped_blocks, "dropped_persons": p.dropped_persons,
        } for p in self.passes])

    def lines(self) -> list[str]:
        """What the planning did, in words (the job prints them)."""
        per = self.counted / self.persons if self.persons else 0.0
        out = [f"blocking: {self.counted:,} candidate pairs counted on {self.persons:,} "
               f"persons ({per:.1f} per person; budget {self.budget:g} per person)"]
        if not self.tightened:
            out.append("  within the budget: every pass as declared")
        else:
            out.append(f"  over the budget: blocks giving more than {self.cap:.1f} pairs per "
                       f"person split, {self.planned:,} candidate pairs left "
                       f"({self.planned / max(self.persons, 1):.1f} per person)")
            for p in self.passes:
                if p.added or p.dropped_blocks:
                    dropped = (f"; {p.dropped_blocks:,} blocks ({p.dropped_persons:,} persons) "
                               "still too dense, dropped" if p.dropped_blocks else "")
                    keys = [f"{key} (kept by {p.kept[key]:.0%} of proxies)" if key in p.kept
                            else key for key in p.added]
                    split = f"split by {' then '.join(keys)}" if p.added else "not split"
                    out.append(f"  {p.name}: {p.counted:,} -> {p.planned:,} pairs "
                               f"(largest block {p.largest_block:,} persons; {split}{dropped})")
        if self.recall_declared is not None:
            text = (f"  estimated blocking recall of the passes other than the national id, "
                    f"on {self.proxies:,} pairs sharing an id: {self.recall_declared:.3f}")
            if self.tightened and self.recall_planned is not None:
                text += f" as declared, {self.recall_planned:.3f} after tightening"
            out.append(text)
        return out


def _largest_fitting(candidates: Sequence[float], total: Callable[[float], float],
                     limit: float) -> float | None:
    """The largest of the sorted ``candidates`` whose ``total(cap)`` (non-decreasing in
    the cap) is within ``limit``; None when not even the first is."""
    if not candidates or total(candidates[0]) > limit:
        return None
    low, high = 0, len(candidates) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if total(candidates[mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return candidates[low]


def plan_blocking(con, table: str, passes: Sequence[BlockingPass], *,
                  max_pairs_per_person: float,
                  confirmed: Iterable[tuple[str, str]] = (),
                  id_pass: str = "national id") -> BlockingPlan:
    """Count each pass on the prepared persons ``table``, tighten the passes whose blocks
    are too dense to keep within the budget, and add each tightened pass's block column
    to ``table`` (``block_<i>``). The plan says what was done."""
    persons = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    plans: list[PassPlan] = []
    counted: dict[int, _Counted] = {}
    for i, blocking_pass in enumerate(passes):
        if blocking_pass.symmetric:
            counted[i] = _count_blocks(con, table, blocking_pass, f"p{i}")
            c = counted[i]
            plans.append(PassPlan(blocking_pass, int(c.pairs.sum()), int(c.pairs.sum()),
                                  largest_block=c.largest, densest_block=c.densest))
        else:
            pairs = _crossed_count(con, table, blocking_pass)
            plans.append(PassPlan(blocking_pass, pairs, pairs))
    plan = BlockingPlan(persons=persons, budget=max_pairs_per_person, passes=plans)
    plan.proxies = proxy_pairs(con, table, confirmed)
    levels: dict[int, _Levels] = {}
    try:
        if plan.counted > max_pairs_per_person * persons:
            _tighten(con, table, plan, counted, levels, max_pairs_per_person * persons)
    finally:
        for name in [c.table for c in counted.values()] + [
                t for lv in levels.values() for t in lv.tables]:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    _estimate_recall(con, table, plan, id_pass)
    return plan


def _tighten(con, table: str, plan: BlockingPlan, counted: dict[int, _Counted],
             levels: dict[int, _Levels], limit: float) -> None:
    """Find the density cap, split the blocks above it, add the block columns."""
    fixed = sum(p.counted for i, p in enumerate(plan.passes) if i not in counted)
    # The cap is at least the largest whose upper bound fits: blocks this sparse are never
    # split, and neither is a pass whose blocks are all this sparse.
    densities = sorted({1.0} | {float(d) for c in counted.values() for d in c.densities})
    floor = _largest_fitting(
        densities, lambda cap: fixed + sum(c.upper_total(cap) for c in counted.values()),
        limit) or 1.0
    for i, c in counted.items():
        p = plan.passes[i]
        if c.densest > floor:
            order, p.kept = _key_order(con, table, p.blocking_pass)
            levels[i] = _levels(con, table, p.blocking_pass, order, c, floor, f"p{i}")
        else:
            fixed += p.counted
    candidates = sorted({floor} | {float(d) for lv in levels.values()
                                   for d in _density(lv.sizes[0], lv.pairs[0]) if d >= floor})
    plan.cap = _largest_fitting(
        candidates, lambda cap: fixed + sum(lv.total(cap) for lv in levels.values()),
        limit) or floor
    for i, lv in levels.items():
        p = plan.passes[i]
        p.planned = lv.total(plan.cap)
        if p.densest_block > plan.cap:
            p.added = lv.refine[:lv.depth(plan.cap)]
            p.dropped_blocks, p.dropped_persons = lv.dropped(plan.cap)
            p.block_column = f"block_{i}"
            _add_block_column(con, table, p, counted[i], lv, plan.cap)


def _add_block_column(con, table: str, p: PassPlan, counted: _Counted, lv: _Levels,
                      cap: float) -> None:
    """Add to ``table`` the tightened pass's block: the hash of its keys at the first level
    whose block is no denser than the cap (NULL: keys unknown, not selected, or a block
    still too dense at the last level). Set in place (the table keeps its order)."""
    column = p.block_column
    fits = "2 * {a}.p <= {cap!r} * {a}.s"
    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} UBIGINT")
    con.execute(f"UPDATE {table} t SET {column} = {_block_hash(p.blocking_pass, ())} "
                f"WHERE {_selected(p.blocking_pass)}")
    joins, whens = [], []
    for level in range(1, len(lv.refine) + 1):
        alias = f"b{level}"
        joins.append(f"LEFT JOIN {lv.tables[level]} {alias} "
                     f"ON {alias}.block = {_block_hash(p.blocking_pass, lv.refine[:level])}")
        whens.append(f"WHEN {fits.format(a=alias, cap=cap)} THEN {alias}.block")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE blocking_moved AS SELECT t.unique_id, "
        f"CASE {' '.join(whens) or 'WHEN false THEN NULL'} ELSE NULL END AS block "
        f"FROM {table} t JOIN {counted.table} k ON k.block = {_block_hash(p.blocking_pass, ())} "
        f"AND NOT ({fits.format(a='k', cap=cap)}) {' '.join(joins)} "
        f"WHERE {_selected(p.blocking_pass)}")
    con.execute(f"UPDATE {table} SET {column} = m.block FROM blocking_moved m "
                f"WHERE {table}.unique_id = m.unique_id")
    con.execute("DROP TABLE blocking_moved")


def _estimate_recall(con, table: str, plan: BlockingPlan, id_pass: str) -> None:
    """The share of proxy duplicates found by the passes other than the id pass, as
    declared and as planned."""
    if plan.proxies == 0:
        return
    others = [p for p in plan.passes if p.name != id_pass]
    hits = _proxy_hits(con, table, [p.blocking_pass.condition() for p in others]
                       + [p.sql for p in others])
    n = len(others)
    plan.recall_declared = float(hits[:, :n].any(axis=1).mean())
    plan.recall_planned = float(hits[:, n:].any(axis=1).mean())
