"""The indicators' long form as a user may see it: scoped to their areas, suppressed for donors.

The one place where computed figures meet the user context (no Streamlit; ui.queries
caches the same functions for the pages, exports.workbook calls them for the workbook):

- every role: the rows of the context's areas and the areas below them; whole-registry rows
  only for a context that sees the whole registry (data_access.scope);
- donors (aggregates only): the long form of **every level** of the registry on that date and
  period is computed and suppressed together (indicators.suppression.published_figures, with
  ``privacy.small_cell_threshold``), then cut to the level, indicators and areas asked for.
  The date and period are those of the donors' fixed calendar (indicators.donor_calendar),
  whatever was asked: two requests a day apart would give that day away by subtraction.
  One pattern per date and parameters, whatever the page: two patterns computed separately
  (a district page, a union-council page) could leak through each other. Hidden counts and
  values are empty; ``suppressed`` and ``suppression`` say which and why.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from core.values import python_value
from data_access.areas import AreaTree
from data_access.context import UserContext
from data_access.meetings import Meeting
from data_access.scope import Scope, scope_figures, visible_area_ids
from data_access.snapshots import (
    SERIES_COLUMNS,
    command_snapshots_on,
    stored_figures,
    stored_series,
    typed_long_form,
)
from indicators import compute
from indicators.catalogue import BY_ID, LONG_FORM_COLUMNS
from indicators.donor_calendar import donor_dates, is_period_end
from indicators.suppression import published_figures

COMPUTED_LEVEL = "computed_level"  # the level a row of the donors' frame was computed at


@dataclass(frozen=True)
class Parameters:
    """What a computation depends on besides the registry: the settings' values."""

    poverty_cutoff: float = 32.0
    referral_sla_days: int = 30
    period_months: int = 3
    threshold: int = 5  # privacy.small_cell_threshold

    @classmethod
    def from_settings(cls, settings) -> Parameters:
        return cls(poverty_cutoff=float(settings.poverty_cutoff),
                   referral_sla_days=int(settings.referral_sla_days),
                   period_months=int(settings.period_months),
                   threshold=int(settings["privacy.small_cell_threshold"]))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The engine's dtypes again after suppression blanked cells: Int64 counts, Float64 value."""
    out = frame.copy()
    for column in ("numerator", "denominator"):
        out[column] = pd.array([None if v is None or pd.isna(v) else int(v)
                                for v in out[column]], dtype="Int64")
    out["value"] = pd.array([None if v is None or pd.isna(v) else float(v)
                             for v in out["value"]], dtype="Float64")
    return out


def donor_long_form(engine: sa.Engine, areas: AreaTree | pd.DataFrame, *, as_of: dt.date,
                    period_start: dt.date, parameters: Parameters,
                    suspected_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every level's long form on ``as_of``, suppressed together: what donors are shown.

    ``as_of`` and ``period_start`` are replaced by the donors' calendar dates
    (indicators.donor_calendar.donor_dates: the end of the latest complete period on or
    before ``as_of`` and the configured period ending there); the frame's ``period_start``
    and ``period_end`` say which.
    ``areas``: the registry's area tree (or area table). ``suspected_pairs``:
    the linkage pairs not dismissed (data_access.linkage_store.undismissed_pairs), for
    dup.suspected_pairs; None before the linkage job has run. A column
    :data:`COMPUTED_LEVEL` tells which computation a row comes from (whole-registry rows come
    with every level).
    """
    tree = AreaTree.of(areas)
    period_start, as_of = donor_dates(as_of, parameters.period_months)
    frames = [compute(engine, as_of=as_of, level=level, period_start=period_start,
                      poverty_cutoff=parameters.poverty_cutoff,
                      referral_sla_days=parameters.referral_sla_days,
                      period_months=parameters.period_months,
                      suspected_pairs=suspected_pairs).assign(**{COMPUTED_LEVEL: level})
              for level in tree.levels]
    if not frames:
        return pd.DataFrame()
    together = pd.concat(frames, ignore_index=True)
    published = published_figures(together, tree.table[["area_id", "parent_id"]],
                                  threshold=parameters.threshold)
    return _typed(published)


def donor_level(published: pd.DataFrame, level: int,
                indicator_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The rows of the donors' frame computed at ``level`` (of these indicators)."""
    if published.empty:
        return published
    rows = published[published[COMPUTED_LEVEL] == int(level)]
    if indicator_ids is not None:
        rows = rows[rows["indicator_id"].isin(list(indicator_ids))]
    return rows.drop(columns=[COMPUTED_LEVEL]).reset_index(drop=True)


def for_context(frame: pd.DataFrame, context: UserContext,
                areas: AreaTree | pd.DataFrame) -> pd.DataFrame:
    """The rows of a long form the context may see."""
    return scope_figures(frame, visible_area_ids(areas, context), context)


def long_form(engine: sa.Engine, context: UserContext, areas: AreaTree | pd.DataFrame, *, as_of: dt.date,
              level: int, period_start: dt.date, parameters: Parameters,
              indicator_ids: Sequence[str] | None = None,
              suspected_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The long form at ``level`` as ``context`` may see it (uncached: for exports and tools).

    A whole-registry context that is not a donor gets exactly ``indicators.compute``'s frame.
    """
    if context.sees_suppressed_figures:
        frame = donor_level(donor_long_form(engine, areas, as_of=as_of,
                                            period_start=period_start, parameters=parameters,
                                            suspected_pairs=suspected_pairs),
                            level, indicator_ids)
    else:
        frame = compute(engine, as_of=as_of, level=level, period_start=period_start,
                        poverty_cutoff=parameters.poverty_cutoff,
                        referral_sla_days=parameters.referral_sla_days,
                        period_months=parameters.period_months,
                        indicator_ids=list(indicator_ids) if indicator_ids is not None else None,
                        suspected_pairs=suspected_pairs)
    return for_context(frame, context, areas)


# Snapshots: the long form frozen in the app store -----------------------------------------

def snapshot_long_form(store: sa.Engine, snapshot_id: int) -> pd.DataFrame:
    """The long form (catalogue.LONG_FORM_COLUMNS) of a snapshot, in the order it was stored:
    ``period_end`` is the snapshot's, ``period_start`` the snapshot's for flow indicators and
    empty for stock ones, as the engine gives them."""
    frame = stored_figures(store, snapshot_id)
    flow = [BY_ID[i].kind == "flow" if i in BY_ID else False for i in frame["indicator_id"]]
    frame["period_start"] = [start if is_flow else None
                             for start, is_flow in zip(frame["period_start"], flow, strict=True)]
    return typed_long_form(frame[list(LONG_FORM_COLUMNS)])


def meeting_figures(store: sa.Engine, this: Meeting, *, scope: Scope) -> pd.DataFrame:
    """The long form frozen when the meeting started, cut to the scope (a meeting started by
    an admin holds the whole registry's rows; a chair does not see them)."""
    scope.require(this.area_id)
    return scope.keep(snapshot_long_form(store, this.snapshot_id))


def series(store: sa.Engine, *, scope: Scope, indicator_ids: Iterable[str],
           area_ids: Iterable[str | None], level: int,
           programme_id: str | None = None) -> pd.DataFrame:
    """Values through time: one row per (as_of, indicator_id, area_id), oldest first.

    Rows without breakdown, of ``programme_id`` (None: the rows without programme), from the
    snapshots of ``level``; an area_id of None is the whole registry. Areas outside the
    scope are left out. For each as-of date the command snapshot wins; a date without one
    takes the newest meeting snapshot holding the figure. Columns: as_of, indicator_id,
    area_id, area_name, value, numerator, denominator, source, snapshot_id.

    For a donor (``scope.suppressed``) only command snapshots of the donors' calendar dates
    (period ends: indicators.donor_calendar) are read, and each date's figures are
    suppressed as donors see them: the command snapshots of every level of that
    date together (indicators.suppression), hidden counts and values empty, with a
    ``suppressed`` column.
    """
    area_ids = scope.keep_ids(area_ids)
    if scope.suppressed:
        return _donor_series(store, scope, indicator_ids=list(indicator_ids),
                             area_ids=area_ids, level=level, programme_id=programme_id)
    return stored_series(store, indicator_ids=indicator_ids, area_ids=area_ids, level=level,
                   programme_id=programme_id)


# Donors: each date's figures suppressed together -------------------------------------------

_PUBLISHED: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
_PUBLISHED_MAX = 64


def _published_on(store: sa.Engine, scope: Scope, as_of: dt.date) -> pd.DataFrame:
    """The command snapshots of every level of ``as_of``, suppressed together for donors
    (cached per process on the snapshots, the area tree and the threshold)."""
    taken = command_snapshots_on(store, as_of)
    key = (store.url.render_as_string(hide_password=True), tuple(map(tuple, taken)),
           scope.tree_key, scope.threshold, scope.period_months)
    if key in _PUBLISHED:
        _PUBLISHED.move_to_end(key)
        return _PUBLISHED[key]
    frames = [snapshot_long_form(store, snapshot_id) for snapshot_id, _ in taken]
    # Flows of another window than the calendar's (a snapshot taken with another period
    # length) are left out: beside the live pages' they would give their difference away.
    start = donor_dates(as_of, scope.period_months)[0]
    frames = [frame[[s is None or pd.isna(s) or s == start for s in frame["period_start"]]]
              for frame in frames]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        published = pd.DataFrame(columns=[*LONG_FORM_COLUMNS, "suppressed"])
    else:
        published = published_figures(pd.concat(frames, ignore_index=True), scope.tree,
                                       threshold=scope.threshold)
    _PUBLISHED[key] = published
    while len(_PUBLISHED) > _PUBLISHED_MAX:
        _PUBLISHED.popitem(last=False)
    return published


def _donor_series(store: sa.Engine, scope: Scope, *, indicator_ids: list[str],
                  area_ids: list[str | None], level: int,
                  programme_id: str | None) -> pd.DataFrame:
    frame = stored_series(store, indicator_ids=indicator_ids, area_ids=area_ids, level=level,
                    programme_id=programme_id, source="command")
    # The donors' calendar: snapshots of other dates would give their differences away.
    frame = frame[[is_period_end(day, scope.period_months) for day in frame["as_of"]]]
    if frame.empty:
        return frame.assign(suppressed=pd.Series(dtype=bool))
    shown: dict[tuple, tuple] = {}
    for day in sorted(set(frame["as_of"])):
        published = _published_on(store, scope, day)
        rows = published[(published["level"].astype("Int64") == int(level))
                         | published["area_id"].isna()]
        rows = rows[rows["breakdown"].isna() & rows["indicator_id"].isin(indicator_ids)]
        rows = rows[rows["programme_id"].isna() if programme_id is None
                    else rows["programme_id"] == programme_id]
        for r in rows.itertuples(index=False):
            area = None if r.area_id is None or pd.isna(r.area_id) else str(r.area_id)
            shown[(day, r.indicator_id, area)] = (r.numerator, r.denominator, r.value,
                                                 bool(r.suppressed))
    out = frame.copy()
    cells = [shown.get((day, indicator_id, None if area is None else str(area)),
                       (None, None, None, True))
             for day, indicator_id, area in zip(out["as_of"], out["indicator_id"],
                                                out["area_id"], strict=True)]
    for index, column in enumerate(("numerator", "denominator", "value")):
        out[column] = [python_value(cell[index]) for cell in cells]
    out = typed_long_form(out[list(SERIES_COLUMNS)])
    out["suppressed"] = [cell[3] for cell in cells]
    return out
