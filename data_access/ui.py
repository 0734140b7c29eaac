"""What the pages ask for, cached for Streamlit: engines, areas, figures. Every page goes through here.

- ``st.cache_resource`` holds the engines (one per URL and process; the registry's through
  data_access.registry.RegistryHandle, which follows its file) and the computation gate.
- ``st.cache_data`` holds figures and areas, keyed on the registry URL, the registry's
  last-loaded time (a reloaded SQLite registry is read afresh) and the parameters; entries
  also expire after ``CACHE_TTL`` (PostgreSQL registries have no last-loaded time).
- Engines go to cached functions as underscore arguments (not hashed).
- Figures are cached per family of the engine (``_cached_family``: one query each), so pages
  asking for different indicators of one date share what they have in common.
- A computation on a cache miss waits for a place at the gate of
  ``database.max_computations`` (data_access.gate) inside the cached function; the caller
  wraps the call in ``registry_turns``, which puts the "waiting / computing" message on the
  page (drawn only if the call takes more than half a second).
- Functions that return registry data take the UserContext and keep only the areas it may
  see: an area is visible when it is one of the context's areas or below one. Whole-registry
  rows are kept only for a context that sees the whole registry (data_access.scope). Donors
  get suppressed figures (data_access.figures); ``scope()`` gives the app-store functions
  (meetings, snapshots, targets) what they filter by.

The plain functions here (``read_areas``, ``visible_area_ids``, ``headline_figures``...)
do not need a Streamlit session and are tested directly.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from data_access import audit
from data_access.app_store import open_app_store
from data_access.context import UserContext
from data_access.figures import Parameters, donor_level, donor_long_form
from data_access.gate import ComputeGate
from data_access.registry import RegistryHandle, RegistryUnavailable, registry_last_loaded
from data_access.schema import access_point as access_point_table
from data_access.schema import area as area_table
from data_access.schema import programme as programme_table
from data_access.scope import Scope, scope_areas, scope_figures, scope_of, visible_area_ids
from i18n import t
from indicators import CATALOGUE, Indicator, compute, default_period_start
from indicators import default_as_of as _engine_default_as_of
from indicators.engine import families_of, family_indicator_ids, merge_long_forms
from settings import Settings

CACHE_TTL = dt.timedelta(minutes=10)
AREA_COLUMNS = ("area_id", "name", "level", "parent_id")

# Indicators whose rows give the headline figures (the Overview page, the Summary sheet).
HEADLINE_INDICATORS: tuple[Indicator, ...] = tuple(i for i in CATALOGUE if i.headline)
HEADLINE_IDS: tuple[str, ...] = tuple(
    dict.fromkeys(("dq.unassessed_households", *(i.id for i in HEADLINE_INDICATORS)))
)


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

def read_areas(engine: sa.Engine) -> pd.DataFrame:
    """The area table (area_id, name, level, parent_id); rows without id or level are dropped."""
    query = sa.select(*(area_table.c[name] for name in AREA_COLUMNS))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(AREA_COLUMNS))
    frame["level"] = pd.to_numeric(frame["level"], errors="coerce")
    frame = frame[frame["area_id"].notna() & frame["level"].notna()].copy()
    frame["area_id"] = frame["area_id"].astype(str)
    frame["level"] = frame["level"].astype(int)
    frame["name"] = frame["name"].where(frame["name"].notna(), frame["area_id"]).astype(str)
    frame["parent_id"] = frame["parent_id"].astype(object).where(frame["parent_id"].notna(), None)
    return frame.sort_values(["level", "name", "area_id"]).reset_index(drop=True)


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_areas(_engine: sa.Engine, url: str, version: dt.datetime | None) -> pd.DataFrame:
    return read_areas(_engine)


def areas(context: UserContext, url: str) -> pd.DataFrame:
    """The areas of the registry the context may see."""
    engine = registry_engine(url)
    return scope_areas(_cached_areas(engine, url, registry_last_loaded(engine)), context)


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

def read_programmes(engine: sa.Engine) -> dict[str, str]:
    """programme_id -> name, by name (the id stands in for a missing name)."""
    query = sa.select(programme_table.c.programme_id, programme_table.c.name)
    with engine.connect() as conn:
        rows = [(str(pid), str(name) if name else str(pid))
                for pid, name in conn.execute(query) if pid is not None]
    return dict(sorted(rows, key=lambda item: (item[1], item[0])))


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_programmes(_engine: sa.Engine, url: str, version: dt.datetime | None) -> dict[str, str]:
    return read_programmes(_engine)


def programmes(url: str) -> dict[str, str]:
    """The registry's programmes: programme_id -> name."""
    engine = registry_engine(url)
    return _cached_programmes(engine, url, registry_last_loaded(engine))


ACCESS_POINT_COLUMNS = ("access_point_id", "name", "kind", "area_id", "latitude", "longitude")


def read_access_points(engine: sa.Engine) -> pd.DataFrame:
    """The access points with their place (latitude and longitude may be missing)."""
    query = sa.select(*(access_point_table.c[name] for name in ACCESS_POINT_COLUMNS))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(ACCESS_POINT_COLUMNS))
    for column in ("latitude", "longitude"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["access_point_id"] = frame["access_point_id"].astype(str)
    return frame


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def _cached_access_points(_engine: sa.Engine, url: str, version: dt.datetime | None) -> pd.DataFrame:
    return read_access_points(_engine)


def access_points(context: UserContext, url: str) -> pd.DataFrame:
    """The access points the context may see (those in its areas, or all)."""
    engine = registry_engine(url)
    version = registry_last_loaded(engine)
    frame = _cached_access_points(engine, url, version)
    visible = visible_area_ids(_cached_areas(engine, url, version), context)
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
    all_areas = _cached_areas(engine, url, registry_last_loaded(engine))
    area_levels = dict(zip(all_areas["area_id"], all_areas["level"].astype(int), strict=True))
    key = (geography, url, registry_last_loaded(engine))
    found = _cached_boundaries(settings, key, area_levels)
    visible = visible_area_ids(all_areas, context)
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

@st.cache_data(ttl=CACHE_TTL, max_entries=256, show_spinner=False)
def _cached_family(
    _engine: sa.Engine,
    url: str,
    version: dt.datetime | None,
    as_of: dt.date,
    level: int,
    period_start: dt.date,
    poverty_cutoff: float,
    referral_sla_days: int,
    period_months: int,
    family: str,
    suspected_pairs: pd.DataFrame | None = None,  # hashed: a decision changes the figure
) -> pd.DataFrame:
    """Every indicator of one family (one query of the engine) at ``level``: pages that ask
    for different indicators of the same date share the families they have in common
    (the Meeting page computes only what the Overview did not)."""
    with computing(url) as progress:
        return compute(
            _engine, as_of=as_of, level=level, period_start=period_start,
            poverty_cutoff=poverty_cutoff, referral_sla_days=referral_sla_days,
            period_months=period_months, indicator_ids=list(family_indicator_ids(family)),
            suspected_pairs=suspected_pairs, progress=progress,
        )


def _family_figures(engine: sa.Engine, url: str, version: dt.datetime | None,
                    settings: Settings, *, as_of: dt.date, level: int,
                    period_start: dt.date, indicator_ids: tuple[str, ...] | None
                    ) -> pd.DataFrame:
    """compute()'s long form of these indicators, from the cached families."""
    families = families_of(indicator_ids)
    frames = []
    with registry_turns(settings) as notice:
        for index, family in enumerate(families):
            notice.stage(index, len(families))
            pairs = linkage_pairs(settings) if family == "suspected_pairs" else None
            frames.append(_cached_family(
                engine, url, version, as_of, int(level), period_start,
                float(settings.poverty_cutoff), int(settings.referral_sla_days),
                int(settings.period_months), family, pairs))
    frame = merge_long_forms(frames)
    if indicator_ids is not None and not frame.empty:
        frame = frame[frame["indicator_id"].isin(set(indicator_ids))].reset_index(drop=True)
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
                          suspected_pairs: pd.DataFrame | None = None,  # hashed
                          ) -> pd.DataFrame:
    areas = _cached_areas(_engine, url, version)
    with computing(url):
        return donor_long_form(_engine, areas, as_of=as_of, period_start=period_start,
                               parameters=parameters, suspected_pairs=suspected_pairs)


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
    For a donor the figures are suppressed (data_access.figures: every level of the date
    computed and protected together, then cut): hidden counts and values are empty and
    the ``suppressed`` column says which.
    """
    url = settings.database_url
    engine = registry_engine(url)
    version = registry_last_loaded(engine)
    start = period_start or default_period_start(as_of, settings.period_months)
    ids = tuple(indicator_ids) if indicator_ids is not None else None
    if context.role == "donor":
        # Every figure, whatever was asked: one suppression pattern per date (figures.py).
        pairs = linkage_pairs(settings)
        with registry_turns(settings):
            published = _cached_donor_figures(engine, url, version, as_of, start,
                                              Parameters.from_settings(settings), pairs)
        frame = donor_level(published, int(level), ids)
    else:
        frame = _family_figures(engine, url, version, settings, as_of=as_of, level=int(level),
                                period_start=start, indicator_ids=ids)
    visible = visible_area_ids(_cached_areas(engine, url, version), context)
    return scope_figures(frame, visible, context)


def scope(context: UserContext, settings: Settings) -> Scope:
    """The context's scope over the registry's area tree, with the donors' threshold: what the
    app-store functions (meetings, snapshots, targets) take."""
    url = settings.database_url
    engine = registry_engine(url)
    return scope_of(context, _cached_areas(engine, url, registry_last_loaded(engine)),
                    int(settings["privacy.small_cell_threshold"]))


# Headline figures ------------------------------------------------------------------------

def _count_text(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:,.0f}"


@dataclass(frozen=True)
class HeadlineFigure:
    """One figure of the Overview: the chosen area's value and, beside it, the whole registry's.

    Texts (label, definition) are English; the page translates them.
    """

    key: str  # "households", "persons" or the indicator id
    label: str
    definition: str
    indicator: Indicator | None  # None for the plain counts
    value: float | None  # the chosen area's (the whole registry's when whole_registry_only)
    numerator: int | None = None
    denominator: int | None = None
    registry_value: float | None = None  # whole registry, when an area is chosen
    whole_registry_only: bool = False
    hidden: bool = False  # suppressed for a donor (a small count, or one that would give it)

    def format(self, value: float | None) -> str:
        if self.indicator is None:
            return _count_text(value)
        return self.indicator.format_value(value)

    @property
    def text(self) -> str:
        return self.format(self.value)

    @property
    def registry_text(self) -> str | None:
        return None if self.registry_value is None else self.format(self.registry_value)

    @property
    def empty(self) -> bool:
        """A ratio with nothing to count (its denominator is 0 or unknown, and not hidden)."""
        return (not self.hidden and self.indicator is not None
                and bool(self.indicator.denominator) and not self.denominator)


COUNT_DEFINITIONS: dict[str, tuple[str, str, str]] = {
    # key: (label, definition, indicator whose denominator gives the count)
    "households": (
        "Registered households",
        "households registered on or before the as-of date, rows left out of the other "
        "indicators included (the denominator of “Households without PMT score”)",
        "dq.unassessed_households",
    ),
    "persons": (
        "Registered persons",
        "persons registered on or before the as-of date, rows left out excluded "
        "(the denominator of “Population coverage”)",
        "cov.population",
    ),
}


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _hidden(row: dict | None, column: str) -> bool:
    """Whether a donor's suppression blanked ``column`` of the row."""
    flag = row.get("suppressed") if row else None
    return isinstance(flag, (bool, np.bool_)) and bool(flag) and _float(row.get(column)) is None


def headline_row(figures: pd.DataFrame, indicator_id: str, area_id: str | None) -> dict | None:
    """The row of an indicator for an area (None: the whole registry), without breakdown."""
    return _headline_rows(figures).get((indicator_id, area_id))


def _headline_rows(figures: pd.DataFrame) -> dict[tuple[str, str | None], dict]:
    """{(indicator_id, area_id or None): first row} of the rows without programme and
    breakdown: one pass over the frame for all the headline figures of a page."""
    plain = figures[figures["programme_id"].isna() & figures["breakdown"].isna()]
    rows: dict[tuple[str, str | None], dict] = {}
    for row in plain.to_dict("records"):
        area = row["area_id"]
        key = (row["indicator_id"], None if area is None or pd.isna(area) else area)
        rows.setdefault(key, row)
    return rows


def headline_figures(figures: pd.DataFrame, area_id: str | None) -> list[HeadlineFigure]:
    """The Overview's figures for an area (None: the whole registry), in display order.

    Registered households and persons first, then the catalogue's headline indicators.
    Missing rows (an area out of scope, an indicator not computed) give empty values.
    """
    rows = _headline_rows(figures)
    result: list[HeadlineFigure] = []
    for key, (label, definition, source) in COUNT_DEFINITIONS.items():
        row = rows.get((source, area_id))
        whole = rows.get((source, None)) if area_id is not None else None
        result.append(HeadlineFigure(
            key=key, label=label, definition=definition, indicator=None,
            value=_float(row["denominator"]) if row else None,
            registry_value=_float(whole["denominator"]) if whole else None,
            hidden=_hidden(row, "denominator"),
        ))
    for ind in HEADLINE_INDICATORS:
        registry_only = ind.id == "dq.invalid_rows"
        row = rows.get((ind.id, None if registry_only else area_id))
        whole = (rows.get((ind.id, None))
                 if area_id is not None and not registry_only else None)
        result.append(HeadlineFigure(
            key=ind.id, label=ind.label, definition=ind.definition, indicator=ind,
            value=_float(row["value"]) if row else None,
            numerator=_int(row["numerator"]) if row else None,
            denominator=_int(row["denominator"]) if row else None,
            registry_value=_float(whole["value"]) if whole else None,
            whole_registry_only=registry_only,
            hidden=_hidden(row, "value"),
        ))
    return result


def figure(figures: list[HeadlineFigure], key: str) -> HeadlineFigure:
    return next(f for f in figures if f.key == key)
