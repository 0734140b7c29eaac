"""Presentation mode of the committee meeting page: one agenda item a screen, for the room.

The "Present" switch (``switch``) turns it on and off and keeps it in the URL with the
agenda item (``?present=1&item=2``); ``present`` draws the item: large type, no sidebar, none
of the working controls (start meeting, downloads, forms), and previous / next buttons. The
agenda and its rows come from views.presentation; the meeting page's data (``data``: its
MeetingPage) is read once by the page and passed here.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.i18n import t
from indicators.catalogue import BY_ID
from maps import coverage, style
from maps.boundaries import BoundaryError
from ui import queries, widgets
from views import presentation as agenda

OVERDUE_ROW = "background-color: #fde2e2"
PRESENT_KEY = "present_mode"
ITEM_KEY = "present_item"

# Large type for a projector; the sidebar, the header and its menu are hidden. (Streamlit's
# test ids: stable names of its elements.)
PRESENT_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], [data-testid="stHeader"],
[data-testid="stToolbar"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 1.5rem 3rem 2rem; }
[data-testid="stMain"] h1 { font-size: 3.2rem; }
[data-testid="stMain"] h2 { font-size: 2.6rem; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] td,
[data-testid="stMain"] th { font-size: 1.45rem; line-height: 1.45; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] div {
  font-size: 3.4rem !important; line-height: 1.25 !important; }
.socle-position { text-align: center; font-size: 1.45rem; }
[data-testid="stMetricLabel"] p { font-size: 1.35rem; }
[data-testid="stMetricDelta"] div { font-size: 1.3rem; }
[data-testid="stTable"] td, [data-testid="stTable"] th { padding: 0.5rem 1rem; }
</style>
"""


def _param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value if isinstance(value, str) else None


def switch() -> bool:
    """The "Present" switch (top right of the page); whether the meeting is presented.

    Its first value comes from the link (``?present=1``), so a shared link opens presenting.
    """
    state = st.session_state
    if PRESENT_KEY not in state:
        state[PRESENT_KEY] = _param(agenda.PRESENT_PARAM) == "1"
    if ITEM_KEY not in state:
        state[ITEM_KEY] = agenda.position(_param(agenda.ITEM_PARAM))
    _, right = st.columns([5, 1])
    on = right.toggle(t("Present"), key=PRESENT_KEY,
                      help=t("Project the meeting: one agenda item a screen, in large type, "
                             "without the sidebar; next and previous buttons step through it."))
    widgets.link({agenda.PRESENT_PARAM: "1" if on else None,
                  agenda.ITEM_PARAM: str(state[ITEM_KEY]) if on else None})
    return bool(on)


def _go(number: int) -> None:
    st.session_state[ITEM_KEY] = number


def _buttons(number: int) -> None:
    count = len(agenda.AGENDA)
    left, middle, right = st.columns([1, 2, 1], vertical_alignment="center")
    before, after = agenda.previous_item(number), agenda.next_item(number)
    left.button(t("Previous"), key="present_previous", icon=":material/arrow_back:",
                on_click=_go, args=(before or number,), disabled=before is None,
                width="stretch")
    middle.markdown(f"<p class='socle-position'>{t('{number} of {count}', number=number, count=count)}</p>",
                    unsafe_allow_html=True)
    right.button(t("Next"), key="present_next", icon=":material/arrow_forward:",
                 on_click=_go, args=(after or number,), disabled=after is None,
                 type="primary", width="stretch")


def _table(frame: pd.DataFrame) -> None:
    """A table in the presentation's large type (st.table is HTML: the CSS reaches it)."""
    st.table(frame.rename(columns=lambda c: t(str(c))).set_index(frame.columns[0]))


def _figures(view: widgets.View, data) -> None:
    previous = data.state.previous
    if previous is None:
        st.markdown(t("This is the first meeting of {area}: no change to show yet.",
                      area=view.area_name))
    description = (t("since {as_of}", as_of=previous.as_of.isoformat())
                   if previous is not None else None)
    widgets.metric_grid(data.cards, change_since=description)


def _left_behind_map(view: widgets.View, data) -> str:
    """The district's lowest level coloured by coverage of the poor; the legend's HTML."""
    settings = view.settings
    try:
        boundary_set = queries.boundaries(settings, view.context)
    except BoundaryError:  # the Coverage map page says what is wrong with the file
        boundary_set = None
    if boundary_set is None:
        return ""
    indicator = BY_ID["cov.poor_households"]
    built = coverage.build_coverage_map(
        boundary_set.frame, data.areas, data.child_figures, indicator=indicator,
        programme_id=None, area_id=view.area_id, level=data.child_level,
        method=style.default_method(indicator.unit), classes=settings["map.classes"],
        basemap_style=settings["map.basemap_style"])
    st.pydeck_chart(built.deck, key=f"present-map-{view.area_id}", height=coverage.MAP_HEIGHT)
    widgets.map_credit(settings)
    return built.legend_html


def _gap(view: widgets.View, data, item: agenda.AgendaItem) -> None:
    gap = agenda.gap_of(item, data.gaps)
    if gap is None:
        return
    if gap.summary:
        st.markdown(f"**{gap.summary}**")
    rows = agenda.gap_rows(gap, gap.name_label)
    legend = ""
    if item.key == "left_behind":
        map_column, target = st.columns([3, 2])
        with map_column:
            legend = _left_behind_map(view, data)
    else:
        target = st.container()
    with target:
        if rows.empty:
            st.markdown(t(gap.empty_note))
        else:
            _table(rows)
        if legend:
            st.markdown(legend, unsafe_allow_html=True)
        st.caption(t("{label}: {definition}.", label=t(gap.indicator.label),
                     definition=t(gap.indicator.definition)))


def _actions(view: widgets.View, data) -> None:
    rows = agenda.action_rows(data.open_points, view.as_of, data.meeting_dates)
    if rows.empty:
        st.markdown(t("No open action point for {area}.", area=view.area_name))
        return
    overdue = int(rows["Overdue"].sum())
    if overdue:
        st.markdown(f"**:red[{t('Overdue action points: {count}.', count=overdue)}]**")
    shown = pd.DataFrame({
        t("Action"): rows["Action"], t("Owner"): rows["Owner"],
        t("Due"): [d.isoformat() for d in rows["Due"]], t("Status"): rows["Status"]})
    flagged = list(rows["Overdue"])
    st.table(shown.style.hide(axis="index").apply(
        lambda row: [OVERDUE_ROW if flagged[row.name] else ""] * len(row), axis=1))


def present(view: widgets.View, data) -> None:
    """Draw the agenda item of the URL (``data``: the meeting page's MeetingPage)."""
    st.markdown(PRESENT_CSS, unsafe_allow_html=True)
    number = agenda.position(str(st.session_state.get(ITEM_KEY, 1)))
    item = agenda.item_at(number)
    st.title(t(item.title, level=t(agenda.plural(data.child_level_name))))
    st.caption(t("{area} · committee meeting · figures as of {as_of}", area=view.area_name,
                 as_of=view.as_of.isoformat()))
    if item.key == "figures":
        _figures(view, data)
    elif item.key == "actions":
        _actions(view, data)
    else:
        _gap(view, data, item)
    _buttons(number)
