"""Shared national ids and double enrolment."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from indicators.blocks import Blocks, count_if, read_frame
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("dup.shared_id", "dup.double_enrolment")


def count_duplicates(conn: sa.Connection, b: Blocks) -> tuple[pd.DataFrame, pd.DataFrame]:
    shared_id = read_frame(conn, _shared_id_query(b))

    active = b.active_enrolments()
    pairs = (
        sa.select(active.c.area_id, active.c.unit_id, active.c.programme_id, sa.func.count().label("n"))
        .group_by(active.c.area_id, active.c.unit, active.c.unit_id, active.c.programme_id)
        .subquery("pairs")
    )
    double = read_frame(conn, sa.select(
        pairs.c.area_id, sa.func.count().label("pairs"), count_if(pairs.c.n >= 2, "double"),
    ).group_by(pairs.c.area_id))
    return shared_id, double


def _shared_id_query(b: Blocks) -> sa.Select:
    """Per area: registered persons with a well-formed id, and those sharing it."""
    if b.materialised:
        counts = b.person_counts()
        return (sa.select(counts.c.area_id, sa.func.sum(counts.c.persons).label("with_id"),
                          sa.func.sum(counts.c.persons * counts.c.shared).label("shared"))
                .where(counts.c.valid == 1, counts.c.registered == 1, counts.c.well_formed == 1)
                .group_by(counts.c.area_id))
    ids = b.id_sharers(b.registered_persons())
    return sa.select(ids.c.area_id, sa.func.count().label("with_id"),
                     count_if(ids.c.shared == 1, "shared")).group_by(ids.c.area_id)


def _emit_duplicates(rows: Rows, shared: pd.DataFrame, double: pd.DataFrame,
                     wanted: set[str]) -> None:
    shared_t = rows.rollup(shared, [], ["with_id", "shared"])
    double_t = rows.rollup(double, [], ["pairs", "double"])
    for area_id in rows.targets():
        key = (area_id,)
        if "dup.shared_id" in wanted:
            rows.add("dup.shared_id", area_id, cell(shared_t, key, "shared"),
                     cell(shared_t, key, "with_id"))
        if "dup.double_enrolment" in wanted:
            rows.add("dup.double_enrolment", area_id, cell(double_t, key, "double"),
                     cell(double_t, key, "pairs"))


def run(run: Run) -> None:
    _emit_duplicates(run.rows, *count_duplicates(run.conn, run.blocks), run.wanted)


FAMILY = Family("duplicates", EMITS, run)
