"""Suspected duplicate pairs from record linkage, per 1,000 registered persons."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from indicators.blocks import Blocks, read_frame
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("dup.suspected_pairs",)


def count_registered_persons(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    """Registered persons per raw area (the denominator of cov.population, alone)."""
    ps = b.registered_persons()
    return read_frame(conn, sa.select(ps.c.area_id, sa.func.count().label("persons"))
                 .group_by(ps.c.area_id))


PAIR_CHUNK = 500  # person ids per IN list (well under SQLite's bound on parameters)


def ordered_pairs(pairs: pd.DataFrame) -> list[tuple[str, str]]:
    """The distinct pairs of a (person_id_a, person_id_b) frame, each with the smaller id
    first ("the pair's first person"); a person paired with itself is dropped."""
    out: set[tuple[str, str]] = set()
    for a, b in zip(pairs["person_id_a"], pairs["person_id_b"], strict=True):
        if a is None or b is None or pd.isna(a) or pd.isna(b):
            continue
        x, y = str(a), str(b)
        if x != y:
            out.add((x, y) if x < y else (y, x))
    return sorted(out)


def count_suspected_pairs(conn: sa.Connection, b: Blocks, pairs: pd.DataFrame) -> pd.DataFrame:
    """dup.suspected_pairs' numerator per raw area: the pairs whose two persons are
    registered and not left out on d, in the area of the first person (the smaller id).

    The pairs come from the app store (few: a registry's suspected duplicates), so only
    their persons are read, by id, in chunks."""
    wanted = ordered_pairs(pairs)
    ids = sorted({pid for pair in wanted for pid in pair})
    ps = b.registered_persons()
    area_of: dict[str, str] = {}
    for start in range(0, len(ids), PAIR_CHUNK):
        chunk = ids[start:start + PAIR_CHUNK]
        for pid, area_id in conn.execute(sa.select(ps.c.person_id, ps.c.area_id)
                                         .where(ps.c.person_id.in_(chunk))):
            area_of[str(pid)] = area_id
    counted: dict[str, int] = {}
    for first, second in wanted:
        if first in area_of and second in area_of:
            counted[area_of[first]] = counted.get(area_of[first], 0) + 1
    return pd.DataFrame({"area_id": list(counted), "pairs": list(counted.values())},
                        columns=["area_id", "pairs"])


def _emit_suspected_pairs(rows: Rows, persons: pd.DataFrame,
                          pairs: pd.DataFrame | None) -> None:
    """dup.suspected_pairs: pairs ÷ registered persons; no pairs given: numerator and value
    empty (unknown, not zero), the denominator still counted."""
    persons_t = rows.rollup(persons, [], ["persons"])
    pairs_t = None if pairs is None else rows.rollup(pairs, [], ["pairs"])
    for area_id in rows.targets():
        key = (area_id,)
        rows.add("dup.suspected_pairs", area_id,
                 None if pairs_t is None else cell(pairs_t, key, "pairs"),
                 cell(persons_t, key, "persons"))


def run(run: Run) -> None:
    # The population family's counts hold the registered persons when it ran too.
    persons = run.shared("population", None) if run.has_shared("population") \
        else count_registered_persons(run.conn, run.blocks)
    pairs = (None if run.suspected_pairs is None
             else count_suspected_pairs(run.conn, run.blocks, run.suspected_pairs))
    _emit_suspected_pairs(run.rows, persons, pairs)


FAMILY = Family("suspected_pairs", EMITS, run)
