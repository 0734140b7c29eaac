"""What the pages ask for, cached for Streamlit: engines, areas, figures. Every page goes through here.

- ``st.cache_resource`` holds the engines (one per URL and process; the registry's through
  data_access.registry.RegistryHandle, which follows its file) and the computation gate.
- ``st.cache_data`` holds figures and areas, keyed on the registry URL, the registry's
  last-loaded time (a reloaded SQLite registry is read afresh) and the parameters; entries
  also expire after ``CACHE_TTL`` (PostgreSQL registries have no last-loaded time).
- Engines go to cached functions as underscore arguments (not hashed).
- Figures are kept per view and family of the engine (``_view_families``, in
  ``st.cache_resource``: no copy on a warm run), so pages asking for different indicators of
  one date share what they have in common; the families a page misses are counted in one
  computation, for every level of the area tree at once (the counts are the same, only the
  roll-up differs), so a page's map or table one level down costs nothing more.
- A computation on a cache miss waits for a place at the gate of
  ``database.max_computations`` (data_access.gate) inside the cached function; the caller
  wraps the call in ``registry_turns``, which puts the "waiting / computing" message on the
  page (drawn only if the call takes more than half a second).
- Functions that return registry data take the UserContext and keep only the areas it may
  see: an area is visible when it is one of the context's areas or below one. Whole-registry
  rows are kept only for a context that sees the whole registry (data_access.scope). Donors
  get suppressed figures (indicators.figures); ``scope()`` gives the app-store functions
  (meetings, snapshots, targets) what they filter by.


"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.i18n import t
from core.settings import Settings
from data_access import analytic_copy, audit
from data_access.app_store import open_app_store
from data_access.areas import AreaTree, read_area_tree
from data_access.context import UserContext
from data_access.figure_store import pairs_fingerprint
from data_access.gate import ComputeGate
from data_access.reference import read_access_points, read_programmes
from data_access.registry import RegistryHandle, RegistryUnavailable, registry_last_loaded
from data_access.scope import Scope, scope_areas, scope_figures, scope_of, visible_area_ids
from indicators import compute_levels, cube, default_period_start
from indicators import default_as_of as _engine_default_as_of
from indicators.donor_calendar import donor_dates
from indicators.engine import (
    families_of,
    family_indicator_ids,
    family_part,
    merge_long_forms,
    rows_of,
)
from indicators.figures import Parameters, donor_level, donor_long_form

CACHE_TTL = dt.timedelta(minutes=10)

# Engines ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def _registry_handle(url: str) -> RegistryHandle:
    return RegistryHandle(url)


def registry_engine(url: str) -> sa.Engine:
    """The read-only registry engine, kept current with its file (data_access.registry:
    RegistryHandle). RegistryError / SchemaError are raised again on the next call until
    the registry can be opened; RegistryUnavailable names a missing, unreadable or corrupt
    file."""
    return _registry_handle(url).engine()


def registry_opened_once(url: str) -> bool:
    """Whether this process has had the registry open (a file missing now went away)."""
    return _registry_handle(url).opened_once


def registry_problem(url: str, error: BaseException | None = None) -> RegistryUnavailable | None:
    """After a failed registry query: the registry file's problem (missing, unreadable,
    corrupt), or None when none is seen (a server database, a file in good order)."""
    if isinstance(error, RegistryUnavailable):
        return error
    return _registry_handle(url).diagnose(error)


@st.cache_resource(show_spinner=False, max_entries=4)
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

@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_programmes(_engine: sa.Engine, url: str, version: dt.datetime | None) -> dict[str, str]:
    return read_programmes(_engine)


def programmes(url: str) -> dict[str, str]:
    """The registry's programmes: programme_id -> name."""
    engine = registry_engine(url)
    return _cached_programmes(engine, url, registry_last_loaded(engine))


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
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


# Turns on the registry -------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=4)
def _compute_gate(url: str, limit: int) -> ComputeGate:
    return ComputeGate(limit)


class _Notice:
    """A message in the page while a computation waits for its turn or runs.

    The placeholder is made where the page asks for figures; a helper thread attached to
    the script run (as st.spinner draws) fills it, only on a cache miss (the cached function
    calls ``say``) and only once the call has taken ``DELAY`` seconds. The helper thread has
    a context of its own, so nothing it draws is recorded into the cached function's replay.
    """

    DELAY = 0.5
    REDRAW = 0.25

    def __init__(self) -> None:
        self._placeholder = st.empty()
        self._text = ""
        self._shown: str | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._stage = (0, 1)

    def stage(self, index: int, count: int) -> None:
        """The computations of this call are ``count`` parts; the next is number ``index``."""
        self._stage = (index, max(count, 1))

    def percent(self, fraction: float) -> int:
        index, count = self._stage
        return round(100 * (index + min(max(fraction, 0.0), 1.0)) / count)

    def say(self, text: str) -> None:
        self._text = text
        if self._thread is None:  # the first word: a miss, not a cache hit
            self._thread = threading.Thread(target=self._draw, daemon=True)
            add_script_run_ctx(self._thread)
            self._thread.start()

    def _draw(self) -> None:
        if self._done.wait(self.DELAY):
            return
        while True:
            with self._lock:
                if self._done.is_set():
                    return
                text = self._text
                if text != self._shown:
                    self._placeholder.info(text, icon=":material/hourglass_top:")
                    self._shown = text
            if self._done.wait(self.REDRAW):
                return

    def close(self, *, clear: bool) -> None:
        with self._lock:
            self._done.set()
        if self._thread is not None:
            self._thread.join()
        if clear and self._shown is not None:
            self._placeholder.empty()


class _Turn:
    """The gate and the message of one call of the pages' (``registry_turns``). Each cache
    miss of the call takes a place at the gate for its computation only (never while it
    waits for another's: no deadlock), all with the ticket of the call's first miss, so a
    request keeps its rank: first come, first served."""

    def __init__(self, gate: ComputeGate, notice: _Notice | None) -> None:
        self.gate = gate
        self.notice = notice
        self.ticket: int | None = None

    def place(self, on_wait: Callable[[int], None]):
        if self.ticket is None:
            self.ticket = self.gate.ticket()
        return self.gate.place(on_wait, ticket=self.ticket)


_TURN: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("socle_turn", default=None)


@contextmanager
def registry_turns(settings: Settings) -> Iterator[_Notice]:
    """Around a call of a cached computation on the registry: its turn at the gate of
    ``database.max_computations`` (taken inside the cached function, on a cache miss only)
    and the message that says what the page waits for."""
    gate = _compute_gate(settings.database_url, int(settings["database.max_computations"]))
    notice = _Notice()
    token = _TURN.set(_Turn(gate, notice))
    stopped = True
    try:
        yield notice
        stopped = False
    except Exception:
        stopped = False
        raise
    finally:
        _TURN.reset(token)
        # A stopped run draws nothing more: an st call would raise the stop again.
        notice.close(clear=not stopped)


def _yield_check() -> Callable[[], None]:
    """Streamlit's stop/rerun check of this script run (raises StopException or
    RerunException when the user has moved on); a no-op outside a script run."""
    ctx = get_script_run_ctx(suppress_warning=True)
    check = getattr(ctx, "yield_check", None) if ctx is not None else None
    return check or (lambda: None)


@contextmanager
def computing(url: str) -> Iterator[Callable[[float, str], None]]:
    """Inside a cached function: wait for a place at the registry's gate, then compute.

    Yields the ``progress`` callback for indicators.compute: it updates the message and
    lets a run the user has left stop between two queries (the connection is then rolled
    back and discarded, data_access.registry). Waiting, the message says how many
    computations are ahead; a stopped run leaves the queue without running.
    """
    turn = _TURN.get() or _Turn(_compute_gate(url, 1), None)
    check = _yield_check()

    def say(text: str) -> None:
        if turn.notice is not None:
            turn.notice.say(text)

    def on_wait(ahead: int) -> None:
        say(t("Waiting for {count} other computations to finish; yours starts next.", count=ahead)
            if ahead == 1 else
            t("Waiting for {count} other computations to finish before yours starts.",
              count=ahead))
        check()

    def progress(fraction: float, step: str) -> None:
        percent = turn.notice.percent(fraction) if turn.notice is not None else 0
        say(t("Computing the figures… {percent}%", percent=percent))
        check()

    with turn.place(on_wait):
        say(t("Computing the figures…"))
        yield progress


# Dates ----------------------------------------------------------------------------------

@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
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

class _ViewFamilies:
    """The families counted for one view (a registry version, dates and settings): each
    family's long form at every level of the area tree. The families a page misses are
    counted in one computation (on DuckDB each building block is then stored once for all
    of them); a page asking for families already here reads them without a query.

    Shared by every session of the process (``_view_families``): the lock makes a second
    session asking for the same view wait for the first one's computation instead of
    repeating it. The frames are never given out: callers get new frames built from them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counted: dict[str, dict[int, pd.DataFrame]] = {}


@st.cache_resource(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _view_families(url: str, version: dt.datetime | None, as_of: dt.date,
                   period_start: dt.date, poverty_cutoff: float, referral_sla_days: int,
                   period_months: int, pairs_key: str) -> _ViewFamilies:
    """``pairs_key``: the linkage pairs' pairs_fingerprint, a hash of every pair (a decision
    or a new linkage run changes the figure); not the frame itself, which Streamlit's hashing
    samples from 50,000 rows: a pair replaced by another could go unseen."""
    return _ViewFamilies()


def _counted_families(engine: sa.Engine, url: str, version: dt.datetime | None,
                      settings: Settings, *, as_of: dt.date, period_start: dt.date,
                      families: list[str], suspected_pairs: pd.DataFrame | None = None
                      ) -> dict[str, dict[int, pd.DataFrame]]:
    """Every indicator of these families at every level of the area tree: pages that ask
    for different indicators of the same date share the families they have in common (the
    Meeting page computes only what the Overview did not), and a page's view one level down
    (the map, the union councils) is already counted."""
    view = _view_families(url, version, as_of, period_start, float(settings.poverty_cutoff),
                          int(settings.referral_sla_days), int(settings.period_months),
                          pairs_fingerprint(suspected_pairs))
    with view.lock:
        missing = [f for f in families if f not in view.counted]
        if missing:
            levels = _cached_tree(engine, url, version).levels
            with computing(url) as progress:
                computed = compute_levels(
                    engine, as_of=as_of, levels=levels, period_start=period_start,
                    poverty_cutoff=float(settings.poverty_cutoff),
                    referral_sla_days=int(settings.referral_sla_days),
                    period_months=int(settings.period_months),
                    indicator_ids=[i for f in missing for i in family_indicator_ids(f)],
                    suspected_pairs=suspected_pairs, progress=progress,
                )
            view.counted.update({f: {level: family_part(frame, f)
                                     for level, frame in computed.items()} for f in missing})
        return {f: view.counted[f] for f in families}


def _family_figures(engine: sa.Engine, url: str, version: dt.datetime | None,
                    settings: Settings, *, as_of: dt.date, level: int,
                    period_start: dt.date, indicator_ids: tuple[str, ...] | None
                    ) -> pd.DataFrame:
    """compute()'s long form of these indicators, from the counted families."""
    families = families_of(indicator_ids)
    _cached_tree(engine, url, version).require_level(int(level))
    # The linkage pairs are an argument of their own family only: a view of its own.
    groups = [([f for f in families if f != "suspected_pairs"], None)]
    if "suspected_pairs" in families:
        groups.append((["suspected_pairs"], linkage_pairs(settings)))
    counted: dict[str, dict[int, pd.DataFrame]] = {}
    with registry_turns(settings) as notice:
        for index, (group, pairs) in enumerate(g for g in groups if g[0]):
            notice.stage(index, len(groups))
            counted |= _counted_families(engine, url, version, settings, as_of=as_of,
                                         period_start=period_start, families=group,
                                         suspected_pairs=pairs)
    frame = merge_long_forms(counted[f][int(level)] for f in families)
    if indicator_ids is not None and not frame.empty:
        frame = rows_of(frame, indicator_ids)
    return frame


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
                          pairs_key: str, _suspected_pairs: pd.DataFrame | None = None,
                          ) -> pd.DataFrame:
    """``pairs_key``: as _view_families'."""
    tree = _cached_tree(_engine, url, version)
    with computing(url):
        return donor_long_form(_engine, tree, as_of=as_of, period_start=period_start,
                               parameters=parameters, suspected_pairs=_suspected_pairs)


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
        pairs = linkage_pairs(settings)
        with registry_turns(settings):
            published = _cached_donor_figures(engine, url, version, as_of, start,
                                              Parameters.from_settings(settings),
                                              pairs_fingerprint(pairs), pairs)
        frame = donor_level(published, int(level), ids)
    else:
        frame = _stored_figures(settings, as_of, int(level), start, ids)
        if frame is None:
            frame = _family_figures(engine, url, version, settings, as_of=as_of,
                                    level=int(level), period_start=start, indicator_ids=ids)
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
