"""The indicator engine: compute(engine, as_of=..., level=...) -> the spec's long form.

Every count is made in the database, once per family (indicators.families), grouped by the
household's own area_id (the "raw" area), from the shared building blocks (indicators.blocks).
Counts are additive, so they are then rolled up in pandas to the level asked for through the
area tree (indicators.rollup); only the median of days to complete a referral needs its own
query per level. The readings of the spec where it leaves a choice are in
docs/spec-choices.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pandas as pd
import sqlalchemy as sa

from data_access.areas import AreaTree
from data_access.registry import connection, default_as_of
from data_access.registry_tables import registry_tables
from indicators.blocks import Blocks, Parameters, default_period_start, load_programmes
from indicators.catalogue import BY_ID, CATALOGUE, LONG_FORM_COLUMNS
from indicators.families import FAMILIES, Run
from indicators.rollup import Rows


def compute(
    engine: sa.Engine,
    *,
    as_of: dt.date | None = None,
    level: int,
    period_start: dt.date | None = None,
    poverty_cutoff: float = 32.0,
    referral_sla_days: int = 30,
    period_months: int = 3,
    indicator_ids: Iterable[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
    suspected_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every indicator (or those asked for) for every area of ``level`` and the whole registry.

    Returns the spec's long form (catalogue.LONG_FORM_COLUMNS): empty text cells are None,
    ``level`` is None on whole-registry rows, numerator/denominator are integers or None,
    value is a float or None.

    ``suspected_pairs``: the record-linkage pairs not dismissed (columns person_id_a,
    person_id_b; data_access.linkage_store.undismissed_pairs), which live in the app store,
    not the registry. Without them ``dup.suspected_pairs`` has an empty numerator and value.
    """
    return compute_levels(
        engine, as_of=as_of, levels=[level], period_start=period_start,
        poverty_cutoff=poverty_cutoff, referral_sla_days=referral_sla_days,
        period_months=period_months, indicator_ids=indicator_ids, progress=progress,
        suspected_pairs=suspected_pairs)[level]


def compute_levels(
    engine: sa.Engine,
    *,
    as_of: dt.date | None = None,
    levels: Iterable[int],
    period_start: dt.date | None = None,
    poverty_cutoff: float = 32.0,
    referral_sla_days: int = 30,
    period_months: int = 3,
    indicator_ids: Iterable[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
    suspected_pairs: pd.DataFrame | None = None,
) -> dict[int, pd.DataFrame]:
    """compute()'s long form of each of ``levels``, counted once for all of them.

    The families count per recorded area, whatever the level: only the roll-up (in pandas)
    and the median days to complete a referral depend on it. So the levels share one set of
    building blocks, and a counting query met again at the next level is answered from
    what it returned at the first (``_Remembered``): a cube of four levels costs about one.
    """
    as_of = as_of or default_as_of(engine)
    params = Parameters(
        as_of=as_of,
        period_start=period_start or default_period_start(as_of, period_months),
        poverty_cutoff=float(poverty_cutoff),
        referral_sla_days=int(referral_sla_days),
    )
    wanted = set(indicator_ids) if indicator_ids is not None else set(BY_ID)
    unknown = wanted - set(BY_ID)
    if unknown:
        raise KeyError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    needed = {BY_ID[i].computed_by for i in wanted}
    steps = [family for name, family in FAMILIES.items() if name in needed]
    levels = list(dict.fromkeys(int(level) for level in levels))
    report = progress or (lambda fraction, message: None)

    out: dict[int, pd.DataFrame] = {}
    with connection(engine) as conn:
        tree = AreaTree.load(conn)
        for level in levels:
            tree.require_level(level)
        programmes = load_programmes(conn)
        blocks = Blocks(engine.dialect.name, params, tree.lowest_level, programmes,
                        registry_tables(engine), conn, frozenset(needed))
        remembered = _Remembered(conn)
        try:
            total = max(len(steps) * len(levels), 1)
            for index, level in enumerate(levels):
                run = Run(conn=remembered, blocks=blocks, rows=Rows(tree, level, params),
                          tree=tree, level=level, wanted=wanted,
                          programme_ids=list(programmes["programme_id"].astype(str)),
                          suspected_pairs=suspected_pairs)
                for step, family in enumerate(steps):
                    report((index * len(steps) + step) / total,
                           family.name if len(levels) == 1 else f"level {level}: {family.name}")
                    family.run(run)
                out[level] = _long_form(run.rows.rows)
        finally:
            blocks.release()
        report(1.0, "done")
    return out


class _Remembered:
    """The registry connection as the families use it (``execute``, ``dialect``), answering
    a statement it has run before (the same SQL and parameters) from what it returned then.

    Only for one computation: the registry is read in one connection, and the building
    blocks (temporary tables) stay as they were between the levels."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._answers: dict[tuple, sa.engine.FrozenResult] = {}

    @property
    def dialect(self) -> sa.Dialect:
        return self._conn.dialect

    @property
    def engine(self) -> sa.Engine:
        return self._conn.engine

    def execute(self, statement: sa.Executable) -> sa.CursorResult:
        compiled = statement.compile(dialect=self._conn.dialect)
        key = (str(compiled), repr(sorted(compiled.params.items(), key=lambda kv: kv[0])))
        if key not in self._answers:
            self._answers[key] = self._conn.execute(statement).freeze()
        return self._answers[key]()


# The order compute() runs the families in (and emits their rows in).
FAMILY_ORDER: tuple[str, ...] = tuple(FAMILIES)


def family_indicator_ids(family: str) -> tuple[str, ...]:
    """Every indicator one family's query counts (what compute gives for the family)."""
    return tuple(ind.id for ind in CATALOGUE if ind.computed_by == family)


def families_of(indicator_ids: Iterable[str] | None) -> list[str]:
    """The families behind these indicators (None: all), in compute's order."""
    wanted = set(BY_ID) if indicator_ids is None else set(indicator_ids)
    unknown = wanted - set(BY_ID)
    if unknown:
        raise KeyError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    present = {BY_ID[i].computed_by for i in wanted}
    return [f for f in FAMILY_ORDER if f in present]


def rows_of(frame: pd.DataFrame, indicator_ids: Iterable[str]) -> pd.DataFrame:
    """The rows of a long form that are about ``indicator_ids``, in their order, numbered
    from 0 (as compute returns a long form)."""
    return frame[frame["indicator_id"].isin(set(indicator_ids))].reset_index(drop=True)


def family_part(frame: pd.DataFrame, family: str) -> pd.DataFrame:
    """The rows of one family in a long form computed for several (compute's rows for that
    family alone: the same rows, in the same order)."""
    return rows_of(frame, family_indicator_ids(family))


def merge_long_forms(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The long forms of separate families (each from compute, given in FAMILY_ORDER) as
    one compute would have returned them together: the same rows in the same order.

    Families are independent queries, so a caller may cache them one by one and share a
    family between pages that ask for different indicators.
    """
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return _long_form([])
    order = {ind.id: i for i, ind in enumerate(CATALOGUE)}
    frame = pd.concat(frames, ignore_index=True)
    frame["_order"] = frame["indicator_id"].map(order)
    # A stable sort on the same keys as _long_form: rows of one indicator keep the order
    # their family emitted them in.
    frame = frame.sort_values(["_order", "level", "area_id"], na_position="last", kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def _long_form(rows: list[dict]) -> pd.DataFrame:
    order = {ind.id: i for i, ind in enumerate(CATALOGUE)}
    frame = pd.DataFrame(rows, columns=list(LONG_FORM_COLUMNS))
    if frame.empty:
        return frame
    frame["_order"] = frame["indicator_id"].map(order)
    frame = frame.sort_values(["_order", "level", "area_id"], na_position="last", kind="stable")
    frame = frame.drop(columns="_order").reset_index(drop=True)
    for col in ("level", "numerator", "denominator"):
        frame[col] = frame[col].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    for col in ("indicator_id", "area_id", "area_name", "programme_id", "breakdown",
                "period_start", "period_end"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame
