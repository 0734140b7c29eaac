"""The coverage map of a view: which areas it draws, their figures, the table, the drill-down.

The page calls :func:`build_coverage_map` with the boundaries, the area table and the
indicators' long form, and draws what comes back. Everything here is plain Python (no
Streamlit), so the page stays thin and the tests call these functions directly.

What the map shows (the *focus*):
- no area chosen: every area of the chosen level;
- an area chosen above the lowest level: its children, zoomed to it (a district shows its
  tehsils);
- an area of the lowest level: its parent's children, the area itself outlined.
Clicking an area makes it the chosen area (:func:`drill_target`); the breadcrumb
(:func:`breadcrumb`) goes back up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import pydeck as pdk

from core.i18n import N_, format_number, t
from data_access.areas import AreaTree, UnknownAreaError
from indicators.catalogue import ACCESS_POINT, CATALOGUE, Indicator
from maps import layers, style
from maps.boundaries import JoinReport, join_report

TABLE_COLUMNS = ("area_id", "Area", "Value", "Numerator", "Denominator")
SHOWN_COLUMNS = TABLE_COLUMNS[1:]
# The map's size in the page (pixels): the initial zoom fits the focus in it.
MAP_WIDTH, MAP_HEIGHT = 520, 520

# Every indicator with a figure per area can be mapped; dq.invalid_rows is counted for the
# whole registry only.
MAP_INDICATORS: tuple[Indicator, ...] = tuple(i for i in CATALOGUE if not i.whole_registry_only)
DEFAULT_INDICATOR = "cov.poor_households"
ACCESS_POINT_TITLE = N_("Access points: share of open referrals overdue (size: referrals made)")
FAMILY_LABELS = {
    "coverage": N_("Coverage"), "packages": N_("Packages"), "referrals": N_("Referrals"),
    "duplicates": N_("Duplicates"), "data_quality": N_("Data quality"),
}


def whole(value: object) -> str:
    """A count with the language's thousands separators; "–" when missing."""
    if value is None or pd.isna(value):
        return "–"
    return format_number(int(value))


# Which areas ------------------------------------------------------------------------------

def map_level(level: int, area_id: str | None, max_level: int) -> int:
    """The level whose areas are coloured: the chosen level, or one below a chosen area."""
    if area_id is None:
        return level
    return min(level + 1, max_level)


def _below(areas: AreaTree | pd.DataFrame, area_id: str) -> frozenset[str]:
    """The area and the areas below it (only itself when the registry does not know it)."""
    try:
        return AreaTree.of(areas).below(area_id)
    except UnknownAreaError:
        return frozenset({area_id})


def parent_of(areas: pd.DataFrame, area_id: str) -> str | None:
    rows = areas.loc[areas["area_id"] == area_id, "parent_id"]
    return None if rows.empty else rows.iloc[0]


def shown_areas(areas: pd.DataFrame, area_id: str | None, level: int) -> pd.DataFrame:
    """The areas of ``level`` the map colours for a focus on ``area_id`` (None: all)."""
    of_level = areas[areas["level"] == level]
    if area_id is None:
        return of_level.reset_index(drop=True)
    scope = area_id
    chosen_level = areas.loc[areas["area_id"] == area_id, "level"]
    if not chosen_level.empty and int(chosen_level.iloc[0]) >= level:
        scope = parent_of(areas, area_id) or area_id  # the lowest level: show the siblings
    inside = _below(areas, scope)
    return of_level[of_level["area_id"].isin(inside)].reset_index(drop=True)


def breadcrumb(areas: pd.DataFrame, area_id: str | None) -> list[tuple[int | None, str | None, str]]:
    """(level, area_id, name) from the whole registry (None, None, "") down to ``area_id``."""
    by_id = {row.area_id: row for row in areas.itertuples(index=False)}
    chain: list[tuple[int | None, str | None, str]] = []
    node, seen = area_id, set()
    while node is not None and node in by_id and node not in seen:
        seen.add(node)
        row = by_id[node]
        chain.append((int(row.level), row.area_id, row.name))
        node = row.parent_id
    chain.append((None, None, ""))
    return chain[::-1]


def drill_target(properties: Mapping[str, object], max_level: int) -> tuple[int, str] | None:
    """The sidebar's (level, area) after a click on an area of the map; None if not an area."""
    area_id, level = properties.get("area_id"), properties.get("level")
    if area_id is None or level is None:
        return None
    try:
        level = int(level)
    except (TypeError, ValueError):
        return None
    return (level, str(area_id)) if 1 <= level <= max_level else None


def clicked_properties(selection: Mapping[str, object] | None) -> dict | None:
    """The properties of the clicked area in a pydeck selection state, or None."""
    objects = (selection or {}).get("objects") or {}
    picked = objects.get(layers.LAYER_AREAS) if isinstance(objects, Mapping) else None
    if not picked:
        return None
    feature = picked[0]
    if not isinstance(feature, Mapping):
        return None
    properties = feature.get("properties", feature)
    return dict(properties) if isinstance(properties, Mapping) else None


# Which figures --------------------------------------------------------------------------

def indicator_rows(
    figures: pd.DataFrame, indicator_id: str, programme_id: str | None, area_ids: Sequence[str]
) -> pd.DataFrame:
    """One row per area of ``area_ids``: area_id, value, numerator, denominator (no breakdown)."""
    rows = figures[(figures["indicator_id"] == indicator_id) & figures["breakdown"].isna()
                   & figures["area_id"].isin(list(area_ids))]
    if programme_id is None:
        rows = rows[rows["programme_id"].isna()]
    else:
        rows = rows[rows["programme_id"] == programme_id]
    return rows[["area_id", "value", "numerator", "denominator"]].drop_duplicates(
        "area_id").reset_index(drop=True)


def focus_row(figures: pd.DataFrame, indicator_id: str, programme_id: str | None,
              area_id: str | None) -> dict | None:
    """The focus area's own figure (the whole registry's when no area is chosen)."""
    rows = figures[(figures["indicator_id"] == indicator_id) & figures["breakdown"].isna()]
    rows = rows[rows["programme_id"].isna() if programme_id is None
                else rows["programme_id"] == programme_id]
    rows = rows[rows["area_id"].isna() if area_id is None else rows["area_id"] == area_id]
    return None if rows.empty else rows.iloc[0].to_dict()


def table(shown: pd.DataFrame, rows: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """The table beside the map: every shown area, its value in the unit users read."""
    merged = shown[["area_id", "name"]].merge(rows, on="area_id", how="left")
    value = pd.to_numeric(merged["value"], errors="coerce")
    if indicator.unit == "percent":
        value = value * 100  # shown as 45.2 (%) so the column sorts and reads as a percentage
    frame = pd.DataFrame({
        "area_id": merged["area_id"],
        "Area": merged["name"],
        "Value": value.round(2),
        "Numerator": pd.to_numeric(merged["numerator"], errors="coerce").astype("Int64"),
        "Denominator": pd.to_numeric(merged["denominator"], errors="coerce").astype("Int64"),
    })
    ascending = indicator.higher_is_better is not False  # the areas that need attention first
    return frame.sort_values(["Value", "Area"], ascending=[ascending, True],
                             na_position="last").reset_index(drop=True)


def figures_table(areas: pd.DataFrame, figures: pd.DataFrame, *, indicator: Indicator,
                  programme_id: str | None, area_id: str | None, level: int) -> pd.DataFrame:
    """The table of the shown areas when there is no map (no boundary file)."""
    shown = shown_areas(areas, area_id, level)
    rows = indicator_rows(figures, indicator.id, programme_id, list(shown["area_id"]))
    return table(shown, rows, indicator)


def access_point_referrals(figures: pd.DataFrame, area_id: str | None) -> pd.DataFrame:
    """Referrals made, overdue and open at end per access point, for the focus area.

    The engine gives ``access_point=<id>`` rows per area; the focus's own rows are used (the
    whole registry's when no area is chosen, or the sum over the visible areas of the level
    for a user who does not see the whole registry).
    """
    prefix = f"{ACCESS_POINT}="
    rows = figures[figures["breakdown"].fillna("").str.startswith(prefix)
                   & figures["indicator_id"].isin(["ref.made", "ref.overdue"])]
    if area_id is not None:
        rows = rows[rows["area_id"] == area_id]
    elif rows["area_id"].isna().any():
        rows = rows[rows["area_id"].isna()]
    rows = rows.assign(access_point_id=rows["breakdown"].str.slice(len(prefix)))
    made = rows[rows["indicator_id"] == "ref.made"].groupby("access_point_id")["numerator"].sum()
    overdue = rows[rows["indicator_id"] == "ref.overdue"].groupby("access_point_id")[
        ["numerator", "denominator"]].sum()
    result = pd.DataFrame({"made": made}).join(
        overdue.rename(columns={"numerator": "overdue", "denominator": "open"}), how="outer")
    return result.fillna(0).astype(int).rename_axis("access_point_id").reset_index()


def access_points_in_focus(points: pd.DataFrame, referrals: pd.DataFrame, areas: pd.DataFrame,
                           area_id: str | None) -> pd.DataFrame:
    """Access points inside the focus, or used by its households, with their referrals."""
    merged = points.merge(referrals, on="access_point_id", how="left")
    for column in ("made", "overdue", "open"):
        merged[column] = merged[column].fillna(0).astype(int)
    if area_id is not None:
        inside = merged["area_id"].isin(_below(areas, area_id))
        merged = merged[inside | (merged["made"] > 0) | (merged["open"] > 0)]
    return merged.reset_index(drop=True)


# The map --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoverageMap:
    """What the page draws: the deck, its legend, the table and what did not join."""

    deck: pdk.Deck
    legend: list[style.LegendEntry]
    legend_html: str
    table: pd.DataFrame
    join: JoinReport
    feature_count: int
    focus_name: str
    dropped_access_points: int = 0
    points_legend_html: str = ""
    notes: list[str] = field(default_factory=list)


def _bounds(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    if frame.empty:
        return None
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return (minx, miny, maxx, maxy)


def build_coverage_map(
    boundaries: gpd.GeoDataFrame,
    areas: pd.DataFrame,
    figures: pd.DataFrame,
    *,
    indicator: Indicator,
    programme_id: str | None,
    area_id: str | None,
    level: int,
    method: str,
    classes: int,
    access_points: pd.DataFrame | None = None,
    basemap_style: str = "",
) -> CoverageMap:
    """The choropleth of ``indicator`` over the areas of ``level`` in the focus ``area_id``.

    ``figures`` is the long form computed at ``level`` (with the whole registry's rows);
    ``access_points`` (access_point_id, name, area_id, latitude, longitude) adds the
    access-point layer when given.
    """
    shown = shown_areas(areas, area_id, level)
    rows = indicator_rows(figures, indicator.id, programme_id, list(shown["area_id"]))
    polygons = boundaries[(boundaries["level"] == level)
                          & boundaries["area_id"].isin(set(shown["area_id"]))]
    # Names come from the registry, so the map, the table and the sidebar agree.
    names = dict(zip(shown["area_id"], shown["name"], strict=True))
    polygons = polygons.assign(name=polygons["area_id"].map(names).fillna(polygons["name"]))

    classification = style.classify(rows["value"].tolist(), method=method, k=classes,
                                    unit=indicator.unit)
    colours = style.class_colours(max(len(classification.breaks), 1),
                                  indicator.higher_is_better)
    features = layers.choropleth_features(polygons, rows, indicator, classification, colours)
    counts = pd.Series([f["properties"]["class"] for f in features["features"]]).value_counts()
    entries = style.legend(classification, colours, indicator.format_value,
                           {int(k): int(v) for k, v in counts.items()},
                           more_decimals=indicator.format_value)
    title = t(indicator.label) + (f" — {programme_id}" if programme_id else "")

    top_level = int(boundaries["level"].min()) if not boundaries.empty else level
    # The top level's outlines stand in for a basemap; when the map colours the top level
    # itself, its polygons already draw their borders (and would double the payload).
    outline = boundaries[boundaries["level"] == top_level] if top_level != level \
        else boundaries.iloc[0:0]
    if area_id is not None:
        focus_polygon = boundaries[boundaries["area_id"] == area_id]
        if not focus_polygon.empty:
            outline = pd.concat([outline, focus_polygon])
    bounds = (_bounds(boundaries[boundaries["area_id"] == area_id]) if area_id else None) \
        or _bounds(polygons) or _bounds(outline) or (60.0, 23.0, 78.0, 37.0)

    points, dropped, points_legend = None, 0, ""
    if access_points is not None:
        prepared = layers.access_point_frame(access_points)
        points, dropped = prepared.frame, prepared.dropped
        if not points.empty:
            points_legend = style.legend_html(layers.access_point_legend(points),
                                              t(ACCESS_POINT_TITLE))

    deck = layers.build_deck(
        features, outline_geojson=layers.outline_features(outline), access_points=points,
        bounds=bounds, basemap_style=basemap_style, width_px=MAP_WIDTH, height_px=MAP_HEIGHT,
    )
    focus_name = breadcrumb(areas, area_id)[-1][2] if area_id else ""
    return CoverageMap(
        deck=deck, legend=entries, legend_html=style.legend_html(entries, title),
        table=table(shown, rows, indicator), join=join_report(boundaries, areas, level),
        feature_count=len(features["features"]), focus_name=focus_name,
        dropped_access_points=dropped, points_legend_html=points_legend,
    )
