"""Widgets the list pages (Referrals, Duplicates, Data quality) share: a list with its count
and CSV download, the map and the table by area, and the "Lists for" choice that drills the
lists to an area (a row of the table, an area of the map). Data comes from
ui/list_queries.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from core.i18n import format_number, t
from data_access.context import UserContext
from indicators import lists
from indicators.catalogue import BY_ID
from maps import coverage, style
from maps.boundaries import BoundaryError
from ui import queries, sign_in, widgets
from views import referrals as rv

# Widgets the list pages share ----------------------------------------------------------------

def column_config(columns: Sequence[lists.ListColumn]) -> dict:
    """Translated headers; dates as dates, counts as whole numbers (so they sort as such)."""
    config: dict = {}
    for column in columns:
        label = t(column.label)
        if column.kind == "date":
            config[column.name] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        elif column.kind == "int":
            config[column.name] = st.column_config.NumberColumn(label, format="%d")
        else:
            config[column.name] = st.column_config.TextColumn(label)
    return config


def show_list(scan: rv.ListScan, columns: Sequence[lists.ListColumn], *, key: str,
              empty_text: str, download: Callable[[], bytes], file_name: str,
              shown_columns: Sequence[str] | None = None,
              translated: Sequence[str] = ()) -> None:
    """A list: how many rows, the table (click a header to sort), and the CSV download.

    ``translated`` names columns whose values are interface texts (a data-quality rule)."""
    if scan.total == 0:
        st.info(empty_text)
        return
    if scan.truncated:
        st.caption(t("Showing the first {shown} of {total} rows; the download has every row.",
                     shown=format_number(len(scan.frame)), total=format_number(scan.total)))
    else:
        st.caption(t("{total} rows. Click a column header to sort.",
                     total=format_number(scan.total)))
    names = [c.name for c in columns]
    order = [n for n in (shown_columns or names) if n in names]
    frame = scan.frame.assign(**{c: scan.frame[c].map(lambda v: t(v) if isinstance(v, str) else v)
                                 for c in translated if c in scan.frame})
    st.dataframe(frame, hide_index=True, column_order=order,
                 column_config=column_config(columns), key=key, placeholder="–")
    st.download_button(t("Download the list (CSV, {total} rows)", total=format_number(scan.total)),
                       data=sign_in.personal_download(download), file_name=file_name,
                       mime="text/csv", on_click="ignore", icon=":material/download:",
                       key=f"{key}_csv")


def file_name(list_id: str, area_id: str | None, as_of: dt.date) -> str:
    return f"socle-{list_id.replace('_', '-')}-{area_id or 'all'}-{as_of.isoformat()}.csv"


# Picking the area of the lists: a row of the table, an area of the map, or "Lists for" ----

LIST_AREA_KEY = "list_area"  # in the URL: the area the lists are drilled to
MAP_INDICATOR_KEY = "map"  # in the URL: the indicator the map colours (not the Coverage
# map's `indicator`: its choices are other indicators)
FOCUS = "__focus__"  # "Lists for" the page's own area
_ROWS_KEY = "_list_pages_table_areas"  # area ids of the table's rows, in order
_MAP_KEY = "_list_pages_map_key"  # widget key of the map drawn last


def _pick_row(table_key: str) -> None:
    area_id = rv.picked_area(st.session_state.get(table_key),
                             st.session_state.get(_ROWS_KEY) or [])
    if area_id is not None:
        st.session_state[LIST_AREA_KEY] = area_id


def _pick_on_map() -> None:
    state = st.session_state.get(st.session_state.get(_MAP_KEY)) or {}
    properties = coverage.clicked_properties(state.get("selection", state)) or {}
    if properties.get("area_id") in (st.session_state.get(_ROWS_KEY) or []):
        st.session_state[LIST_AREA_KEY] = str(properties["area_id"])


def area_map(view: widgets.View, areas: pd.DataFrame, figures: pd.DataFrame, *, level: int,
             indicator_ids: Sequence[str], default: str, key: str) -> None:
    """The map of one of ``indicator_ids`` (chosen here, kept in the URL) over the areas of
    ``level`` the page compares, when boundaries are configured; a click picks the lists' area.
    """
    try:
        boundary_set = queries.boundaries(view.settings, view.context)
    except BoundaryError as exc:
        st.warning(t("The boundary file cannot be used: {problem}. Check the `[geography]` "
                     "section of config.toml.", problem=exc))
        return
    if boundary_set is None:
        return
    widgets.linked_choice(MAP_INDICATOR_KEY, list(indicator_ids), default)
    map_column, side_column = st.columns([3, 2])
    indicator_id = side_column.selectbox(t("Map"), list(indicator_ids), key=MAP_INDICATOR_KEY,
                                         format_func=lambda i: t(BY_ID[i].label))
    widgets.link({MAP_INDICATOR_KEY: indicator_id})
    indicator = BY_ID[indicator_id]
    built = coverage.build_coverage_map(
        boundary_set.frame, areas, figures, indicator=indicator, programme_id=None,
        area_id=view.area_id, level=level, method=style.default_method(indicator.unit),
        classes=view.settings["map.classes"], basemap_style=view.settings["map.basemap_style"])
    with map_column:
        # One widget key per focus, as on the Coverage map (selections are kept by index).
        chart_key = st.session_state[_MAP_KEY] = f"{key}-{level}-{view.area_id or 'all'}"
        st.pydeck_chart(built.deck, on_select=_pick_on_map, selection_mode="single-object",
                        key=chart_key, height=coverage.MAP_HEIGHT)
        widgets.map_credit(view.settings)
    side_column.markdown(built.legend_html, unsafe_allow_html=True)
    side_column.caption(t("Click an area to see its rows in the lists below."))


def area_table(table: pd.DataFrame, indicator_ids: Sequence[str], *, key: str,
               selected: str | None = None) -> None:
    """The figures by area (rv.figures_by_area); a click on a row picks the lists' area, and the
    row of the lists' area (``selected``) shows as picked, however it was picked."""
    area_ids = list(table["area_id"])
    st.session_state[_ROWS_KEY] = area_ids
    config: dict = {"area": st.column_config.TextColumn(t("Area"))}
    for indicator_id in indicator_ids:
        indicator = BY_ID[indicator_id]
        config[indicator_id] = st.column_config.NumberColumn(
            t(indicator.label), format=widgets.VALUE_FORMATS.get(indicator.unit, "%.2f"),
            help=t(indicator.definition))
        config[f"{indicator_id}:numerator"] = st.column_config.NumberColumn(
            t("{label}: count", label=t(indicator.label)), format="%d",
            help=t(indicator.numerator))
    # A widget per picked area: its selection starts as that area's row.
    table_key = f"{key}-{selected or 'none'}"
    default = ({"selection": {"rows": [area_ids.index(selected)]}}
               if selected in area_ids else None)
    st.dataframe(table, hide_index=True, key=table_key, on_select=lambda: _pick_row(table_key),
                 selection_mode="single-row", selection_default=default,
                 column_order=("area", *(c for i in indicator_ids
                                         for c in (i, f"{i}:numerator"))),
                 column_config=config)
    st.caption(t("Click a row to see its rows in the lists below; click a column header to "
                 "sort."))


def lists_area(view: widgets.View, table: pd.DataFrame) -> tuple[str | None, str]:
    """"Lists for": the page's area or one of the table's; (area_id, name) of the choice."""
    names = dict(zip(table["area_id"], table["area"], strict=True))
    options = [FOCUS, *(a for a in names if a != view.area_id)]
    widgets.linked_choice(LIST_AREA_KEY, options, FOCUS)
    choice = st.selectbox(t("Lists for"), options, key=LIST_AREA_KEY,
                          format_func=lambda a: view.area_name if a == FOCUS else names[a],
                          help=t("The lists hold the rows of this area and of the areas within "
                                 "it. A click on a row of the table or an area of the map "
                                 "picks it too."))
    widgets.link({LIST_AREA_KEY: None if choice == FOCUS else choice})
    return (view.area_id, view.area_name) if choice == FOCUS else (choice, names[choice])


def no_lists(context: UserContext) -> None:
    st.info(t("Lists of households and persons are not available to the {role} role: it "
              "sees aggregate figures only.", role=t(context.role)))


def by_area_and_lists(view: widgets.View, *, indicator_ids: Sequence[str], map_default: str,
                      key: str, lists_title: str,
                      draw_lists: Callable[[widgets.View, str | None, str], None]) -> None:
    """The part the Duplicates and Data-quality pages share: the figures by area (map and
    table) and, below, the page's lists drilled to the area picked in the table, on the map
    or in "Lists for" (``draw_lists(view, area_id, area_name)``)."""
    settings = view.settings
    areas = queries.areas(view.context, settings.database_url)
    max_level = max(len(settings.level_names), int(areas["level"].max()) if len(areas) else 1)
    level = coverage.map_level(view.level, view.area_id, max_level)
    figures = queries.figures(view.context, settings, as_of=view.as_of, level=level,
                         indicator_ids=tuple(indicator_ids))
    table = rv.figures_by_area(figures, coverage.shown_areas(areas, view.area_id, level),
                               indicator_ids)

    st.subheader(t("By {level}", level=t(settings.level_name(level)).lower()))
    area_map(view, areas, figures, level=level, indicator_ids=indicator_ids,
             default=map_default, key=f"{key}-map")
    if table.empty:
        st.info(t("There are no areas of the {level} level in {focus} to compare.",
                  level=t(settings.level_name(level)).lower(), focus=view.area_name))
    table_slot = st.container()  # drawn once the lists' area is known (its row shows picked)

    st.subheader(lists_title)
    area_id, area_name = None, view.area_name
    if view.context.sees_lists:
        area_id, area_name = lists_area(view, table)
    if not table.empty:
        with table_slot:
            area_table(table, indicator_ids, key=f"{key}_by_area", selected=area_id)
    if not view.context.sees_lists:
        no_lists(view.context)
        return
    try:
        draw_lists(view, area_id, area_name)
    except lists.ListPermissionError as exc:
        st.info(t("These lists are not available: {reason}", reason=t(exc)))
