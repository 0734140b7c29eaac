"""maps.boundaries: reading boundary files, repairing them, simplifying, caching, joining."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from core.settings import load_settings
from data_access.areas import read_areas
from data_access.registry import open_registry
from demo.generator import Options, generate
from demo.geography import SYNTHETIC_DISTRICTS
from maps.boundaries import (
    COLUMNS,
    BoundaryError,
    BoundarySource,
    boundary_sources,
    clean_id,
    join_report,
    load_boundaries,
    match_names,
    normalise_name,
    read_boundaries,
    simplify,
    simplify_with_notes,
)

GEO = Path(__file__).resolve().parents[1].parent / "shared" / "geo"
DEFAULT_TOLERANCE, DEFAULT_DECIMALS = 0.002, 4  # config.toml's [map] defaults


def need_geo() -> Path:
    if not GEO.is_dir():
        pytest.skip("../shared/geo is absent: real-boundary tests need the workplace's shared "
                    "folder")
    return GEO


def squares(ids, names, *, x0: float = 71.0, y0: float = 34.0, size: float = 0.1,
            crs: str | None = "EPSG:4326", id_field: str = "area_id", name_field: str = "name",
            **extra) -> gpd.GeoDataFrame:
    """A row of adjoining squares (in degrees near Peshawar by default)."""
    geometry = [shapely.box(x0 + i * size, y0, x0 + (i + 1) * size, y0 + size)
                for i in range(len(ids))]
    return gpd.GeoDataFrame({id_field: ids, name_field: names, **extra}, geometry=geometry,
                            crs=crs)


def write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    driver = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}[path.suffix]
    frame.to_file(path, driver=driver, engine="pyogrio")
    return path


def source(path: Path, level: int | None = 2, *, id_field: str = "area_id",
           name_field: str = "name", level_field: str | None = None) -> BoundarySource:
    return BoundarySource(path, id_field, name_field, level, level_field)


def settings_for(tmp_path: Path, geography: str) -> object:
    """Real settings from a config.toml holding ``geography`` (TOML lines) and the defaults."""
    config = tmp_path / "config.toml"
    config.write_text("[geography]\n" + geography + "\n", encoding="utf-8")
    return load_settings(config, env={})


def pairwise_overlap(geometries: np.ndarray) -> float:
    """Sum of the areas shared by two polygons (each pair once)."""
    tree = shapely.STRtree(geometries)
    first, second = tree.query(geometries, predicate="intersects")
    pair = first < second
    return float(shapely.area(shapely.intersection(
        geometries[first[pair]], geometries[second[pair]])).sum())


def vertices(frame: gpd.GeoDataFrame) -> int:
    return int(shapely.get_num_coordinates(frame.geometry.values).sum())


# Reading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_each_format_loads_with_the_boundary_columns(tmp_path, suffix):
    # Numeric ids as a spreadsheet saves them (101.0) must join to the registry's "101".
    frame = squares([101.0, 102.0], [" North ", "South"], id_field="code", name_field="label")
    path = write(frame, tmp_path / f"districts{suffix}")
    result = read_boundaries([source(path, id_field="code", name_field="label")])
    got = result.frame
    assert list(got.columns) == list(COLUMNS)
    assert got.crs.to_epsg() == 4326
    assert got["area_id"].tolist() == ["101", "102"]
    assert got["name"].tolist() == ["North", "South"]
    assert got["level"].tolist() == [2, 2] and got["level"].dtype == np.int64
    assert set(got.geom_type) == {"Polygon"}
    assert result.problems == []


def test_a_projected_file_is_reprojected_to_degrees(tmp_path):
    utm = squares(["A", "B"], ["A", "B"]).to_crs("EPSG:32642")  # UTM zone 42N, in metres
    assert utm.total_bounds[0] > 1000  # really metres on disk
    path = write(utm, tmp_path / "utm.gpkg")
    got = read_boundaries([source(path)]).frame
    assert got.crs.to_epsg() == 4326
    np.testing.assert_allclose(got.total_bounds, [71.0, 34.0, 71.2, 34.1], atol=1e-6)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # writing the crs-less file
def test_a_file_without_crs_is_taken_as_degrees_only_when_it_looks_so(tmp_path):
    degrees = write(squares(["A"], ["A"], crs=None), tmp_path / "degrees.shp")
    result = read_boundaries([source(degrees)])
    assert result.frame.crs.to_epsg() == 4326
    assert any("degrees.shp" in p and "EPSG:4326" in p for p in result.problems)

    metres = write(squares(["A"], ["A"], x0=500_000, y0=3_760_000, size=1000, crs=None),
                   tmp_path / "metres.shp")
    with pytest.raises(BoundaryError, match=r"metres\.shp.*no coordinate system"):
        read_boundaries([source(metres)])


def test_a_bow_tie_is_repaired_and_reported(tmp_path):
    frame = squares(["OK", "BOW"], ["Fine", "Bow tie"])
    frame.loc[1, "geometry"] = shapely.Polygon([(71, 34), (71.1, 34.1), (71.1, 34), (71, 34.1)])
    assert not frame.geometry.iloc[1].is_valid
    result = read_boundaries([source(write(frame, tmp_path / "bow.geojson"))])
    bow = result.frame.set_index("area_id").geometry["BOW"]
    assert bow.is_valid and bow.geom_type == "MultiPolygon"
    assert bow.area == pytest.approx(0.005)  # both triangles kept, 0.1 x 0.1 / 2
    assert result.problems == [
        "1 feature of bow.geojson had an invalid geometry and was repaired: BOW"]


def test_a_missing_field_names_the_field_the_file_and_its_fields(tmp_path):
    path = write(squares(["A"], ["A"], id_field="ADM2_PCODE"), tmp_path / "adm2.geojson")
    with pytest.raises(BoundaryError) as error:
        read_boundaries([source(path)])
    message = str(error.value)
    assert "`area_id`" in message and "adm2.geojson" in message
    assert "ADM2_PCODE, name" in message  # what the file has, so the setting can be fixed


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    with pytest.raises(BoundaryError, match=r"nowhere\.geojson does not exist"):
        read_boundaries([source(tmp_path / "nowhere.geojson")])
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("this is not GeoJSON", encoding="utf-8")
    with pytest.raises(BoundaryError, match=r"garbage\.geojson cannot be read"):
        read_boundaries([source(garbage)])


def test_features_set_aside_are_each_reported(tmp_path):
    frame = squares(["A", "B", "C", None, "A", "L"], ["a", "b", None, "d", "a bis", "road"])
    frame.loc[1, "geometry"] = None
    frame.loc[4, "geometry"] = shapely.box(72, 34, 72.1, 34.1)  # a detached part of A
    frame.loc[5, "geometry"] = shapely.LineString([(71, 34), (72, 35)])
    result = read_boundaries([source(write(frame, tmp_path / "kp.geojson"))])
    got = result.frame.set_index("area_id")
    assert got.index.tolist() == ["A", "C"]
    assert got.geometry["A"].geom_type == "MultiPolygon"
    assert got.geometry["A"].area == pytest.approx(0.02)
    assert got.loc["C", "name"] == "C"
    assert result.problems == [
        "1 feature of kp.geojson has no area_id and is left out: d",
        "1 feature of kp.geojson has no name: the id stands for the name: C",
        "1 feature of kp.geojson has no geometry and is left out: B",
        "1 feature of kp.geojson is a point or line, not an area, and is left out: L",
        "feature id A appears twice in kp.geojson: the parts are merged",
    ]


def test_one_file_per_level_with_its_own_fields(tmp_path):
    write(squares(["PK6"], ["Khyber Pakhtunkhwa"], size=0.3), tmp_path / "province.geojson")
    write(squares(["PK601", "PK602"], ["Peshawar", "Mardan"], id_field="ADM2_PCODE",
                  name_field="ADM2_EN"), tmp_path / "districts.gpkg")
    write(squares([60101], ["Mathra"], size=0.05, id_field="ADM3_PCODE",
                  name_field="ADM3_EN"), tmp_path / "tehsils.shp")
    settings = settings_for(tmp_path, "\n".join([
        'boundary_file = ""',
        'boundary_files = ["province.geojson", "districts.gpkg", "tehsils.shp", ""]',
        'boundary_id_fields = ["area_id", "ADM2_PCODE", "ADM3_PCODE", ""]',
        'boundary_name_fields = ["name", "ADM2_EN", "ADM3_EN", ""]',
    ]))
    sources = boundary_sources(settings)
    assert [(s.path.name, s.id_field, s.name_field, s.level, s.level_field) for s in sources] == [
        ("province.geojson", "area_id", "name", 1, None),
        ("districts.gpkg", "ADM2_PCODE", "ADM2_EN", 2, None),
        ("tehsils.shp", "ADM3_PCODE", "ADM3_EN", 3, None),
    ]
    got = read_boundaries(sources).frame
    assert got[["area_id", "name", "level"]].values.tolist() == [
        ["PK6", "Khyber Pakhtunkhwa", 1], ["PK601", "Peshawar", 2], ["PK602", "Mardan", 2],
        ["60101", "Mathra", 3]]


def test_one_file_with_a_level_field(tmp_path):
    frame = squares(["PK6", "PK601", "PK602", "X"], ["KP", "Peshawar", "Mardan", "Odd"],
                    tier=["1", "2", "2.0", "two"])
    write(frame, tmp_path / "all.geojson")
    settings = settings_for(tmp_path, 'boundary_file = "all.geojson"\nboundary_level_field = "tier"')
    [only] = boundary_sources(settings)
    assert (only.level, only.level_field) == (None, "tier")
    result = read_boundaries([only])
    assert dict(zip(result.frame["area_id"], result.frame["level"], strict=True)) == {
        "PK6": 1, "PK601": 2, "PK602": 2}
    assert result.problems == ["1 feature of all.geojson has no level in tier and is left "
                               "out: X"]


def test_levels_from_the_registry_when_the_file_has_none(tmp_path):
    write(squares(["PK6", "PK601", "GHOST"], ["KP", "Peshawar", "Ghost"]),
          tmp_path / "all.geojson")
    settings = settings_for(tmp_path, 'boundary_file = "all.geojson"\nboundary_level_field = ""')
    sources = boundary_sources(settings)
    assert sources[0].levels_from_registry
    result = read_boundaries(sources, {"PK6": 1, "PK601": 2, "PK60101": 3})
    assert result.frame["level"].tolist() == [1, 2]
    assert result.problems == ["1 feature of all.geojson has no level in the registry and "
                               "is left out: GHOST"]
    with pytest.raises(BoundaryError, match="levels come from the registry"):
        read_boundaries(sources)


def test_no_boundaries_configured(tmp_path):
    settings = settings_for(tmp_path, 'boundary_file = ""')
    assert boundary_sources(settings) == []
    empty = load_boundaries(settings, cache_dir=tmp_path / "cache")
    assert list(empty.frame.columns) == list(COLUMNS) and empty.frame.empty


@pytest.mark.parametrize(("raw", "expected"), [
    (101.0, "101"), (101, "101"), (" PK601 ", "PK601"), (101.5, "101.5"), ("", None),
    (None, None), (float("nan"), None)])
def test_clean_id(raw, expected):
    assert clean_id(raw) == expected


# Simplifying -------------------------------------------------------------------------------

def wiggly_neighbours() -> gpd.GeoDataFrame:
    """Two polygons sharing a 1-degree border with 2,000 vertices: broad meanders (kept) and
    a jitter far below the tolerance (dropped)."""
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, 2000)
    x = 0.05 * np.sin(12 * y) + rng.uniform(-0.0004, 0.0004, len(y))
    x[[0, -1]] = 0.0
    border = np.column_stack([x, y])
    west = shapely.Polygon(np.vstack([[[-1, 1], [-1, 0]], border]))
    east = shapely.Polygon(np.vstack([border, [[1, 1], [1, 0]]]))
    return gpd.GeoDataFrame({"area_id": ["W", "E"], "name": ["West", "East"], "level": [2, 2]},
                            geometry=[west, east], crs="EPSG:4326")


def test_simplify_keeps_neighbours_glued_along_a_wiggly_border():
    frame = wiggly_neighbours()
    before_union = shapely.union_all(frame.geometry.values).area
    result = simplify(frame, DEFAULT_TOLERANCE, DEFAULT_DECIMALS)
    west, east = result.geometry.values
    assert west.is_valid and east.is_valid
    assert west.intersection(east).area < 1e-12  # no overlap
    assert shapely.union_all([west, east]).area == pytest.approx(before_union, rel=1e-9)  # no gap
    assert vertices(result) < vertices(frame) / 10
    coordinates = shapely.get_coordinates(result.geometry.values)
    np.testing.assert_allclose(coordinates, np.round(coordinates, 4), atol=1e-12)
    # What the test guards against: each polygon simplified on its own overlaps its neighbour.
    alone = shapely.simplify(frame.geometry.values, DEFAULT_TOLERANCE)
    assert alone[0].intersection(alone[1]).area > 1e-6


def test_simplify_with_zero_tolerance_only_rounds():
    frame = wiggly_neighbours()
    result = simplify(frame, 0.0, 3)
    assert vertices(result) == vertices(frame)
    coordinates = shapely.get_coordinates(result.geometry.values)
    np.testing.assert_allclose(coordinates, np.round(coordinates, 3), atol=1e-12)
    assert result.geometry.is_valid.all()


def test_simplify_of_overlapping_polygons_says_so_and_drops_nothing(caplog):
    frame = gpd.GeoDataFrame(
        {"area_id": ["A", "B"], "name": ["A", "B"], "level": [3, 3]},
        geometry=[shapely.box(0, 0, 2, 2), shapely.box(1, 0, 3, 2)], crs="EPSG:4326")
    result, notes = simplify_with_notes(frame, DEFAULT_TOLERANCE, DEFAULT_DECIMALS)
    assert len(result) == 2 and result.geometry.is_valid.all()
    assert len(notes) == 1 and notes[0].startswith("the level-3 polygons overlap")
    with caplog.at_level(logging.WARNING, logger="maps.boundaries"):
        simplify(frame, DEFAULT_TOLERANCE, DEFAULT_DECIMALS)
    assert notes[0] in caplog.text


def test_rounding_does_not_make_a_tiny_area_vanish():
    tiny = shapely.box(71.00001, 34.00001, 71.00002, 34.00002)  # smaller than the 1e-4 grid
    frame = gpd.GeoDataFrame({"area_id": ["T"], "name": ["T"], "level": [4]}, geometry=[tiny],
                             crs="EPSG:4326")
    result = simplify(frame, DEFAULT_TOLERANCE, DEFAULT_DECIMALS)
    assert len(result) == 1 and result.geometry.iloc[0].area > 0


# Cache -------------------------------------------------------------------------------------

def cache_settings(tmp_path: Path) -> object:
    frame = squares(["A", "B", "BOW"], ["a", "b", "bow"], level=[2, 2, 2])
    frame.loc[2, "geometry"] = shapely.Polygon([(72, 34), (72.1, 34.1), (72.1, 34), (72, 34.1)])
    write(frame, tmp_path / "areas.geojson")
    return settings_for(tmp_path, 'boundary_file = "areas.geojson"')


def cache_entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("boundaries-*.parquet"))


def test_the_cache_is_read_until_the_file_changes(tmp_path):
    settings, cache = cache_settings(tmp_path), tmp_path / "cache"
    first = load_boundaries(settings, cache_dir=cache)
    [entry] = cache_entries(cache)
    written = entry.stat().st_mtime_ns
    second = load_boundaries(settings, cache_dir=cache)
    assert entry.stat().st_mtime_ns == written  # read, not rebuilt
    assert_geodataframe_equal(first.frame, second.frame)
    assert second.problems == first.problems
    assert any("invalid geometry" in p for p in second.problems)  # notes survive the cache

    boundary = tmp_path / "areas.geojson"
    stat = boundary.stat()
    os.utime(boundary, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    third = load_boundaries(settings, cache_dir=cache)
    assert len(cache_entries(cache)) == 2  # a new entry for the new version of the file
    assert_geodataframe_equal(first.frame, third.frame)


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path):
    settings, cache = cache_settings(tmp_path), tmp_path / "cache"
    first = load_boundaries(settings, cache_dir=cache)
    [entry] = cache_entries(cache)
    entry.write_bytes(b"not parquet")
    again = load_boundaries(settings, cache_dir=cache)
    assert_geodataframe_equal(first.frame, again.frame)
    assert gpd.read_parquet(entry).equals(again.frame)  # the entry was written afresh


def test_the_default_cache_sits_beside_the_boundary_file(tmp_path):
    load_boundaries(cache_settings(tmp_path))
    assert len(cache_entries(tmp_path / ".socle-cache")) == 1


# Joining -----------------------------------------------------------------------------------

def test_join_report_lists_missing_and_orphan_polygons():
    boundaries = gpd.GeoDataFrame(
        {"area_id": ["PK601", "PK602", "PK699", "PK60101"],
         "name": ["Peshawar", "Mardan", "Nowhere", "Mathra"], "level": [2, 2, 2, 3]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)], crs="EPSG:4326")
    areas = pd.DataFrame({
        "area_id": ["PK6", "PK601", "PK602", "PK603", "PK60101"],
        "name": ["KP", "Peshawar", "Mardan", "Swabi", "Mathra"],
        "level": [1, 2, 2, 2, 3], "parent_id": [None, "PK6", "PK6", "PK6", "PK601"]})
    report = join_report(boundaries, areas, 2)
    assert report.matched == 2 and not report.complete
    assert report.missing_polygons.values.tolist() == [["PK603", "Swabi"]]
    assert report.orphan_polygons.values.tolist() == [["PK699", "Nowhere"]]
    assert join_report(boundaries, areas, 3).complete
    top = join_report(boundaries, areas, 1)
    assert top.matched == 0 and top.missing_polygons["area_id"].tolist() == ["PK6"]


# Names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("ABBOTTABAD TEHSIL", "abbottabad"),
    ("ADENZAI SUB-DIVISION", "adenzai"),
    ("Khyber Agency", "khyber"),
    ("Malakand Protected Area", "malakand"),
    ("Babuzai (Swat)", "babuzai"),
    ("TAKHT-E-NASRATI", "takht e nasrati"),
    ("Peshawar City", "peshawar city"),  # a tehsil of Peshawar, not Peshawar
    ("Upper Dir District", "upper dir"),
    ("Dérá  Ismail   Khan", "dera ismail khan"),
    ("District", "district"),  # nothing but a generic word: kept
])
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


def test_match_names_is_exact_on_normalised_names_and_one_to_one():
    left = ["Takht Bhai", "Mardan", "Abbotabad", "Utman Khel (Ambar)", "Utmankhel (Qzafi)"]
    right = ["TAKHTBHAI TEHSIL", "MARDAN", "Mardan District", "ABBOTTABAD", "UTMAN KHEL"]
    # "Mardan" has two right names that normalise alike, and the two Utman Khels one left
    # name too many: ambiguous, so unpaired; a spelling difference is never guessed.
    assert match_names(left, right) == {"Takht Bhai": "TAKHTBHAI TEHSIL"}
    assert match_names(["Mardan", "Swat"], ["Mardan", "Mardan District", "SWAT"]) == {
        "Mardan": "Mardan", "Swat": "SWAT"}


# Real boundaries (../shared/geo) -----------------------------------------------------------

@pytest.fixture(scope="module")
def kp(tmp_path_factory):
    """KP districts (level 2) and the tehsil sample (level 3), as configured by a user,
    before and after simplification with the default settings."""
    geo = need_geo()
    folder = tmp_path_factory.mktemp("kp")
    settings = settings_for(folder, "\n".join([
        'boundary_file = ""',
        f'boundary_files = ["", "{geo / "kp_adm2_districts_osm.geojson"}", '
        f'"{geo / "kp_adm3_tehsils_sample_geoboundaries2017.geojson"}"]',
        'boundary_id_fields = ["", "name", "dd_id"]',
        'boundary_name_fields = ["", "name", "district"]',
    ]))
    raw = read_boundaries(boundary_sources(settings)).frame
    loaded = load_boundaries(settings, cache_dir=folder / "cache")
    return raw, loaded


@pytest.mark.parametrize(("level", "count"), [(2, 35), (3, 8)])
def test_real_boundaries_simplify_without_new_overlaps(kp, level, count):
    raw, loaded = kp
    before = raw[raw["level"] == level]
    after = loaded.frame[loaded.frame["level"] == level]
    assert len(after) == count and after.geometry.is_valid.all()
    assert after["area_id"].tolist() == before["area_id"].tolist()
    # Shared borders stay one line, so no overlap appears; the allowance (1e-7 deg², about
    # 0.1 ha over all pairs) only absorbs floating-point noise of intersecting equal edges.
    # The tehsil sample overlaps already (up to ~1.1 km² per pair, SOURCES.md): not more.
    assert pairwise_overlap(after.geometry.values) <= \
        pairwise_overlap(before.geometry.values) + 1e-7
    before_area = shapely.union_all(before.geometry.values).area
    assert shapely.union_all(after.geometry.values).area == pytest.approx(before_area, rel=1e-3)
    assert vertices(after) <= vertices(before)
    if level == 2:
        assert vertices(after) < 0.7 * vertices(before)  # 19,757 -> about 12,500


def test_real_boundaries_report_the_tehsil_sample_is_no_clean_coverage(kp):
    _, loaded = kp
    [note] = loaded.problems  # the districts tile exactly: only the tehsils get a note
    assert note.startswith("the level-3 polygons overlap")


def test_kp_district_names_match_the_2023_census():
    geo = need_geo()
    districts = gpd.read_file(geo / "kp_adm2_districts_osm.geojson")
    census = pd.read_csv(geo / "pak_district_population_census2023.csv")
    census_kp = census.loc[census["Region"] == "KP", "District"]
    matched = match_names(districts["name"], census_kp)
    # All 35 but two OSM spellings, which only a person can decide (SOURCES.md lists them);
    # "Malakand" meets "Malakand Protected Area" through the generic words.
    assert set(districts["name"]) - set(matched) == {"Abbotabad", "Kolai Pallas Kohistan"}
    assert matched["Malakand"] == "Malakand Protected Area"
    # The file's census2023_name column is that decision made: every district joins.
    assert len(match_names(districts["census2023_name"], census_kp)) == 35


def test_tehsil_names_match_the_2023_tehsil_census():
    geo = need_geo()
    census = pd.read_csv(geo / "kp_tehsil_population_census2023.csv")
    census = census[census["REGION"] == "OVERALL"]
    # The sample carries no tehsil names (SOURCES.md), only its districts: all three join.
    sample = gpd.read_file(geo / "kp_adm3_tehsils_sample_geoboundaries2017.geojson")
    assert len(match_names(sample["district"].unique(), census["DISTRICT"].unique())) == 3
    # Tehsil names repeat across districts ("Central", "Lower"): match district-qualified.
    qualified = (census["DISTRICT"] + " / " + census["TEHSIL"]).unique()
    demo = [f"{d.name} / {tehsil}" for d in SYNTHETIC_DISTRICTS for tehsil in d.tehsils]
    # The demo's tehsils are real ones; the census calls Peshawar City just PESHAWAR.
    assert set(demo) - set(match_names(demo, qualified)) == {"Peshawar / Peshawar City"}
    # The 2017 tables spell units "X DISTRICT / Y TEHSIL", "Z AGENCY": 106 of 119 join.
    # The 13 others changed between the censuses (Chitral and Kohistan were split, the six
    # tribal areas "FR ..." merged into districts, Allai is spelt "AI" in 2023).
    patwar = pd.read_csv(geo / "kp_patwar_circle_population_census2017.csv")
    tehsils_2017 = (patwar["District"] + " / " + patwar["Tehsil"]).unique()
    unmatched = set(tehsils_2017) - set(match_names(tehsils_2017, qualified))
    assert len(tehsils_2017) == 119 and len(unmatched) == 13
    assert all(name.startswith(("FR ", "CHITRAL", "KOHISTAN", "BATAGRAM DISTRICT / ALLAI"))
               for name in unmatched)


# The demo registry's boundaries ------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo registry (default 150 union councils) and its area table."""
    folder = tmp_path_factory.mktemp("demo")
    result = generate(Options(out=folder / "r.db", households=300, seed=3))
    areas = read_areas(open_registry(f"sqlite:///{result.database}"))
    return folder, result.geojson, areas


def test_demo_boundaries_join_the_registry_at_every_level(demo, tmp_path):
    folder, geojson, areas = demo
    settings = settings_for(tmp_path, f'boundary_file = "{geojson}"')
    loaded = load_boundaries(settings, cache_dir=tmp_path / "cache")
    assert loaded.problems == []
    assert sorted(loaded.frame["level"].unique()) == [1, 2, 3, 4]
    for level in (1, 2, 3, 4):
        report = join_report(loaded.frame, areas, level)
        assert report.complete, (level, report.missing_polygons, report.orphan_polygons)
        assert report.matched == int((areas["level"] == level).sum())

    # The same file with its levels taken from the registry gives the same frame.
    other = tmp_path / "registry-levels"
    other.mkdir()
    registry_levels = settings_for(other, f'boundary_file = "{geojson}"\nboundary_level_field = ""')
    area_levels = dict(zip(areas["area_id"], areas["level"], strict=True))
    again = load_boundaries(registry_levels, area_levels, cache_dir=tmp_path / "cache")
    assert_geodataframe_equal(loaded.frame, again.frame)


def test_demo_union_councils_fit_the_map_payload(demo, tmp_path):
    _, geojson, _ = demo
    loaded = load_boundaries(settings_for(tmp_path, f'boundary_file = "{geojson}"'),
                             cache_dir=tmp_path / "cache")
    ucs = loaded.frame[loaded.frame["level"] == 4]
    assert len(ucs) == 150
    size = len(json.dumps(ucs.__geo_interface__, separators=(",", ":")))
    # pydeck sends about 3x compact GeoJSON (indent=2): 330 kB keeps the layer under 1 MB.
    # Measured: about 47 kB.
    assert size <= 330_000
    assert pairwise_overlap(ucs.geometry.values) < 1e-9
