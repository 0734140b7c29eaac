"""Households: coverage of the poor, complete packages, programmes per poor household, double dipping."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from indicators.blocks import Blocks, count_if, flag, read_frame
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("cov.poor_households", "pkg.complete", "pkg.mean_programmes_poor", "dup.double_dipping")


def count_households(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    """Poor households, packages and double dipping, per raw area.

    Shaped for SQLite's planner as much as for clarity: the per-household aggregates are
    built without joins to other derived tables, then each probes the household table by
    its primary key (a LEFT JOIN between two derived tables has no index to use).
    """
    if b.materialised:
        return _count_from_programme_counts(conn, b)
    received = b.household_programmes()
    # Level 1: per household and exclusive group (null group: programmes outside any group).
    per_group = (
        sa.select(
            received.c.household_id,
            b.t.programme.c.exclusive_group,
            sa.func.sum(received.c.eligible_for).label("n_eligible"),
            sa.func.sum(received.c.eligible_for * received.c.receives).label("n_eligible_received"),
            sa.func.sum(received.c.receives).label("n_received"),
        )
        .join(b.t.programme, b.t.programme.c.programme_id == received.c.programme_id)
        .group_by(received.c.household_id, b.t.programme.c.exclusive_group)
        .subquery("per_group")
    )
    in_group = per_group.c.exclusive_group.is_not(None)
    per_household = (
        sa.select(
            per_group.c.household_id,
            sa.func.sum(per_group.c.n_eligible).label("n_eligible"),
            sa.func.sum(per_group.c.n_eligible_received).label("n_eligible_received"),
            sa.func.sum(per_group.c.n_received).label("n_received"),
            sa.func.max(flag(sa.and_(in_group, per_group.c.n_received >= 1))).label("grouped"),
            sa.func.max(flag(sa.and_(in_group, per_group.c.n_received >= 2))).label("dipping"),
        )
        .group_by(per_group.c.household_id)
        .subquery("per_household")
    )
    ph = per_household.c
    receiving = read_frame(conn, sa.select(
        b.t.household.c.area_id,
        *_receiving_counts(ph, _poor(b, b.t.household.c.pmt_score)),
    ).select_from(per_household)
     .join(b.t.household, b.t.household.c.household_id == ph.household_id)
     # A registered member makes a row for an unregistered household: not counted here.
     .where(b.t.household.c.registered_on <= b.as_of)
     .group_by(b.t.household.c.area_id))
    households = b.registered_households()
    poor_counts = read_frame(conn, sa.select(
        households.c.area_id, count_if(_poor(b, households.c.pmt_score), "poor"),
    ).group_by(households.c.area_id))
    return poor_counts.merge(receiving, on="area_id", how="outer")


def _count_from_programme_counts(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    # DuckDB and Spark: each registered household's row of programme columns, read once.
    c = b.programme_counts().c
    programmes = b.counted_programmes()
    eligible_for = {i: c[f"e{i}"] >= 1 for i, _ in programmes}
    receives = {i: c[f"r{i}"] >= 1 for i, _ in programmes}
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(b.programmes.itertuples(index=False)):
        if i in receives and row.exclusive_group is not None:
            groups.setdefault(str(row.exclusive_group), []).append(i)

    def how_many(conditions: list[sa.ColumnElement]) -> sa.ColumnElement:
        return sum((flag(condition) for condition in conditions), sa.literal(0))

    received_in_group = [how_many([receives[i] for i in members]) for members in groups.values()]
    per_household = sa.select(
        c.area_id, c.pmt_score,
        how_many(list(eligible_for.values())).label("n_eligible"),
        how_many([sa.and_(eligible_for[i], receives[i]) for i in receives]).label("n_eligible_received"),
        how_many(list(receives.values())).label("n_received"),
        flag(sa.or_(sa.false(), *(n >= 1 for n in received_in_group))).label("grouped"),
        flag(sa.or_(sa.false(), *(n >= 2 for n in received_in_group))).label("dipping"),
    ).where(c.registered == 1).subquery("per_household")
    ph = per_household.c
    poor = _poor(b, ph.pmt_score)
    return read_frame(conn, sa.select(
        ph.area_id, count_if(poor, "poor"), *_receiving_counts(ph, poor),
    ).group_by(ph.area_id))


def _poor(b: Blocks, pmt_score: sa.ColumnElement) -> sa.ColumnElement[bool]:
    return sa.and_(pmt_score.is_not(None),
                   pmt_score <= sa.literal(float(b.params.poverty_cutoff)))


def _receiving_counts(ph: sa.ColumnCollection, poor: sa.ColumnElement[bool]
                      ) -> list[sa.ColumnElement]:
    """The per-area counts of households from their per-household columns (n_eligible,
    n_eligible_received, n_received, grouped, dipping), whichever way those were counted."""
    return [
        count_if(sa.and_(poor, ph.n_received >= 1), "poor_receiving"),
        sa.func.coalesce(sa.func.sum(sa.case((poor, ph.n_received), else_=0)), 0)
        .label("poor_programmes"),
        count_if(ph.n_eligible >= 2, "multi_eligible"),
        count_if(sa.and_(ph.n_eligible >= 2, ph.n_eligible_received == ph.n_eligible),
                 "multi_complete"),
        count_if(ph.grouped == 1, "grouped_receiving"),
        count_if(ph.dipping == 1, "double_dipping"),
    ]


def _emit_households(rows: Rows, counts: pd.DataFrame, wanted: set[str]) -> None:
    table = rows.rollup(counts, [], ["poor", "poor_receiving", "poor_programmes",
                                     "multi_eligible", "multi_complete",
                                     "grouped_receiving", "double_dipping"])
    for area_id in rows.targets():
        key = (area_id,)
        pairs = {
            "cov.poor_households": ("poor_receiving", "poor"),
            "pkg.complete": ("multi_complete", "multi_eligible"),
            "pkg.mean_programmes_poor": ("poor_programmes", "poor"),
            "dup.double_dipping": ("double_dipping", "grouped_receiving"),
        }
        for indicator_id, (num, den) in pairs.items():
            if indicator_id in wanted:
                rows.add(indicator_id, area_id, cell(table, key, num), cell(table, key, den))


def run(run: Run) -> None:
    _emit_households(run.rows, count_households(run.conn, run.blocks), run.wanted)


FAMILY = Family("households", EMITS, run)
