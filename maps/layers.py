"""The pydeck layers of a map: coloured areas, outlines, access points, and the deck.

Three layers, each with an ``id`` so ``st.pydeck_chart(..., on_select="rerun")`` can report
what was clicked (``state.selection.objects[LAYER_AREAS]`` is a list of GeoJSON features,
``...[LAYER_ACCESS_POINTS]`` a list of rows):

- ``areas`` (GeoJsonLayer, pickable): one feature per boundary, coloured by class;
- ``outline`` (GeoJsonLayer, not pickable): context lines drawn above the areas (with no
  basemap, the top-level outlines are the background);
- ``access_points`` (ScatterplotLayer, pickable): a circle per access point, its area
  growing with the referrals made, its colour with the share of open referrals overdue.

One tooltip serves both pickable layers (:data:`TOOLTIP_HTML`): Streamlit's frontend fills
``{field}`` from the picked object, then from its ``properties`` (so a GeoJSON feature's
properties and a scatter row's fields both work), HTML-escaping the value; a field found in
neither stays as the literal ``{field}``. Areas and points therefore carry the same three
text fields: ``name``, ``line1`` and ``line2``.

Offline: with no basemap style, the deck has ``map_provider=None`` and pydeck's default
``map_style``, which pydeck serialises as ``"mapStyle": "__MAP_STYLE__"``; Streamlit's
frontend reads that marker as "no basemap" and requests nothing. ``map_style=None`` would
drop ``mapStyle`` from the JSON, and Streamlit then substitutes a Carto style URL.

pydeck turns every string argument of a layer into a deck.gl expression (``"@@=..."``): a
constant string such as ``"meters"`` must be quoted (``"'meters'"``) to stay a string.

No Streamlit here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import geopandas as gpd
import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize
from shapely.geometry import mapping

from core.i18n import format_number, format_percent, t
from core.values import python_value
from indicators.catalogue import Indicator
from maps.style import (
    NO_DATA_COLOUR,
    NO_DATA_LABEL,
    Classification,
    LegendEntry,
    fill_colour,
    hex_to_rgb,
    rgb_to_hex,
)

LAYER_AREAS = "areas"
LAYER_OUTLINE = "outline"
LAYER_ACCESS_POINTS = "access_points"

# {field} is looked up on the picked object, then on its "properties".
TOOLTIP_HTML = "<b>{name}</b><br/>{line1}<br/>{line2}"
TOOLTIP_STYLE = {
    "backgroundColor": "#ffffff", "color": "#1f1f1f", "fontSize": "0.8rem",
    "border": "1px solid #bbbbbb", "borderRadius": "4px", "padding": "6px 8px",
    "maxWidth": "320px",
}

AREA_LINE_COLOUR = [255, 255, 255, 255]
OUTLINE_COLOUR = [45, 45, 45, 255]
HIGHLIGHT_COLOUR = [0, 0, 0, 70]

# Access points: circle area proportional to referrals made (radius ∝ sqrt), relative to the
# busiest point of the map; metres so circles scale with the map, clamped in pixels so they
# stay visible when zoomed out and modest when zoomed in.
RADIUS_MIN_M, RADIUS_MAX_M = 200.0, 1500.0
RADIUS_MIN_PX, RADIUS_MAX_PX = 2, 16
POINT_ALPHA = 235
POINT_LINE_COLOUR = [40, 40, 40, 255]
# Share of open referrals that are overdue: upper bounds of the bands, and ColorBrewer
# "Purples" (4 classes, colour-blind safe; not a hue of the area ramps, so a point never
# reads as an area). Grey: no open referral.
OVERDUE_BANDS: tuple[float, ...] = (0.10, 0.25, 0.50, 1.0)
OVERDUE_COLOURS: tuple[str, ...] = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#6a51a3")

POINT_COLUMNS = ("access_point_id", "name", "latitude", "longitude")
COUNT_COLUMNS = ("made", "overdue", "open")
FIGURE_COLUMNS = ("area_id", "value")
BOUNDARY_COLUMNS = ("area_id", "name", "level", "geometry")


def _float(value: Any) -> float | None:
    value = python_value(value)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | float | None:
    number = _float(value)
    return int(number) if number is not None and number.is_integer() else number


def count_text(value: Any) -> str:
    """A count with the language's thousands separators ("1,234"); "–" when missing."""
    number = _float(value)
    if number is None:
        return "–"
    return format_number(number, 0 if number.is_integer() else 2)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}")


# Areas ----------------------------------------------------------------------------------

def choropleth_features(boundaries: gpd.GeoDataFrame, figures: pd.DataFrame,
                        indicator: Indicator, classification: Classification,
                        colours: Sequence[Sequence[int]]) -> dict:
    """A GeoJSON FeatureCollection: one feature per boundary row, in the boundaries' order.

    ``figures`` has one row per area (area_id, value, and numerator/denominator when the
    indicator has them); an area with no row, or a missing value, is "No data" (class -1,
    grey) and is never dropped. Area ids are matched as text (1 matches "1"). Properties:
    area_id, name, level, value (float or None, 6 decimals), class, fill ([r, g, b, a]) and
    the tooltip's line1 ("<label>: <value>"; "No data" when missing) and line2
    ("<numerator> of <denominator>" with thousands separators, "–" when missing; ""
    for an indicator without denominator or an area without a figure row). Geometries go
    through ``shapely.geometry.mapping`` untouched (already simplified and rounded).
    Streamlit keeps a selection by index into the features: keep the boundaries' order
    stable between reruns.
    """
    _require(boundaries, BOUNDARY_COLUMNS, "the boundaries")
    _require(figures, FIGURE_COLUMNS, "the figures")
    keys = figures["area_id"].map(str)
    duplicated = keys[keys.duplicated()]
    if not duplicated.empty:
        raise ValueError("the figures hold several rows for area(s) "
                         + ", ".join(sorted(set(duplicated))[:10]))
    by_area = {
        key: row for key, row in zip(keys, figures.to_dict(orient="records"), strict=True)
    }
    no_data = t(NO_DATA_LABEL)
    label = t(indicator.label)
    features = []
    for area_id, name, level, geometry in zip(
            boundaries["area_id"], boundaries["name"], boundaries["level"],
            boundaries.geometry, strict=True):
        row = by_area.get(str(python_value(area_id)), {})
        value = _float(row.get("value"))
        class_index = classification.class_of(value)
        value_text = indicator.format_value(value) if value is not None else no_data
        numerator_text = count_text(row.get("numerator"))
        denominator_text = count_text(row.get("denominator"))
        if indicator.denominator and row:
            line2 = t("{numerator} of {denominator}", numerator=numerator_text,
                      denominator=denominator_text)
        else:
            line2 = ""
        features.append({
            "type": "Feature",
            "geometry": None if geometry is None or geometry.is_empty else mapping(geometry),
            "properties": {
                "area_id": python_value(area_id),
                "name": "" if python_value(name) is None else str(name),
                "level": python_value(level),
                # Rounded: the browser only shows the texts; the payload carries 5,000 of these.
                "value": None if value is None else round(value, 6),
                "class": class_index,
                "fill": fill_colour(class_index, colours),
                "line1": t("{label}: {value}", label=label, value=value_text),
                "line2": line2,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def outline_features(boundaries: gpd.GeoDataFrame) -> dict:
    """The boundaries' outlines as a FeatureCollection (properties: area_id and name)."""
    _require(boundaries, ("area_id", "name", "geometry"), "the boundaries")
    features = [
        {"type": "Feature",
         "geometry": mapping(geometry),
         "properties": {"area_id": python_value(area_id),
                        "name": "" if python_value(name) is None else str(name)}}
        for area_id, name, geometry in zip(boundaries["area_id"], boundaries["name"],
                                           boundaries.geometry, strict=True)
        if geometry is not None and not geometry.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def class_counts(areas_geojson: Mapping) -> dict[int, int]:
    """{class: number of features} of :func:`choropleth_features`' output (-1: no data)."""
    counts: dict[int, int] = {}
    for feature in areas_geojson.get("features", []):
        index = int(feature["properties"]["class"])
        counts[index] = counts.get(index, 0) + 1
    return counts


# Access points --------------------------------------------------------------------------

class AccessPoints(NamedTuple):
    """The rows to draw and how many were left out for want of usable coordinates."""

    frame: pd.DataFrame
    dropped: int


def overdue_band(share: float | None) -> int:
    """Index in OVERDUE_BANDS of a share overdue (-1: None, no open referral)."""
    if share is None:
        return -1
    for index, bound in enumerate(OVERDUE_BANDS):
        if share <= bound:
            return index
    return len(OVERDUE_BANDS) - 1


def overdue_colour(share: float | None) -> list[int]:
    """[r, g, b, a] of an access point from its share of open referrals overdue."""
    band = overdue_band(share)
    rgb = NO_DATA_COLOUR if band < 0 else hex_to_rgb(OVERDUE_COLOURS[band])
    return [*rgb, POINT_ALPHA]


def access_point_frame(points: pd.DataFrame) -> AccessPoints:
    """Access points ready for :func:`build_deck`.

    ``points`` has access_point_id, name, latitude, longitude and, for size and colour, made,
    overdue, open (referral counts; when absent every circle is small and grey). Rows whose
    coordinates are missing or out of range are dropped and counted. Added columns: radius
    (metres, sqrt-scaled by referrals made between RADIUS_MIN_M and RADIUS_MAX_M, relative
    to the busiest point), overdue_share (overdue / open; None when nothing is open), colour
    ([r, g, b, a]), and the tooltip's line1, line2. Missing counts become None.
    """
    _require(points, POINT_COLUMNS, "the access points")
    frame = points.copy()
    latitude = pd.to_numeric(frame["latitude"], errors="coerce")
    longitude = pd.to_numeric(frame["longitude"], errors="coerce")
    usable = latitude.between(-90, 90) & longitude.between(-180, 180)  # False for NaN
    dropped = int((~usable).sum())
    frame = frame[usable].assign(latitude=latitude[usable], longitude=longitude[usable])
    frame = frame.reset_index(drop=True)

    counts = {c: [_count(v) for v in frame[c]] if c in frame.columns else [None] * len(frame)
              for c in COUNT_COLUMNS}
    made_values = [m for m in counts["made"] if m is not None and m > 0]
    busiest = max(made_values) if made_values else 0.0
    radius, shares, colours, line1, line2 = [], [], [], [], []
    for made, overdue, open_ in zip(counts["made"], counts["overdue"], counts["open"],
                                    strict=True):
        scale = math.sqrt(made / busiest) if made and made > 0 and busiest else 0.0
        radius.append(RADIUS_MIN_M + (RADIUS_MAX_M - RADIUS_MIN_M) * scale)
        share = overdue / open_ if open_ and open_ > 0 and overdue is not None else None
        shares.append(share)
        colours.append(overdue_colour(share))
        line1.append(t("Referrals made: {made}", made=count_text(made)))
        if share is None:
            line2.append(t("No open referrals") if open_ == 0 else
                         t("Overdue: {overdue}", overdue=count_text(overdue)))
        else:
            line2.append(t("Overdue: {overdue} of {open} open ({share})",
                           overdue=count_text(overdue), open=count_text(open_),
                           share=format_percent(share, 0)))
    # object columns: None stays None (a float column would turn it into NaN)
    frame = frame.assign(
        **{c: pd.Series(counts[c], index=frame.index, dtype=object) for c in COUNT_COLUMNS},
        radius=radius, overdue_share=pd.Series(shares, index=frame.index, dtype=object),
        colour=colours, line1=line1, line2=line2)
    frame["name"] = ["" if python_value(n) is None else str(n) for n in frame["name"]]
    return AccessPoints(frame, dropped)


def access_point_legend(frame: pd.DataFrame) -> list[LegendEntry]:
    """Legend of the access points' colours (bands of the share overdue), with counts;
    "No open referrals" last when a point has none."""
    shares = [_float(s) for s in frame["overdue_share"]] if "overdue_share" in frame else []
    bands = [overdue_band(s) for s in shares]
    entries, low = [], 0.0
    for index, (bound, colour) in enumerate(zip(OVERDUE_BANDS, OVERDUE_COLOURS, strict=True)):
        label = t("{low} – {high} overdue", low=format_percent(low, 0),
                  high=format_percent(bound, 0))
        entries.append(LegendEntry(colour, label, bands.count(index)))
        low = bound
    if bands.count(-1):
        entries.append(LegendEntry(rgb_to_hex(NO_DATA_COLOUR), t("No open referrals"),
                                   bands.count(-1)))
    return entries


def _point_records(frame: pd.DataFrame) -> list[dict]:
    """Rows for the ScatterplotLayer, JSON-safe (no NaN: the browser's JSON.parse rejects it)."""
    _require(frame, ("radius", "colour", "line1", "line2"),
             "the access points (prepare them with access_point_frame)")
    keep = [c for c in (*POINT_COLUMNS, *COUNT_COLUMNS, "overdue_share", "radius", "colour",
                        "line1", "line2") if c in frame.columns]
    records = []
    for row in frame[keep].to_dict(orient="records"):
        records.append({k: (v if isinstance(v, list) else python_value(v)) for k, v in row.items()})
    return records


# The deck -------------------------------------------------------------------------------

TILE_SIZE = 512  # deck.gl's web-mercator world is 512 px wide at zoom 0
MAX_ZOOM = 16.0
POINT_ZOOM = 12.0  # bounds of a single point


def _mercator_y(latitude: float) -> float:
    """0 at the top of the web-mercator world, 1 at the bottom."""
    lat = max(-85.05112878, min(85.05112878, latitude))
    s = math.sin(math.radians(lat))
    return 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)


def _latitude(mercator_y: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * mercator_y))))


def fit_view(bounds: Sequence[float], width_px: int = 800, height_px: int = 600,
             padding_px: int = 20) -> pdk.ViewState:
    """The view centred on ``bounds`` (minx, miny, maxx, maxy in degrees) at the largest zoom
    at which they fit in ``width_px`` × ``height_px`` less ``padding_px`` on each side."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    top, bottom = _mercator_y(maxy), _mercator_y(miny)
    span_x, span_y = (maxx - minx) / 360.0, bottom - top
    usable_w = max(width_px - 2 * padding_px, 1)
    usable_h = max(height_px - 2 * padding_px, 1)
    zooms = [math.log2(usable_w / (TILE_SIZE * span_x)) if span_x > 0 else math.inf,
             math.log2(usable_h / (TILE_SIZE * span_y)) if span_y > 0 else math.inf]
    zoom = min(zooms)
    zoom = POINT_ZOOM if math.isinf(zoom) else max(0.0, min(MAX_ZOOM, zoom))
    return pdk.ViewState(
        longitude=(minx + maxx) / 2, latitude=_latitude((top + bottom) / 2),
        zoom=math.floor(zoom * 100) / 100, pitch=0, bearing=0)


class CompactDeck(pdk.Deck):
    """A ``pdk.Deck`` whose ``to_json()`` has no indentation.

    ``st.pydeck_chart`` sends ``deck.to_json()`` as is; pydeck's own is ``indent=2``, which
    puts every coordinate on its own indented line: about 3x the bytes of the same JSON
    written compactly (measured on the 150 level-4 polygons of data/registry.geojson:
    218 kB against 75 kB). Same keys, same values: the frontend parses either.
    """

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize,
                          separators=(",", ":"))


def build_deck(areas_geojson: Mapping, *, outline_geojson: Mapping | None = None,
               access_points: pd.DataFrame | None = None, bounds: Sequence[float],
               basemap_style: str = "", tooltip_html: str | None = None,
               width_px: int = 800, height_px: int = 600) -> pdk.Deck:
    """The deck: areas, then outlines above them, then access points on top.

    ``access_points`` is :func:`access_point_frame`'s frame (None or empty: no layer);
    ``outline_geojson`` None or empty: no outline layer. ``basemap_style`` "" draws no
    basemap and makes no request; a style URL (``mapbox://...`` uses the Mapbox provider and
    needs a token, any other URL a MapLibre-compatible style JSON) draws that basemap.
    ``width_px``/``height_px`` size the initial zoom (the chart's expected size).
    """
    area_features = list(areas_geojson.get("features", []))
    layers = [pdk.Layer(
        "GeoJsonLayer",
        # A list of features (not the collection): Streamlit then checks stored selection
        # indices against the data and drops those that no longer exist.
        data=area_features,
        id=LAYER_AREAS,
        pickable=True,
        filled=True,
        stroked=True,
        get_fill_color="properties.fill",
        get_line_color=AREA_LINE_COLOUR,
        get_line_width=1,
        line_width_units="'pixels'",
        line_width_min_pixels=1,
        auto_highlight=True,
        highlight_color=HIGHLIGHT_COLOUR,
    )]
    outline = list((outline_geojson or {}).get("features", []))
    if outline:
        layers.append(pdk.Layer(
            "GeoJsonLayer",
            data=outline,
            id=LAYER_OUTLINE,
            pickable=False,
            filled=False,
            stroked=True,
            get_line_color=OUTLINE_COLOUR,
            get_line_width=2,
            line_width_units="'pixels'",
            line_width_min_pixels=1,
        ))
    if access_points is not None and not access_points.empty:
        layers.append(pdk.Layer(
            "ScatterplotLayer",
            data=_point_records(access_points),
            id=LAYER_ACCESS_POINTS,
            pickable=True,
            filled=True,
            stroked=True,
            get_position=["longitude", "latitude"],
            get_radius="radius",
            radius_units="'meters'",
            radius_min_pixels=RADIUS_MIN_PX,
            radius_max_pixels=RADIUS_MAX_PX,
            get_fill_color="colour",
            get_line_color=POINT_LINE_COLOUR,
            line_width_units="'pixels'",
            get_line_width=1,
            auto_highlight=True,
        ))
    tooltip = {"html": tooltip_html or TOOLTIP_HTML, "style": TOOLTIP_STYLE}
    view = fit_view(bounds, width_px, height_px)
    if basemap_style:
        provider = "mapbox" if basemap_style.startswith("mapbox://") else "carto"
        deck = CompactDeck(layers=layers, initial_view_state=view, tooltip=tooltip,
                           map_provider=provider, map_style=basemap_style)
    else:
        # map_provider=None with pydeck's default map_style -> "mapStyle": "__MAP_STYLE__",
        # which Streamlit reads as "no basemap" (map_style=None would bring back Carto).
        deck = CompactDeck(layers=layers, initial_view_state=view, tooltip=tooltip,
                           map_provider=None)
    # pydeck copies CARTO_API_KEY from the environment into the JSON sent to the browser
    # (only the Mapbox and Google keys are left out); Carto basemaps need no key.
    deck.carto_key = None
    return deck


def deck_payload_bytes(deck: pdk.Deck) -> int:
    """Bytes Streamlit sends for the chart: ``deck.to_json()`` (the proto's ``json`` field;
    compact for :class:`CompactDeck`, indent=2 for a plain ``pdk.Deck``) plus the tooltip,
    which travels in its own field."""
    size = len(deck.to_json().encode())
    tooltip = getattr(deck, "_tooltip", None)
    if isinstance(tooltip, dict):
        size += len(json.dumps(tooltip).encode())
    return size
