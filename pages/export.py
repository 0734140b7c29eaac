"""Excel export: the workbook of ``python -m exports`` for the sidebar's level, area and as-of
date and the page's referral period, with list sheets for those who may see them.

The workbook is built on demand (a progress bar while it is written) by
``exports.page_export.build_export``, which calls the CLI's own function; the bytes stay in the
session, keyed by the choices, behind a download button. The period and the lists are kept
in the URL (``?period=2026-08-01&lists=overdue_referrals``) with the sidebar's choices.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core import i18n
from core.i18n import format_date, format_number, t
from exports import page_export
from exports.lists import MAX_DATA_ROWS
from indicators.catalogue import BY_ID
from indicators.lists import LIST_BY_ID
from ui import queries, sign_in, widgets

PERIOD_KEY = "export_period"
PERIOD_PARAM = "period"
PERIOD_DEFAULT_KEY = "_export_period_default"  # the default the period had on the last run
LISTS_KEY = "export_lists"
LISTS_PARAM = "lists"
BUILD_KEY = "export_build"
DOWNLOAD_KEY = "export_download"
BUILT_KEY = "_export_built"  # the session's last workbook (a BuiltExport)


def _period(view: widgets.View, column) -> dt.date:
    """The referral period's first day: from the link on the first run, else the default;
    it follows the default (the as-of date's) until the user changes it."""
    state = st.session_state
    default = view.period_start
    if view.context.sees_suppressed_figures:
        # Donors' figures are of the fixed calendar only (indicators.donor_calendar).
        column.caption(t("Referral period: {start} to {as_of}, the calendar period ending on "
                         "the as-of date (partners' figures are of calendar periods only).",
                         start=default.isoformat(), as_of=view.as_of.isoformat()))
        return default
    current = state.get(PERIOD_KEY)
    if PERIOD_KEY not in state:
        linked = widgets.parse_date(st.query_params.get(PERIOD_PARAM),
                                       widgets.MIN_DATE, view.as_of)
        state[PERIOD_KEY] = linked or default
    elif (not isinstance(current, dt.date) or not widgets.MIN_DATE <= current <= view.as_of
          or (current == state.get(PERIOD_DEFAULT_KEY) and current != default)):
        state[PERIOD_KEY] = default
    state[PERIOD_DEFAULT_KEY] = default
    chosen = column.date_input(
        t("Referral period from"), key=PERIOD_KEY, min_value=widgets.MIN_DATE,
        max_value=view.as_of, format="YYYY-MM-DD",
        help=t("First day of the period the referral figures and the overdue referrals cover; "
               "the period ends on the as-of date ({as_of}). By default, the {months} months "
               "ending on it.", as_of=format_date(view.as_of),
               months=view.settings.period_months),
    )
    return chosen or default


def _lists(view: widgets.View, column) -> list[str]:
    """The list sheets asked for; none, with the reason, for a role that may not see lists."""
    offered = page_export.offered_lists(view.context)
    if not offered:
        column.info(t("Your role ({role}) sees aggregate figures only, so the workbook holds "
                      "no lists of households or persons: it has the Summary, Indicators, "
                      "Definitions and Data quality sheets.", role=t(view.context.role)))
        return []
    if not view.context.exports_personal_data:
        column.caption(t("The list sheets leave out personal columns (names, national ids): "
                         "the {role} role does not take personal data out of Socle.",
                         role=t(view.context.role)))
    state = st.session_state
    if LISTS_KEY not in state or not set(state[LISTS_KEY]) <= set(offered):
        linked = page_export.parse_lists_param(st.query_params.get(LISTS_PARAM))
        state[LISTS_KEY] = linked if linked is not None else list(page_export.DEFAULT_LISTS)
    return column.multiselect(
        t("List sheets"), list(offered), key=LISTS_KEY,
        format_func=lambda i: t(LIST_BY_ID[i].title),
        placeholder=t("No lists: the indicator sheets only"),
        help=t("Row-level lists added after the indicator sheets: the rows behind an "
               "indicator's numerator, in the chosen area and the areas below it. A list "
               "longer than an Excel sheet ({rows} rows) continues on further sheets.",
               rows=format_number(MAX_DATA_ROWS)),
    )


def _contents(view: widgets.View, list_ids: list[str]) -> None:
    """What the workbook holds: every sheet and list, with its definition."""
    level = view.level_name.lower()
    sheets = (
        (t("Summary"), t("one row per {level} with the headline indicators, and the as-of "
                         "date, period and source.", level=level)),
        (t("Indicators"), t("every indicator of every {level} in long form (numerator, "
                            "denominator, value), breakdowns included.", level=level)),
        (t("Definitions"), t("the definition of every indicator.")),
        (t("Data quality"), t("the data-quality figures, rows left out of the indicators "
                              "included.")),
    )
    lines = [f"- **{sheet}**: {what}" for sheet, what in sheets]
    for list_id in list_ids:
        spec = LIST_BY_ID[list_id]
        indicator = BY_ID.get(spec.indicator_id)
        line = f"- **{t(spec.title)}**: {t(spec.description)}"
        if indicator is not None:
            line += " " + t("Its rows are the numerator of “{indicator}”.",
                            indicator=t(indicator.label))
        lines.append(line)
    st.markdown("\n".join(lines))
    st.caption(t("Households with a PMT score at or below {cutoff} are poor; an open referral "
                 "is overdue after {days} days.",
                 cutoff=format_number(view.settings.poverty_cutoff, None),
                 days=view.settings.referral_sla_days))


def _show_built(built: page_export.BuiltExport, view: widgets.View) -> None:
    st.success(t("The workbook is ready: {size}, built in {seconds} s.",
                 size=built.size_text, seconds=built.seconds_text))
    for counted in built.lists:
        if counted.rows == 0:
            st.info(t("“{title}” has no rows in {area} for these choices: nothing there "
                      "matches its definition on {as_of}.", title=t(counted.title),
                      area=view.area_name, as_of=format_date(view.as_of)))
        elif len(counted.sheets) > 1:
            st.caption(t("“{title}”: {rows} rows, on the sheets {sheets}.",
                         title=t(counted.title), rows=counted.rows_text,
                         sheets=", ".join(counted.sheets)))
        else:
            st.caption(t("“{title}”: {rows} rows.", title=t(counted.title),
                         rows=counted.rows_text))
    st.download_button(
        t("Download {file}", file=built.file_name),
        # Lists may hold personal data: for this browser only, while the account is valid.
        data=sign_in.personal_download(lambda: built.data), file_name=built.file_name,
        mime=page_export.XLSX_MIME, key=DOWNLOAD_KEY, on_click="ignore", type="primary",
        icon=":material/download:",
    )


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:  # a start-up problem, already shown
        return
    widgets.page_header("Excel export", view)

    left, right = st.columns([1, 3])
    period_start = _period(view, left)
    list_ids = _lists(view, right)
    widgets.link({
        PERIOD_PARAM: format_date(period_start),
        LISTS_PARAM: page_export.lists_param(list_ids) if view.context.sees_lists else None,
    })
    language = i18n.current_language()  # the session's: the workbook comes out in it
    choices = page_export.ExportChoices(
        level=view.level, as_of=view.as_of, period_start=period_start, area_id=view.area_id,
        lists=tuple(list_ids),
        language=None if language == i18n.known_language(view.settings["app.language"])
        else language)

    st.caption(t("Indicators for every {level}, as of {as_of}; referral figures over the "
                 "period from {start} to {as_of}.", level=view.level_name.lower(),
                 as_of=format_date(view.as_of), start=format_date(period_start))
               if view.context.whole_registry else
               t("Indicators for every {level} of your areas, as of {as_of}; referral figures "
                 "over the period from {start} to {as_of}.", level=view.level_name.lower(),
                 as_of=format_date(view.as_of), start=format_date(period_start)))
    if view.context.sees_suppressed_figures:
        st.caption(t("Figures that count very few people, and those that would give them "
                     "away, are empty cells in the workbook, as on the pages."))
    if list_ids:
        st.caption(t("Lists: the rows of {area} and the areas below it.", area=view.area_name)
                   if view.area_id is not None else
                   t("Lists: the rows of every area you may see."))
    with st.expander(t("What the workbook holds")):
        _contents(view, list_ids)
    with st.expander(t("The same workbook from the command line")):
        st.code(page_export.cli_command(choices), language="bash", wrap_lines=True)
        st.caption(t("The command runs as the configured default user; the page builds the "
                     "workbook as you may see it."))

    version = queries.last_loaded(view.settings.database_url)
    if st.button(t("Build workbook"), key=BUILD_KEY, icon=":material/build:"):
        bar = st.progress(0.0, text=t("Starting"))
        try:
            built = page_export.build_export(
                queries.registry_engine(view.settings.database_url), view.settings, choices,
                context=view.context, registry_version=version,
                audit_store=queries.app_store_engine(view.settings.app_store_url),
                suspected_pairs=queries.linkage_pairs(view.settings),
                progress=lambda fraction, message: bar.progress(fraction, text=t(message)))
        except page_export.ExportError as problem:
            bar.empty()
            st.error(t("The workbook could not be built: {problem}", problem=t(problem)))
            return
        bar.empty()
        st.session_state[BUILT_KEY] = built  # one workbook per session: the last one
    built = st.session_state.get(BUILT_KEY)
    if isinstance(built, page_export.BuiltExport) and built.matches(choices, view.context,
                                                                    version):
        _show_built(built, view)
    else:
        st.caption(t("Choose, then build the workbook: it is written when you ask for it."))


if __name__ == "__main__":
    widgets.guarded(main)
