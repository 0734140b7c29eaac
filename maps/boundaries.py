"""Boundary files: read, checked, simplified for the browser, cached, and joined to the registry.

A boundary file (GeoJSON, GeoPackage or Shapefile) is whatever the district office has: its
ids may be numbers, its geometries invalid, its CRS projected or missing, its features
repeated. :func:`read_boundaries` turns it into one frame (``area_id``, ``name``, ``level``,
``geometry`` in EPSG:4326) and lists every repair and every feature set aside in
``problems``, so nothing disappears from the map without a word. :func:`simplify` makes the
polygons light enough to send to the browser without opening slivers between neighbours,
and :func:`load_boundaries` does both once per version of the files, caching the result on
disk. :func:`join_report` says which registry areas have no polygon and which polygons no
area; :func:`match_names` pairs names of files keyed by names (census tables).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio.errors
import shapely
from shapely.errors import GEOSException

from core.values import is_missing

log = logging.getLogger(__name__)

CRS = "EPSG:4326"
COLUMNS = ("area_id", "name", "level", "geometry")
# Bump when what read_boundaries/simplify produce changes: older cache files are then ignored.
CACHE_VERSION = 1
CACHE_DIR_NAME = ".socle-cache"
CACHE_KEEP = 8  # cache entries kept per folder; older ones are removed after each write
LISTED = 10  # ids named in a problem before "and N more"
POLYGONAL = ("Polygon", "MultiPolygon")
# A Shapefile is several files: a change to any of them changes the boundaries.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")



class SettingsLike(Protocol):
    """settings.Settings, or any mapping of "section.key" names to values (tests)."""

    def __getitem__(self, name: str) -> Any: ...


class BoundaryError(ValueError):
    """A boundary file cannot be used at all; the message names the file and the problem."""


@dataclass(frozen=True)
class BoundarySource:
    """One boundary file and how to read it."""

    path: Path
    id_field: str
    name_field: str
    level: int | None  # the level of every feature; None when the file holds several levels
    level_field: str | None  # when level is None: field holding the level; None: the registry's

    @property
    def levels_from_registry(self) -> bool:
        return self.level is None and self.level_field is None


@dataclass(frozen=True, eq=False)  # eq=False: comparing DataFrames with == is ambiguous
class BoundarySet:
    """Polygons ready for the map and what was repaired or set aside on the way."""

    frame: gpd.GeoDataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def levels(self) -> list[int]:
        return sorted(int(level) for level in self.frame["level"].unique())


@dataclass(frozen=True, eq=False)
class JoinReport:
    """How the polygons of one level meet the registry's areas of that level."""

    level: int
    matched: int
    missing_polygons: pd.DataFrame  # area_id, name: registry areas without a polygon
    orphan_polygons: pd.DataFrame  # area_id, name: polygons without a registry area

    @property
    def complete(self) -> bool:
        """Every area has its polygon and every polygon its area."""
        return self.missing_polygons.empty and self.orphan_polygons.empty


# Settings -> sources -----------------------------------------------------------------------

def boundary_sources(settings: SettingsLike) -> list[BoundarySource]:
    """The boundary files the settings name, with their fields; [] when there are none.

    ``boundary_files`` (one per level) wins over ``boundary_file`` as soon as it names a file.
    """
    files = list(settings["geography.boundary_files"])
    id_field = settings["geography.boundary_id_field"]
    name_field = settings["geography.boundary_name_field"]
    if any(files):
        id_fields = list(settings["geography.boundary_id_fields"]) or [id_field] * len(files)
        name_fields = list(settings["geography.boundary_name_fields"]) or [name_field] * len(files)
        return [
            # An empty per-file field falls back to the single setting rather than failing.
            BoundarySource(Path(path), ids or id_field, names or name_field, level, None)
            for level, (path, ids, names) in enumerate(
                zip(files, id_fields, name_fields, strict=True), start=1)
            if path
        ]
    single = settings["geography.boundary_file"]
    if not single:
        return []
    level_field = settings["geography.boundary_level_field"] or None
    return [BoundarySource(Path(single), id_field, name_field, None, level_field)]


# Reading -----------------------------------------------------------------------------------

def read_boundaries(
    sources: Sequence[BoundarySource], area_levels: Mapping[str, int] | None = None,
) -> BoundarySet:
    """Every source's features as one frame in EPSG:4326, with the notes of what was fixed.

    ``area_levels`` (area_id -> level, from the registry) gives the levels of files that
    carry none. Raises BoundaryError when a file cannot be used at all.
    """
    problems: list[str] = []
    frames = [_read_source(source, area_levels, problems) for source in sources]
    frame = _concat(frames)
    twice = frame.duplicated(["area_id", "level"], keep="first")
    if twice.any():
        problems.append(
            f"{int(twice.sum())} areas have polygons in more than one boundary file; the first "
            f"file's polygon is used: {_listing(frame.loc[twice, 'area_id'])}")
        frame = frame[~twice]
    frame = frame.sort_values(["level", "area_id"], kind="stable").reset_index(drop=True)
    return BoundarySet(gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS), problems)


def _read_source(
    source: BoundarySource, area_levels: Mapping[str, int] | None, problems: list[str],
) -> gpd.GeoDataFrame:
    path, label = source.path, source.path.name
    raw = _read_file(path)
    wanted = [source.id_field, source.name_field]
    if source.level is None and source.level_field is not None:
        wanted.append(source.level_field)
    _check_fields(path, raw, wanted)
    raw = _to_wgs84(path, raw, problems)

    frame = pd.DataFrame({
        "area_id": [clean_id(value) for value in raw[source.id_field]],
        "name": [_clean_text(value) for value in raw[source.name_field]],
        "geometry": np.asarray(raw.geometry.values, dtype=object),
    })
    no_id = frame["area_id"].isna()
    if no_id.any():
        names = frame.loc[no_id, "name"].fillna("(no name)")
        problems.append(f"{_features(no_id, label, 'has', 'have')} no {source.id_field} "
                        f"and {_verb(no_id, 'is', 'are')} left out: {_listing(names)}")
        frame = frame[~no_id]
    no_name = frame["name"].isna()
    if no_name.any():
        problems.append(f"{_features(no_name, label, 'has', 'have')} no {source.name_field}: "
                        f"the id stands for the name: {_listing(frame.loc[no_name, 'area_id'])}")
        frame.loc[no_name, "name"] = frame.loc[no_name, "area_id"]
    frame["level"] = _levels(source, raw.loc[frame.index], frame["area_id"], area_levels)
    no_level = frame["level"].isna()
    if no_level.any():
        where = "the registry" if source.levels_from_registry else source.level_field
        problems.append(f"{_features(no_level, label, 'has', 'have')} no level in {where} and "
                        f"{_verb(no_level, 'is', 'are')} left out: "
                        f"{_listing(frame.loc[no_level, 'area_id'])}")
        frame = frame[~no_level]
    frame = _polygons_only(frame, label, problems)
    frame = _merge_repeated_ids(frame, label, problems)
    frame["level"] = frame["level"].astype(np.int64)
    return gpd.GeoDataFrame(frame[list(COLUMNS)], geometry="geometry", crs=CRS)


def _read_file(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise BoundaryError(f"boundary file {path} does not exist")
    try:
        return gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError,
            ValueError) as exc:
        raise BoundaryError(f"boundary file {path} cannot be read: {exc}") from None


def _check_fields(path: Path, raw: gpd.GeoDataFrame, wanted: Iterable[str]) -> None:
    have = [str(column) for column in raw.columns if column != raw.geometry.name]
    missing = [name for name in dict.fromkeys(wanted) if name not in have]
    if missing:
        fields = ", ".join(f"`{name}`" for name in missing)
        raise BoundaryError(
            f"boundary file {path} has no field {fields}; its fields are: "
            f"{', '.join(have) or '(none)'}")


def _to_wgs84(path: Path, raw: gpd.GeoDataFrame, problems: list[str]) -> gpd.GeoDataFrame:
    """The frame in EPSG:4326; a file without CRS is taken as degrees only if it looks so."""
    if raw.crs is None:
        bounds = raw.total_bounds if len(raw) else np.zeros(4)
        if np.all(np.isfinite(bounds)) and -180 <= bounds[0] <= bounds[2] <= 180 \
                and -90 <= bounds[1] <= bounds[3] <= 90:
            problems.append(f"{path.name} names no coordinate system; its coordinates look "
                            "like degrees, so EPSG:4326 (longitude, latitude) is assumed")
            return raw.set_crs(CRS)
        raise BoundaryError(
            f"boundary file {path} names no coordinate system and its coordinates are not "
            "degrees; save it with its CRS (a .prj beside a Shapefile)")
    if raw.crs.to_epsg() == 4326:
        return raw
    return raw.to_crs(CRS)


def _levels(
    source: BoundarySource, raw: pd.DataFrame, ids: pd.Series,
    area_levels: Mapping[str, int] | None,
) -> pd.Series:
    """Each feature's level as a float Series (NaN: unknown)."""
    if source.level is not None:
        return pd.Series(float(source.level), index=ids.index)
    if source.level_field is not None:
        values = pd.to_numeric(raw[source.level_field], errors="coerce").astype(float)
        # A level of 2.5 or -1 is no level at all.
        return values.where((values == np.floor(values)) & (values >= 1))
    if area_levels is None:
        raise BoundaryError(
            f"boundary file {source.path} carries no level field, so levels come from the "
            "registry's areas, but none were given")
    return pd.Series([float(area_levels[i]) if i in area_levels else np.nan for i in ids],
                     index=ids.index)


def _polygons_only(frame: pd.DataFrame, label: str, problems: list[str]) -> pd.DataFrame:
    """Polygons and multipolygons, 2D, valid; features with no area at all are left out."""
    geometry = np.asarray(frame["geometry"].to_numpy(), dtype=object)
    absent = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if absent.any():
        problems.append(f"{_features(absent, label, 'has', 'have')} no geometry and "
                        f"{_verb(absent, 'is', 'are')} left out: "
                        f"{_listing(frame.loc[absent, 'area_id'])}")
    frame, geometry = frame[~absent].copy(), shapely.force_2d(geometry[~absent])
    invalid = ~shapely.is_valid(geometry)
    if invalid.any():
        geometry[invalid] = shapely.make_valid(geometry[invalid])
        had = _features(invalid, label, "had an invalid geometry", "had invalid geometries")
        problems.append(f"{had} and {_verb(invalid, 'was', 'were')} repaired: "
                        f"{_listing(frame.loc[invalid, 'area_id'])}")
    geometry = _objects([polygonal_part(g) for g in geometry])
    flat = shapely.is_empty(geometry)
    if flat.any():
        are = _features(flat, label, "is a point or line", "are points or lines")
        problems.append(f"{are}, not an area, and {_verb(flat, 'is', 'are')} left out: "
                        f"{_listing(frame.loc[flat, 'area_id'])}")
    frame["geometry"] = geometry
    return frame[~flat]


def _merge_repeated_ids(frame: pd.DataFrame, label: str, problems: list[str]) -> pd.DataFrame:
    """One feature per id and level: a district split into parts in the file is one area."""
    counts = frame.groupby(["area_id", "level"], sort=False).size()
    repeated = counts[counts > 1]
    if repeated.empty:
        return frame
    for (area_id, _level), count in repeated.head(LISTED).items():
        times = "twice" if count == 2 else f"{count} times"
        problems.append(f"feature id {area_id} appears {times} in {label}: the parts are merged")
    if len(repeated) > LISTED:
        problems.append(f"{len(repeated) - LISTED} more ids appear more than once in {label}: "
                        "their parts are merged too")
    merged = frame.groupby(["area_id", "level"], sort=False).agg(
        name=("name", "first"),
        geometry=("geometry", lambda parts: polygonal_part(
            shapely.make_valid(shapely.union_all(np.asarray(parts, dtype=object))))),
    )
    return merged.reset_index()


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    if not frames:
        return empty_frame()
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=CRS)


def empty_frame() -> gpd.GeoDataFrame:
    """A boundary frame with no areas (no boundaries configured)."""
    return gpd.GeoDataFrame(
        {"area_id": pd.Series([], dtype=str), "name": pd.Series([], dtype=str),
         "level": pd.Series([], dtype=np.int64)},
        geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)


def clean_id(value: Any) -> str | None:
    """An id as text: stripped, and 101.0 (a number read from a file) as "101"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _clean_text(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = " ".join(str(value).split())
    return text or None


def polygonal_part(geometry: shapely.Geometry | None) -> shapely.Geometry:
    """The polygons in ``geometry`` (repairs and overlays can leave lines and points beside
    them) as a Polygon or MultiPolygon; an empty polygon when there are none."""
    if geometry is None or geometry.is_empty:
        return shapely.Polygon()
    if geometry.geom_type in POLYGONAL:
        return geometry
    parts = [part for part in shapely.get_parts(geometry)
             if part.geom_type in POLYGONAL and not part.is_empty]
    polygons = [poly for part in parts for poly in shapely.get_parts(part)]
    if not polygons:
        return shapely.Polygon()
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _objects(items: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of ``items`` (numpy must not look inside them)."""
    array = np.empty(len(items), dtype=object)
    array[:] = list(items)
    return array


def _features(mask: Any, label: str, singular: str, plural: str) -> str:
    """ "1 feature of kp.geojson has" / "3 features of kp.geojson have" for a boolean mask."""
    count = int(np.sum(mask))
    return (f"1 feature of {label} {singular}" if count == 1
            else f"{count} features of {label} {plural}")


def _verb(mask: Any, singular: str, plural: str) -> str:
    return singular if int(np.sum(mask)) == 1 else plural


def _listing(values: Iterable[Any], limit: int = LISTED) -> str:
    items = [str(value) for value in values]
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


# Simplifying -------------------------------------------------------------------------------

def simplify(frame: gpd.GeoDataFrame, tolerance: float, decimals: int) -> gpd.GeoDataFrame:
    """Lighter polygons for the browser: shared borders simplified once, coordinates rounded.

    A level whose polygons do not tile (they overlap, or their borders do not match exactly)
    cannot keep its neighbours glued; that is logged as a warning (load_boundaries puts it
    in the problems).
    """
    simplified, notes = simplify_with_notes(frame, tolerance, decimals)
    for note in notes:
        log.warning("%s", note)
    return simplified


def simplify_with_notes(
    frame: gpd.GeoDataFrame, tolerance: float, decimals: int, max_vertices: int = 0,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """:func:`simplify`, also returning the notes on levels that could not be kept glued.

    ``max_vertices`` (0: no limit) caps the vertices of one level: a level drawn whole with
    thousands of detailed polygons is simplified further (the tolerance doubled until it
    fits, at most ``MAX_DOUBLINGS`` times), because the browser receives the whole level.
    """
    notes: list[str] = []
    result = frame.copy()
    geometry = np.asarray(result.geometry.values, dtype=object).copy()
    for level in sorted(result["level"].unique()):
        rows = np.flatnonzero(result["level"].to_numpy() == level)
        shapes = geometry[rows]
        if tolerance > 0:
            simplified = _simplify_level(shapes, tolerance, int(level), notes)
            used = tolerance
            for _ in range(MAX_DOUBLINGS):
                if not max_vertices or _vertices(simplified) <= max_vertices:
                    break
                used *= 2
                simplified = _simplify_level(shapes, used, int(level), [])
            if used != tolerance:
                notes.append(
                    f"the level-{level} polygons were simplified with a tolerance of {used:g}° "
                    f"(not {tolerance:g}°) to send at most about {max_vertices:,} vertices: "
                    f"{_vertices(simplified):,} remain")
            shapes = simplified
        geometry[rows] = _round(shapes, decimals)
    result["geometry"] = gpd.GeoSeries(geometry, index=result.index, crs=frame.crs)
    return result, notes


MAX_DOUBLINGS = 6


def _vertices(shapes: np.ndarray) -> int:
    return int(shapely.get_num_coordinates(shapes).sum())


def _simplify_level(
    shapes: np.ndarray, tolerance: float, level: int, notes: list[str],
) -> np.ndarray:
    """coverage_simplify keeps a border shared by two polygons as one line, so neighbours
    stay glued; simplifying each polygon alone moves each side of a border differently and
    opens slivers and overlaps."""
    tiles = bool(shapely.coverage_is_valid(shapes))
    try:
        # On a level that does not tile, borders shared exactly still stay shared and the
        # rest is simplified polygon by polygon: never worse than plain simplify.
        simplified = shapely.coverage_simplify(shapes, tolerance, simplify_boundary=True)
        usable = bool(np.all(shapely.is_valid(simplified) & ~shapely.is_empty(simplified)))
    except (GEOSException, ValueError):  # GEOS refuses some inputs that are no coverage
        simplified, usable = shapes, False
    if tiles and usable:
        return simplified
    if not usable:
        simplified = shapely.simplify(shapes, tolerance, preserve_topology=True)
    notes.append(
        f"the level-{level} polygons overlap or their shared borders do not match exactly, so "
        "simplification cannot keep every pair of neighbours glued: small gaps or overlaps "
        "may show between them" + ("" if usable else " (each polygon was simplified alone)"))
    return simplified


def _round(shapes: np.ndarray, decimals: int) -> np.ndarray:
    """Coordinates rounded to ``decimals``: shorter to send, and shared vertices stay shared."""
    rounded = shapely.transform(shapes, lambda xy: np.round(xy, decimals))
    broken = np.flatnonzero(~shapely.is_valid(rounded))
    for i in broken:
        rounded[i] = polygonal_part(shapely.make_valid(rounded[i]))
    # An area smaller than the rounding grid would vanish: it keeps its unrounded shape.
    gone = shapely.is_empty(rounded) & ~shapely.is_empty(shapes)
    rounded[gone] = shapes[gone]
    return rounded


# Loading with a cache ----------------------------------------------------------------------

def load_boundaries(
    settings: SettingsLike, area_levels: Mapping[str, int] | None = None,
    cache_dir: Path | None = None,
) -> BoundarySet:
    """The configured boundaries, simplified for the map; read and simplified once per
    version of the files (a cache on disk keyed by their size and modification time).

    ``area_levels`` is needed only when a file carries no level field. A corrupt cache
    entry is rebuilt; a cache folder that cannot be written only costs the speed-up.
    """
    sources = boundary_sources(settings)
    if not sources:
        return BoundarySet(empty_frame(), [])
    tolerance = float(settings["map.simplify_tolerance"])
    decimals = int(settings["map.coordinate_decimals"])
    max_vertices = int(settings["map.max_vertices"])
    uses_registry = any(source.levels_from_registry for source in sources)
    key = cache_key(sources, tolerance, decimals, area_levels if uses_registry else None,
                    max_vertices)
    folder = cache_dir if cache_dir is not None else default_cache_dir(sources)
    cached = _read_cache(folder, key)
    if cached is not None:
        return cached
    read = read_boundaries(sources, area_levels)
    frame, notes = simplify_with_notes(read.frame, tolerance, decimals, max_vertices)
    result = BoundarySet(frame, read.problems + notes)
    _write_cache(folder, key, result)
    return result


def cache_key(
    sources: Sequence[BoundarySource], tolerance: float, decimals: int,
    area_levels: Mapping[str, int] | None, max_vertices: int = 0,
) -> str:
    """sha256 of everything the result depends on; any change gives a new cache entry."""
    parts: list[Any] = [CACHE_VERSION, tolerance, decimals, max_vertices]
    for source in sources:
        parts.append([str(source.path.resolve()), source.id_field, source.name_field,
                      source.level, source.level_field, _file_stamps(source.path)])
    if area_levels is not None:
        levels = sorted((str(k), int(v)) for k, v in area_levels.items())
        parts.append(hashlib.sha256(json.dumps(levels).encode()).hexdigest())
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _file_stamps(path: Path) -> list[Any]:
    if not path.exists():
        raise BoundaryError(f"boundary file {path} does not exist")
    files = [path]
    if path.suffix.lower() == ".shp":
        files += [sibling for sibling in sorted(path.parent.glob(f"{path.stem}.*"))
                  if sibling.suffix.lower() in SHAPEFILE_PARTS and sibling != path]
    stamps = []
    for file in files:
        stat = file.stat()
        stamps.append([file.name, stat.st_size, stat.st_mtime_ns])
    return stamps


def default_cache_dir(sources: Sequence[BoundarySource]) -> Path:
    """A .socle-cache folder beside the first boundary file, or one in the temp folder when
    that folder is read-only (a boundary file on a shared drive)."""
    beside = sources[0].path.resolve().parent / CACHE_DIR_NAME
    try:
        beside.mkdir(exist_ok=True)
        if os.access(beside, os.W_OK):
            return beside
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "socle-cache"


def _cache_paths(folder: Path, key: str) -> tuple[Path, Path]:
    stem = f"boundaries-{key[:32]}"
    return folder / f"{stem}.parquet", folder / f"{stem}.json"


def _read_cache(folder: Path, key: str) -> BoundarySet | None:
    frame_path, notes_path = _cache_paths(folder, key)
    if not (frame_path.is_file() and notes_path.is_file()):
        return None
    try:
        notes = json.loads(notes_path.read_text(encoding="utf-8"))
        frame = gpd.read_parquet(frame_path)
        if notes.get("key") != key or list(frame.columns) != list(COLUMNS):
            raise ValueError("cache entry does not match")
        problems = [str(problem) for problem in notes["problems"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # pyarrow's errors derive from ValueError/OSError; a broken entry is simply rebuilt.
        log.warning("boundary cache %s is unreadable (%s): rebuilding it", frame_path, exc)
        return None
    return BoundarySet(frame, problems)


def _write_cache(folder: Path, key: str, result: BoundarySet) -> None:
    frame_path, notes_path = _cache_paths(folder, key)
    notes = json.dumps({"key": key, "version": CACHE_VERSION, "problems": result.problems},
                       ensure_ascii=False, indent=1)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # The notes go last: an entry is complete once both are in place.
        _atomic_write(frame_path, lambda temporary: result.frame.to_parquet(temporary))
        _atomic_write(notes_path,
                      lambda temporary: temporary.write_text(notes, encoding="utf-8"))
        _prune(folder)
    except OSError as exc:
        log.warning("cannot write the boundary cache in %s (%s): boundaries will be read "
                    "again next time", folder, exc)


def _atomic_write(final: Path, write) -> None:
    handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    """Keep the newest CACHE_KEEP entries: each edit of a boundary file makes a new one."""
    entries = sorted(folder.glob("boundaries-*.json"), key=lambda p: p.stat().st_mtime_ns,
                     reverse=True)
    for stale in entries[CACHE_KEEP:]:
        stale.unlink(missing_ok=True)
        stale.with_suffix(".parquet").unlink(missing_ok=True)


# Joining to the registry -------------------------------------------------------------------

def join_report(boundaries: gpd.GeoDataFrame, areas: pd.DataFrame, level: int) -> JoinReport:
    """Which areas of ``level`` lack a polygon, and which polygons of ``level`` lack an area.

    ``areas`` is the registry's area table (area_id, name, level, parent_id).
    """
    polygons = _ids_and_names(boundaries[boundaries["level"] == level])
    registry = _ids_and_names(areas[areas["level"] == level])
    have_polygon = set(polygons["area_id"])
    in_registry = set(registry["area_id"])
    missing = registry[~registry["area_id"].isin(have_polygon)]
    orphans = polygons[~polygons["area_id"].isin(in_registry)]
    return JoinReport(
        level=int(level), matched=len(in_registry & have_polygon),
        missing_polygons=missing.reset_index(drop=True),
        orphan_polygons=orphans.reset_index(drop=True))


def _ids_and_names(frame: pd.DataFrame) -> pd.DataFrame:
    plain = pd.DataFrame({
        "area_id": [clean_id(value) for value in frame["area_id"]],
        "name": [str(value) for value in frame["name"]],
    })
    return plain.dropna(subset=["area_id"]).sort_values("area_id", kind="stable")


# Names -------------------------------------------------------------------------------------

# Words that say what kind of area a name is, not which one. Seen in the census tables of
# ../shared/geo: "ABBOTTABAD TEHSIL", "ADENZAI SUB-DIVISION", "Khyber Agency" (2017, for
# today's district Khyber), "Malakand Protected Area" (2023 district table, OSM: "Malakand"),
# "TRIBAL AREA ADJ. BANNU DISTRICT"; "tahsil" is a common spelling of tehsil. Not dropped:
# "city", "cantonment", "upper", "lower", "F.R." (frontier region): they tell areas apart
# (Peshawar City is a tehsil of Peshawar, F.R. Bannu is not Bannu).
GENERIC_WORDS = ("tehsil", "tahsil", "district", "sub division", "subdivision", "agency",
                 "protected area")
_GENERIC = re.compile(r"\b(?:" + "|".join(w.replace(" ", r"\s+") for w in GENERIC_WORDS)
                      + r")\b")
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")  # "Babuzai (Swat)": the district, as a hint
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise_name(name: str) -> str:
    """The name reduced to what tells areas apart: lower case, no accents, no punctuation or
    bracketed hints, no generic words ("tehsil", "district", ...), single spaces."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _BRACKETED.sub(" ", text)
    text = _NOT_WORD.sub(" ", text).strip()
    reduced = " ".join(_GENERIC.sub(" ", text).split())
    # A name that is only a generic word ("District") stays itself.
    return reduced or " ".join(text.split())


def _match_key(name: str) -> str:
    # Spacing is the commonest spelling difference of the same name ("Takht Bhai",
    # "Takhtbhai"; "Halimzai", "HALIM ZAI"), so keys ignore it.
    return normalise_name(name).replace(" ", "")


def match_names(left: Iterable[str], right: Iterable[str]) -> dict[str, str]:
    """Left name -> right name, for names equal once normalised; one-to-one, no guessing.

    Identical names pair first; then names whose normalised forms (ignoring spaces) are
    equal. Two names of one side that normalise alike are ambiguous and stay unpaired.
    Spelling differences ("Abbotabad", "Abbottabad") stay unpaired: a person decides them.
    """
    left_names = list(dict.fromkeys(str(n) for n in left if n is not None))
    right_names = list(dict.fromkeys(str(n) for n in right if n is not None))
    right_set = set(right_names)
    pairs = {name: name for name in left_names if name in right_set}
    rest_left = [n for n in left_names if n not in pairs]
    rest_right = [n for n in right_names if n not in pairs.values()]
    by_key_left = _group(rest_left, _match_key)
    by_key_right = _group(rest_right, _match_key)
    for name in rest_left:
        key = _match_key(name)
        if len(by_key_left[key]) == 1 and len(by_key_right.get(key, ())) == 1:
            pairs[name] = by_key_right[key][0]
    return {name: pairs[name] for name in left_names if name in pairs}


def _group(names: Iterable[str], key) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(key(name), []).append(name)
    return groups
