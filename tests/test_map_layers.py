"""The pydeck layers and the deck of the maps (maps/layers.py)."""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from indicators.catalogue import indicator
from maps import layers, style

COVERAGE = indicator("cov.poor_households")  # percent, higher is better
MADE = indicator("ref.made")  # count, no denominator, neutral


def square(x: float, y: float, size: float = 0.25):
    return box(round(x, 4), round(y, 4), round(x + size, 4), round(y + size, 4))


@pytest.fixture
def boundaries() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_id": ["a", "b", "c", "d"], "name": ["Alpha", "Beta", "Gamma <&>", "Delta"],
         "level": [2, 2, 2, 2]},
        geometry=[square(70.1234, 30.0), square(70.3734, 30.0), square(70.1234, 30.25),
                  square(70.3734, 30.25)],
        crs="EPSG:4326")


@pytest.fixture
def figures() -> pd.DataFrame:
    # d has no row; c has a row but no value (denominator 0)
    return pd.DataFrame({"area_id": ["a", "b", "c"], "value": [0.15, 0.85, None],
                         "numerator": [150, 8500, 0], "denominator": [1000, 10000, 0]})


def areas_for(boundaries, figures, ind=COVERAGE, method="fixed", k=5):
    c = style.classify(figures["value"], method=method, k=k, unit=ind.unit)
    colours = style.class_colours(c.k, ind.higher_is_better)
    return layers.choropleth_features(boundaries, figures, ind, c, colours), c, colours


@pytest.fixture
def points() -> pd.DataFrame:
    return pd.DataFrame({
        "access_point_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
        "name": ["Union council 1", "Clinic", "School", "No coords", "Bad lat", "Text"],
        "latitude": [30.1, 30.2, 30.3, None, 95.0, "abc"],
        "longitude": [70.2, 70.3, 70.4, 70.5, 70.5, 70.5],
        "made": [100, 25, 0, 5, 5, 5],
        "overdue": [30, 1, 0, 0, 0, 0],
        "open": [40, 20, 0, 1, 1, 1],
    })


# Areas ----------------------------------------------------------------------------------

def test_every_boundary_is_a_feature_and_missing_ones_are_no_data(boundaries, figures) -> None:
    areas, c, colours = areas_for(boundaries, figures)
    features = areas["features"]
    assert areas["type"] == "FeatureCollection"
    assert len(features) == len(boundaries)
    props = {f["properties"]["area_id"]: f["properties"] for f in features}
    for missing in ("c", "d"):
        assert props[missing]["value"] is None
        assert props[missing]["class"] == -1
        assert props[missing]["fill"] == [*style.NO_DATA_COLOUR, style.NO_DATA_ALPHA]
        assert props[missing]["line1"].endswith("No data")
    assert props["a"]["value"] == 0.15 and props["a"]["class"] == 0
    assert props["b"]["class"] == 4
    # higher is better: the low area gets the darkest colour, with full fill alpha
    assert props["a"]["fill"] == [*colours[0], style.FILL_ALPHA]
    assert props["a"]["line1"].endswith(": 15.0%")
    assert props["b"]["line2"] == "8,500 of 10,000"
    assert props["c"]["line2"] == "0 of 0"  # a row with a zero denominator says so
    assert props["d"]["line2"] == ""  # no row at all
    assert layers.class_counts(areas) == {0: 1, 4: 1, -1: 2}


def test_feature_properties_are_the_agreed_ones_and_json_safe(boundaries, figures) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    expected = {"area_id", "name", "level", "value", "class", "fill", "line1", "line2"}
    for feature in areas["features"]:
        assert set(feature["properties"]) == expected
    text = json.dumps(areas, allow_nan=False)  # NaN would break the browser's JSON.parse
    assert json.loads(text)["features"][0]["properties"]["level"] == 2


def test_geometry_keeps_its_coordinates(boundaries, figures) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    ring = areas["features"][0]["geometry"]["coordinates"][0]
    assert {tuple(p) for p in ring} == {tuple(p) for p in boundaries.geometry[0].exterior.coords}
    numbers = re.findall(r"-?\d+\.\d+", json.dumps(areas["features"][0]["geometry"]))
    assert numbers and max(len(n.split(".")[1]) for n in numbers) <= 4


def test_area_ids_match_as_text() -> None:
    polygons = gpd.GeoDataFrame({"area_id": [1, 2], "name": ["One", "Two"], "level": [1, 1]},
                                geometry=[square(0, 0), square(1, 0)], crs="EPSG:4326")
    figures = pd.DataFrame({"area_id": ["1"], "value": [0.5], "numerator": [1],
                            "denominator": [2]})
    areas, _, _ = areas_for(polygons, figures)
    props = [f["properties"] for f in areas["features"]]
    assert props[0]["area_id"] == 1 and props[0]["value"] == 0.5
    assert props[1]["value"] is None


def test_several_rows_for_one_area_are_refused(boundaries) -> None:
    figures = pd.DataFrame({"area_id": ["a", "a"], "value": [0.1, 0.2]})
    c = style.classify([0.1, 0.2], method="fixed", k=5, unit="percent")
    with pytest.raises(ValueError, match="several rows"):
        layers.choropleth_features(boundaries, figures, COVERAGE, c,
                                   style.class_colours(c.k, True))


def test_a_count_without_denominator_has_no_ratio_line(boundaries) -> None:
    figures = pd.DataFrame({"area_id": ["a", "b"], "value": [12.0, 3400.0],
                            "numerator": [12, 3400], "denominator": [None, None]})
    areas, _, _ = areas_for(boundaries, figures, ind=MADE, method="quantiles")
    props = areas["features"][1]["properties"]
    assert props["line1"] == "Referrals made: 3,400"
    assert props["line2"] == ""


def test_outline_features_carry_only_id_and_name(boundaries) -> None:
    outline = layers.outline_features(boundaries)
    assert len(outline["features"]) == 4
    assert all(set(f["properties"]) == {"area_id", "name"} for f in outline["features"])


# Tooltip --------------------------------------------------------------------------------

def fill_tooltip(template: str, picked: dict) -> str:
    """What Streamlit 1.67's frontend does: {field} from the object, else its properties;
    a field found in neither stays as written."""
    def one(match: re.Match) -> str:
        field = match.group(1)
        if field in picked:
            return str(picked[field])
        properties = picked.get("properties")
        if isinstance(properties, dict) and field in properties:
            return str(properties[field])
        return match.group(0)
    return re.sub(r"{(.*?)}", one, template)


def test_one_tooltip_serves_areas_and_access_points(boundaries, figures, points) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    prepared = layers.access_point_frame(points)
    deck = layers.build_deck(areas, access_points=prepared.frame,
                             bounds=tuple(boundaries.total_bounds))
    spec = json.loads(deck.to_json())
    by_id = {layer["id"]: layer for layer in spec["layers"]}
    template = deck._tooltip["html"]
    assert set(re.findall(r"{(.*?)}", template)) == {"name", "line1", "line2"}
    for feature in by_id[layers.LAYER_AREAS]["data"]:
        text = fill_tooltip(template, feature)
        assert "{" not in text and "null" not in text and "None" not in text
    area_b = fill_tooltip(template, by_id[layers.LAYER_AREAS]["data"][1])
    assert area_b == "<b>Beta</b><br/>Coverage of the poor: 85.0%<br/>8,500 of 10,000"
    for row in by_id[layers.LAYER_ACCESS_POINTS]["data"]:
        text = fill_tooltip(template, row)
        assert "{" not in text and "nan" not in text.lower()
    first = fill_tooltip(template, by_id[layers.LAYER_ACCESS_POINTS]["data"][0])
    assert first == "<b>Union council 1</b><br/>Referrals made: 100<br/>Overdue: 30 of 40 open (75%)"


# Access points --------------------------------------------------------------------------

def test_rows_without_usable_coordinates_are_dropped_and_counted(points) -> None:
    prepared = layers.access_point_frame(points)
    assert prepared.dropped == 3
    assert list(prepared.frame["access_point_id"]) == ["p1", "p2", "p3"]
    frame, dropped = prepared  # unpacks like a tuple
    assert dropped == 3 and len(frame) == 3


def test_radius_grows_with_referrals_made(points) -> None:
    frame = layers.access_point_frame(points).frame.set_index("access_point_id")
    assert frame.loc["p3", "radius"] == layers.RADIUS_MIN_M  # none made
    assert frame.loc["p1", "radius"] == layers.RADIUS_MAX_M  # the busiest
    assert layers.RADIUS_MIN_M < frame.loc["p2", "radius"] < frame.loc["p1", "radius"]
    # sqrt scale: a quarter of the referrals, half the way between min and max
    assert frame.loc["p2", "radius"] == pytest.approx(
        (layers.RADIUS_MIN_M + layers.RADIUS_MAX_M) / 2)


def test_colour_by_share_overdue_and_grey_when_nothing_is_open(points) -> None:
    frame = layers.access_point_frame(points).frame.set_index("access_point_id")
    assert frame.loc["p3", "overdue_share"] is None
    assert frame.loc["p3", "colour"][:3] == list(style.NO_DATA_COLOUR)
    assert frame.loc["p3", "line2"] == "No open referrals"
    assert frame.loc["p1", "overdue_share"] == 0.75
    assert frame.loc["p2", "overdue_share"] == 0.05
    lum_high = sum(frame.loc["p1", "colour"][:3])
    lum_low = sum(frame.loc["p2", "colour"][:3])
    assert lum_high < lum_low  # more overdue, darker
    legend = layers.access_point_legend(frame)
    assert [e.count for e in legend] == [1, 0, 0, 1, 1]
    assert legend[-1].label == "No open referrals"


def test_access_points_without_referral_counts_still_draw() -> None:
    bare = pd.DataFrame({"access_point_id": [1], "name": ["Office"], "latitude": [30.0],
                         "longitude": [70.0]})
    frame, dropped = layers.access_point_frame(bare)
    assert dropped == 0
    assert frame.loc[0, "radius"] == layers.RADIUS_MIN_M
    assert frame.loc[0, "colour"][:3] == list(style.NO_DATA_COLOUR)
    assert frame.loc[0, "line1"] == "Referrals made: –"


# The deck -------------------------------------------------------------------------------

def strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} in the deck JSON")
    return json.loads(text, parse_constant=refuse)


def test_deck_has_the_three_layers_in_order(boundaries, figures, points) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    deck = layers.build_deck(
        areas, outline_geojson=layers.outline_features(boundaries.iloc[:1]),
        access_points=layers.access_point_frame(points).frame,
        bounds=tuple(boundaries.total_bounds))
    spec = strict_json(deck.to_json())
    assert [(layer["id"], layer["@@type"]) for layer in spec["layers"]] == [
        (layers.LAYER_AREAS, "GeoJsonLayer"), (layers.LAYER_OUTLINE, "GeoJsonLayer"),
        (layers.LAYER_ACCESS_POINTS, "ScatterplotLayer")]
    area_layer, outline_layer, point_layer = spec["layers"]
    assert area_layer["pickable"] is True and area_layer["getFillColor"] == "@@=properties.fill"
    assert isinstance(area_layer["data"], list) and len(area_layer["data"]) == 4
    assert outline_layer["pickable"] is False and outline_layer["filled"] is False
    assert point_layer["pickable"] is True
    # constant strings stay strings (pydeck would make "meters" an expression "@@=meters")
    assert point_layer["radiusUnits"] == "meters"
    assert area_layer["lineWidthUnits"] == "pixels"
    assert point_layer["getPosition"] == "@@=[longitude, latitude]"
    assert len(point_layer["data"]) == 3


def test_offline_deck_requests_nothing(boundaries, figures, points, monkeypatch) -> None:
    monkeypatch.setenv("CARTO_API_KEY", "not-a-real-key")
    areas, _, _ = areas_for(boundaries, figures)
    deck = layers.build_deck(
        areas, outline_geojson=layers.outline_features(boundaries),
        access_points=layers.access_point_frame(points).frame,
        bounds=tuple(boundaries.total_bounds))
    text = deck.to_json()
    spec = strict_json(text)
    assert "http" not in text and "mapbox://" not in text
    assert "mapProvider" not in spec
    # Streamlit's frontend reads this marker as "no basemap"; without mapStyle it would
    # substitute a Carto style URL.
    assert spec["mapStyle"] == "__MAP_STYLE__"
    assert "not-a-real-key" not in text and "cartoKey" not in spec


def test_a_basemap_style_url_is_passed_through(boundaries, figures) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    url = "https://tiles.example.org/styles/district/style.json"
    spec = json.loads(layers.build_deck(areas, bounds=tuple(boundaries.total_bounds),
                                        basemap_style=url).to_json())
    assert spec["mapStyle"] == url and spec["mapProvider"] == "carto"
    spec = json.loads(layers.build_deck(areas, bounds=tuple(boundaries.total_bounds),
                                        basemap_style="mapbox://styles/x/y").to_json())
    assert spec["mapProvider"] == "mapbox"


def test_optional_layers_are_left_out(boundaries, figures) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    empty_points = layers.access_point_frame(pd.DataFrame(
        {"access_point_id": [], "name": [], "latitude": [], "longitude": []})).frame
    spec = json.loads(layers.build_deck(areas, outline_geojson=None, access_points=empty_points,
                                        bounds=tuple(boundaries.total_bounds)).to_json())
    assert [layer["id"] for layer in spec["layers"]] == [layers.LAYER_AREAS]


def test_payload_counts_the_json_and_the_tooltip(boundaries, figures) -> None:
    areas, _, _ = areas_for(boundaries, figures)
    deck = layers.build_deck(areas, bounds=tuple(boundaries.total_bounds))
    size = layers.deck_payload_bytes(deck)
    assert size == len(deck.to_json().encode()) + len(json.dumps(deck._tooltip).encode())


def test_deck_json_is_compact_and_says_the_same_as_pydecks(boundaries, figures) -> None:
    from pydeck.bindings.json_tools import serialize

    areas, _, _ = areas_for(boundaries, figures)
    deck = layers.build_deck(areas, outline_geojson=layers.outline_features(boundaries),
                             bounds=tuple(boundaries.total_bounds))
    compact, indented = deck.to_json(), serialize(deck)  # serialize: pydeck's indent=2
    assert json.loads(compact) == json.loads(indented)
    assert "\n" not in compact
    assert len(indented) > 2.5 * len(compact)
    geojson = len(json.dumps(areas, separators=(",", ":")))
    assert len(compact) < 1.6 * geojson + 2_000  # areas + outline + a little deck


def test_streamlit_sends_the_deck_json_and_the_tooltip_apart() -> None:
    from streamlit.testing.v1 import AppTest

    def app() -> None:
        import geopandas as gpd
        import pandas as pd
        import streamlit as st
        from shapely.geometry import box

        from indicators.catalogue import indicator
        from maps import layers, style

        ind = indicator("cov.poor_households")
        polygons = gpd.GeoDataFrame({"area_id": ["a"], "name": ["Alpha"], "level": [1]},
                                    geometry=[box(70, 30, 70.5, 30.5)], crs="EPSG:4326")
        figures = pd.DataFrame({"area_id": ["a"], "value": [0.4]})
        c = style.classify(figures["value"], method="fixed", k=5, unit=ind.unit)
        areas = layers.choropleth_features(polygons, figures, ind, c,
                                           style.class_colours(c.k, True))
        deck = layers.build_deck(areas, bounds=tuple(polygons.total_bounds))
        st.session_state["expected"] = (deck.to_json(), layers.deck_payload_bytes(deck))
        st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key="map")

    at = AppTest.from_function(app).run()
    assert not at.exception
    chart = at.get("deck_gl_json_chart")[0]
    expected_json, expected_size = at.session_state["expected"]
    assert chart.proto.json == expected_json
    assert json.loads(chart.proto.tooltip)["html"] == layers.TOOLTIP_HTML
    assert len(chart.proto.json.encode()) + len(chart.proto.tooltip.encode()) == expected_size


# The view -------------------------------------------------------------------------------

def mercator_pixels(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    world = 512 * 2 ** zoom
    s = math.sin(math.radians(lat))
    return ((lon + 180) / 360 * world, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * world)


@pytest.mark.parametrize("bounds", [(70.0, 30.0, 71.0, 30.5), (66.5, 24.0, 71.2, 36.9),
                                    (-0.2, 51.4, 0.1, 51.6)])
def test_fit_view_centres_and_fits_the_bounds(bounds) -> None:
    width, height, padding = 800, 600, 20
    view = layers.fit_view(bounds, width, height)
    minx, miny, maxx, maxy = bounds
    assert view.longitude == pytest.approx((minx + maxx) / 2)
    assert miny < view.latitude < maxy
    # the mercator middle: a little north of the mean latitude in the northern hemisphere
    assert 0 <= view.latitude - (miny + maxy) / 2 < 0.03 * (maxy - miny)
    x0, y0 = mercator_pixels(minx, maxy, view.zoom)
    x1, y1 = mercator_pixels(maxx, miny, view.zoom)
    cx, cy = mercator_pixels(view.longitude, view.latitude, view.zoom)
    assert cx == pytest.approx((x0 + x1) / 2) and cy == pytest.approx((y0 + y1) / 2)
    spans = (x1 - x0, y1 - y0)
    assert spans[0] <= width - 2 * padding and spans[1] <= height - 2 * padding
    # the bounds fill the view along one side (zoom is rounded down to 0.01)
    assert max(spans[0] / (width - 2 * padding), spans[1] / (height - 2 * padding)) > 0.98


def test_fit_view_of_a_point_uses_a_town_zoom() -> None:
    view = layers.fit_view((70.0, 30.0, 70.0, 30.0))
    assert view.zoom == layers.POINT_ZOOM
    assert (view.longitude, round(view.latitude, 9)) == (70.0, 30.0)
