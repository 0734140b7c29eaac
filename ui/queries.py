"""What the pages ask for, cached for Streamlit: engines, areas, figures. Every page goes through here.

- ``st.cache_resource`` holds the engines (one per URL and process).
- ``st.cache_data`` holds figures and areas, keyed on the registry URL, the registry's
  last-loaded time (a reloaded SQLite registry is read afresh) and the parameters; entries
  also expire after ``CACHE_TTL`` (PostgreSQL registries have no last-loaded time).
- Engines go to cached functions as underscore arguments (not hashed).
- Functions that return registry data take the UserContext and keep only the areas it may
  see: an area is visible when it is one of the context's areas or below one. Whole-registry
  rows are kept only for a context that sees the whole registry (data_access.scope). Donors
  get suppressed figures (indicators.figures); ``scope()`` gives the app-store functions
  (meetings, snapshots, targets) what they filter by.


"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url

from core.settings import Settings
from data_access import analytic_copy, audit
from data_access.app_store import open_app_store
from data_access.areas import AreaTree, read_area_tree
from data_access.context import UserContext
from data_access.reference import read_access_points, read_programmes
from data_access.registry import open_registry, registry_last_loaded
from data_access.scope import Scope, scope_areas, scope_figures, scope_of, visible_area_ids
from indicators import compute, cube, default_period_start
from indicators import default_as_of as _engine_default_as_of
from indicators.donor_calendar import donor_dates
from indicators.figures import Parameters, donor_level, donor_long_form

CACHE_TTL = dt.timedelta(minutes=10)

# Engines ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def registry_engine(url: str) -> sa.Engine:
    """The read-only registry engine (RegistryError / SchemaError are not cached: retried)."""
    return open_registry(url)


@st.cache_resource(show_spinner=False)
def app_store_engine(url: str) -> sa.Engine:
    """The app store engine, upgraded to the newest schema once per process."""
    return open_app_store(url)


def last_loaded(url: str) -> dt.datetime | None:
    """When the registry was last written (None when unknown, e.g. PostgreSQL)."""
    return registry_last_loaded(registry_engine(url))


# Areas ----------------------------------------------------------------------------------

@st.cache_resource(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_tree(_engine: sa.Engine, url: str, version: dt.datetime | None) -> AreaTree:
    # One tree per registry version, shared by every session (it is read-only once built).
    return read_area_tree(_engine)


def area_tree(url: str) -> AreaTree:
    """The registry's area tree (cached; read again when the registry is reloaded)."""
    engine = registry_engine(url)
    return _cached_tree(engine, url, registry_last_loaded(engine))


def areas(context: UserContext, url: str) -> pd.DataFrame:
    """The areas of the registry the context may see (area_id, name, level, parent_id)."""
    return scope_areas(area_tree(url), context)


def level_choices(areas: pd.DataFrame, level_count: int) -> list[int]:
    """Levels to offer: those holding a visible area (every configured level if none)."""
    levels = sorted(int(x) for x in areas["level"].unique())
    return levels or list(range(1, level_count + 1))


def default_level(levels: list[int], preferred: int = 2) -> int:
    """Level 2 (districts) when offered, else the offered level closest to it."""
    return min(levels, key=lambda level: (abs(level - preferred), level))


def area_choices(areas: pd.DataFrame, level: int) -> dict[str, str]:
    """area_id -> label for the areas of ``level``, by name; clashing names get their id."""
    rows = areas[areas["level"] == level]
    clashing = set(rows["name"][rows["name"].duplicated(keep=False)])
    return {
        area_id: (f"{name} ({area_id})" if name in clashing else name)
        for area_id, name in zip(rows["area_id"], rows["name"], strict=True)
    }


# Programmes and access points -----------------------------------------------------------

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _cached_programmes(_engine: sa.Engine, url: str, version: dt.datetime | None) -> dict[str, str]:
    return read_programmes(_engine)


def programmes(url: str) -> dict[str, str]:
    """The registry's programmes: programme_id -> name."""
    engine = registry_engine(url)
    return _cached_programmes(engine, url, registry_last_loaded(engine))


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _cached_access_points(_engine: sa.Engine, url: str, version: dt.datetime | None) -> pd.DataFrame:
    return read_access_points(_engine)


def access_points(context: UserContext, url: str) -> pd.DataFrame:
    """The access points the context may see (those in its areas, or all)."""
    engine = registry_engine(url)
    version = registry_last_loaded(engine)
    frame = _cached_access_points(engine, url, version)
    visible = visible_area_ids(_cached_tree(engine, url, version), context)
    return frame if visible is None else frame[frame["area_id"].isin(visible)].reset_index(drop=True)


# Boundaries -----------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_boundaries(_settings: Settings, key: tuple, _area_levels: dict[str, int]):
    from maps.boundaries import load_boundaries  # geopandas loads only for map pages

    return load_boundaries(_settings, area_levels=_area_levels)


def boundaries(settings: Settings, context: UserContext):
    """The configured boundaries the context may see (a BoundarySet), or None if none.

    Cached per process on the boundary settings and the registry's levels; the simplified
    result is also cached on disk beside the files (see maps.boundaries). Raise
    BoundaryError naming the file and the problem.
    """
    geography = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in sorted(settings.values.items())
        if name.startswith(("geography.", "map.simplify", "map.coordinate", "map.max_vertices"))
    )
    if not settings["geography.boundary_file"] and not any(settings["geography.boundary_files"]):
        return None
    url = settings.database_url
    engine = registry_engine(url)
    tree = _cached_tree(engine, url, registry_last_loaded(engine))
    table = tree.table
    area_levels = dict(zip(table["area_id"], table["level"].astype(int), strict=True))
    key = (geography, url, registry_last_loaded(engine))
    found = _cached_boundaries(settings, key, area_levels)
    visible = visible_area_ids(tree, context)
    if visible is None:
        return found
    # A scoped user gets the polygons of their areas only (no outline, name or id of
    # another area reaches the map), and not the file's problems, which name features.
    from maps.boundaries import BoundarySet

    frame = found.frame[found.frame["area_id"].isin(visible)].reset_index(drop=True)
    return BoundarySet(frame, [])


# Audit ----------------------------------------------------------------------------------

def audited_download(context: UserContext, settings: Settings,
                     data: bytes | Callable[[], bytes], what: str,
                     filters: dict | None = None) -> Callable[[], bytes]:
    """The data of a download button, recorded in the audit log as an ``export`` when the
    button is clicked (the callable runs on another thread: no Streamlit call in it)."""
    store = app_store_engine(settings.app_store_url)
    details = dict(filters or {})

    def build() -> bytes:
        content = data() if callable(data) else data
        audit.record(store, context, "export", what, {**details, "bytes": len(content)})
        return content

    return build


# Dates ----------------------------------------------------------------------------------

@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _cached_default_as_of(
    _engine: sa.Engine, url: str, version: dt.datetime | None, today: dt.date
) -> dt.date:
    return _engine_default_as_of(_engine, today=today)


def default_as_of(url: str, today: dt.date | None = None) -> dt.date:
    """Today, or the latest registration date of the registry if that is earlier."""
    engine = registry_engine(url)
    return _cached_default_as_of(engine, url, registry_last_loaded(engine),
                                 today or dt.date.today())


def period_start(settings: Settings, as_of: dt.date) -> dt.date:
    """Start of the default referral period ending on ``as_of``."""
    return default_period_start(as_of, settings.period_months)


# Figures --------------------------------------------------------------------------------

@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def _cached_figures(
    _engine: sa.Engine,
    url: str,
    version: dt.datetime | None,
    as_of: dt.date,
    level: int,
    period_start: dt.date,
    poverty_cutoff: float,
    referral_sla_days: int,
    period_months: int,
    indicator_ids: tuple[str, ...] | None,
    suspected_pairs: pd.DataFrame | None = None,  # hashed: a decision changes the figure
) -> pd.DataFrame:
    return compute(
        _engine, as_of=as_of, level=level, period_start=period_start,
        poverty_cutoff=poverty_cutoff, referral_sla_days=referral_sla_days,
        period_months=period_months,
        indicator_ids=list(indicator_ids) if indicator_ids is not None else None,
        suspected_pairs=suspected_pairs,
    )


def linkage_pairs(settings: Settings, indicator_ids: Iterable[str] | None = None
                  ) -> pd.DataFrame | None:
    """The latest linkage run's pairs not dismissed (person_id_a, person_id_b), for
    dup.suspected_pairs; None before the job has run, or when that figure is not asked for."""
    if indicator_ids is not None and "dup.suspected_pairs" not in set(indicator_ids):
        return None
    from data_access.linkage_store import undismissed_pairs

    pairs = undismissed_pairs(app_store_engine(settings.app_store_url))
    return None if pairs is None else pairs[["person_id_a", "person_id_b"]]


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_donor_figures(_engine: sa.Engine, url: str, version: dt.datetime | None,
                          as_of: dt.date, period_start: dt.date, parameters: Parameters,
                          suspected_pairs: pd.DataFrame | None = None,  # hashed
                          ) -> pd.DataFrame:
    return donor_long_form(_engine, _cached_tree(_engine, url, version), as_of=as_of,
                           period_start=period_start, parameters=parameters,
                           suspected_pairs=suspected_pairs)


def figures(
    context: UserContext,
    settings: Settings,
    *,
    as_of: dt.date,
    level: int,
    period_start: dt.date | None = None,
    indicator_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The long form of the indicators for the areas of ``level`` the context may see.

    Whole-registry rows (area_id empty) are included for a context that sees the whole
    registry. ``period_start`` defaults to the configured period ending on ``as_of``.
    For a donor the figures are suppressed (indicators.figures: every level of the date
    computed and protected together, then cut): hidden counts and values are empty and
    the ``suppressed`` column says which.
    """
    url = settings.database_url
    engine = registry_engine(url)
    version = registry_last_loaded(engine)
    start = period_start or default_period_start(as_of, settings.period_months)
    ids = tuple(indicator_ids) if indicator_ids is not None else None
    if context.sees_suppressed_figures:
        # The donors' calendar dates, whatever was asked (indicators.donor_calendar).
        start, as_of = donor_dates(as_of, int(settings.period_months))
        # Every figure, whatever was asked: one suppression pattern per date (figures.py).
        published = _cached_donor_figures(engine, url, version, as_of, start,
                                          Parameters.from_settings(settings),
                                          linkage_pairs(settings))
        frame = donor_level(published, int(level), ids)
    else:
        frame = _stored_figures(settings, as_of, int(level), start, ids)
        if frame is None:
            frame = _cached_figures(
                engine, url, version, as_of, int(level), start,
                float(settings.poverty_cutoff), int(settings.referral_sla_days),
                int(settings.period_months), ids, linkage_pairs(settings, ids),
            )
    visible = visible_area_ids(_cached_tree(engine, url, version), context)
    return scope_figures(frame, visible, context)


def _stored_figures(settings: Settings, as_of: dt.date, level: int, start: dt.date,
                    ids: tuple[str, ...] | None) -> pd.DataFrame | None:
    """The view's long form computed ahead on the analytical copy (indicators.cube), if any."""
    if "analytics.copied_at" not in settings.values:
        return None  # the registry is read live: nothing is computed ahead
    url = make_url(settings.database_url)
    return cube.stored_figures(Path(url.database).name, settings["analytics.copy_folder"],
                               settings, as_of=as_of, period_start=start, level=level,
                               pairs=linkage_pairs(settings), indicator_ids=ids)


def scope(context: UserContext, settings: Settings) -> Scope:
    """The context's scope over the registry's area tree, with the donors' threshold: what the
    app-store functions (meetings, snapshots, targets) take."""
    url = settings.database_url
    engine = registry_engine(url)
    return scope_of(context, _cached_tree(engine, url, registry_last_loaded(engine)),
                    int(settings["privacy.small_cell_threshold"]),
                    int(settings.period_months))


def compute_ahead(settings: Settings, state: analytic_copy.CopyState) -> None:
    """After a refresh of the copy (a background thread: no Streamlit call), compute its
    default view of every level ahead, with the linkage pairs as they are now."""
    from data_access.linkage_store import undismissed_pairs

    pairs = undismissed_pairs(app_store_engine(settings.app_store_url))
    cube.precompute(state, analytic_copy.reading_settings(settings, state),
                    pairs=None if pairs is None else pairs[["person_id_a", "person_id_b"]])
