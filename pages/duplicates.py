"""Duplicates: shared national ids, double enrolment and double dipping by area, with the lists
behind them (persons sharing an id, units enrolled twice in a programme, households receiving
two programmes of one exclusive group) drilled down to an area.

The areas compared are those the Coverage map would show (the chosen level, or the areas
within the chosen area). Picking an area in the table, on the map or in "Lists for" filters
the lists to it; that choice is in the URL (``list_area``) with the map's indicator (``map``)
(list_views.py draws these for this page and the Data-quality page). The
figures by programme (double enrolment) and by exclusive group (double dipping) are counted
from the lists, so they are shown only to roles that may see lists. The record-linkage work
adds suspected fuzzy duplicates and their review here.
"""

from __future__ import annotations

import streamlit as st

from core.i18n import N_, format_date, t
from indicators.catalogue import BY_ID
from indicators.lists import get_list
from ui import list_queries, list_views, queries, review_queue, widgets
from views import figure_cards
from views import referrals as rv

IDS = ("dup.shared_id", "dup.double_enrolment", "dup.double_dipping")
LISTS = {"dup.shared_id": "shared_national_ids", "dup.double_enrolment": "double_enrolments",
         "dup.double_dipping": "double_dipping"}
GROUPS = {"double_enrolments": ("programme_id",), "double_dipping": ("exclusive_group",)}
GROUP_LABELS = {"double_enrolments": N_("Double enrolment by programme"),
                "double_dipping": N_("Double dipping by exclusive group")}


def _group_table(scan: rv.ListScan, key: tuple[str, ...], label: str,
                 names: dict[str, str]) -> None:
    counts = scan.counts.get(key) or {}
    if not counts:
        return
    frame = rv.group_counts(counts, names)
    st.dataframe(frame, hide_index=True, column_order=("name", "rows"), column_config={
        "name": st.column_config.TextColumn(label),
        "rows": st.column_config.NumberColumn(t("Rows"), format="%d")})


def _lists(view: widgets.View, area_id: str | None, area_name: str) -> None:
    names = queries.programmes(view.settings.database_url)
    tabs = st.tabs([t(BY_ID[i].label) for i in IDS])
    for tab, indicator_id in zip(tabs, IDS, strict=True):
        list_id = LISTS[indicator_id]
        group = GROUPS.get(list_id)
        with tab:
            scan = list_queries.list_scan(view.context, view.settings, list_id, area_id=area_id,
                                      as_of=view.as_of, period_start=view.period_start,
                                      group_by=(group,) if group else ())
            download = list_queries.csv_download(view.context, view.settings, list_id,
                                             area_id=area_id, as_of=view.as_of,
                                             period_start=view.period_start)
            st.caption(t("{area} on {as_of}: {what}", area=area_name,
                         as_of=format_date(view.as_of), what=t(get_list(list_id).description)))
            if group is not None:
                _group_table(scan, group, t(GROUP_LABELS[list_id]), names)
            list_views.show_list(
                scan, list_queries.list_columns(list_id, view.context), key=f"list_{list_id}",
                empty_text=t("Nothing to list: no {what} in {area} on {as_of}.",
                             what=t(BY_ID[indicator_id].numerator), area=area_name,
                             as_of=format_date(view.as_of)),
                download=download, file_name=list_views.file_name(list_id, area_id, view.as_of),
                translated=("unit",))


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    settings = view.settings
    widgets.page_header("Duplicates", view)

    focus = queries.figures(view.context, settings, as_of=view.as_of, level=view.level,
                       indicator_ids=IDS)
    cards = figure_cards.figure_cards(focus, IDS, view.area_id)
    nothing = not any(card.denominator for card in cards)
    if nothing:
        st.info(t("Nobody with a national id is registered in {area} on {as_of}, and nothing is "
                  "enrolled there: there is nothing that could be duplicated. Pick another area, "
                  "or a later as-of date.", area=view.area_name, as_of=format_date(view.as_of)))
    widgets.metric_grid(cards, per_row=3, explain_empty=not nothing)

    list_views.by_area_and_lists(
        view, indicator_ids=IDS, map_default="dup.double_dipping", key="duplicates",
        lists_title=t("Lists"), draw_lists=_lists)

    review_queue.review_queue(view)

    with st.expander(t("Definitions")):
        widgets.definitions(cards)
        st.caption(t("Counted on {as_of} over registered persons and active enrolments; rows "
                     "left out of the indicators are not counted (the Data quality page lists "
                     "them). The counts by programme and by exclusive group are those of the "
                     "lists.", as_of=format_date(view.as_of)))


if __name__ == "__main__":
    widgets.guarded(main)
