"""Data quality: the ``dq.*`` figures by area, and the offending rows with the rule each breaks,
so an officer can send them back to the MIS.

The areas compared are those the Coverage map would show; a row of the table, an area of the
map or "Lists for" drills the list to an area (``list_area`` in the URL). The list can be
kept to some rules (``rules`` in the URL: ``table.rule_id``, comma-separated; none means
every rule) and downloaded as CSV. Rows whose area is unknown are in the list of the whole
registry only, as they are in ``dq.invalid_rows``.
"""

from __future__ import annotations

import streamlit as st

from core.i18n import format_date, format_number, t
from indicators.lists import get_list
from ui import list_queries, list_views, queries, widgets
from views import figure_cards
from views import referrals as rv

IDS = ("dq.adults_without_id", "dq.malformed_id", "dq.unassessed_households")
LEFT_OUT = "dq.invalid_rows"
LIST_ID = "data_quality_rows"
RULES_KEY = "rules"
SHOWN = ("table", "row_id", "area_name", "rule", "field", "value", "area_id")


def _left_out(figures) -> None:
    table = rv.left_out_by_table(figures)
    if table.empty or not table["left_out"].any():
        return
    with st.expander(t("Rows left out of the indicators, by table (whole registry)")):
        st.dataframe(table.assign(table=[t(name) for name in table["table"]]), hide_index=True,
                     column_config={
                         "table": st.column_config.TextColumn(t("Table")),
                         "left_out": st.column_config.NumberColumn(t("Left out"), format="%d"),
                         "rows": st.column_config.NumberColumn(t("Rows"), format="%d"),
                         "share": st.column_config.NumberColumn(t("Share"), format="%.1f %%")})


def _rules(counts: dict[str, int]) -> list[str]:
    state = st.session_state
    if not isinstance(state.get(RULES_KEY), list):
        state[RULES_KEY] = rv.parse_rule_keys(st.query_params.get(RULES_KEY))
    state[RULES_KEY] = [key for key in state[RULES_KEY] if key in rv.RULES]
    chosen = st.multiselect(
        t("Rules"), list(rv.RULES), key=RULES_KEY, placeholder=t("Every rule"),
        format_func=lambda k: t("{table}: {rule} ({rows})", table=t(rv.RULES[k].table),
                                rule=t(rv.RULES[k].text), rows=format_number(counts.get(k, 0))),
        help=t("Keep the rows that break these rules; none chosen keeps every row."))
    widgets.link({RULES_KEY: ",".join(chosen) or None})
    return chosen


def _rows(view: widgets.View, area_id: str | None, area_name: str) -> None:
    options = {"area_id": area_id, "as_of": view.as_of, "period_start": view.period_start}
    every = list_queries.list_scan(view.context, view.settings, LIST_ID,
                               group_by=(rv.RULE_COLUMNS,), **options)
    counts = every.counts.get(rv.RULE_COLUMNS, {})
    chosen = _rules(counts)
    filters = ((rv.RULE_COLUMNS, tuple(chosen)),) if chosen else ()
    scan = (list_queries.list_scan(view.context, view.settings, LIST_ID, filters=filters, **options)
            if chosen else every)
    by_rule = rv.rule_table(counts, translate=t)
    by_rule = by_rule[by_rule["rows"] > 0]
    if not by_rule.empty:
        st.dataframe(by_rule, hide_index=True, column_order=("table", "rule", "indicator", "rows"),
                     column_config={
                         "table": st.column_config.TextColumn(t("Table")),
                         "rule": st.column_config.TextColumn(t("What is wrong")),
                         "indicator": st.column_config.TextColumn(t("Counted in")),
                         "rows": st.column_config.NumberColumn(t("Rows"), format="%d")})
    st.caption(t("{area} on {as_of}: {what}", area=area_name, as_of=format_date(view.as_of),
                 what=t(get_list(LIST_ID).description)))
    list_views.show_list(
        scan, list_queries.list_columns(LIST_ID, view.context), key="list_data_quality_rows",
        empty_text=t("No row breaks the chosen rules in {area} on {as_of}.", area=area_name,
                     as_of=format_date(view.as_of)) if chosen else
        t("No row breaks a data-quality rule in {area} on {as_of}.", area=area_name,
          as_of=format_date(view.as_of)),
        download=list_queries.csv_download(view.context, view.settings, LIST_ID, filters=filters,
                                       **options),
        file_name=list_views.file_name(LIST_ID, area_id, view.as_of), shown_columns=SHOWN,
        translated=("rule", "table"))


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    settings = view.settings
    widgets.page_header("Data quality", view)

    focus = queries.figures(view.context, settings, as_of=view.as_of, level=view.level,
                       indicator_ids=(*IDS, LEFT_OUT))
    cards = figure_cards.figure_cards(focus, IDS, view.area_id)
    if view.context.whole_registry:
        cards.append(figure_cards.figure_card(focus, LEFT_OUT, view.area_id))
    nothing = not cards[2].denominator  # registered households
    if nothing:
        st.info(t("No households are registered in {area} on {as_of}, so its data-quality "
                  "figures are empty. Pick another area, or a later as-of date.",
                  area=view.area_name, as_of=format_date(view.as_of)))
    widgets.metric_grid(cards, per_row=4, explain_empty=not nothing)
    _left_out(focus)

    list_views.by_area_and_lists(
        view, indicator_ids=IDS, map_default="dq.adults_without_id", key="data_quality",
        lists_title=t("Rows to send back to the MIS"), draw_lists=_rows)

    with st.expander(t("Definitions")):
        widgets.definitions(cards)
        st.caption(t("Counted on {as_of} over registered rows (rows left out of the other "
                     "indicators included); a row whose area is unknown counts in the whole "
                     "registry only. A row left out is listed under the first rule of its table "
                     "it breaks.", as_of=format_date(view.as_of)))


if __name__ == "__main__":
    widgets.guarded(main)
