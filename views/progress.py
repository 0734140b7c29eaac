"""Donor progress: indicators through time against baselines and targets. Never imports Streamlit.

What the Donor progress page (pages/progress.py) draws, computed here so the page stays thin:

- **Lines** (:func:`plan_lines`): the sidebar's area alone; an area above the district level
  with the districts within it; "All areas" with one line per area of the sidebar's level in
  the user's scope plus the whole registry (for a user who sees it). More than
  ``MAX_AREA_LINES`` areas are not drawn one by one (the whole registry still is): the page
  says so and asks for an area.
- **Points** (:func:`points`): the snapshots' values (indicators.figures.series) on every
  snapshot date up to the as-of date, one row per line and date (a missing figure is a gap),
  converted from the engine's scale to the indicator's unit (percent × 100, per 1,000 × 1000).
- **Small cells** (:func:`is_small`): a figure whose numerator or denominator is between 1 and
  ``threshold − 1`` is suppressed (a gap, counted in a note), for every role. Zero is shown: it
  identifies no one. A figure without counts (the median days to complete a referral) is
  shown only when the referrals completed behind it number at least ``threshold``
  (``COUNT_PROXY``: the same area's and date's ``ref.completed`` numerator, which never
  exceeds the median's count), so it is suppressed when in doubt.
- **Targets** (:func:`target_marks`) on the same scale; **status** (:func:`status`) of the
  latest figure against the trajectory from the baseline to the target (a straight line in
  time); without a baseline, the first figure shown stands for it.

Aggregates only: nothing here reads or returns a person, a household or a list of them.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from core.i18n import N_, t
from core.values import as_int, plain
from data_access.scope import Scope
from data_access.snapshots import SnapshotRun, snapshot_dates
from data_access.targets import targets
from indicators.catalogue import BY_ID, CATALOGUE, Indicator
from indicators.donor_calendar import is_period_end
from indicators.figures import series

DEFAULT_INDICATORS: tuple[str, ...] = ("cov.poor_households", "cov.population", "ref.overdue")
OPTIONS: tuple[str, ...] = tuple(i.id for i in CATALOGUE)
DISTRICT_LEVEL = 2
MAX_AREA_LINES = 20
# The engine's value times this is the value in the indicator's unit (what users read and type).
UNIT_SCALE: dict[str, float] = {"percent": 100.0, "per_1000": 1000.0}
UNIT_AXIS: dict[str, str] = {"percent": "%", "count": N_("count"), "mean": N_("average"),
                             "days": N_("days"), "per_1000": N_("per 1,000")}
# Indicators without counts, and the indicator whose numerator bounds their count from below.
COUNT_PROXY: dict[str, str] = {"ref.days_to_complete": "ref.completed"}
EPSILON = 1e-9
WHOLE_REGISTRY_COLOUR = "#333333"
PALETTE: tuple[str, ...] = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2", "#9e765f", "#d67195", "#439894",
    "#b79a20", "#79706e", "#9ecae9", "#ffbf79", "#88d27a", "#ff9d98", "#d6a5c9", "#d8b5a5",
    "#fcbfd2", "#83bcb6", "#f2cf5b", "#bab0ac",
)

# Status codes of a line against its target, and how they read (English; the page translates).
STATUS_TEXT: dict[str, str] = {
    "achieved": N_("Target reached"),
    "on_track": N_("On track"),
    "off_track": N_("Off track"),
    "missed": N_("Target date passed, not reached"),
    "not_yet": N_("Not reached yet (no baseline to judge the pace)"),
    "hidden": N_("Hidden (small cell)"),
    "no_figure": N_("No figure"),
    "no_target": N_("No target"),
    "not_rated": N_("Not rated (neither higher nor lower is better)"),
}


# Indicators in the URL --------------------------------------------------------------------

def parse_indicator_ids(text: str | Iterable[str] | None) -> list[str]:
    """Known indicator ids from ``a,b,c`` (or a list of such texts), in order, without repeats."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else [
        p for item in text for p in str(item).split(",")]
    known = [p.strip() for p in parts if p.strip() in BY_ID]
    return list(dict.fromkeys(known))


def indicators_param(ids: Sequence[str]) -> str | None:
    """The URL value of the chosen indicators (None: none chosen, the parameter goes)."""
    return ",".join(ids) if ids else None


def needs_programme(ids: Iterable[str]) -> bool:
    return any(BY_ID[i].per_programme for i in ids if i in BY_ID)


# Units and small cells ---------------------------------------------------------------------

def to_display(indicator: Indicator, value: Any) -> float | None:
    """A value on the engine's scale (0.45) in the indicator's unit (45 for a percent)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return float(value) * UNIT_SCALE.get(indicator.unit, 1.0)


def axis_unit(indicator: Indicator) -> str:
    return t(UNIT_AXIS[indicator.unit])


def direction_text(indicator: Indicator) -> str:
    if indicator.higher_is_better is None:
        return t("Neither higher nor lower is better: a volume.")
    return t("Higher is better.") if indicator.higher_is_better else t("Lower is better.")


def largest_small(threshold: int) -> int:
    """The largest count hidden under ``threshold`` (what the page tells the user)."""
    return max(threshold - 1, 0)


def is_small(count: Any, threshold: int) -> bool:
    """A count that could identify someone: 1 to threshold − 1 (0 and unknown are not)."""
    number = as_int(count)
    return number is not None and 1 <= number < threshold


def is_suppressed(numerator: Any, denominator: Any, threshold: int, *,
                  proxy_count: Any = None, has_counts: bool = True) -> bool:
    """Whether a figure is hidden: a small numerator or denominator.

    A figure without counts (``has_counts`` False) is hidden unless ``proxy_count`` (a lower
    bound of the units behind it) is known and at least ``threshold``.
    """
    if not has_counts:
        number = as_int(proxy_count)
        return number is None or number < threshold
    return is_small(numerator, threshold) or is_small(denominator, threshold)


# Lines -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One line of a chart: an area (None: the whole registry) of a level, and its label."""

    area_id: str | None
    level: int
    label: str


@dataclass(frozen=True)
class LinePlan:
    lines: tuple[Line, ...]
    omitted: int = 0  # areas not drawn one by one (more than MAX_AREA_LINES)
    omitted_level: int | None = None

    @property
    def levels(self) -> list[int]:
        return sorted({line.level for line in self.lines})


def _labels(areas: pd.DataFrame) -> dict[str, str]:
    """area_id -> name, with the id added to names that clash within a level."""
    labels: dict[str, str] = {}
    for _, rows in areas.groupby("level"):
        clashing = set(rows["name"][rows["name"].duplicated(keep=False)])
        for area_id, name in zip(rows["area_id"], rows["name"], strict=True):
            labels[area_id] = f"{name} ({area_id})" if name in clashing else str(name)
    return labels


def _below(areas: pd.DataFrame, area_id: str, level: int) -> list[str]:
    """The areas of ``level`` within ``area_id`` (by the parent chain), by name."""
    parent = dict(zip(areas["area_id"], areas["parent_id"], strict=True))
    found = []
    for candidate in areas.loc[areas["level"] == level, "area_id"]:
        node, seen = parent.get(candidate), set()
        while node is not None and node not in seen:
            if node == area_id:
                found.append(candidate)
                break
            seen.add(node)
            node = parent.get(node)
    return found


def plan_lines(areas: pd.DataFrame, *, level: int, area_id: str | None, whole_registry: bool,
               max_lines: int = MAX_AREA_LINES) -> LinePlan:
    """The lines to draw for the sidebar's choice (see the module's notes).

    ``areas``: the areas the user may see (area_id, name, level, parent_id), sorted by name.
    """
    labels = _labels(areas)
    levels = dict(zip(areas["area_id"], areas["level"].astype(int), strict=True))
    whole = (Line(None, level, t("All areas")),) if whole_registry else ()
    if area_id is None:
        own = whole
        ids = list(areas.loc[areas["level"] == level, "area_id"])
        line_level = level
    else:
        area_level = levels.get(area_id, level)
        own = (Line(area_id, area_level, labels.get(area_id, area_id)),)
        if area_level >= DISTRICT_LEVEL:
            return LinePlan(own)
        line_level = DISTRICT_LEVEL
        ids = _below(areas, area_id, DISTRICT_LEVEL)
    if len(ids) > max_lines:
        return LinePlan(own, omitted=len(ids), omitted_level=line_level)
    return LinePlan(_unique(own + tuple(Line(a, line_level, labels.get(a, a)) for a in ids)))


def _unique(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """Lines are told apart by label: an area named like another line's gets its id."""
    seen = [line.label for line in lines]
    return tuple(line if seen.count(line.label) == 1 or line.area_id is None
                 else Line(line.area_id, line.level, f"{line.label} ({line.area_id})")
                 for line in lines)


# Reading the store -------------------------------------------------------------------------

def dates(store: sa.Engine, levels: Iterable[int], as_of: dt.date,
          source: str | None = None) -> dict[int, list[dt.date]]:
    """Snapshot dates (of ``source``; None: any) of each level, up to ``as_of``, oldest first."""
    return {level: [d for d in snapshot_dates(store, level, source=source) if d <= as_of]
            for level in levels}


def read_series(store: sa.Engine, plan: LinePlan, indicator_ids: Sequence[str], *,
                scope: Scope, programme_id: str | None, as_of: dt.date) -> pd.DataFrame:
    """The series of the lines (indicators.figures.series) up to ``as_of``, with ``level``.

    Per-programme indicators are read for ``programme_id``, the others without programme;
    the count proxies (COUNT_PROXY) are read along. Lines outside ``scope`` get no figure;
    a donor's figures come suppressed (with a ``suppressed`` column).
    """
    wanted = list(dict.fromkeys(
        [*indicator_ids, *(COUNT_PROXY[i] for i in indicator_ids if i in COUNT_PROXY)]))
    groups = [([i for i in wanted if BY_ID[i].per_programme], programme_id),
              ([i for i in wanted if not BY_ID[i].per_programme], None)]
    frames = []
    for level in plan.levels:
        area_ids = [line.area_id for line in plan.lines if line.level == level]
        for ids, programme in groups:
            if not ids or (BY_ID[ids[0]].per_programme and programme is None):
                continue
            frame = series(store, scope=scope, indicator_ids=ids, area_ids=area_ids,
                           level=level, programme_id=programme)
            frames.append(frame.assign(level=level))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["as_of", "indicator_id", "area_id", "area_name", "value",
                                     "numerator", "denominator", "source", "snapshot_id",
                                     "level"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[[d <= as_of for d in frame["as_of"]]].reset_index(drop=True)


def stored_targets(store: sa.Engine, plan: LinePlan, indicator_ids: Sequence[str], *,
                   scope: Scope) -> pd.DataFrame:
    return targets(store, scope=scope, indicator_ids=list(indicator_ids),
                   area_ids=[line.area_id for line in plan.lines])


# Points and targets ------------------------------------------------------------------------

POINT_COLUMNS = ("line", "area_id", "level", "as_of", "value", "text", "suppressed",
                 "numerator", "denominator")


def _key(area_id: Any) -> str:
    return "" if plain(area_id) is None else str(area_id)


def points(series_frame: pd.DataFrame, indicator: Indicator, plan: LinePlan,
           dates_by_level: Mapping[int, Sequence[dt.date]], threshold: int) -> pd.DataFrame:
    """One row per line and snapshot date of its level: the value in the indicator's unit.

    ``value`` is None where there is no figure or it is suppressed (``suppressed`` says which);
    ``text`` is the formatted value ("–" when none). Columns POINT_COLUMNS.
    """
    rows = series_frame[series_frame["indicator_id"] == indicator.id]
    found = {(int(r.level), _key(r.area_id), r.as_of): r for r in rows.itertuples(index=False)}
    proxy_id = COUNT_PROXY.get(indicator.id)
    proxies = {}
    if proxy_id is not None:
        proxy_rows = series_frame[series_frame["indicator_id"] == proxy_id]
        proxies = {(int(r.level), _key(r.area_id), r.as_of): r.numerator
                   for r in proxy_rows.itertuples(index=False)}
    has_counts = proxy_id is None
    out = []
    for line in plan.lines:
        for day in dates_by_level.get(line.level, []):
            key = (line.level, _key(line.area_id), day)
            row = found.get(key)
            raw = numerator = denominator = None
            suppressed = bool(getattr(row, "suppressed", False)) if row is not None else False
            if row is not None and not suppressed:
                numerator, denominator = as_int(row.numerator), as_int(row.denominator)
                raw = None if to_display(indicator, row.value) is None else float(row.value)
                if raw is not None and is_suppressed(
                        numerator, denominator, threshold, has_counts=has_counts,
                        proxy_count=proxies.get(key)):
                    raw, numerator, denominator, suppressed = None, None, None, True
            out.append({
                "line": line.label, "area_id": line.area_id, "level": line.level,
                "as_of": day, "value": to_display(indicator, raw),
                "text": t("hidden") if suppressed else indicator.format_value(raw),
                "suppressed": suppressed, "numerator": numerator, "denominator": denominator,
            })
    return pd.DataFrame(out, columns=list(POINT_COLUMNS))


TARGET_MARK_COLUMNS = ("line", "area_id", "indicator_id", "programme_id", "baseline_on",
                       "baseline", "target_on", "target", "baseline_text", "target_text")


def target_marks(target_frame: pd.DataFrame, indicator: Indicator, plan: LinePlan,
                 programme_id: str | None) -> pd.DataFrame:
    """The targets of the indicator for the lines, in the indicator's unit, by line and date.

    A per-programme indicator takes the targets of ``programme_id``; the others those without
    programme. Columns TARGET_MARK_COLUMNS.
    """
    wanted_programme = programme_id if indicator.per_programme else None
    line_of = {_key(line.area_id): line.label for line in plan.lines}
    out = []
    for row in target_frame.itertuples(index=False):
        if row.indicator_id != indicator.id or _key(row.area_id) not in line_of:
            continue
        if plain(row.programme_id) != wanted_programme:
            continue
        baseline = to_display(indicator, row.baseline_value)
        target = to_display(indicator, row.target_value)
        out.append({
            "line": line_of[_key(row.area_id)], "area_id": plain(row.area_id),
            "indicator_id": indicator.id, "programme_id": plain(row.programme_id),
            "baseline_on": plain(row.baseline_on), "baseline": baseline,
            "target_on": row.target_on, "target": target,
            "baseline_text": indicator.format_value(row.baseline_value),
            "target_text": indicator.format_value(row.target_value),
        })
    frame = pd.DataFrame(out, columns=list(TARGET_MARK_COLUMNS))
    return frame.sort_values(["line", "target_on"], kind="stable").reset_index(drop=True)


# Status ------------------------------------------------------------------------------------

def _at_least_as_good(indicator: Indicator, value: float, reference: float) -> bool:
    if indicator.higher_is_better:
        return value >= reference - EPSILON
    return value <= reference + EPSILON


def expected(baseline_on: dt.date, baseline: float, target_on: dt.date, target: float,
             day: dt.date) -> float:
    """The trajectory's value on ``day``: a straight line from baseline to target, clamped."""
    span = (target_on - baseline_on).days
    if span <= 0:
        return target
    fraction = min(max((day - baseline_on).days / span, 0.0), 1.0)
    return baseline + (target - baseline) * fraction


def status(indicator: Indicator, *, latest_on: dt.date | None, latest: float | None,
           suppressed: bool = False, target_on: dt.date | None = None,
           target: float | None = None, baseline_on: dt.date | None = None,
           baseline: float | None = None) -> tuple[str, float | None]:
    """The status code (STATUS_TEXT) of the latest figure against a target, and the value
    expected on the latest date (None when there is no trajectory).

    Reached the target: "achieved"; target date passed: "missed"; else "on_track" when at least
    as good as the trajectory from the baseline to the target on the latest date, "off_track"
    otherwise, "not_yet" without a baseline. Values in one unit (any).
    """
    if target is None or target_on is None:
        return "no_target", None
    if latest is None or latest_on is None:
        return ("hidden" if suppressed else "no_figure"), None
    if indicator.higher_is_better is None:
        return "not_rated", None
    trajectory = None
    if baseline is not None and baseline_on is not None:
        trajectory = expected(baseline_on, baseline, target_on, target, latest_on)
    if _at_least_as_good(indicator, latest, target):
        return "achieved", trajectory
    if latest_on >= target_on:
        return "missed", trajectory
    if trajectory is None:
        return "not_yet", None
    return ("on_track" if _at_least_as_good(indicator, latest, trajectory) else "off_track",
            trajectory)


def _pick_target(marks: pd.DataFrame, latest_on: dt.date | None) -> dict | None:
    """The line's next target on or after the latest date, else its last one."""
    if marks.empty:
        return None
    rows = marks.to_dict("records")
    if latest_on is not None:
        upcoming = [r for r in rows if r["target_on"] >= latest_on]
        if upcoming:
            return upcoming[0]
    return rows[-1]


STATUS_COLUMNS = ("indicator", "line", "latest_on", "latest", "baseline", "baseline_on",
                  "target", "target_on", "expected", "status", "status_code")


def status_rows(indicator: Indicator, point_frame: pd.DataFrame, marks: pd.DataFrame,
                plan: LinePlan) -> list[dict]:
    """One row per line: its latest figure, its next target and the status (texts translated)."""
    out = []
    for line in plan.lines:
        mine = point_frame[point_frame["line"] == line.label]
        last = mine.iloc[-1] if len(mine) else None
        latest_on = last["as_of"] if last is not None else None
        latest = last["value"] if last is not None else None
        latest = None if latest is None or pd.isna(latest) else float(latest)
        suppressed = bool(last["suppressed"]) if last is not None else False
        first_shown = mine[mine["value"].notna()]
        target = _pick_target(marks[marks["line"] == line.label], latest_on)
        baseline_on = baseline = None
        if target is not None:
            baseline_on, baseline = target["baseline_on"], target["baseline"]
            if baseline is None or pd.isna(baseline):
                baseline_on = baseline = None
                if len(first_shown) and first_shown.iloc[0]["as_of"] < (latest_on or dt.date.max):
                    # No baseline: the first figure shown stands for it.
                    baseline_on = first_shown.iloc[0]["as_of"]
                    baseline = float(first_shown.iloc[0]["value"])
        code, trajectory = status(
            indicator, latest_on=latest_on, latest=latest, suppressed=suppressed,
            target_on=target["target_on"] if target else None,
            target=target["target"] if target else None,
            baseline_on=baseline_on, baseline=baseline)
        scale = UNIT_SCALE.get(indicator.unit, 1.0)
        out.append({
            "indicator": t(indicator.label), "line": line.label, "latest_on": latest_on,
            "latest": (t("hidden") if suppressed else indicator.format_value(
                None if latest is None else latest / scale)),
            "baseline": target["baseline_text"] if target else "–",
            "baseline_on": target["baseline_on"] if target else None,
            "target": target["target_text"] if target else "–",
            "target_on": target["target_on"] if target else None,
            "expected": indicator.format_value(None if trajectory is None
                                               else trajectory / scale),
            "status": t(STATUS_TEXT[code]), "status_code": code,
        })
    return out


# Everything the page draws -----------------------------------------------------------------

@dataclass
class IndicatorProgress:
    indicator: Indicator
    points: pd.DataFrame
    targets: pd.DataFrame

    @property
    def hidden(self) -> dict[str, int]:
        """line -> number of figures suppressed (small cells)."""
        hidden = self.points[self.points["suppressed"]]
        return {str(k): int(v) for k, v in hidden.groupby("line", sort=False).size().items()}

    @property
    def hidden_count(self) -> int:
        return int(self.points["suppressed"].sum())

    @property
    def has_figures(self) -> bool:
        return bool(self.points["value"].notna().any())


@dataclass
class Progress:
    plan: LinePlan
    dates: dict[int, list[dt.date]]
    indicators: list[IndicatorProgress] = field(default_factory=list)

    @property
    def all_dates(self) -> list[dt.date]:
        return sorted({d for days in self.dates.values() for d in days})

    @property
    def missing_levels(self) -> list[int]:
        """Levels of lines without any snapshot up to the as-of date."""
        return [level for level, days in self.dates.items() if not days]

    @property
    def no_snapshots(self) -> bool:
        """No level of the lines has a snapshot up to the as-of date."""
        return not any(self.dates.values())

    @property
    def has_targets(self) -> bool:
        return any(not item.targets.empty for item in self.indicators)

    def table(self) -> pd.DataFrame:
        rows = [row for item in self.indicators
                for row in status_rows(item.indicator, item.points, item.targets, self.plan)]
        return pd.DataFrame(rows, columns=list(STATUS_COLUMNS))


def load(store: sa.Engine, plan: LinePlan, indicator_ids: Sequence[str], *, scope: Scope,
         programme_id: str | None, as_of: dt.date, threshold: int) -> Progress:
    """Read the snapshots and targets of the chosen indicators for the lines, as ``scope``
    may see them (a donor's figures suppressed date by date, command snapshots only)."""
    dates_by_level = dates(store, plan.levels, as_of,
                           source="command" if scope.suppressed else None)
    if scope.suppressed:  # the donors' calendar dates only (indicators.figures.series)
        dates_by_level = {level: [d for d in days if is_period_end(d, scope.period_months)]
                          for level, days in dates_by_level.items()}
    ids = [i for i in indicator_ids if i in BY_ID]
    frame = read_series(store, plan, ids, scope=scope, programme_id=programme_id,
                        as_of=as_of) if plan.lines and ids else pd.DataFrame(
        columns=["indicator_id"])
    target_frame = stored_targets(store, plan, ids, scope=scope) if plan.lines and ids \
        else pd.DataFrame(columns=["indicator_id"])
    result = Progress(plan=plan, dates=dates_by_level)
    for indicator_id in ids:
        ind = BY_ID[indicator_id]
        result.indicators.append(IndicatorProgress(
            indicator=ind,
            points=points(frame, ind, plan, dates_by_level, threshold),
            targets=target_marks(target_frame, ind, plan, programme_id)))
    return result


# The chart ---------------------------------------------------------------------------------

def colours(plan: LinePlan) -> tuple[list[str], list[str]]:
    """The colour scale's domain (line labels) and range: the whole registry in dark grey."""
    domain, palette, out = [], iter(PALETTE * 2), []
    for line in plan.lines:
        domain.append(line.label)
        out.append(WHOLE_REGISTRY_COLOUR if line.area_id is None else next(palette))
    return domain, out


def target_path(marks: pd.DataFrame, start: dt.date | None) -> pd.DataFrame:
    """The dashed trajectories: baseline → target, or a level segment from ``start`` to the
    target date at the target value when there is no baseline (columns line, segment, date,
    value)."""
    rows = []
    for index, mark in enumerate(marks.to_dict("records")):
        if mark["baseline"] is not None and not pd.isna(mark["baseline"]):
            begin_on, begin = mark["baseline_on"], mark["baseline"]
        elif start is not None and start < mark["target_on"]:
            begin_on, begin = start, mark["target"]
        else:
            continue
        rows.append({"line": mark["line"], "segment": index, "date": begin_on, "value": begin})
        rows.append({"line": mark["line"], "segment": index, "date": mark["target_on"],
                     "value": mark["target"]})
    frame = pd.DataFrame(rows, columns=["line", "segment", "date", "value"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def chart(item: IndicatorProgress, plan: LinePlan, *, height: int = 300):
    """An Altair chart: a line per area (gaps where no figure is shown), the baselines (○),
    the targets (◆) and the dashed trajectory to each target, the y axis in the unit."""
    import altair as alt  # loaded by the page only

    ind = item.indicator
    domain, colour_range = colours(plan)
    colour = alt.Color("line:N", title=t("Area"),
                       scale=alt.Scale(domain=domain, range=colour_range),
                       legend=alt.Legend(orient="right", labelLimit=200))
    y_title = axis_unit(ind)
    x = alt.X("date:T", title=t("As of"), axis=alt.Axis(format="%m/%Y"))

    actual = item.points.assign(date=pd.to_datetime(item.points["as_of"]))[
        ["line", "date", "value", "text"]]
    layers = [
        alt.Chart(actual).mark_line(point=True, invalid="break-paths-show-domains").encode(
            x=x, y=alt.Y("value:Q", title=y_title), color=colour,
            tooltip=[alt.Tooltip("line:N", title=t("Area")),
                     alt.Tooltip("date:T", title=t("As of"), format="%Y-%m-%d"),
                     alt.Tooltip("text:N", title=t(ind.label))]),
    ]
    marks = item.targets
    if not marks.empty:
        first = item.points["as_of"].min() if len(item.points) else None
        path = target_path(marks, None if pd.isna(first) else first)
        if not path.empty:
            layers.append(alt.Chart(path).mark_line(strokeDash=[6, 4], opacity=0.8).encode(
                x=x, y="value:Q", color=colour, detail="segment:N"))
        target_points = pd.DataFrame({
            "line": marks["line"], "date": pd.to_datetime(marks["target_on"]),
            "value": marks["target"], "text": marks["target_text"]})
        layers.append(alt.Chart(target_points).mark_point(
            shape="diamond", filled=True, size=110).encode(
            x=x, y="value:Q", color=colour,
            tooltip=[alt.Tooltip("line:N", title=t("Area")),
                     alt.Tooltip("date:T", title=t("Target date"), format="%Y-%m-%d"),
                     alt.Tooltip("text:N", title=t("Target"))]))
        with_baseline = marks[marks["baseline"].notna()]
        if not with_baseline.empty:
            baseline_points = pd.DataFrame({
                "line": with_baseline["line"],
                "date": pd.to_datetime(with_baseline["baseline_on"]),
                "value": with_baseline["baseline"], "text": with_baseline["baseline_text"]})
            layers.append(alt.Chart(baseline_points).mark_point(
                shape="circle", filled=False, size=90, strokeWidth=2).encode(
                x=x, y="value:Q", color=colour,
                tooltip=[alt.Tooltip("line:N", title=t("Area")),
                         alt.Tooltip("date:T", title=t("Baseline date"), format="%Y-%m-%d"),
                         alt.Tooltip("text:N", title=t("Baseline"))]))
    return alt.layer(*layers).properties(height=height)


# Targets import ----------------------------------------------------------------------------

def template_frames(areas: pd.DataFrame, programmes: Mapping[str, str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The areas and programmes frames exports.targets.build_template takes."""
    return (areas[["area_id", "name", "level"]].reset_index(drop=True),
            pd.DataFrame({"programme_id": list(programmes), "name": list(programmes.values())}))


# Snapshots ---------------------------------------------------------------------------------

def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _months_back(day: dt.date, months: int) -> dt.date:
    """The last day of the month ``months`` before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return month_end(dt.date(index // 12, index % 12 + 1, 1))


def snapshot_command(as_of: dt.date, levels: Iterable[int], months: int = 12) -> str:
    """The command storing a snapshot on each of the last ``months`` month-ends up to ``as_of``."""
    back = months - 1 if as_of == month_end(as_of) else months
    level_text = ",".join(str(level) for level in sorted(set(levels)))
    return (f"python -m indicators.snapshot --monthly-from {_months_back(as_of, back).isoformat()} "
            f"--monthly-to {as_of.isoformat()} --levels {level_text}")


def one_snapshot_command(as_of: dt.date, levels: Iterable[int]) -> str:
    """The command storing one snapshot on ``as_of``."""
    level_text = ",".join(str(level) for level in sorted(set(levels)))
    return f"python -m indicators.snapshot --as-of {as_of.isoformat()} --levels {level_text}"


def snapshot_parameters(settings: Any) -> dict[str, Any]:
    """The parameters a snapshot keeps (as the snapshot command stores them)."""
    return {"poverty_cutoff": settings.poverty_cutoff,
            "referral_sla_days": settings.referral_sla_days,
            "period_months": settings.period_months}


def take_snapshots(store: sa.Engine, figures_of: Callable[[int], pd.DataFrame], *,
                   levels: Sequence[int], as_of: dt.date, period_start: dt.date,
                   parameters: Mapping[str, Any],
                   on_step: Callable[[float, str], None] | None = None) -> int:
    """Compute (``figures_of(level)``) and store a command snapshot of each level on ``as_of``.

    Like the snapshot command: storing a date and level again replaces its snapshot, and
    the levels appear together once all are stored (data_access.snapshots.SnapshotRun).
    Calls ``on_step(fraction done, what is being done)``; returns the figures stored.
    """
    stored = 0
    steps = max(2 * len(levels), 1)
    run = SnapshotRun(store)
    try:
        for index, level in enumerate(levels):
            if on_step:
                on_step(2 * index / steps, t("Computing level {level}…", level=level))
            figures = figures_of(level)
            if on_step:
                on_step((2 * index + 1) / steps, t("Storing level {level}…", level=level))
            run.add(figures, as_of=as_of, level=level, period_start=period_start,
                    period_end=as_of, parameters=parameters)
            stored += len(figures)
        run.finish()
    except BaseException:
        try:
            run.abandon()
        except sa.exc.SQLAlchemyError:
            pass  # invisible anyway; the next snapshot run purges it
        raise
    if on_step:
        on_step(1.0, t("Done."))
    return stored
