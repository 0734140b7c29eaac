"""The cube: the long form of every level, computed ahead on the analytical copy and stored
beside it (data_access.figure_store), so the pages' first view of a new copy is read, not
computed.

    stored = precompute(state, settings, pairs=undismissed)   # after each refresh

The app runs it in the background after every refresh of the copy (ui.widgets), for the
default as-of date (the copy's latest registration, or today if earlier) and the configured
period, on every level of the registry. A page asking for that view (any indicators of it)
reads the stored long form; any other view is computed when asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd

from core.settings import Settings
from data_access.analytic_copy import CopyState
from data_access.areas import read_area_tree
from data_access.figure_store import FigureStore, figure_key, pairs_fingerprint
from data_access.registry import default_as_of, open_registry
from indicators.blocks import default_period_start
from indicators.engine import compute


def parameters_of(settings: Settings) -> dict[str, float | int]:
    """The settings a long form depends on."""
    return {"poverty_cutoff": float(settings.poverty_cutoff),
            "referral_sla_days": int(settings.referral_sla_days),
            "period_months": int(settings.period_months)}


def key_of(copy_file: str, settings: Settings, *, as_of: dt.date, period_start: dt.date,
           level: int, pairs: pd.DataFrame | None) -> str:
    """The figure store's key of a view of the copy ``copy_file``."""
    return figure_key(copy_file, as_of=as_of, period_start=period_start, level=level,
                      parameters=parameters_of(settings), pairs=pairs_fingerprint(pairs))


def precompute(state: CopyState, settings: Settings, *, pairs: pd.DataFrame | None,
               as_of: dt.date | None = None, levels: list[int] | None = None,
               progress: Callable[[float, str], None] | None = None) -> list[str]:
    """Compute and store the long form of each level (default: every level of the registry)
    on ``as_of`` (default: the copy's default as-of date); the keys stored."""
    report = progress or (lambda fraction, message: None)
    engine = open_registry(state.url)
    try:
        day = as_of or default_as_of(engine)
        start = default_period_start(day, int(settings.period_months))
        wanted = levels or read_area_tree(engine).levels
        store = FigureStore(state.path.parent)
        keys = []
        for index, level in enumerate(wanted):
            report(index / max(len(wanted), 1), f"level {level}")
            key = key_of(state.path.name, settings, as_of=day, period_start=start, level=level,
                         pairs=pairs)
            if store.load(key) is None:
                store.save(key, compute(engine, as_of=day, level=level, period_start=start,
                                        poverty_cutoff=settings.poverty_cutoff,
                                        referral_sla_days=settings.referral_sla_days,
                                        period_months=settings.period_months,
                                        suspected_pairs=pairs))
            keys.append(key)
        store.forget_other_copies({state.path.stem} | {
            p.stem for p in state.path.parent.glob("registry-*.duckdb")})
        report(1.0, "done")
        return keys
    finally:
        engine.dispose()


def stored_figures(copy_file: str, copy_folder: str, settings: Settings, *, as_of: dt.date,
                   period_start: dt.date, level: int, pairs: pd.DataFrame | None,
                   indicator_ids: tuple[str, ...] | None) -> pd.DataFrame | None:
    """The stored long form of this view (only ``indicator_ids`` of it), or None."""
    from pathlib import Path

    frame = FigureStore(Path(copy_folder)).load(
        key_of(copy_file, settings, as_of=as_of, period_start=period_start, level=level,
               pairs=pairs))
    if frame is None or indicator_ids is None:
        return frame
    return frame[frame["indicator_id"].isin(indicator_ids)].reset_index(drop=True)
