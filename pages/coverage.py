"""Coverage map: any indicator of the catalogue on a map of the chosen level, with a table.

Clicking an area drills down (a district shows its tehsils); the breadcrumb goes back up.
The click changes the sidebar's area, which is mirrored in the URL with the page's own
choices (indicator, programme, classes, access points), so a link reopens the same view.
"""

from __future__ import annotations

import streamlit as st

from core.i18n import format_date, t
from indicators.catalogue import BY_ID, Indicator
from maps import coverage, style
from maps.boundaries import BoundaryError
from ui import queries, widgets

INDICATOR_KEY = "indicator"
PROGRAMME_KEY = "programme"
METHOD_KEY = "classes"
POINTS_KEY = "points"
MAP_KEY = "coverage_map"


def _on_map_click() -> None:
    state = st.session_state.get(st.session_state.get(MAP_KEY)) or {}
    properties = coverage.clicked_properties(state.get("selection", state))
    target = coverage.drill_target(properties or {}, max_level=_max_level())
    if target is not None:
        widgets.choose_area(*target)


def _max_level() -> int:
    return int(st.session_state.get("_coverage_max_level", 4))


def _pick_indicator(programmes: dict[str, str]) -> tuple[Indicator, str | None]:
    options = [i.id for i in coverage.MAP_INDICATORS]
    widgets.linked_choice(INDICATOR_KEY, options, coverage.DEFAULT_INDICATOR)
    left, middle, right, far = st.columns([3, 2, 2, 1.4], vertical_alignment="bottom")
    indicator_id = left.selectbox(
        t("Indicator"), options, key=INDICATOR_KEY,
        format_func=lambda i: f"{t(coverage.FAMILY_LABELS[BY_ID[i].family])} — {t(BY_ID[i].label)}",
    )
    indicator = BY_ID[indicator_id]
    programme_id = None
    if indicator.per_programme and programmes:
        widgets.linked_choice(PROGRAMME_KEY, list(programmes), next(iter(programmes)))
        programme_id = middle.selectbox(t("Programme"), list(programmes), key=PROGRAMME_KEY,
                                        format_func=lambda p: programmes.get(p, p))
    methods = [m for m, _ in style.METHODS]
    widgets.linked_choice(METHOD_KEY, methods, style.default_method(indicator.unit))
    right.selectbox(t("Classes"), methods, key=METHOD_KEY,
                    format_func=lambda m: t(dict(style.METHODS)[m]),
                    help=t("How areas are grouped into colours: fixed bands (rates), "
                           "quantiles (equal numbers of areas) or natural breaks."))
    widgets.linked_choice(POINTS_KEY, ["on", "off"], "on")
    far.segmented_control(t("Access points"), ["on", "off"], key=POINTS_KEY,
                          format_func=lambda v: t("Show") if v == "on" else t("Hide"))
    return indicator, programme_id


def _breadcrumb(view: widgets.View, areas) -> None:
    chain = coverage.breadcrumb(areas, view.area_id)
    columns = st.columns(max(len(chain), 1) + 3)
    for column, (level, area_id, name) in zip(columns, chain, strict=False):
        if area_id is None:
            top_level = queries.default_level(queries.level_choices(areas, len(view.settings.level_names)))
            column.button(t("All areas"), key="crumb_all", on_click=widgets.choose_area,
                          args=(top_level, None), disabled=view.area_id is None,
                          icon=":material/public:", use_container_width=True)
        else:
            column.button(name, key=f"crumb_{area_id}", on_click=widgets.choose_area,
                          args=(level, area_id), disabled=area_id == view.area_id,
                          icon=":material/chevron_right:", use_container_width=True)


def _join_problems(built: coverage.CoverageMap, level_name: str) -> None:
    join = built.join
    if join.complete:
        return
    st.warning(t("{missing} areas of the registry at the {level} level have no polygon in the "
                 "boundary file, and {orphans} polygons match no area of the registry. They are "
                 "listed below.", missing=len(join.missing_polygons),
                 orphans=len(join.orphan_polygons), level=level_name))
    with st.expander(t("Areas and polygons that do not join")):
        left, right = st.columns(2)
        left.caption(t("Registry areas without a polygon"))
        left.dataframe(join.missing_polygons, hide_index=True)
        right.caption(t("Polygons without a registry area"))
        right.dataframe(join.orphan_polygons, hide_index=True)


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    settings = view.settings
    st.title(t("Coverage map"))
    url = settings.database_url
    areas = queries.areas(view.context, url)
    max_level = max(len(settings.level_names), int(areas["level"].max()) if len(areas) else 1)
    st.session_state["_coverage_max_level"] = max_level
    indicator, programme_id = _pick_indicator(queries.programmes(url))
    level = coverage.map_level(view.level, view.area_id, max_level)
    show_points = st.session_state.get(POINTS_KEY) != "off"
    widgets.link({INDICATOR_KEY: indicator.id, PROGRAMME_KEY: programme_id,
                     METHOD_KEY: st.session_state[METHOD_KEY],
                     POINTS_KEY: "off" if not show_points else None})

    st.caption(t("{indicator} by {level} in {focus} · as of {as_of}",
                 indicator=t(indicator.label), level=t(settings.level_name(level)).lower(),
                 focus=view.area_name, as_of=format_date(view.as_of)))
    _breadcrumb(view, areas)

    try:
        boundary_set = queries.boundaries(settings, view.context)
    except BoundaryError as exc:
        st.error(t("The boundary file cannot be used: {problem}. Check the `[geography]` "
                   "section of config.toml.", problem=exc))
        return
    ids = (indicator.id, "ref.made", "ref.overdue")
    figures = queries.figures(view.context, settings, as_of=view.as_of, level=level,
                         period_start=view.period_start, indicator_ids=ids)
    focus_figures = queries.figures(view.context, settings, as_of=view.as_of, level=view.level,
                               period_start=view.period_start, indicator_ids=ids)
    if boundary_set is None:
        st.info(t("No boundary file is configured, so there is no map: set `boundary_file` in "
                  "the `[geography]` section of config.toml. The table shows the figures."))
        built = None
    else:
        points = None
        if show_points:
            points = coverage.access_points_in_focus(
                queries.access_points(view.context, url),
                coverage.access_point_referrals(focus_figures, view.area_id), areas, view.area_id)
        built = coverage.build_coverage_map(
            boundary_set.frame, areas, figures, indicator=indicator, programme_id=programme_id,
            area_id=view.area_id, level=level, method=st.session_state[METHOD_KEY],
            classes=settings["map.classes"], access_points=points,
            basemap_style=settings["map.basemap_style"],
        )

    shown_table = built.table if built is not None else coverage.figures_table(
        areas, figures, indicator=indicator, programme_id=programme_id,
        area_id=view.area_id, level=level)
    if shown_table.empty:
        st.info(t("There are no areas of the {level} level in {focus} to show.",
                  level=t(settings.level_name(level)).lower(), focus=view.area_name))
        return

    map_column, side_column = st.columns([3, 2])
    if built is not None:
        with map_column:
            # One widget key per focus: a selection made on another focus is never read
            # against this map's features (Streamlit keeps selections by index).
            key = st.session_state[MAP_KEY] = f"map-{level}-{view.area_id or 'all'}"
            st.pydeck_chart(built.deck, on_select=_on_map_click, selection_mode="single-object",
                            key=key, height=coverage.MAP_HEIGHT)
            st.caption(t("Click an area to see the areas within it."))
            widgets.map_credit(settings)
            if built.dropped_access_points:
                st.caption(t("{count} access points have no coordinates and are not drawn.",
                             count=built.dropped_access_points))
    with side_column if built is not None else map_column:
        if built is not None:
            st.markdown(built.legend_html, unsafe_allow_html=True)
            if built.points_legend_html:
                st.markdown(built.points_legend_html, unsafe_allow_html=True)
        st.dataframe(shown_table, hide_index=True, column_order=coverage.SHOWN_COLUMNS,
                     column_config=widgets.value_columns(indicator))
        own = coverage.focus_row(focus_figures, indicator.id, programme_id, view.area_id)
        if own is not None:
            st.caption(t("{focus}: {value} ({numerator} of {denominator})",
                         focus=view.area_name, value=indicator.format_value(own["value"]),
                         numerator=coverage.whole(own["numerator"]),
                         denominator=coverage.whole(own["denominator"])))
    if built is not None:
        _join_problems(built, t(settings.level_name(level)).lower())
        for note in boundary_set.problems:
            st.caption(note)
    with st.expander(t("Definition")):
        st.markdown(f"**{t(indicator.label)}**: {t(indicator.definition)}")
        if indicator.note:
            st.caption(t(indicator.note))


if __name__ == "__main__":
    widgets.guarded(main)
