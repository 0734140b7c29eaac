"""The coverage page under AppTest: the deck spec it sends, drill-down, links, diagnostics.

The registry is test_app's (one province, two districts, three tehsils, four union
councils); its boundaries are squares written here as GeoJSON, so every polygon is known.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from app_under_test import AREAS, app_registry, assert_clean, registry_tables, run_app
from shapely.geometry import box
from shapely.ops import unary_union

from data_access.registry import open_registry
from indicators import BY_ID, compute, default_as_of, default_period_start
from maps import coverage, layers, style

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

PAGE = "pages/coverage.py"

# Union councils as unit squares side by side; the levels above are their unions.
UC_SQUARES = {"U1": box(71.0, 34.0, 71.1, 34.1), "U2": box(71.1, 34.0, 71.2, 34.1),
              "U3": box(71.2, 34.0, 71.3, 34.1), "U4": box(71.3, 34.0, 71.4, 34.1)}


ACCESS_POINTS = [
    # access_point_id, name, area_id, latitude, longitude
    ("AP1", "Hashtnagri desk", "U1", 34.05, 71.05),
    ("AP2", "Mingora desk", "U3", 34.05, 71.25),
    ("AP3", "Mobile camp", "U2", None, None),  # no coordinates: counted, not drawn
]


@pytest.fixture
def registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """test_app's registry with access points; referrals go to the desk of their area."""
    tables = registry_tables()
    tables["access_point"] = pd.DataFrame(
        [{"access_point_id": a, "name": n, "kind": "desk", "area_id": area, "latitude": lat,
          "longitude": lon} for a, n, area, lat, lon in ACCESS_POINTS])
    area_of = dict(zip(tables["household"]["household_id"], tables["household"]["area_id"],
                       strict=True))
    desk = {"U1": "AP1", "U2": "AP3", "U3": "AP2"}
    tables["referral"]["access_point_id"] = tables["referral"]["household_id"].map(
        lambda h: desk.get(area_of[h]))
    return app_registry(tmp_path, monkeypatch, tables)


def boundary_frame(drop: tuple[str, ...] = (), extra: dict | None = None) -> gpd.GeoDataFrame:
    parents = {a[0]: a[3] for a in AREAS}
    shapes: dict[str, object] = dict(UC_SQUARES)
    for level in (3, 2, 1):
        for area_id, _, lvl, _ in AREAS:
            if lvl == level:
                shapes[area_id] = unary_union(
                    [g for child, g in shapes.items() if parents.get(child) == area_id])
    rows = [{"area_id": a, "name": n, "level": lvl, "geometry": shapes[a]}
            for a, n, lvl, _ in AREAS if a not in drop]
    for area_id, geometry in (extra or {}).items():
        rows.append({"area_id": area_id, "name": f"Polygon {area_id}", "level": 4,
                     "geometry": geometry})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


@pytest.fixture
def boundary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "areas.geojson"
    boundary_frame().to_file(path, driver="GeoJSON")
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(path))
    return path


def open_page(query: dict[str, str] | None = None):
    at = run_app(query)
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def deck_spec(at) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1, "the page draws one map"
    return json.loads(charts[0].proto.json)


def layer(spec: dict, layer_id: str) -> dict:
    return next(item for item in spec["layers"] if item["id"] == layer_id)


def area_features(spec: dict) -> list[dict]:
    data = layer(spec, layers.LAYER_AREAS)["data"]
    return data["features"] if isinstance(data, dict) else data


def engine_rows(url: str, indicator_id: str, level: int) -> dict[str, float | None]:
    engine = open_registry(url)
    try:
        as_of = default_as_of(engine)
        figures = compute(engine, as_of=as_of, level=level,
                          period_start=default_period_start(as_of, 3),
                          indicator_ids=[indicator_id])
    finally:
        engine.dispose()
    rows = figures[(figures["indicator_id"] == indicator_id) & figures["area_id"].notna()
                   & figures["breakdown"].isna() & figures["programme_id"].isna()]
    return {r.area_id: (None if pd.isna(r.value) else float(r.value))
            for r in rows.itertuples()}


def test_default_map_colours_the_districts(registry_url: str, boundary_file: Path):
    at = open_page()
    spec = deck_spec(at)
    assert [item["@@type"] for item in spec["layers"]] == [
        "GeoJsonLayer", "GeoJsonLayer", "ScatterplotLayer"]
    assert {item["id"] for item in spec["layers"]} == {
        layers.LAYER_AREAS, layers.LAYER_OUTLINE, layers.LAYER_ACCESS_POINTS}
    features = area_features(spec)
    assert sorted(f["properties"]["area_id"] for f in features) == ["D1", "D2"]

    expected = engine_rows(registry_url, "cov.poor_households", 2)
    indicator = BY_ID["cov.poor_households"]
    for feature in features:
        props = feature["properties"]
        assert props["value"] == pytest.approx(expected[props["area_id"]])
        value = expected[props["area_id"]]
        assert props["line1"] == f"{indicator.label}: " + (
            indicator.format_value(value) if value is not None else "No data")

    # Colours follow the classes (quantiles by default), darkest for the lowest coverage.
    values = [f["properties"]["value"] for f in features]
    classification = style.classify(values, method=style.default_method("percent"), k=5,
                                    unit="percent")
    colours = style.class_colours(len(classification.breaks), indicator.higher_is_better)
    for feature in features:
        klass = classification.class_of(feature["properties"]["value"])
        assert feature["properties"]["class"] == klass
        colour = style.NO_DATA_COLOUR if klass == -1 else colours[klass]
        assert list(feature["properties"]["fill"][:3]) == list(colour)

    # Offline: no basemap, nothing to fetch.
    assert "http" not in charts_json(at)
    # The legend beside the map names the classes.
    legends = [m.value for m in at.markdown if "No data" in m.value or "%" in m.value]
    assert legends, "a legend is drawn"


def charts_json(at) -> str:
    return at.get("deck_gl_json_chart")[0].proto.json


def test_tooltip_shows_name_value_numerator_and_denominator(registry_url: str, boundary_file):
    at = open_page({"level": "4"})
    tooltip = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)
    for field in ("{name}", "{line1}", "{line2}"):
        assert field in tooltip["html"]
    expected = engine_rows(registry_url, "cov.poor_households", 4)
    for feature in area_features(deck_spec(at)):
        props = feature["properties"]
        value = expected.get(props["area_id"])
        if value is None:
            assert "No data" in props["line1"]
        else:
            assert BY_ID["cov.poor_households"].format_value(value) in props["line1"]
            assert " of " in props["line2"]


def test_an_area_shows_its_children_and_the_breadcrumb_goes_back(registry_url: str,
                                                                  boundary_file: Path):
    at = open_page({"level": "2", "area": "D2"})
    features = area_features(deck_spec(at))
    assert sorted(f["properties"]["area_id"] for f in features) == ["T2", "T3"]
    assert any("by tehsil in Swat" in c.value for c in at.caption)

    at.button(key="crumb_all").click().run()
    assert_clean(at)
    assert at.query_params.get("area") in (None, [], "")
    assert sorted(f["properties"]["area_id"] for f in area_features(deck_spec(at))) == [
        "D1", "D2"]


def test_a_click_on_the_map_drills_down(registry_url: str, boundary_file: Path):
    at = open_page()
    feature = next(f for f in area_features(deck_spec(at)) if f["properties"]["area_id"] == "D2")
    # What Streamlit hands the callback when a user clicks that polygon.
    selection = {"indices": {layers.LAYER_AREAS: [1]},
                 "objects": {layers.LAYER_AREAS: [feature]}}
    properties = coverage.clicked_properties(selection)
    assert coverage.drill_target(properties, max_level=4) == (2, "D2")
    assert coverage.clicked_properties({"objects": {}}) is None
    assert coverage.drill_target({"name": "x"}, max_level=4) is None

    at.sidebar.selectbox(key="area").select("D2").run()  # what the click callback sets
    assert sorted(f["properties"]["area_id"] for f in area_features(deck_spec(at))) == [
        "T2", "T3"]


def test_a_union_council_shows_its_siblings(registry_url: str, boundary_file: Path):
    at = open_page({"level": "4", "area": "U1"})
    assert sorted(f["properties"]["area_id"] for f in area_features(deck_spec(at))) == [
        "U1", "U2"]


def test_changing_the_indicator_and_programme_updates_map_and_link(registry_url: str,
                                                                   boundary_file: Path):
    at = open_page()
    at.selectbox(key="indicator").select("cov.programme").run()
    assert_clean(at)
    assert at.selectbox(key="programme").value == "BISP"
    at.selectbox(key="programme").select("SEHAT").run()
    assert_clean(at)
    assert at.query_params["indicator"] == ["cov.programme"] or \
        at.query_params["indicator"] == "cov.programme"
    features = area_features(deck_spec(at))
    assert features and all(f["properties"]["line1"].startswith("Programme coverage")
                            for f in features)


def test_a_link_reopens_the_same_map(registry_url: str, boundary_file: Path):
    at = open_page({"level": "2", "area": "D1", "indicator": "dup.double_dipping",
                    "classes": "quantiles", "points": "off"})
    assert at.selectbox(key="indicator").value == "dup.double_dipping"
    assert at.selectbox(key="classes").value == "quantiles"
    spec = deck_spec(at)
    assert sorted(f["properties"]["area_id"] for f in area_features(spec)) == ["T1"]
    assert layers.LAYER_ACCESS_POINTS not in {item["id"] for item in spec["layers"]}


def test_the_table_holds_the_engine_figures(registry_url: str, boundary_file: Path):
    at = open_page({"level": "4"})
    table = at.dataframe[0].value
    expected = engine_rows(registry_url, "cov.poor_households", 4)
    shown = dict(zip(table["Area"], table["Value"], strict=True))
    names = {a[0]: a[1] for a in AREAS}
    for area_id, value in expected.items():
        got = shown[names[area_id]]
        if value is None:
            assert pd.isna(got)
        else:
            assert got == pytest.approx(round(value * 100, 2))


def test_areas_and_polygons_that_do_not_join_are_listed(registry_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "partial.geojson"
    boundary_frame(drop=("U4",), extra={"X9": box(72.0, 34.0, 72.1, 34.1)}).to_file(
        path, driver="GeoJSON")
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(path))
    at = open_page({"level": "4"})
    warning = " ".join(w.value for w in at.warning)
    assert "1 areas of the registry" in warning and "1 polygons" in warning
    listed = pd.concat([d.value for d in at.dataframe[1:]])
    assert {"U4", "X9"} <= set(listed["area_id"])
    # The area without a polygon is still in the table, as an area with figures.
    assert "UC Kokarai" in set(at.dataframe[0].value["Area"])


def test_without_boundaries_the_page_says_so_and_shows_the_table(registry_url: str):
    at = open_page()
    assert any("No boundary file is configured" in i.value for i in at.info)
    assert not at.get("deck_gl_json_chart")
    assert set(at.dataframe[0].value["Area"]) == {"Peshawar", "Swat"}


def test_a_broken_boundary_file_is_named(registry_url: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "wrong.geojson"
    boundary_frame().rename(columns={"area_id": "code"}).to_file(path, driver="GeoJSON")
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(path))
    at = run_app()
    at.switch_page(PAGE).run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "wrong.geojson" in message and "area_id" in message


def test_dates_reach_the_map(registry_url: str, boundary_file: Path):
    early = open_page({"as_of": dt.date(2024, 6, 15).isoformat(), "level": "4"})
    late = open_page({"level": "4"})
    assert charts_json(early) != charts_json(late)


def test_the_map_credits_its_boundary_data(registry_url: str, boundary_file,
                                           monkeypatch: pytest.MonkeyPatch):
    """The demo's districts are OpenStreetMap's (ODbL): every map says so, and a deployment
    with other boundaries sets its own credit line (or none)."""
    at = open_page({"level": "2"})
    assert "© OpenStreetMap contributors" in [c.value for c in at.caption]
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_ATTRIBUTION", "Boundaries: OCHA COD-AB, CC BY-IGO")
    at = open_page({"level": "2"})
    captions = [c.value for c in at.caption]
    assert "Boundaries: OCHA COD-AB, CC BY-IGO" in captions
    assert "© OpenStreetMap contributors" not in captions
