"""Referrals made, completed, rejected and overdue in the period, and the median days to complete."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from data_access import dialects
from data_access.areas import AreaTree
from indicators.blocks import CLOSED_STATUSES, Blocks, count_if, read_frame
from indicators.families.base import Family, Run
from indicators.rollup import Rows

EMITS: tuple[str, ...] = ("ref.made", "ref.completed", "ref.rejected", "ref.overdue", "ref.days_to_complete")


def count_referrals(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    referrals = b.valid_referrals()
    start, end = b.date(b.params.period_start), b.date(b.params.period_end)
    overdue_since = b.date(b.params.period_end - dt.timedelta(days=b.params.referral_sla_days))
    made = sa.and_(referrals.c.referred_on >= start, referrals.c.referred_on <= end)
    closed_by_end = referrals.c.closed_on <= end
    open_at_end = sa.not_(sa.and_(referrals.c.status.in_(CLOSED_STATUSES), referrals.c.closed_on.is_not(None),
                                  closed_by_end))
    return read_frame(conn, sa.select(
        referrals.c.area_id, referrals.c.to_programme_id.label("programme_id"), referrals.c.access_point_id,
        count_if(made, "made"),
        count_if(sa.and_(made, referrals.c.status == "completed", closed_by_end), "completed"),
        count_if(sa.and_(made, referrals.c.status == "rejected", closed_by_end), "rejected"),
        count_if(open_at_end, "open"),
        count_if(sa.and_(open_at_end, referrals.c.referred_on <= overdue_since), "overdue"),
    ).where(referrals.c.referred_on <= end)
     .group_by(referrals.c.area_id, referrals.c.to_programme_id, referrals.c.access_point_id))


def median_days_to_complete(conn: sa.Connection, b: Blocks, tree: AreaTree, level: int
                            ) -> pd.DataFrame:
    """Median days to complete per (area of level | whole registry) x (programme | all)."""
    referrals = b.valid_referrals()
    start, end = b.date(b.params.period_start), b.date(b.params.period_end)
    days = dialects.days_between(b.dialect, referrals.c.closed_on, referrals.c.referred_on).label("days")
    completed = (referrals.c.status == "completed", referrals.c.closed_on >= start, referrals.c.closed_on <= end)
    # Walk from the referral's lowest-level area up to its ancestor at `level`, hop by hop,
    # as AreaTree.ancestor_map does for the additive counts.
    from_clause: sa.FromClause = referrals
    current = referrals.c.area_id
    for step in range(tree.lowest_level - level):
        node = b.t.area.alias(f"hop{step}")
        from_clause = from_clause.join(node, node.c.area_id == current)
        current = node.c.parent_id
    target = b.t.area.alias("target")
    from_clause = from_clause.join(target, sa.and_(target.c.area_id == current,
                                                   target.c.level == level))
    level_base = sa.select(referrals.c.to_programme_id.label("programme_id"),
                           target.c.area_id.label("area_id"), days) \
        .select_from(from_clause).where(*completed)
    whole_base = sa.select(referrals.c.to_programme_id.label("programme_id"),
                           sa.literal(None, sa.Text).label("area_id"), days).where(*completed)
    frames = [
        _median(conn, source.subquery(), by_programme)
        for source in (level_base, whole_base) for by_programme in (True, False)
    ]
    return pd.concat(frames, ignore_index=True)


def _median(conn: sa.Connection, source: sa.Subquery, by_programme: bool) -> pd.DataFrame:
    keys = [source.c.area_id] + ([source.c.programme_id] if by_programme else [])
    ranked = sa.select(
        *keys, source.c.days,
        sa.func.row_number().over(partition_by=keys, order_by=source.c.days).label("rn"),
        sa.func.count().over(partition_by=keys).label("n"),
    ).subquery("ranked")
    rk = [ranked.c.area_id] + ([ranked.c.programme_id] if by_programme else [])
    # The middle one (odd n) or the two middle ones (even n): 2*rn in [n, n+2].
    frame = read_frame(conn, sa.select(*rk, sa.func.avg(ranked.c.days).label("median"))
                  .where(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
                  .group_by(*rk))
    if not by_programme:
        frame["programme_id"] = None
    return frame


REFERRAL_PAIRS: dict[str, tuple[str, str | None]] = {
    "ref.made": ("made", None),
    "ref.completed": ("completed", "made"),
    "ref.rejected": ("rejected", "made"),
    "ref.overdue": ("overdue", "open"),
}


def _emit_referrals(rows: Rows, counts: pd.DataFrame, medians: pd.DataFrame,
                    programme_ids: list[str], wanted: set[str]) -> None:
    values = ["made", "completed", "rejected", "open", "overdue"]
    total = rows.rollup(counts, [], values)
    by_programme = rows.rollup(counts, ["programme_id"], values)
    with_ap = counts.dropna(subset=["access_point_id"])
    by_ap = rows.rollup(with_ap, ["access_point_id"], values)
    aps_by_area: dict = {}
    for (area_id, ap), _ in sorted(by_ap.items(), key=lambda kv: str(kv[0][1])):
        aps_by_area.setdefault(area_id, []).append(ap)
    median_of = {
        (r.area_id if isinstance(r.area_id, str) else None,
         r.programme_id if isinstance(r.programme_id, str) else None): r.median
        for r in medians.itertuples(index=False)
    }
    for area_id in rows.targets():
        for indicator_id, (num, den) in REFERRAL_PAIRS.items():
            if indicator_id not in wanted:
                continue
            cells = [(None, None, total.get((area_id,), {}))]
            cells += [(pid, None, by_programme.get((area_id, pid), {})) for pid in programme_ids]
            for ap in aps_by_area.get(area_id, []):
                cell = by_ap[(area_id, ap)]
                if cell.get(den or num, 0) > 0:
                    cells.append((None, f"access_point={ap}", cell))
            for pid, breakdown, cell in cells:
                numerator = cell.get(num, 0)
                if den is None:
                    rows.add(indicator_id, area_id, numerator, None, programme_id=pid,
                             breakdown=breakdown, value_is_numerator=True)
                else:
                    rows.add(indicator_id, area_id, numerator, cell.get(den, 0),
                             programme_id=pid, breakdown=breakdown)
        if "ref.days_to_complete" in wanted:
            for pid in [None, *programme_ids]:
                median = median_of.get((area_id, pid))
                rows.add("ref.days_to_complete", area_id, None, None, programme_id=pid,
                         value=None if median is None or pd.isna(median) else float(median))


def run(run: Run) -> None:
    medians = (median_days_to_complete(run.conn, run.blocks, run.tree, run.level)
               if "ref.days_to_complete" in run.wanted else pd.DataFrame(
                   columns=["area_id", "programme_id", "median"]))
    _emit_referrals(run.rows, count_referrals(run.conn, run.blocks), medians,
                    run.programme_ids, run.wanted)


FAMILY = Family("referrals", EMITS, run)
