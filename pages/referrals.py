"""Referrals: the pipeline of the referrals made in the period (made → accepted → completed or
rejected), by programme and by access point; a monthly trend; the median days to complete; and
the overdue referrals as a list officers can sort and download.

Choices in the URL with the sidebar's: ``programme`` (absent: all programmes) and ``period``
(the period's first day, when it is not the sidebar's). The figures are the engine's
(``ref.*``); the stages and the trend come from indicators/referral_views.py.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.i18n import format_date, t
from indicators.catalogue import BY_ID
from indicators.lists import ListPermissionError
from ui import list_queries, list_views, queries, widgets
from views import figure_cards
from views import referrals as rv

PROGRAMME_KEY = "programme"
PERIOD_KEY = "period"
PERIOD_DEFAULT_KEY = "_referrals_period_default"
ALL = "__all__"
IDS = ("ref.made", "ref.completed", "ref.rejected", "ref.overdue", "ref.days_to_complete")
OVERDUE_LIST = "overdue_referrals"
OVERDUE_SHOWN = ("days_open", "household_id", "person_name", "person_id", "programme_name",
                 "access_point_name", "area_name", "referred_on", "status")


def _choices(view: widgets.View, programmes: dict[str, str]) -> tuple[str | None, dt.date]:
    options = [ALL, *programmes]
    widgets.linked_choice(PROGRAMME_KEY, options, ALL)
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    choice = left.selectbox(
        t("Programme"), options, key=PROGRAMME_KEY,
        format_func=lambda p: t("All programmes") if p == ALL else programmes.get(p, p),
        help=t("The programme referred to; the table by programme always shows every one."))
    state = st.session_state
    linked = widgets.parse_date(st.query_params.get(PERIOD_KEY), widgets.MIN_DATE,
                                   view.as_of)
    state[PERIOD_KEY] = rv.period_start_choice(state.get(PERIOD_KEY), linked, view.period_start,
                                               state.get(PERIOD_DEFAULT_KEY), view.as_of)
    state[PERIOD_DEFAULT_KEY] = view.period_start
    start = right.date_input(
        t("Period from"), key=PERIOD_KEY, min_value=widgets.MIN_DATE, max_value=view.as_of,
        format="YYYY-MM-DD",
        help=t("Referrals made from this day to the as-of date (the sidebar's). By default the "
               "{months} months ending on it.", months=view.settings.period_months),
    ) or view.period_start
    programme_id = None if choice == ALL else choice
    widgets.link({PROGRAMME_KEY: programme_id,
                     PERIOD_KEY: None if start == view.period_start else start.isoformat()})
    return programme_id, start


def _pipeline(counts) -> None:
    stages = rv.pipeline(counts, translate=t)
    left, right = st.columns([3, 2])
    left.vega_lite_chart(*rv.pipeline_chart(stages, count_title=t("Referrals")), width="stretch")
    right.dataframe(stages, hide_index=True, column_order=("label", "referrals", "share"),
                    column_config={
                        "label": st.column_config.TextColumn(t("Stage at the end of the period")),
                        "referrals": st.column_config.NumberColumn(t("Referrals"), format="%d"),
                        "share": st.column_config.NumberColumn(t("Share of those made"),
                                                               format="%.1f %%")})
    st.caption(t("Every referral made in the period is in one stage, as recorded at the "
                 "period's end: completed and rejected are closed by then; a referral closed "
                 "after the end was still open at it. The registry keeps only a referral's "
                 "current status, so an open referral shows the status it has now."))


def _count_columns(first: dict) -> dict:
    number = st.column_config.NumberColumn
    return {
        **first,
        "made": number(t("Made"), format="%d", help=t(BY_ID["ref.made"].definition)),
        "pending": number(t("Pending"), format="%d"),
        "accepted": number(t("Accepted"), format="%d",
                           help=t(rv.STAGE_LABELS["accepted"])),
        "completed": number(t("Completed"), format="%d"),
        "rejected": number(t("Rejected"), format="%d"),
        "closed_later": number(t("Closed later"), format="%d",
                               help=t(rv.STAGE_LABELS["closed_later"])),
        "completed_pct": number(t("Completed (%)"), format="%.1f %%",
                                help=t(BY_ID["ref.completed"].definition)),
        "rejected_pct": number(t("Rejected (%)"), format="%.1f %%",
                               help=t(BY_ID["ref.rejected"].definition)),
        "open": number(t("Open at end"), format="%d",
                       help=t(BY_ID["ref.overdue"].denominator)),
        "overdue": number(t("Overdue"), format="%d", help=t(BY_ID["ref.overdue"].numerator)),
        "overdue_pct": number(t("Overdue (%)"), format="%.1f %%",
                              help=t(BY_ID["ref.overdue"].definition)),
        "median_days": number(t("Median days to complete"), format="%.1f",
                              help=t(BY_ID["ref.days_to_complete"].definition)),
    }


def _trend(view: widgets.View, programme_id: str | None) -> None:
    trend = list_queries.referral_trend(view.context, view.settings, as_of=view.as_of,
                                    area_id=view.area_id, programme_id=programme_id)
    if not trend[["made", "open"]].to_numpy().any():
        st.info(t("No referral was made or open in {area} in the twelve months to {as_of}.",
                  area=view.area_name, as_of=format_date(view.as_of)))
        return
    titles = {"y_title": t("Referrals"), "month_title": t("Month")}
    left, right = st.columns(2)
    left.caption(t("Referrals made in each month, and those of them completed by its end"))
    left.vega_lite_chart(*rv.trend_chart(trend, {"made": t("Made"), "completed": t("Completed")},
                                         **titles), width="stretch")
    right.caption(t("Referrals overdue at each month's end"))
    right.vega_lite_chart(*rv.trend_chart(trend, {"overdue": t("Overdue at month end")},
                                          **titles), width="stretch")
    st.dataframe(trend, hide_index=True, column_order=(
        "month_start", "month_end", "made", "completed", "completed_pct", "rejected", "open",
        "overdue", "overdue_pct"), column_config=_count_columns({
            "month_start": st.column_config.DateColumn(t("Month"), format="MMM YYYY"),
            "month_end": st.column_config.DateColumn(t("Until"), format="YYYY-MM-DD")}))
    if bool(trend["partial"].iloc[-1]):
        st.caption(t("The last month runs to the as-of date only ({as_of}).",
                     as_of=format_date(view.as_of)))


def _overdue_list(view: widgets.View, programme_id: str | None, start: dt.date) -> None:
    filters = (((("programme_id",), (programme_id,)),) if programme_id else ())
    try:
        scan = list_queries.list_scan(view.context, view.settings, OVERDUE_LIST,
                                  area_id=view.area_id, as_of=view.as_of, period_start=start,
                                  filters=filters)
        download = list_queries.csv_download(view.context, view.settings, OVERDUE_LIST,
                                         area_id=view.area_id, as_of=view.as_of,
                                         period_start=start, filters=filters)
    except ListPermissionError:
        st.info(t("Lists of households and persons are not available to the {role} role: it "
                  "sees aggregate figures only.", role=t(view.context.role)))
        return
    st.caption(t("Referrals open on {as_of} that were made {days} days or more before it, "
                 "longest open first.", as_of=format_date(view.as_of),
                 days=view.settings.referral_sla_days))
    list_views.show_list(
        scan, list_queries.list_columns(OVERDUE_LIST, view.context), key="overdue_list",
        empty_text=t("No referral is overdue in {area} on {as_of}.", area=view.area_name,
                     as_of=format_date(view.as_of)),
        download=download, file_name=list_views.file_name(OVERDUE_LIST, view.area_id, view.as_of),
        shown_columns=OVERDUE_SHOWN, translated=("status",))


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    settings = view.settings
    st.title(t("Referrals"))
    programmes = queries.programmes(settings.database_url)
    programme_id, start = _choices(view, programmes)
    programme_name = programmes.get(programme_id, programme_id) if programme_id else None
    where = {"area": view.area_name, "level": view.level_name, "programme": programme_name,
             "start": format_date(start), "end": format_date(view.as_of)}
    st.caption(t("{area} · {level} · referrals made from {start} to {end}", **where)
               if programme_name is None else
               t("{area} · {level} · referrals to {programme} made from {start} to {end}",
                 **where))

    figures = queries.figures(view.context, settings, as_of=view.as_of, level=view.level,
                         period_start=start, indicator_ids=IDS)
    cards = figure_cards.figure_cards(figures, IDS, view.area_id, programme_id)
    counts = list_queries.referral_counts(view.context, settings, as_of=view.as_of,
                                      period_start=start, area_id=view.area_id)
    chosen = rv.within(counts, None, programme_id)
    nothing = not cards[0].numerator and not cards[3].denominator
    if nothing:
        st.info(t("No referral was made in {area} from {start} to {end}, and none was open at "
                  "its end, so the referral figures are empty. Pick another area or period.",
                  **where) if programme_name is None else
                t("No referral to {programme} was made in {area} from {start} to {end}, and "
                  "none was open at its end, so its referral figures are empty. Pick another "
                  "area, programme or period.", **where))
    widgets.metric_grid(cards, per_row=5, explain_empty=not nothing)

    if not nothing:
        st.subheader(t("Pipeline"))
        _pipeline(chosen)
    tabs = st.tabs([t("By programme"), t("By access point"), t("Monthly trend"),
                    t("Overdue referrals")])
    with tabs[0]:
        table = rv.by_programme(counts, programmes,
                                 rv.programme_medians(figures, view.area_id))
        st.dataframe(table, hide_index=True, column_order=(
            "programme", "made", "pending", "accepted", "completed", "rejected", "closed_later",
            "completed_pct", "open", "overdue", "overdue_pct", "median_days"),
            column_config=_count_columns({"programme": st.column_config.TextColumn(
                t("Programme"))}))
        st.caption(t("Every programme, whichever is chosen above. Click a column header to "
                     "sort."))
    with tabs[1]:
        points = rv.by_access_point(chosen, queries.access_points(view.context,
                                                             settings.database_url),
                                    translate=t)
        if points.empty:
            st.info(t("No referral was made in {area} in the period, and none was open at "
                      "its end: no access point to show.", **where))
        else:
            st.dataframe(points, hide_index=True, column_order=(
                "access_point", "kind", "made", "pending", "accepted", "completed", "rejected",
                "closed_later", "completed_pct", "open", "overdue", "overdue_pct"),
                column_config=_count_columns({
                    "access_point": st.column_config.TextColumn(t("Access point")),
                    "kind": st.column_config.TextColumn(t("Kind"))}))
    with tabs[2]:
        _trend(view, programme_id)
    with tabs[3]:
        _overdue_list(view, programme_id, start)

    with st.expander(t("Definitions")):
        widgets.definitions(cards)
        st.markdown("\n".join(f"- **{t(rv.STAGE_LABELS[s])}**: {t(rv.STAGE_DEFINITIONS[s])}"
                               for s in rv.STAGES))
        st.caption(t("Referrals made from {start} to {end}; an open referral is overdue after "
                     "{days} days. Referrals whose rows break the registry contract are left "
                     "out (the Data quality page lists them).", start=format_date(start),
                     end=format_date(view.as_of), days=settings.referral_sla_days))


if __name__ == "__main__":
    widgets.guarded(main)
