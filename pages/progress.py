"""Donor progress: chosen indicators against their baselines and targets over time, by district.

Aggregates only: no names, no ids, no lists of persons or households. Figures come from the
snapshots in the app store (``python -m indicators.snapshot``, or "Start meeting"); targets
from the Excel template offered here. Lines, small-cell suppression, units and the on-track
status are computed in indicators/progress.py. The page's choices are kept in the URL with
the sidebar's: ``?indicators=cov.poor_households,cov.population,ref.overdue&programme=…``.
"""

from __future__ import annotations

import streamlit as st

from core import i18n
from core.i18n import format_date, format_number, t
from exports import targets as targets_file
from exports.targets import build_template
from indicators.catalogue import BY_ID
from ui import queries, widgets
from views import progress

INDICATORS_KEY = "indicators"
PROGRAMME_KEY = "programme"
UPLOAD_KEY = "progress_targets_file"
IMPORTED_KEY = "_progress_imported"  # (file_id, ImportOutcome) of the last file imported
SNAPSHOT_KEY = "progress_snapshot_now"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _pick(programmes: dict[str, str]) -> tuple[list[str], str | None]:
    state = st.session_state
    if not isinstance(state.get(INDICATORS_KEY), list):
        linked = progress.parse_indicator_ids(st.query_params.get(INDICATORS_KEY))
        state[INDICATORS_KEY] = linked or list(progress.DEFAULT_INDICATORS)
    state[INDICATORS_KEY] = [i for i in state[INDICATORS_KEY] if i in BY_ID]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    ids = left.multiselect(
        t("Indicators"), progress.OPTIONS, key=INDICATORS_KEY,
        format_func=lambda i: t(BY_ID[i].label),
        help=t("The indicators to follow; each gets its own chart."))
    programme_id = None
    if progress.needs_programme(ids) and programmes:
        widgets.linked_choice(PROGRAMME_KEY, list(programmes), next(iter(programmes)))
        programme_id = right.selectbox(
            t("Programme"), list(programmes), key=PROGRAMME_KEY,
            format_func=lambda p: programmes.get(p, p),
            help=t("The programme of the indicators given per programme."))
    widgets.link({INDICATORS_KEY: progress.indicators_param(ids),
                     PROGRAMME_KEY: programme_id})
    return ids, programme_id


def _show_import(outcome: targets_file.ImportOutcome) -> None:
    if outcome.file_error:
        st.warning(t("The file cannot be imported: {problem}. Nothing was imported.",
                     problem=t(outcome.file_error)))
    elif not outcome.ok:
        problems = outcome.problems
        st.warning(t("Problems in the file: {count}, listed below with their row numbers. "
                     "Nothing was imported: correct those rows and upload the file again.",
                     count=len(problems)))
        st.dataframe(problems.assign(problem=[t(p) for p in problems["problem"]]),
                     hide_index=True, column_config={
                         "row": st.column_config.NumberColumn(t("Row"), format="%d"),
                         "column": t("Column"), "problem": t("Problem")})
    else:
        st.success(t("{count} targets imported.", count=outcome.stored))


def _targets(view: widgets.View, store, scope, areas, programmes: dict[str, str]) -> None:
    """Template download and, for admins, upload; an upload is imported once (before the
    charts read)."""
    st.subheader(t("Targets and baselines"))
    left, right = st.columns(2)
    area_frame, programme_frame = progress.template_frames(areas, programmes)
    language = i18n.current_language()  # the download is built on another thread
    left.download_button(
        t("Download the targets template"),
        data=lambda: build_template(area_frame, programme_frame, language=language),
        file_name="socle-targets-template.xlsx", mime=XLSX, on_click="ignore",
        icon=":material/download:")
    left.caption(t("One row per target: the indicator, the area (empty for the whole "
                   "registry), a programme where needed, an optional baseline (date and value) "
                   "and the target (date and value). Percentages are written 0–100. Importing "
                   "the same indicator, area, programme and target date again replaces it."))
    if not view.context.is_admin:
        right.caption(t("Targets are set by an administrator, who uploads the filled template."))
        return
    upload = right.file_uploader(
        t("Upload a filled template"), type=["xlsx"], key=UPLOAD_KEY,
        help=t("Every row is checked; if any row has a problem, nothing is imported."))
    if upload is None:
        return
    done = st.session_state.get(IMPORTED_KEY)
    if done is None or done[0] != upload.file_id:
        outcome = targets_file.import_targets(
            store, upload.getvalue(), scope=scope, known_areas=set(areas["area_id"]),
            known_programmes=set(programmes), whole_registry=view.context.whole_registry)
        done = st.session_state[IMPORTED_KEY] = (upload.file_id, outcome)
    _show_import(done[1])


def _snapshots(view: widgets.View, store, plan: progress.LinePlan) -> None:
    st.subheader(t("Snapshots"))
    levels = plan.levels
    if view.context.is_admin and view.context.whole_registry and levels:
        if st.button(t("Take a snapshot now"), key=SNAPSHOT_KEY, icon=":material/photo_camera:",
                     help=t("Compute the indicators on {as_of} and store them as that date's "
                            "snapshot (again replaces it).", as_of=format_date(view.as_of))):
            bar = st.progress(0.0, text=t("Computing…"))
            stored = progress.take_snapshots(
                store, lambda level: queries.figures(view.context, view.settings, as_of=view.as_of,
                                                level=level, period_start=view.period_start),
                levels=levels, as_of=view.as_of, period_start=view.period_start,
                parameters=progress.snapshot_parameters(view.settings),
                on_step=lambda fraction, text: bar.progress(fraction, text=text))
            st.success(t("Snapshot of {as_of} stored: {count} figures.",
                         as_of=format_date(view.as_of), count=format_number(stored)))
    source = "command" if view.context.sees_suppressed_figures else None
    for level, days in progress.dates(store, levels, view.as_of, source=source).items():
        name = t(view.settings.level_name(level))
        if days:
            st.caption(t("{level} level: {count} snapshots up to {as_of}: {dates}.",
                         level=name, count=len(days), as_of=format_date(view.as_of),
                         dates=", ".join(format_date(d) for d in days)))
        else:
            st.caption(t("{level} level: no snapshot up to {as_of}.", level=name,
                         as_of=format_date(view.as_of)))
    st.caption(t("Snapshots are taken monthly or on demand by a command, and when a committee "
                 "meeting starts. The last twelve month-ends:"))
    st.code(progress.snapshot_command(view.as_of, levels), language="bash")


def _no_snapshots(view: widgets.View, data: progress.Progress) -> bool:
    """Say why there is nothing to draw; True when nothing is."""
    if not data.plan.lines:
        if data.plan.omitted:
            st.info(t("{count} areas of the {level} level are too many lines for one chart: "
                      "pick an area in the sidebar, or a higher level.", count=data.plan.omitted,
                      level=t(view.settings.level_name(data.plan.omitted_level)).lower()))
        else:
            st.info(t("There is no area to show in {area}.", area=view.area_name))
        return True
    if not data.indicators:
        st.info(t("Pick at least one indicator."))
        return True
    if data.plan.omitted:
        st.caption(t("The {count} areas of the {level} level are too many lines for one chart: "
                     "only the whole registry is drawn. Pick an area in the sidebar to see its "
                     "districts.", count=data.plan.omitted,
                     level=t(view.settings.level_name(data.plan.omitted_level)).lower()))
    missing = data.missing_levels
    if data.no_snapshots:
        st.info(t("No snapshots of the indicators up to {as_of} yet, so there is nothing to draw. "
                  "Snapshots are taken by this command (monthly, or whenever one is needed) and "
                  "when a committee meeting starts:", as_of=format_date(view.as_of)))
        st.code(progress.snapshot_command(view.as_of, missing) + "\n"
                + progress.one_snapshot_command(view.as_of, missing), language="bash")
        return True
    if missing:
        st.info(t("No snapshots of the {levels} level up to {as_of}: take them with the "
                  "command below.", as_of=format_date(view.as_of),
                  levels=", ".join(t(view.settings.level_name(m)) for m in missing)))
        st.code(progress.snapshot_command(view.as_of, missing), language="bash")
    return False


def _charts(view: widgets.View, data: progress.Progress, programme: str | None) -> None:
    threshold = view.settings["privacy.small_cell_threshold"]
    donor = view.context.sees_suppressed_figures
    for item in data.indicators:
        ind = item.indicator
        st.subheader(f"{t(ind.label)} — {programme}" if ind.per_programme and programme
                     else t(ind.label))
        if item.has_figures or not item.targets.empty:
            st.altair_chart(progress.chart(item, data.plan), width="stretch")
        elif item.hidden_count:
            st.info(t("Every figure of this indicator for these areas is hidden: each counts "
                      "between 1 and {top} units, which could identify someone, or would let "
                      "such a figure be worked out.", top=progress.largest_small(threshold))
                    if donor else
                    t("Every figure of this indicator for these areas is hidden: each counts "
                      "between 1 and {top} units, which could identify someone.",
                      top=progress.largest_small(threshold)))
        else:
            st.info(t("No figure of this indicator for these areas in the snapshots."))
        text = f"**{t(ind.label)}**: {t(ind.definition)}. {progress.direction_text(ind)}"
        if ind.note:
            text += f" {t(ind.note)}"
        st.caption(text)
        if item.targets.empty:
            st.caption(t("No target for these areas yet."))
        else:
            st.caption(t("Solid line: the snapshots. Dashed line: from the baseline (○) to the "
                         "target (◆)."))
        hidden = item.hidden
        if hidden:
            where = ", ".join(f"{line}: {n}" for line, n in hidden.items())
            st.caption(t("Gaps: {count} figures are hidden because they count between 1 and "
                         "{top} units, which could identify someone, or would let such a "
                         "figure be worked out ({where}).", count=item.hidden_count,
                         top=progress.largest_small(threshold), where=where)
                       if donor else
                       t("Gaps: {count} figures are hidden because they count between 1 and "
                         "{top} units, which could identify someone ({where}).",
                         count=item.hidden_count, top=progress.largest_small(threshold),
                         where=where))


def _table(data: progress.Progress) -> None:
    st.subheader(t("Latest value against target"))
    if not data.has_targets:
        st.info(t("No targets yet for these indicators and areas: download the template "
                  "below, fill it in and upload it."))
    st.dataframe(data.table(), hide_index=True, height="content", column_order=[
        "indicator", "line", "latest_on", "latest", "baseline", "baseline_on", "target",
        "target_on", "expected", "status"], column_config={
        "indicator": t("Indicator"), "line": t("Area"),
        "latest_on": st.column_config.DateColumn(t("Latest snapshot")),
        "latest": st.column_config.TextColumn(
            t("Latest value"), help=t("The value in the latest snapshot up to the as-of date.")),
        "baseline": t("Baseline"), "baseline_on": st.column_config.DateColumn(t("Baseline date")),
        "target": st.column_config.TextColumn(
            t("Target"), help=t("The next target on or after the latest snapshot, else the last.")),
        "target_on": st.column_config.DateColumn(t("Target date")),
        "expected": st.column_config.TextColumn(
            t("Expected by now"), help=t("On a straight line from the baseline (or the first "
                                         "figure shown) to the target, on the latest snapshot's "
                                         "date.")),
        "status": st.column_config.TextColumn(
            t("Status"), help=t("On track: at least as good as expected by now. Off track: "
                                "worse. Target reached; or its date passed without it.")),
    })


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    settings = view.settings
    url = settings.database_url
    widgets.page_header("Donor progress", view)
    areas = queries.areas(view.context, url)
    programmes = queries.programmes(url)
    store = queries.app_store_engine(settings.app_store_url)
    scope = queries.scope(view.context, settings)
    ids, programme_id = _pick(programmes)
    plan = progress.plan_lines(areas, level=view.level, area_id=view.area_id,
                               whole_registry=view.context.whole_registry)

    body = st.container()  # drawn last: the import and the snapshot button come first
    _targets(view, store, scope, areas, programmes)
    _snapshots(view, store, plan)
    top = progress.largest_small(settings["privacy.small_cell_threshold"])
    st.caption(t("Aggregates only. A figure counting between 1 and {top} units (people, "
                 "households, referrals) is hidden, whoever looks.", top=top)
               if not scope.suppressed else
               t("Aggregates only. A figure counting between 1 and {top} units (people, "
                 "households, referrals) is hidden, and so are enough others on each date that "
                 "no hidden figure can be worked out from the ones shown. Only the snapshots "
                 "taken by the snapshot command are shown.", top=top))

    with body:
        data = progress.load(store, plan, ids, scope=scope, programme_id=programme_id,
                             as_of=view.as_of,
                             threshold=settings["privacy.small_cell_threshold"])
        if not _no_snapshots(view, data):
            _charts(view, data, programmes.get(programme_id) if programme_id else None)
            _table(data)


if __name__ == "__main__":
    widgets.guarded(main)
