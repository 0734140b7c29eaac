"""The indicators' long form as a user may see it: scoped to their areas, suppressed for donors.

The one place where computed figures meet the user context (no Streamlit; data_access.ui
caches the same functions for the pages, exports.workbook calls them for the workbook):

- every role: the rows of the context's areas and the areas below them; whole-registry rows
  only for a context that sees the whole registry (data_access.scope);
- donors (aggregates only): the long form of **every level** of the registry on that date and
  period is computed and suppressed together (indicators.suppression.published_figures, with
  ``privacy.small_cell_threshold``), then cut to the level, indicators and areas asked for.
  One pattern per date and parameters, whatever the page: two patterns computed separately
  (a district page, a union-council page) could leak through each other. Hidden counts and
  values are empty; ``suppressed`` and ``suppression`` say which and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from data_access.context import UserContext
from data_access.scope import scope_figures, visible_area_ids
from indicators import compute

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


def registry_levels(areas: pd.DataFrame) -> list[int]:
    levels = pd.to_numeric(areas["level"], errors="coerce").dropna().astype(int)
    return sorted(set(levels))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The engine's dtypes again after suppression blanked cells: Int64 counts, Float64 value."""
    out = frame.copy()
    for column in ("numerator", "denominator"):
        out[column] = pd.array([None if v is None or pd.isna(v) else int(v)
                                for v in out[column]], dtype="Int64")
    out["value"] = pd.array([None if v is None or pd.isna(v) else float(v)
                             for v in out["value"]], dtype="Float64")
    return out


def donor_long_form(engine: sa.Engine, areas: pd.DataFrame, *, as_of: dt.date,
                    period_start: dt.date, parameters: Parameters,
                    suspected_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every level's long form on ``as_of``, suppressed together: what donors are shown.

    ``areas``: the registry's area table (area_id, parent_id, level). ``suspected_pairs``:
    the linkage pairs not dismissed (data_access.linkage_store.undismissed_pairs), for
    dup.suspected_pairs; None before the linkage job has run. A column
    :data:`COMPUTED_LEVEL` tells which computation a row comes from (whole-registry rows come
    with every level).
    """
    from indicators.suppression import published_figures

    frames = [compute(engine, as_of=as_of, level=level, period_start=period_start,
                      poverty_cutoff=parameters.poverty_cutoff,
                      referral_sla_days=parameters.referral_sla_days,
                      period_months=parameters.period_months,
                      suspected_pairs=suspected_pairs).assign(**{COMPUTED_LEVEL: level})
              for level in registry_levels(areas)]
    if not frames:
        return pd.DataFrame()
    together = pd.concat(frames, ignore_index=True)
    published = published_figures(together, areas[["area_id", "parent_id"]],
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


def for_context(frame: pd.DataFrame, context: UserContext, areas: pd.DataFrame) -> pd.DataFrame:
    """The rows of a long form the context may see."""
    return scope_figures(frame, visible_area_ids(areas, context), context)


def long_form(engine: sa.Engine, context: UserContext, areas: pd.DataFrame, *, as_of: dt.date,
              level: int, period_start: dt.date, parameters: Parameters,
              indicator_ids: Sequence[str] | None = None,
              suspected_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The long form at ``level`` as ``context`` may see it (uncached: for exports and tools).

    A whole-registry context that is not a donor gets exactly ``indicators.compute``'s frame.
    """
    if context.role == "donor":
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
