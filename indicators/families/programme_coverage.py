"""Programme coverage, exclusion and inclusion errors: eligible and enrolled units per programme."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from indicators.blocks import Blocks, count_if, read_frame
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("cov.programme", "cov.exclusion", "cov.inclusion")


COUNTS = ("eligible", "eligible_enrolled", "enrolled", "enrolled_not_eligible")


def count_programme_coverage(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    """Eligible and enrolled units per raw area and programme (columns ``COUNTS``)."""
    if b.materialised:
        return _count_from_programme_counts(conn, b)
    status = b.unit_status()
    eligible, enrolled = status.c.eligible == 1, status.c.enrolled == 1
    return read_frame(conn, sa.select(
        status.c.area_id, status.c.programme_id,
        count_if(eligible, "eligible"),
        count_if(sa.and_(eligible, enrolled), "eligible_enrolled"),
        count_if(enrolled, "enrolled"),
        count_if(sa.and_(enrolled, status.c.eligible == 0), "enrolled_not_eligible"),
    ).group_by(status.c.area_id, status.c.programme_id))


def _count_from_programme_counts(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    # DuckDB and Spark: the per-household columns of every programme, summed per area in one
    # query, then one row per (area, programme) as unit_status's grouping gives them.
    counts = b.programme_counts()
    sums: list[sa.ColumnElement] = []
    for i, _ in b.counted_programmes():
        e, er, r = counts.c[f"e{i}"], counts.c[f"er{i}"], counts.c[f"r{i}"]
        sums += [sa.func.sum(e).label(f"eligible_{i}"), sa.func.sum(er).label(f"eligible_enrolled_{i}"),
                 sa.func.sum(r).label(f"enrolled_{i}"),
                 sa.func.sum(r - er).label(f"enrolled_not_eligible_{i}")]
    wide = read_frame(conn, sa.select(counts.c.area_id, *sums).group_by(counts.c.area_id))
    parts = [pd.DataFrame({"area_id": wide["area_id"], "programme_id": pid,
                           **{name: wide[f"{name}_{i}"] for name in COUNTS}})
             for i, pid in b.counted_programmes()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["area_id", "programme_id", *COUNTS])


def _emit_programme_coverage(rows: Rows, counts: pd.DataFrame, programme_ids: list[str]) -> None:
    table = rows.rollup(counts, ["programme_id"], list(COUNTS))
    for area_id in rows.targets():
        for pid in programme_ids:
            key = (area_id, pid)
            eligible = cell(table, key, "eligible")
            rows.add("cov.programme", area_id, cell(table, key, "eligible_enrolled"), eligible,
                     programme_id=pid)
            rows.add("cov.exclusion", area_id,
                     eligible - cell(table, key, "eligible_enrolled"), eligible, programme_id=pid)
            rows.add("cov.inclusion", area_id, cell(table, key, "enrolled_not_eligible"),
                     cell(table, key, "enrolled"), programme_id=pid)


def run(run: Run) -> None:
    _emit_programme_coverage(run.rows, count_programme_coverage(run.conn, run.blocks),
                             run.programme_ids)


FAMILY = Family("programme_coverage", EMITS, run)
