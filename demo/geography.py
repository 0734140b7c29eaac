"""Demo geography: a province of districts, tehsils and union councils whose polygons tile exactly.

Each level is cut from its parent by a Voronoi diagram of seed points spread inside the parent
(a few Lloyd rounds keep the cells compact). The union councils are then redrawn together on a
1e-5 degree grid: all their borders are noded at once, so two neighbours share the very same
border line, and every higher area is the union of its children. The GeoJSON (5 decimals)
therefore holds exactly the polygons the generator used: a point placed inside a union
council here is inside it in the file too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from demo.common import day_number, split_whole

GRID = 1e-5  # degrees; the GeoJSON keeps 5 decimals, so the polygons live on this grid
LEVEL_PROVINCE, LEVEL_DISTRICT, LEVEL_TEHSIL, LEVEL_UC = 1, 2, 3, 4
PROVINCE_CODE = "PK6"
PROVINCE_NAME = "Khyber Pakhtunkhwa"
TEHSILS_PER_DISTRICT = 3


@dataclass(frozen=True)
class DistrictSeed:
    """A district of the synthetic province: where it lies and how large it is."""

    name: str
    lon: float
    lat: float
    population: int  # 2023 census, used only to weight the synthetic districts
    tehsils: tuple[str, ...]
    cnic_prefix: int  # the four digits after the province digit '1' on local CNICs


# The Peshawar valley districts, at roughly their real relative positions.
SYNTHETIC_DISTRICTS: tuple[DistrictSeed, ...] = (
    DistrictSeed("Peshawar", 71.55, 34.00, 4_758_762, ("Peshawar City", "Shah Alam", "Mathra"),
                 7301),
    DistrictSeed("Nowshera", 71.98, 33.96, 1_740_705, ("Nowshera", "Jehangira", "Pabbi"), 7201),
    DistrictSeed("Charsadda", 71.73, 34.18, 1_835_504, ("Charsadda", "Tangi", "Shabqadar"), 7101),
    DistrictSeed("Mardan", 72.05, 34.23, 2_744_898, ("Mardan", "Takht Bhai", "Katlang"), 6101),
    DistrictSeed("Swabi", 72.40, 34.10, 1_894_600, ("Swabi", "Lahor", "Topi"), 6202),
)
KNOWN_DISTRICTS = {d.name: d for d in SYNTHETIC_DISTRICTS}

# Union councils are named like villages: a stem and a Pashto/Urdu place-name pattern.
UC_STEMS = (
    "Sher", "Gul", "Shah", "Mian", "Zar", "Nawa", "Spin", "Tor", "Loy", "Kuz", "Bar", "Pir",
    "Malak", "Sultan", "Bahadar", "Akbar", "Umar", "Hayat", "Haji", "Jan", "Nasir", "Qazi",
    "Sardar", "Dalazak", "Babu", "Khadi", "Mohib", "Ghulam", "Daulat", "Fateh", "Khwaja",
    "Nisatta", "Palosi", "Shakar", "Sarki", "Tarnab", "Utman", "Yaqub", "Zarif", "Aziz",
    "Behram", "Chamkani", "Daud", "Faqir", "Gandhari", "Hakim", "Ismail", "Jalal", "Karim",
    "Lala", "Mahmud", "Noor", "Ramzan", "Saleh", "Taj", "Wali", "Yousaf", "Zaman", "Kamal",
    "Rahim", "Ahmad", "Mir", "Dost", "Shamsher", "Sikandar", "Zareen", "Payo", "Mazullah",
)
UC_PATTERNS = (
    "{} Kalay", "{} Banda", "{} Dheri", "Garhi {}", "{}abad", "Kot {}", "{} Killi", "{} Khel",
    "{}zai", "{} Mela", "{} Kandi", "Chak {}",
)

ACCESS_POINT_KINDS = ("union_council_office", "facilitation_centre", "one_window", "mobile_camp")
ACCESS_POINT_LABELS = {
    "union_council_office": "Union Council Office",
    "facilitation_centre": "BISP Facilitation Centre",
    "one_window": "One Window Centre",
    "mobile_camp": "Mobile Registration Camp",
}


@dataclass
class Geography:
    """Every area of the four levels, one entry per area in each array (ordered by level, code)."""

    area_id: np.ndarray       # object: 'PK6', 'PK601', 'PK60101', 'PK6010101'
    name: np.ndarray          # object
    level: np.ndarray         # int
    parent: np.ndarray        # int index of the parent area, -1 for the province
    geometry: np.ndarray      # shapely polygons on the GRID
    weight: np.ndarray        # union councils: share of the registry's households (others 0)
    population: np.ndarray    # int, -1 while unknown
    cnic_prefix: np.ndarray   # districts: the four digits after '1' on local CNICs (others 0)
    census_population: bool   # True when populations come from a census file

    @property
    def ucs(self) -> np.ndarray:
        return np.flatnonzero(self.level == LEVEL_UC)

    def ancestor(self, areas: np.ndarray, level: int) -> np.ndarray:
        """Index of each area's ancestor at ``level`` (the area itself at its own level)."""
        result = np.asarray(areas).copy()
        for _ in range(LEVEL_UC):
            above = self.level[result] > level
            result = np.where(above, self.parent[result], result)
        return result


# --- polygons -----------------------------------------------------------------------------

def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygon parts of an overlay result (clipping can leave stray lines and points)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    polygons = [
        part for part in shapely.get_parts(shapely.get_parts(geometry))
        if part.geom_type == "Polygon" and not part.is_empty
    ]
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def random_points_in(
    polygon: BaseGeometry, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` points (n x 2) spread uniformly inside ``polygon``, on the 1e-5 grid."""
    shapely.prepare(polygon)
    x_min, y_min, x_max, y_max = polygon.bounds
    found: list[np.ndarray] = []
    missing = count
    while missing > 0:
        batch = max(16, int(missing * 2.5))
        x = np.round(rng.uniform(x_min, x_max, batch), 5)
        y = np.round(rng.uniform(y_min, y_max, batch), 5)
        inside = shapely.contains_xy(polygon, x, y)
        points = np.column_stack([x[inside], y[inside]])[:missing]
        found.append(points)
        missing -= len(points)
    return np.concatenate(found) if found else np.empty((0, 2))


def voronoi_cells(parent: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    """The Voronoi cells of ``seeds`` (in seed order) clipped to ``parent``."""
    diagram = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=parent, ordered=True
    )
    cells = np.asarray(shapely.get_parts(diagram))
    return [polygonal(cell) for cell in shapely.intersection(cells, parent)]


def partition(
    parent: BaseGeometry, count: int, rng: np.random.Generator, *, seeds: np.ndarray | None = None,
    lloyd_rounds: int = 3,
) -> list[BaseGeometry]:
    """Cut ``parent`` into ``count`` compact pieces that cover it (before snapping to the grid)."""
    if count == 1:
        return [parent]
    if seeds is None:
        seeds = random_points_in(parent, count, rng)
    for _ in range(lloyd_rounds):
        cells = voronoi_cells(parent, seeds)
        centres = shapely.centroid(cells)
        # A concave parent can put a cell's centroid outside it: keep such seeds on the cell.
        outside = ~shapely.contains(parent, centres)
        centres[outside] = shapely.point_on_surface(np.asarray(cells, dtype=object)[outside])
        seeds = shapely.get_coordinates(centres)
    return voronoi_cells(parent, seeds)


def snap_coverage(pieces: list[BaseGeometry]) -> list[BaseGeometry]:
    """The pieces redrawn on the 1e-5 grid as an exact coverage.

    All borders are noded together with snap rounding and rebuilt into faces, so every
    border between two pieces is one and the same line in both, with no T-junctions, and
    rounding to 5 decimals changes nothing. Each face goes back to the piece it lies in.
    """
    originals = np.asarray(pieces, dtype=object)
    linework = shapely.union_all(shapely.boundary(originals), grid_size=GRID)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(linework))))
    inside = shapely.point_on_surface(faces)
    tree = shapely.STRtree(originals)
    face_index, piece_index = tree.query(inside, predicate="within")
    owner = np.full(len(faces), -1, dtype=np.int64)
    owner[face_index[::-1]] = piece_index[::-1]  # first match wins
    # Slivers opened by snapping belong to the nearest piece; a real hole stays a hole.
    orphan = np.flatnonzero((owner < 0) & (shapely.area(faces) < 1e-7))
    if len(orphan):
        owner[orphan] = tree.query_nearest(inside[orphan], all_matches=False)[1]
    result = []
    for piece in range(len(originals)):
        mine = faces[owner == piece]
        result.append(polygonal(shapely.coverage_union_all(mine)))
    return result


def synthetic_province_outline(rng: np.random.Generator) -> BaseGeometry:
    """An irregular oval spanning lon 71.3-72.6, lat 33.7-34.4 (the Peshawar valley)."""
    angles = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    radius = np.full_like(angles, 0.93)
    for harmonic in range(2, 7):
        radius += rng.uniform(0, 0.02) * np.cos(harmonic * angles + rng.uniform(0, 2 * math.pi))
    radius = np.clip(radius, 0.8, 1.0)
    x = 71.95 + 0.65 * radius * np.cos(angles)
    y = 34.05 + 0.35 * radius * np.sin(angles)
    return shapely.Polygon(np.column_stack([x, y]))


# --- names and codes ----------------------------------------------------------------------

def compass_names(district: str, pieces: list[BaseGeometry]) -> list[str]:
    """Tehsil names for a district with no known tehsils: by position, e.g. 'Bannu North'."""
    if len(pieces) == 1:
        return [district]
    centres = shapely.get_coordinates(shapely.centroid(pieces))
    wide = np.ptp(centres[:, 0]) > np.ptp(centres[:, 1])
    order = np.argsort(centres[:, 0] if wide else -centres[:, 1], kind="stable")
    words = {2: ("West", "East") if wide else ("North", "South"),
             3: ("West", "Central", "East") if wide else ("North", "Central", "South")}
    labels = words.get(len(pieces)) or tuple(str(i + 1) for i in range(len(pieces)))
    names = [""] * len(pieces)
    for rank, piece in enumerate(order):
        names[piece] = f"{district} {labels[rank]}"
    return names


def union_council_names(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct village-like names."""
    combos = [pattern.format(stem) for pattern in UC_PATTERNS for stem in UC_STEMS]
    chosen = rng.permutation(len(combos))
    names = [combos[i] for i in chosen[:count]]
    # More union councils than combinations: number the repeats.
    for extra in range(len(names), count):
        names.append(f"{combos[chosen[extra % len(combos)]]} {extra // len(combos) + 1}")
    return names


def code_width(count: int) -> int:
    return max(2, len(str(count)))


# --- assembling the hierarchy -------------------------------------------------------------

@dataclass(frozen=True)
class DistrictInput:
    name: str
    geometry: BaseGeometry
    weight: float                 # relative share of the registry's households
    population: int | None        # census population when known
    cnic_prefix: int
    tehsil_names: tuple[str, ...] = ()


class AreaRows:
    """The areas collected while splitting districts, one dict per area, parents first."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, area_id: str, name: str, level: int, parent: int, geometry: BaseGeometry,
            *, weight: float = 0.0, population: int | None = None, cnic_prefix: int = 0) -> int:
        self.rows.append(dict(area_id=area_id, name=name, level=level, parent=parent,
                              geometry=geometry, weight=weight,
                              population=-1 if population is None else population,
                              cnic_prefix=cnic_prefix))
        return len(self.rows) - 1

    def column(self, name: str, dtype) -> np.ndarray:
        values = np.empty(len(self.rows), dtype=dtype)
        values[:] = [row[name] for row in self.rows]
        return values


def add_district(areas: AreaRows, code: str, district: DistrictInput, union_councils: int,
                 household_share: float, uc_names: Iterator[str], rng: np.random.Generator
                 ) -> None:
    """A district, its (up to three) tehsils and its union councils."""
    row = areas.add(code, district.name, LEVEL_DISTRICT, 0, district.geometry,
                    population=district.population, cnic_prefix=district.cnic_prefix)
    tehsil_count = min(TEHSILS_PER_DISTRICT, union_councils)
    tehsils = partition(district.geometry, tehsil_count, rng)
    names = (list(district.tehsil_names[:tehsil_count])
             if len(district.tehsil_names) >= tehsil_count
             else compass_names(district.name, tehsils))
    ucs_per_tehsil = split_whole(union_councils, rng.gamma(6.0, size=tehsil_count), minimum=1)
    # Some union councils are far more populous (towns) than others.
    uc_shares = rng.gamma(2.5, size=union_councils)
    uc_shares /= uc_shares.sum()
    uc_population = (split_whole(district.population, uc_shares)
                     if district.population is not None else None)
    shares = iter(range(union_councils))
    for number, (tehsil, name, count) in enumerate(
            zip(tehsils, names, ucs_per_tehsil, strict=True), start=1):
        tehsil_code = f"{code}{number:0{code_width(tehsil_count)}d}"
        tehsil_row = areas.add(tehsil_code, name, LEVEL_TEHSIL, row, tehsil)
        for uc_number, uc in enumerate(partition(tehsil, int(count), rng), start=1):
            share = next(shares)
            areas.add(f"{tehsil_code}{uc_number:0{code_width(int(count))}d}", next(uc_names),
                      LEVEL_UC, tehsil_row, uc, weight=household_share * uc_shares[share],
                      population=None if uc_population is None else int(uc_population[share]))


def build_hierarchy(
    province: BaseGeometry, districts: list[DistrictInput], union_councils: int,
    rng: np.random.Generator, *, census_population: bool,
) -> Geography:
    """Split each district into tehsils and union councils and give every area its P-code."""
    if union_councils < len(districts):
        raise ValueError(
            f"--union-councils must be at least the number of districts ({len(districts)})")
    enough = union_councils >= TEHSILS_PER_DISTRICT * len(districts)
    weights = np.array([d.weight for d in districts], dtype=float)
    ucs_per_district = split_whole(union_councils, weights,
                                   minimum=TEHSILS_PER_DISTRICT if enough else 1)
    uc_names = iter(union_council_names(union_councils, rng))
    areas = AreaRows()
    areas.add(PROVINCE_CODE, PROVINCE_NAME, LEVEL_PROVINCE, -1, province)
    width = code_width(len(districts))
    for number, (district, count) in enumerate(
            zip(districts, ucs_per_district, strict=True), start=1):
        add_district(areas, f"{PROVINCE_CODE}{number:0{width}d}", district, int(count),
                     district.weight / weights.sum(), uc_names, rng)
    geography = Geography(
        area_id=areas.column("area_id", object), name=areas.column("name", object),
        level=areas.column("level", np.int64), parent=areas.column("parent", np.int64),
        geometry=areas.column("geometry", object), weight=areas.column("weight", float),
        population=areas.column("population", np.int64),
        cnic_prefix=areas.column("cnic_prefix", np.int64),
        census_population=census_population,
    )
    redraw_on_grid(geography)
    if census_population:
        sum_populations_upwards(geography)
    return geography


def redraw_on_grid(geography: Geography) -> None:
    """Snap the union councils to the grid as one coverage; each parent is its children's union.

    Building parents from their children (rather than keeping the cut-up outlines) is what
    makes every level tile the one above it exactly.
    """
    ucs = geography.ucs
    geography.geometry[ucs] = snap_coverage(list(geography.geometry[ucs]))
    empty = [geography.area_id[uc] for uc in ucs if geography.geometry[uc].area == 0]
    if empty:
        raise ValueError(f"union councils too small for the 1e-5 degree grid: {empty[:5]}; "
                         "ask for fewer --union-councils")
    absorb_exclaves(geography)
    for level in (LEVEL_TEHSIL, LEVEL_DISTRICT, LEVEL_PROVINCE):
        for area in np.flatnonzero(geography.level == level):
            children = geography.geometry[geography.parent == area]
            geography.geometry[area] = polygonal(shapely.coverage_union_all(children))


def absorb_exclaves(geography: Geography, largest_share: float = 0.1) -> None:
    """Give each small detached piece of a union council to the neighbour it borders most.

    A Voronoi cell clipped by a concave parent can keep a scrap on the far side of an inlet;
    real union councils rarely look like that. Neighbours in the same tehsil are preferred,
    then in the same district, so that higher areas change as little as possible. Pieces of
    one coverage share their borders exactly, so the exchange keeps the tiling exact.
    """
    ucs = geography.ucs
    shapes = list(geography.geometry[ucs])
    tehsil = geography.parent[ucs]
    district = geography.parent[tehsil]
    for i in range(len(ucs)):
        if shapes[i].geom_type != "MultiPolygon":
            continue
        parts = sorted(shapes[i].geoms, key=lambda part: -part.area)
        kept = [parts[0]]
        for part in parts[1:]:
            if part.area >= largest_share * parts[0].area:
                kept.append(part)
                continue
            neighbour = _best_neighbour(part, shapes, i, tehsil, district)
            if neighbour is None:
                kept.append(part)
                continue
            shapes[neighbour] = polygonal(shapely.coverage_union_all([shapes[neighbour], part]))
        shapes[i] = kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)
    geography.geometry[ucs] = np.array(shapes + [None], dtype=object)[:-1]


def _best_neighbour(part: BaseGeometry, shapes: list[BaseGeometry], owner: int,
                    tehsil: np.ndarray, district: np.ndarray) -> int | None:
    """The union council sharing the longest border with ``part``, same tehsil first."""
    border = part.boundary
    best: tuple[bool, bool, float] | None = None
    chosen = None
    for j, shape in enumerate(shapes):
        if j == owner or not shape.intersects(part):
            continue
        shared = border.intersection(shape.boundary).length
        if shared <= 0:
            continue
        rank = (tehsil[j] == tehsil[owner], district[j] == district[owner], shared)
        if best is None or rank > best:
            best, chosen = rank, j
    return chosen


def sum_populations_upwards(geography: Geography) -> None:
    """Make each area's population the sum of its children's (union councils are given)."""
    for level in (LEVEL_TEHSIL, LEVEL_DISTRICT, LEVEL_PROVINCE):
        children = np.flatnonzero(geography.level == level + 1)
        parents = np.flatnonzero(geography.level == level)
        known = geography.population[children] >= 0
        totals = np.bincount(geography.parent[children][known],
                             weights=geography.population[children][known],
                             minlength=len(geography.level))
        unknown = np.bincount(geography.parent[children][~known], minlength=len(geography.level))
        geography.population[parents] = np.where(unknown[parents] > 0, -1, totals[parents])


def synthetic_geography(union_councils: int, rng: np.random.Generator) -> Geography:
    """Five Peshawar-valley districts inside a synthetic province outline."""
    province = synthetic_province_outline(rng)
    seeds = np.array([(d.lon, d.lat) for d in SYNTHETIC_DISTRICTS])
    if not shapely.contains_xy(province, seeds[:, 0], seeds[:, 1]).all():
        raise AssertionError("a district seed lies outside the synthetic province")
    pieces = partition(province, len(seeds), rng, seeds=seeds, lloyd_rounds=0)
    districts = [
        DistrictInput(name=d.name, geometry=piece, weight=float(d.population), population=None,
                      cnic_prefix=d.cnic_prefix, tehsil_names=d.tehsils)
        for d, piece in zip(SYNTHETIC_DISTRICTS, pieces, strict=True)
    ]
    return build_hierarchy(province, districts, union_councils, rng, census_population=False)


def read_population_csv(path: Path, name_field: str, value_field: str) -> dict[str, int]:
    table = pd.read_csv(path)
    for column in (name_field, value_field):
        if column not in table.columns:
            raise ValueError(f"{path} has no column `{column}` (columns: {list(table.columns)})")
    table = table.dropna(subset=[name_field, value_field])
    return {str(k): int(v) for k, v in zip(table[name_field], table[value_field], strict=True)}


def geography_from_boundaries(
    path: Path, id_field: str, name_field: str, union_councils: int, rng: np.random.Generator,
    *, population_csv: Path | None = None, population_name_field: str | None = None,
    population_field: str = "Pop2023",
) -> Geography:
    """Each feature of a district boundary file becomes a district of one synthetic province.

    Districts get generated P-codes (in the order of ``id_field``); ``id_field`` is the key
    the population file's ``population_name_field`` is matched against.
    """
    import geopandas as gpd

    frame = gpd.read_file(path)
    for column in (id_field, name_field):
        if column not in frame.columns:
            raise ValueError(f"{path} has no field `{column}` (fields: {list(frame.columns)})")
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame[id_field].duplicated().any():
        raise ValueError(f"`{id_field}` is not unique in {path}")
    frame = frame.sort_values(id_field, key=lambda s: s.astype(str), kind="stable")

    populations: dict[str, int] = {}
    if population_csv is not None:
        populations = read_population_csv(
            population_csv, population_name_field or id_field, population_field)
    geometries = [polygonal(shapely.make_valid(g)) for g in frame.geometry]
    areas = np.array([g.area for g in geometries])
    keys = [str(k) for k in frame[id_field]]
    known = [populations.get(k) for k in keys]
    # Districts without a census figure are weighted by area at the median known density.
    densities = [p / a for p, a in zip(known, areas, strict=True) if p is not None and a > 0]
    density = float(np.median(densities)) if densities else 1.0
    districts = []
    for number, (_key, name, geometry, area, population) in enumerate(
            zip(keys, frame[name_field].astype(str), geometries, areas, known, strict=True)):
        seed = KNOWN_DISTRICTS.get(name)
        districts.append(DistrictInput(
            name=name, geometry=geometry,
            weight=float(population) if population is not None else area * density,
            population=population,
            cnic_prefix=seed.cnic_prefix if seed else 1000 + 10 * (number + 1) + 1,
            tehsil_names=seed.tehsils if seed else ()))
    province = polygonal(shapely.union_all(geometries))
    return build_hierarchy(province, districts, union_councils, rng,
                           census_population=bool(populations))


def fill_population_from_registry(
    geography: Geography, persons_per_uc: np.ndarray, rng: np.random.Generator,
) -> None:
    """Synthetic census populations for union councils, consistent with the registry.

    The registry covers 45-85 % of each union council's people, as a social registry that
    reaches most households would; parents get the sums of their children.
    """
    if geography.census_population:
        return
    ucs = geography.ucs
    coverage = rng.uniform(0.45, 0.85, len(ucs))
    expected = geography.weight[ucs] * persons_per_uc.sum()
    registered = persons_per_uc.astype(float)
    population = np.ceil(np.maximum(expected, registered) / coverage).astype(np.int64)
    geography.population[ucs] = population
    sum_populations_upwards(geography)


# --- places inside union councils -----------------------------------------------------------

@dataclass
class AccessPoints:
    area: np.ndarray       # union council index (into the geography)
    kind: np.ndarray       # object
    name: np.ndarray       # object
    lon: np.ndarray
    lat: np.ndarray
    opened_on: np.ndarray  # day numbers


@dataclass
class Villages:
    """Settlement centres inside each union council: households cluster around them."""

    area: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    spread: np.ndarray     # standard deviation of household positions around the centre
    weight: np.ndarray


def place_villages(geography: Geography, rng: np.random.Generator) -> Villages:
    areas, lon, lat, spread, weight = [], [], [], [], []
    for uc in geography.ucs:
        polygon = geography.geometry[uc]
        count = int(rng.integers(2, 8))
        points = random_points_in(polygon, count, rng)
        areas.append(np.full(count, uc))
        lon.append(points[:, 0])
        lat.append(points[:, 1])
        spread.append(np.full(count, 0.3 * math.sqrt(polygon.area / count)))
        weight.append(rng.gamma(1.5, size=count))
    return Villages(np.concatenate(areas), np.concatenate(lon), np.concatenate(lat),
                    np.concatenate(spread), np.concatenate(weight))


def place_access_points(
    geography: Geography, villages: Villages, registration_start: int, end_day: int,
    rng: np.random.Generator,
) -> AccessPoints:
    """1-3 access points per union council, in its villages.

    The first one is a permanent office open before registration began, so every household
    has somewhere to register; mobile camps open later, during the registration drive.
    """
    rows = []
    first_village = np.searchsorted(villages.area, geography.ucs)
    for uc, first in zip(geography.ucs, first_village, strict=True):
        villages_here = int(np.sum(villages.area == uc))
        count = int(min(rng.integers(1, 4), villages_here))
        for number in range(count):
            if number == 0:
                kind = "union_council_office" if rng.random() < 0.6 else "facilitation_centre"
            else:
                kind = ACCESS_POINT_KINDS[int(rng.choice(4, p=[0.15, 0.3, 0.2, 0.35]))]
            if kind == "mobile_camp":
                opened = int(rng.integers(registration_start, end_day - 30))
            else:
                opened = int(registration_start - rng.integers(30, 8 * 365))
            label = ACCESS_POINT_LABELS[kind]
            rows.append(dict(area=uc, kind=kind, name=f"{label} {geography.name[uc]}",
                             lon=villages.lon[first + number], lat=villages.lat[first + number],
                             opened_on=opened))
    frame = pd.DataFrame(rows)
    # Two points of one kind in a union council get numbered names.
    repeat = frame.groupby("name").cumcount()
    numbered = frame["name"] + " " + (repeat + 1).astype(str)
    frame["name"] = np.where(repeat > 0, numbered, frame["name"])
    return AccessPoints(
        area=frame["area"].to_numpy(np.int64), kind=frame["kind"].to_numpy(object),
        name=frame["name"].to_numpy(object), lon=frame["lon"].to_numpy(float),
        lat=frame["lat"].to_numpy(float), opened_on=frame["opened_on"].to_numpy(np.int64))


def place_households(
    geography: Geography, villages: Villages, household_area: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (5 decimals) inside each household's union council, near its villages."""
    lon = np.full(len(household_area), np.nan)
    lat = np.full(len(household_area), np.nan)
    order = np.argsort(household_area, kind="stable")
    sorted_areas = household_area[order]
    bounds = np.searchsorted(sorted_areas, geography.ucs, side="left"), \
        np.searchsorted(sorted_areas, geography.ucs, side="right")
    for uc, start, stop in zip(geography.ucs, *bounds, strict=True):
        if stop == start:
            continue
        rows = order[start:stop]
        here = np.flatnonzero(villages.area == uc)
        polygon = geography.geometry[uc]
        shapely.prepare(polygon)
        village = here[rng.choice(len(here), size=len(rows),
                                  p=villages.weight[here] / villages.weight[here].sum())]
        pending = np.arange(len(rows))
        for attempt in range(8):
            if attempt < 6:
                centre, spread = village[pending], villages.spread[village[pending]]
                x = villages.lon[centre] + rng.normal(0, spread)
                y = villages.lat[centre] + rng.normal(0, spread)
            else:  # thin or odd shapes: fall back to anywhere in the union council
                points = random_points_in(polygon, len(pending), rng)
                x, y = points[:, 0], points[:, 1]
            x, y = np.round(x, 5), np.round(y, 5)
            inside = shapely.contains_xy(polygon, x, y)
            lon[rows[pending[inside]]] = x[inside]
            lat[rows[pending[inside]]] = y[inside]
            pending = pending[~inside]
            if len(pending) == 0:
                break
    return lon, lat


def nearest_open_access_point(
    access_points: AccessPoints, household_area: np.ndarray, lon: np.ndarray, lat: np.ndarray,
    registered_on: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    """Where each household registered: mostly the nearest point of its union council that was
    open on the day, sometimes another open one (people go where they are sent)."""
    chosen = np.full(len(household_area), -1, dtype=np.int64)
    order = np.argsort(household_area, kind="stable")
    areas = household_area[order]
    for uc in np.unique(access_points.area):
        rows = order[np.searchsorted(areas, uc, "left"):np.searchsorted(areas, uc, "right")]
        if len(rows) == 0:
            continue
        points = np.flatnonzero(access_points.area == uc)
        distance = np.hypot(lon[rows, None] - access_points.lon[points],
                            lat[rows, None] - access_points.lat[points])
        open_then = access_points.opened_on[points] <= registered_on[rows, None]
        # One in five goes to a random open point rather than the nearest.
        noisy = rng.random(len(rows)) < 0.2
        distance[noisy] = rng.random((int(noisy.sum()), len(points)))
        # The first point of every union council opened before registration began.
        distance = np.where(open_then, distance, np.inf)
        chosen[rows] = points[np.argmin(distance, axis=1)]
    return chosen


# --- GeoJSON --------------------------------------------------------------------------------

def _rounded(coordinates):
    if isinstance(coordinates[0], (float, int)):
        return [round(float(coordinates[0]), 5), round(float(coordinates[1]), 5)]
    return [_rounded(part) for part in coordinates]


def geojson_text(geography: Geography) -> str:
    """Every area as a feature (area_id, name, level, parent_id), EPSG:4326, 5 decimals."""
    features = []
    for i in range(len(geography.area_id)):
        shape = shapely.geometry.mapping(geography.geometry[i])
        parent = geography.parent[i]
        features.append({
            "type": "Feature",
            "properties": {
                "area_id": geography.area_id[i],
                "name": geography.name[i],
                "level": int(geography.level[i]),
                "parent_id": None if parent < 0 else geography.area_id[parent],
            },
            "geometry": {"type": shape["type"], "coordinates": _rounded(shape["coordinates"])},
        })
    # RFC 7946: longitude/latitude on WGS 84 (EPSG:4326 axes swapped), no "crs" member.
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":"))


def registration_window_start(end_day: int) -> int:
    """Registration opened in January 2023 (or three years before an earlier end date)."""
    return min(day_number(dt.date(2023, 1, 1)), end_day - 3 * 365)
