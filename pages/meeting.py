"""Committee meeting: the chosen district's figures, their change, its gaps and action points.

"Start meeting" records a meeting in the app store and freezes the district's figures, so
everyone discusses the same numbers and the next meeting shows the change. While a meeting
of the sidebar's as-of date exists, the page shows its frozen figures (see views.gaps
for which meeting is "in progress" and which one is compared with). Action points are added
and closed here; a one-page brief can be downloaded to print.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.i18n import format_date, format_number, t
from data_access import meetings
from exports import brief as briefs
from indicators.figures import meeting_figures
from ui import presentation, queries, widgets
from views import figure_cards, gaps

FLASH_KEY = "_meeting_flash"
CLEAR_FORM_KEY = "_meeting_clear_form"
TEXT_KEY = "action_text"
OWNER_KEY = "action_owner"
DUE_KEY = "action_due"
CLOSE_KEY = "action_to_close"
# The form's idempotency key: drawn with the form, kept until the add is confirmed, and put
# in the link with the form, so that a retry after a lost confirmation (even a server
# restarted meanwhile: the browser reconnects with the same link) finds the point already
# written instead of adding it twice (data_access.meetings.add_action_point). The link gets
# the key when the form is drawn, not when "Add" is clicked: a link changed in the run that
# writes the point may not reach the browser before the server dies.
ADD_KEY = "_meeting_add_key"
ADD_PARAM = "adding"
MAX_AREA_BUTTONS = 24
OVERDUE_ROW = "background-color: #fde2e2"


@dataclass(frozen=True)
class MeetingPage:
    """What the page draws for a district, read before anything is drawn."""

    state: gaps.MeetingState
    live: pd.DataFrame  # district-level long form now (what "Start meeting" freezes)
    headline: list[figure_cards.FigureCard]  # the figures shown
    cards: list[figure_cards.FigureCard]  # with the previous meeting's and the change
    gaps: list[gaps.Gap]
    open_points: list
    closed_points: list
    meeting_dates: dict
    child_level_name: str  # the level of the area lists (union councils)
    areas: pd.DataFrame  # the areas the user may see
    child_level: int
    child_figures: pd.DataFrame  # the lowest level's long form (the gaps' and the map's)


# Reading -------------------------------------------------------------------------------------

def _read(view: widgets.View, areas: pd.DataFrame) -> MeetingPage:
    settings, area_id = view.settings, view.area_id
    store = queries.app_store_engine(settings.app_store_url)
    scope = queries.scope(view.context, settings)
    whole = view.context.whole_registry
    held = meetings.meetings(store, area_id, scope=scope)
    state = gaps.meeting_state(held, view.as_of)

    live = queries.figures(view.context, settings, as_of=view.as_of, level=view.level,
                      period_start=view.period_start,
                      indicator_ids=gaps.meeting_indicator_ids(figure_cards.HEADLINE_IDS))
    shown = gaps.meeting_rows(
        meeting_figures(store, state.current, scope=scope) if state.current else live,
        area_id, whole)
    before = (gaps.meeting_rows(meeting_figures(store, state.previous, scope=scope),
                                area_id, whole)
              if state.previous else None)
    headline = figure_cards.headline_figures(shown, area_id)
    cards = gaps.headline_cards(
        headline, figure_cards.headline_figures(before, area_id) if before is not None else None,
        meetings.changes(shown, before, figure_cards.HEADLINE_IDS, area_id) if before is not None else None)

    lowest = gaps.lowest_level(areas, default=view.level)
    children = gaps.areas_within(areas, area_id, lowest)
    child_figures = queries.figures(view.context, settings, as_of=view.as_of, level=lowest,
                               period_start=view.period_start, indicator_ids=gaps.CHILD_GAP_IDS)
    child_label = settings.level_name(lowest)
    found = [
        gaps.lowest_coverage(child_figures, children, name_label=child_label),
        gaps.highest_exclusion(shown, area_id, queries.programmes(settings.database_url)),
        gaps.most_overdue_access_points(
            shown, area_id, queries.access_points(view.context, settings.database_url)),
        gaps.double_dipping(shown, child_figures, area_id, view.area_name, children,
                            name_label=child_label),
    ]
    return MeetingPage(
        state=state, live=live, headline=headline, cards=cards, gaps=found,
        open_points=meetings.action_points(store, area_id, scope=scope, status="open"),
        closed_points=meetings.action_points(store, area_id, scope=scope, status="closed"),
        meeting_dates=gaps.meeting_dates(held), child_level_name=child_label, areas=areas,
        child_level=lowest, child_figures=child_figures,
    )


# Drawing -------------------------------------------------------------------------------------

def _flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def _done(message: str, *, clear_form: bool = False) -> None:
    """After a change to the app store: say so on the next run, and rerun."""
    st.session_state[FLASH_KEY] = message
    if clear_form:
        st.session_state[CLEAR_FORM_KEY] = True
    st.rerun()


def _pick_district(view: widgets.View, areas: pd.DataFrame) -> None:
    level = queries.default_level(queries.level_choices(areas, len(view.settings.level_names)))
    level_name = t(view.settings.level_name(level)).lower()
    st.info(t("No {level} is chosen. A meeting is about one {level}: pick it under “Area” in "
              "the sidebar, or below.", level=level_name))
    choices = queries.area_choices(areas, level)
    shown = list(choices.items())[:MAX_AREA_BUTTONS]
    if not shown:
        return
    columns = st.columns(min(len(shown), 4))
    for index, (area_id, name) in enumerate(shown):
        columns[index % len(columns)].button(
            name, key=f"meeting_pick_{area_id}", on_click=widgets.choose_area,
            args=(level, area_id), icon=":material/groups:", width="stretch")
    if len(choices) > len(shown):
        st.caption(t("{count} more: pick them in the sidebar.", count=len(choices) - len(shown)))


def _status(view: widgets.View, data: MeetingPage, brief: briefs.Brief) -> None:
    state = data.state
    left, right = st.columns([3, 1], vertical_alignment="center")
    with left:
        if state.current is not None:
            st.success(t("Meeting in progress: {meeting}, started by {who}. Everyone sees the "
                         "figures frozen then.", meeting=gaps.meeting_label(state.current),
                         who=state.current.started_by))
        elif state.previous is not None:
            st.info(t("No meeting yet at this as-of date. The figures below are live; the "
                      "changes are since {meeting}.", meeting=gaps.meeting_label(state.previous)))
        else:
            st.info(t("No meeting yet for {area}. Start one to freeze these figures: the next "
                      "meeting will show the change since.", area=view.area_name))
        if state.current is not None and state.previous is not None:
            st.caption(t("Changes are since {meeting}.", meeting=gaps.meeting_label(state.previous)))
        elif state.current is not None:
            st.caption(t("This is the first meeting of {area}: no change to show yet.",
                         area=view.area_name))
        if state.later is not None:
            st.caption(t("A later meeting exists: {meeting}. Choose its as-of date in the "
                         "sidebar to see it.", meeting=gaps.meeting_label(state.later)))
    with right:
        if state.current is None:
            started = st.button(
                t("Start meeting"), key="start_meeting", type="primary",
                icon=":material/play_arrow:", width="stretch",
                help=t("Records a meeting of {area} as of {as_of} and freezes these figures.",
                       area=view.area_name, as_of=format_date(view.as_of)))
            if started:
                _start(view, data)
        details = {"what": "meeting_brief", "area_id": view.area_id,
                   "as_of": view.as_of.isoformat()}
        st.download_button(
            t("Download the brief"), key="meeting_brief", on_click="ignore",
            data=queries.audited_download(
                view.context, view.settings, briefs.brief_bytes(brief),
                f"downloaded the meeting brief of {view.area_name}",
                {"format": "html", **details}),
            file_name=briefs.file_name(view.area_id, view.as_of), mime=briefs.MIME,
            icon=":material/print:", width="stretch",
            help=t("One page (HTML, ready to print): figures, gaps and action points."))
        problem = briefs.pdf_problem()
        st.download_button(
            t("Download the brief (PDF)"), key="meeting_brief_pdf", on_click="ignore",
            # Made when clicked (about a second), not on every run of the page.
            data=queries.audited_download(
                view.context, view.settings, lambda: briefs.brief_pdf(brief),
                f"downloaded the meeting brief of {view.area_name} as PDF",
                {"format": "pdf", **details}),
            file_name=briefs.file_name(view.area_id, view.as_of, "pdf"), mime=briefs.PDF_MIME,
            icon=":material/picture_as_pdf:", width="stretch", disabled=problem is not None,
            help=t("The same page as PDF, one A4 page.") if problem is None else t(
                "PDF cannot be made on this server: {problem}. The administrator installs "
                "Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0).",
                problem=problem))


def _who(view: widgets.View) -> str:
    """Who starts a meeting or records an action point: the user (and role)."""
    context = view.context
    return f"{context.username} ({context.role})" if context.username else context.role


def _start(view: widgets.View, data: MeetingPage) -> None:
    settings = view.settings
    meetings.start_meeting(
        queries.app_store_engine(settings.app_store_url), scope=queries.scope(view.context, settings),
        area_id=view.area_id, area_name=view.area_name, as_of=view.as_of,
        started_by=_who(view),
        figures=gaps.snapshot_rows(data.live, view.area_id, view.context.whole_registry),
        level=view.level, period_start=view.period_start, period_end=view.as_of,
        parameters=gaps.meeting_parameters(settings))
    _done(t("Meeting started. Its figures are frozen: everyone discusses the same numbers."))


def _headline(view: widgets.View, data: MeetingPage) -> None:
    st.subheader(t("Headline figures"))
    previous = data.state.previous
    description = (t("since {as_of}", as_of=format_date(previous.as_of))
                   if previous is not None else None)
    widgets.metric_grid(data.cards, change_since=description)
    with st.expander(t("Definitions")):
        widgets.definitions(data.headline)
        st.caption(t("Stock figures are counted on {as_of}; referral figures over the period "
                     "from {start} to {as_of}. Households with a PMT score at or below {cutoff} "
                     "are poor; an open referral is overdue after {days} days. A change is the "
                     "figure now minus the previous meeting's (percentage points for rates).",
                     as_of=format_date(view.as_of), start=format_date(view.period_start),
                     cutoff=format_number(view.settings.poverty_cutoff, None),
                     days=view.settings.referral_sla_days))


def _gap(gap: gaps.Gap) -> None:
    ind = gap.indicator
    st.markdown(f"**{t(gap.title)}**")
    if gap.summary:
        st.caption(gap.summary)
    if gap.table.empty:
        st.caption(t(gap.empty_note))
    else:
        st.dataframe(gap.table, hide_index=True,
                     column_order=("Name", "Value", "Numerator", "Denominator"),
                     column_config={
                         "Name": st.column_config.TextColumn(t(gap.name_label), width="medium"),
                         "Value": st.column_config.NumberColumn(
                             t(ind.label), help=t(ind.definition), width="small",
                             format=widgets.VALUE_FORMATS.get(ind.unit, "%.2f")),
                         "Numerator": st.column_config.NumberColumn(
                             t("Numerator"), format="%d", help=t(ind.numerator), width="small"),
                         "Denominator": st.column_config.NumberColumn(
                             t("Denominator"), format="%d", help=t(ind.denominator),
                             width="small"),
                     })
        if gap.unranked:
            st.caption(t(gap.unranked_note, count=gap.unranked))
    st.caption(t("{label}: {definition}.", label=t(ind.label), definition=t(ind.definition)))


def _gaps(view: widgets.View, data: MeetingPage) -> None:
    st.subheader(t("Biggest gaps"))
    st.caption(t("Counted as of {as_of}; programmes, access points and the district's double "
                 "dipping come from the figures above, the {level} lists from the registry.",
                 as_of=format_date(view.as_of), level=t(data.child_level_name).lower()))
    for row in range(0, len(data.gaps), 2):
        columns = st.columns(2)
        for column, gap in zip(columns, data.gaps[row:row + 2], strict=False):
            with column:
                _gap(gap)


def _overdue_style(row: pd.Series) -> list[str]:
    return [OVERDUE_ROW if row["Overdue"] else "" for _ in row]


def _action_columns() -> dict:
    return {
        "Action": st.column_config.TextColumn(t("Action"), width="large"),
        "Owner": st.column_config.TextColumn(t("Owner")),
        "Due": st.column_config.DateColumn(t("Due"), format="YYYY-MM-DD"),
        "Status": st.column_config.TextColumn(t("Status")),
        "Raised": st.column_config.TextColumn(t("Raised at")),
        "Closed": st.column_config.TextColumn(t("Closed")),
    }


def _action_points(view: widgets.View, data: MeetingPage) -> None:
    st.subheader(t("Action points"))
    store = queries.app_store_engine(view.settings.app_store_url)
    current = data.state.current
    role = _who(view)

    overdue = gaps.overdue_points(data.open_points, view.as_of)
    if overdue:
        st.warning(t("Overdue action points: {count} (open and due before {as_of}).",
                     count=len(overdue), as_of=format_date(view.as_of)), icon=":material/alarm:")
    rows = gaps.action_rows(data.open_points, view.as_of, data.meeting_dates)
    if rows.empty:
        st.caption(t("No open action point for {area}.", area=view.area_name))
    else:
        st.dataframe(rows.style.apply(_overdue_style, axis=1), hide_index=True,
                     column_order=("Action", "Owner", "Due", "Status", "Raised"),
                     column_config=_action_columns())
        choices = gaps.close_choices(data.open_points, view.as_of)
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        chosen = left.selectbox(t("Action point to close"), list(choices), key=CLOSE_KEY,
                                format_func=lambda a: choices.get(a, str(a)))
        if right.button(t("Close it"), key="close_action", icon=":material/task_alt:",
                        width="stretch", disabled=chosen is None):
            try:
                meetings.close_action_point(
                    store, chosen, scope=queries.scope(view.context, view.settings),
                    meeting_id=current.meeting_id if current else None,
                    closed_by=role)
            except (KeyError, ValueError):
                st.warning(t("This action point was closed meanwhile; the list is refreshed."))
            else:
                _done(t("Action point closed."))

    _add_form(view, data)

    with st.expander(t("Closed action points ({count})", count=len(data.closed_points))):
        closed = gaps.action_rows(data.closed_points, view.as_of, data.meeting_dates)
        if closed.empty:
            st.caption(t("None closed yet."))
        else:
            st.dataframe(closed, hide_index=True,
                         column_order=("Action", "Owner", "Due", "Raised", "Closed"),
                         column_config=_action_columns())


def _add_key(*, fresh: bool = False) -> str:
    """This form's idempotency key: the session's, else the link's, else a new one."""
    state = st.session_state
    if fresh or not isinstance(state.get(ADD_KEY), str):
        linked = None if fresh else st.query_params.get(ADD_PARAM)
        state[ADD_KEY] = linked if isinstance(linked, str) and linked else uuid.uuid4().hex
    return state[ADD_KEY]


def _add_form(view: widgets.View, data: MeetingPage) -> None:
    due_key = f"{DUE_KEY}_{view.as_of.isoformat()}"  # the default follows the as-of date
    confirmed = st.session_state.pop(CLEAR_FORM_KEY, False)
    if confirmed:
        for key in (TEXT_KEY, OWNER_KEY, due_key, ADD_KEY):
            st.session_state.pop(key, None)
    key = _add_key(fresh=confirmed)  # after a confirmed add, not the link's spent key
    widgets.link({ADD_PARAM: key})
    current = data.state.current
    with st.form("action_point_form"):
        st.markdown("**" + t("New action point") + "**")
        text = st.text_area(t("What is to be done"), key=TEXT_KEY, height=80)
        left, right = st.columns(2)
        owner = left.text_input(t("Owner"), key=OWNER_KEY,
                                help=t("The person or office who will do it."))
        due = right.date_input(t("Due date"), value=gaps.default_due(view.as_of), key=due_key,
                               format="YYYY-MM-DD")
        st.caption(t("Raised at {meeting}.", meeting=gaps.meeting_label(current)) if current
                   else t("No meeting is in progress: the action point is recorded for {area} "
                          "without a meeting.", area=view.area_name))
        submitted = st.form_submit_button(t("Add the action point"), icon=":material/add_task:")
    if not submitted:
        return
    problems = gaps.action_point_problems(text, owner, due)
    if problems:
        st.warning(" ".join(t(p) for p in problems))
        return
    point = {"scope": queries.scope(view.context, view.settings), "area_id": view.area_id,
             "text": text, "owner": owner, "due_on": due,
             "meeting_id": current.meeting_id if current else None, "created_by": _who(view)}
    store = queries.app_store_engine(view.settings.app_store_url)
    try:
        meetings.add_action_point(store, idempotency_key=key, **point)
    except meetings.IdempotencyKeyReused:  # a link's key that stands for another point
        key = _add_key(fresh=True)
        widgets.link({ADD_PARAM: key})
        meetings.add_action_point(store, idempotency_key=key, **point)
    _done(t("Action point added."), clear_form=True)


def _brief(view: widgets.View, data: MeetingPage) -> briefs.Brief:
    state, current = data.state, data.state.current
    loaded = queries.last_loaded(view.settings.database_url)
    closed_here = gaps.closed_at(data.closed_points, current)
    return briefs.Brief(
        area_name=view.area_name, level_name=view.level_name, as_of=view.as_of,
        period_start=view.period_start,
        meeting=gaps.meeting_label(current) if current else None,
        previous=gaps.meeting_label(state.previous) if state.previous else None,
        registry_loaded=f"{format_date(loaded)} {loaded:%H:%M}" if loaded else t("unknown"),
        cards=data.cards, gaps=data.gaps,
        open_points=gaps.action_rows(data.open_points, view.as_of,
                                     data.meeting_dates).to_dict("records"),
        closed_points=gaps.action_rows(closed_here, view.as_of,
                                       data.meeting_dates).to_dict("records"),
    )


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:  # a start-up problem, already shown
        return
    areas = queries.areas(view.context, view.settings.database_url)
    if view.area_id is None:
        st.title(t("Committee meeting"))
        _pick_district(view, areas)
        return
    presenting = presentation.switch()
    data = _read(view, areas)
    if presenting:  # the agenda for the room: no sidebar, no working controls
        presentation.present(view, data)
        return
    st.title(t("Committee meeting"))
    widgets.view_caption(view)
    _flash()
    _status(view, data, _brief(view, data))
    _headline(view, data)
    _gaps(view, data)
    _action_points(view, data)


if __name__ == "__main__":
    widgets.guarded(main)
