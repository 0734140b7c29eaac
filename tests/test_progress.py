"""views.progress: lines, units, small cells, targets, on-track status, import, snapshots.

Pure functions on frames built here; the store functions on a real app store (SQLite file and
PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from data_access.scope import Scope  # noqa: E402
from data_access.snapshots import snapshot_dates, snapshots, store_snapshot
from data_access.targets import targets
from exports import targets as targets_file
from exports.targets import build_template
from indicators.catalogue import BY_ID
from indicators.snapshot import month_ends
from views import progress
from views.progress import Line, LinePlan

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

D = dt.date
POOR, POP, OVERDUE = (BY_ID[i] for i in ("cov.poor_households", "cov.population", "ref.overdue"))
AREAS = pd.DataFrame([
    ("P1", "Khyber Pakhtunkhwa", 1, None), ("D1", "Peshawar", 2, "P1"), ("D2", "Swat", 2, "P1"),
    ("T1", "Peshawar City", 3, "D1"), ("T2", "Mingora", 3, "D2"), ("U1", "UC One", 4, "T1"),
], columns=["area_id", "name", "level", "parent_id"])
PARAMETERS = {"poverty_cutoff": 32.0, "referral_sla_days": 30, "period_months": 3}


# Indicators in the URL -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("cov.poor_households,cov.population,ref.overdue",
     ["cov.poor_households", "cov.population", "ref.overdue"]),
    (" ref.overdue , nonsense,ref.overdue,cov.population", ["ref.overdue", "cov.population"]),
    (["cov.population,ref.made"], ["cov.population", "ref.made"]),
    ("", []), (None, []),
])
def test_indicator_ids_from_the_link(text, expected):
    assert progress.parse_indicator_ids(text) == expected


def test_indicators_param_round_trips():
    ids = ["cov.population", "ref.made"]
    assert progress.parse_indicator_ids(progress.indicators_param(ids)) == ids
    assert progress.indicators_param([]) is None
    assert progress.needs_programme(["cov.population", "cov.programme"])
    assert not progress.needs_programme(["cov.population", "ref.made"])


# Units ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("indicator_id", "value", "expected"), [
    ("cov.population", 0.456, 45.6),  # percent: × 100
    ("cov.population", 1.0, 100.0),
    ("ref.made", 17, 17.0),  # count
    ("ref.days_to_complete", 12.5, 12.5),  # days
    ("pkg.mean_programmes_poor", 1.25, 1.25),  # mean
    ("cov.population", None, None),
    ("cov.population", float("nan"), None),
    ("cov.population", pd.NA, None),
])
def test_values_are_shown_in_the_indicators_unit(indicator_id, value, expected):
    got = progress.to_display(BY_ID[indicator_id], value)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_axis_and_direction_texts():
    assert progress.axis_unit(POP) == "%"
    assert progress.axis_unit(BY_ID["ref.made"]) == "count"
    assert progress.direction_text(POP) == "Higher is better."
    assert progress.direction_text(OVERDUE) == "Lower is better."
    assert "volume" in progress.direction_text(BY_ID["ref.made"])


# Small cells ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("numerator", "denominator", "threshold", "hidden"), [
    (4, 100, 5, True),  # threshold − 1: hidden
    (5, 100, 5, False),  # threshold: shown
    (1, 100, 5, True),
    (0, 100, 5, False),  # zero identifies no one
    (0, 0, 5, False),  # nothing counted (no figure anyway)
    (0, 4, 5, True),  # a small denominator hides a zero numerator too
    (60, 4, 5, True),
    (60, 5, 5, False),
    (7, None, 5, False),  # a count without denominator
    (3, None, 5, True),
    (1, 1, 1, False),  # threshold 1: nothing is small
    (9, 100, 10, True),
    (10, 10, 10, False),
])
def test_small_cells_are_one_to_threshold_minus_one(numerator, denominator, threshold, hidden):
    assert progress.is_suppressed(numerator, denominator, threshold) is hidden


@pytest.mark.parametrize(("proxy", "hidden"), [(None, True), (0, True), (4, True), (5, False),
                                               (40, False)])
def test_a_figure_without_counts_needs_its_proxy_count(proxy, hidden):
    assert progress.is_suppressed(None, None, 5, has_counts=False, proxy_count=proxy) is hidden


def test_largest_small_count():
    assert progress.largest_small(5) == 4
    assert progress.largest_small(1) == 0
    assert progress.largest_small(0) == 0


# Lines ---------------------------------------------------------------------------------------

def labels(plan: LinePlan) -> list[tuple[str | None, int, str]]:
    return [(line.area_id, line.level, line.label) for line in plan.lines]


def test_all_areas_draws_every_district_and_the_whole_registry():
    plan = progress.plan_lines(AREAS, level=2, area_id=None, whole_registry=True)
    assert labels(plan) == [(None, 2, "All areas"), ("D1", 2, "Peshawar"), ("D2", 2, "Swat")]
    assert plan.levels == [2]


def test_a_user_with_some_areas_gets_no_whole_registry_line():
    scoped = AREAS[AREAS["area_id"].isin(["D2", "T2"])]
    plan = progress.plan_lines(scoped, level=2, area_id=None, whole_registry=False)
    assert labels(plan) == [("D2", 2, "Swat")]


def test_an_area_above_the_districts_draws_itself_and_its_districts():
    plan = progress.plan_lines(AREAS, level=1, area_id="P1", whole_registry=True)
    assert labels(plan) == [("P1", 1, "Khyber Pakhtunkhwa"), ("D1", 2, "Peshawar"),
                            ("D2", 2, "Swat")]
    assert plan.levels == [1, 2]


@pytest.mark.parametrize(("level", "area_id", "label"), [(2, "D1", "Peshawar"),
                                                          (3, "T2", "Mingora")])
def test_a_district_or_below_draws_itself(level, area_id, label):
    plan = progress.plan_lines(AREAS, level=level, area_id=area_id, whole_registry=True)
    assert labels(plan) == [(area_id, level, label)]


def test_too_many_areas_draw_the_whole_registry_only():
    plan = progress.plan_lines(AREAS, level=2, area_id=None, whole_registry=True, max_lines=1)
    assert labels(plan) == [(None, 2, "All areas")]
    assert (plan.omitted, plan.omitted_level) == (2, 2)


def test_an_area_named_like_its_district_gets_its_id():
    frame = pd.DataFrame([("DV", "Quetta", 1, None), ("DQ", "Quetta", 2, "DV"),
                          ("DP", "Pishin", 2, "DV")],
                         columns=["area_id", "name", "level", "parent_id"])
    plan = progress.plan_lines(frame, level=1, area_id="DV", whole_registry=True)
    assert [line.label for line in plan.lines] == ["Quetta (DV)", "Quetta (DQ)", "Pishin"]


def test_equal_names_get_their_id():
    frame = pd.DataFrame([("A", "Kalam", 2, None), ("B", "Kalam", 2, None)],
                         columns=["area_id", "name", "level", "parent_id"])
    plan = progress.plan_lines(frame, level=2, area_id=None, whole_registry=False)
    assert [line.label for line in plan.lines] == ["Kalam (A)", "Kalam (B)"]


# Points: series joined with the lines and dates ----------------------------------------------

PLAN = LinePlan((Line(None, 2, "All areas"), Line("D1", 2, "Peshawar"), Line("D2", 2, "Swat")))
DATES = {2: [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]}


def series_row(indicator_id, area_id, day, numerator, denominator, value, level=2):
    return {"as_of": day, "indicator_id": indicator_id, "area_id": area_id, "area_name": "x",
            "value": value, "numerator": numerator, "denominator": denominator,
            "source": "command", "snapshot_id": 1, "level": level}


def test_points_convert_units_leave_gaps_and_hide_small_cells():
    jan, feb, mar = DATES[2]
    frame = pd.DataFrame([
        series_row("cov.population", None, jan, 60, 100, 0.6),
        series_row("cov.population", None, feb, 70, 100, 0.7),
        series_row("cov.population", None, mar, 75, 100, 0.75),
        series_row("cov.population", "D1", jan, 3, 10, 0.3),  # small numerator: hidden
        series_row("cov.population", "D1", mar, 0, 10, 0.0),  # zero: shown
        series_row("cov.population", "D2", jan, 0, 0, None),  # nothing counted: no figure
        series_row("ref.overdue", "D2", feb, 9, 10, 0.9),  # another indicator
    ])
    got = progress.points(frame, POP, PLAN, DATES, threshold=5)
    assert list(got.columns) == list(progress.POINT_COLUMNS)
    assert len(got) == 9  # 3 lines × 3 dates, whatever is missing
    by = {(r.line, r.as_of): r for r in got.itertuples()}
    assert by[("All areas", jan)].value == pytest.approx(60.0)
    assert by[("All areas", mar)].text == "75.0%"
    peshawar_jan = by[("Peshawar", jan)]
    assert peshawar_jan.suppressed and pd.isna(peshawar_jan.value)
    assert pd.isna(peshawar_jan.numerator) and pd.isna(peshawar_jan.denominator)
    assert peshawar_jan.text == "hidden"
    assert pd.isna(by[("Peshawar", feb)].value) and not by[("Peshawar", feb)].suppressed
    assert by[("Peshawar", mar)].value == 0.0 and not by[("Peshawar", mar)].suppressed
    assert pd.isna(by[("Swat", jan)].value) and not by[("Swat", jan)].suppressed
    assert all(pd.isna(r.value) for r in got.itertuples() if r.line == "Swat")


def test_median_days_are_hidden_unless_enough_referrals_were_completed():
    jan, feb, mar = DATES[2]
    days = BY_ID["ref.days_to_complete"]
    frame = pd.DataFrame([
        series_row("ref.days_to_complete", None, jan, None, None, 12.0),
        series_row("ref.completed", None, jan, 8, 20, 0.4),
        series_row("ref.days_to_complete", None, feb, None, None, 15.0),
        series_row("ref.completed", None, feb, 2, 20, 0.1),
        series_row("ref.days_to_complete", None, mar, None, None, 9.0),  # no proxy: hidden
    ])
    plan = LinePlan((Line(None, 2, "All areas"),))
    got = progress.points(frame, days, plan, DATES, threshold=5)
    assert [None if pd.isna(v) else v for v in got["value"]] == [12.0, None, None]
    assert list(got["suppressed"]) == [False, True, True]


# Targets joined with the lines ---------------------------------------------------------------

def target_row(indicator_id, area_id, target_on, target_value, baseline_on=None,
               baseline_value=None, programme_id=None):
    return {"indicator_id": indicator_id, "area_id": area_id, "programme_id": programme_id,
            "baseline_on": baseline_on, "baseline_value": baseline_value,
            "target_on": target_on, "target_value": target_value}


def test_targets_join_their_lines_in_the_indicators_unit():
    frame = pd.DataFrame([
        target_row("cov.population", None, D(2027, 6, 30), 0.8, D(2025, 12, 31), 0.55),
        target_row("cov.population", "D1", D(2027, 6, 30), 0.7),
        target_row("cov.population", "D1", D(2026, 12, 31), 0.65),
        target_row("cov.population", "T1", D(2027, 6, 30), 0.9),  # not a line: left out
        target_row("ref.overdue", "D1", D(2027, 6, 30), 0.1),  # another indicator
        target_row("cov.population", "D2", D(2027, 6, 30), 0.5, programme_id="BISP"),
    ])
    got = progress.target_marks(frame, POP, PLAN, None)
    assert list(got.columns) == list(progress.TARGET_MARK_COLUMNS)
    assert [(r.line, r.target_on, r.target) for r in got.itertuples()] == [
        ("All areas", D(2027, 6, 30), pytest.approx(80.0)),
        ("Peshawar", D(2026, 12, 31), pytest.approx(65.0)),
        ("Peshawar", D(2027, 6, 30), pytest.approx(70.0)),
    ]
    whole = got.iloc[0]
    assert whole["baseline"] == pytest.approx(55.0)
    assert (whole["baseline_text"], whole["target_text"]) == ("55.0%", "80.0%")
    assert got.iloc[1]["baseline_text"] == "–"


def test_per_programme_targets_follow_the_chosen_programme():
    frame = pd.DataFrame([
        target_row("cov.programme", "D1", D(2027, 6, 30), 0.5, programme_id="BISP"),
        target_row("cov.programme", "D1", D(2027, 6, 30), 0.6, programme_id="SEHAT"),
    ])
    programme = BY_ID["cov.programme"]
    got = progress.target_marks(frame, programme, PLAN, "SEHAT")
    assert list(got["target"]) == [pytest.approx(60.0)]
    assert progress.target_marks(frame, programme, PLAN, None).empty


# Status --------------------------------------------------------------------------------------

JAN1, JAN6, JAN11 = D(2026, 1, 1), D(2026, 1, 6), D(2026, 1, 11)


def test_expected_value_is_on_the_straight_line_from_baseline_to_target():
    assert progress.expected(JAN1, 40.0, JAN11, 60.0, JAN6) == pytest.approx(50.0)
    assert progress.expected(JAN1, 40.0, JAN11, 60.0, D(2025, 12, 1)) == pytest.approx(40.0)
    assert progress.expected(JAN1, 40.0, JAN11, 60.0, D(2026, 2, 1)) == pytest.approx(60.0)
    assert progress.expected(JAN1, 40.0, JAN1, 60.0, JAN1) == pytest.approx(60.0)


@pytest.mark.parametrize(("indicator", "latest_on", "latest", "kwargs", "code"), [
    # higher is better: baseline 40 on Jan 1, target 60 on Jan 11, 50 expected on Jan 6
    (POP, JAN6, 50.0, {}, "on_track"),  # exactly on the trajectory
    (POP, JAN6, 55.0, {}, "on_track"),
    (POP, JAN6, 49.9, {}, "off_track"),
    (POP, JAN6, 60.0, {}, "achieved"),
    (POP, JAN11, 59.0, {}, "missed"),
    (POP, D(2026, 2, 1), 61.0, {}, "achieved"),  # reached, even late
    (POP, JAN6, 45.0, {"baseline": None, "baseline_on": None}, "not_yet"),
    # lower is better: baseline 60 on Jan 1, target 40 on Jan 11, 50 expected on Jan 6
    (OVERDUE, JAN6, 50.0, {"baseline": 60.0, "target": 40.0}, "on_track"),
    (OVERDUE, JAN6, 52.0, {"baseline": 60.0, "target": 40.0}, "off_track"),
    (OVERDUE, JAN6, 39.0, {"baseline": 60.0, "target": 40.0}, "achieved"),
    (BY_ID["ref.made"], JAN6, 10.0, {}, "not_rated"),
    (POP, JAN6, 50.0, {"target": None, "target_on": None}, "no_target"),
    (POP, JAN6, None, {}, "no_figure"),
    (POP, JAN6, None, {"suppressed": True}, "hidden"),
])
def test_status_against_the_trajectory(indicator, latest_on, latest, kwargs, code):
    given = {"baseline_on": JAN1, "baseline": 40.0, "target_on": JAN11, "target": 60.0,
             **kwargs}
    got, _ = progress.status(indicator, latest_on=latest_on, latest=latest, **given)
    assert got == code
    assert code in progress.STATUS_TEXT


def test_status_rows_take_the_next_target_and_the_first_figure_as_baseline():
    jan, feb, mar = DATES[2]
    frame = pd.DataFrame([
        series_row("cov.population", "D1", jan, 40, 100, 0.40),
        series_row("cov.population", "D1", feb, 45, 100, 0.45),
        series_row("cov.population", "D1", mar, 44, 100, 0.44),
        series_row("cov.population", "D2", mar, 2, 100, 0.02),  # hidden
    ])
    plan = LinePlan((Line("D1", 2, "Peshawar"), Line("D2", 2, "Swat")))
    points = progress.points(frame, POP, plan, DATES, threshold=5)
    marks = progress.target_marks(pd.DataFrame([
        target_row("cov.population", "D1", D(2026, 1, 15), 0.2),  # passed: not the next one
        target_row("cov.population", "D1", D(2026, 5, 31), 0.60),  # no baseline
        target_row("cov.population", "D2", D(2026, 5, 31), 0.60),
    ]), POP, plan, None)
    rows = {r["line"]: r for r in progress.status_rows(POP, points, marks, plan)}
    peshawar = rows["Peshawar"]
    assert (peshawar["latest_on"], peshawar["latest"]) == (mar, "44.0%")
    assert (peshawar["target"], peshawar["target_on"]) == ("60.0%", D(2026, 5, 31))
    # From 40 % on Jan 31 to 60 % on May 31 (120 days): 59 days later 49.8 % is expected.
    assert peshawar["expected"] == "49.8%"
    assert peshawar["status_code"] == "off_track"
    assert peshawar["status"] == "Off track"
    swat = rows["Swat"]
    assert (swat["latest"], swat["status_code"]) == ("hidden", "hidden")


# The chart -----------------------------------------------------------------------------------

def test_chart_draws_a_line_per_area_with_baseline_and_target():
    jan, feb, mar = DATES[2]
    frame = pd.DataFrame([series_row("cov.population", a, d, 50 + i, 100, (50 + i) / 100)
                          for i, (a, d) in enumerate((a, d) for a in (None, "D1", "D2")
                                                     for d in DATES[2])])
    item = progress.IndicatorProgress(
        POP, progress.points(frame, POP, PLAN, DATES, threshold=5),
        progress.target_marks(pd.DataFrame([
            target_row("cov.population", "D1", D(2026, 12, 31), 0.7, jan, 0.5),
            target_row("cov.population", None, D(2026, 12, 31), 0.8),
        ]), POP, PLAN, None))
    spec = progress.chart(item, PLAN).to_dict()
    datasets = spec["datasets"]
    layers = spec["layer"]
    marks = [layer["mark"]["type"] for layer in layers]
    assert marks == ["line", "line", "point", "point"]  # snapshots, trajectories, targets, baselines
    actual = pd.DataFrame(datasets[layers[0]["data"]["name"]])
    assert actual.groupby("line").size().to_dict() == {"All areas": 3, "Peshawar": 3, "Swat": 3}
    assert layers[1]["mark"]["strokeDash"] == [6, 4]
    trajectories = pd.DataFrame(datasets[layers[1]["data"]["name"]])
    # Peshawar from its baseline; the whole registry (no baseline) level from the first date.
    assert sorted(trajectories["value"]) == pytest.approx([50.0, 70.0, 80.0, 80.0])
    target_points = pd.DataFrame(datasets[layers[2]["data"]["name"]])
    assert sorted(target_points["value"]) == pytest.approx([70.0, 80.0])
    assert layers[0]["encoding"]["y"]["title"] == "%"
    colour = layers[0]["encoding"]["color"]["scale"]
    assert colour["domain"] == ["All areas", "Peshawar", "Swat"]
    assert colour["range"][0] == progress.WHOLE_REGISTRY_COLOUR


def test_chart_without_targets_has_the_snapshot_line_only():
    item = progress.IndicatorProgress(
        POP, progress.points(pd.DataFrame(columns=["indicator_id"]), POP, PLAN, DATES, 5),
        progress.target_marks(pd.DataFrame(columns=["indicator_id"]), POP, PLAN, None))
    spec = progress.chart(item, PLAN).to_dict()
    assert len(spec["layer"]) == 1
    assert not item.has_figures


# Commands ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("as_of", "first"), [
    (D(2026, 10, 31), "2025-11-30"),  # a month-end: it is the twelfth
    (D(2026, 11, 29), "2025-11-30"),  # within a month: the twelve month-ends before it
    (D(2024, 2, 29), "2023-03-31"),
])
def test_the_command_takes_twelve_month_ends(as_of, first):
    command = progress.snapshot_command(as_of, [2, 1, 2])
    assert command == (f"python -m indicators.snapshot --monthly-from {first} "
                       f"--monthly-to {as_of.isoformat()} --levels 1,2")
    assert len(month_ends(D.fromisoformat(first), as_of)) == 12
    assert progress.one_snapshot_command(as_of, [2]) == \
        f"python -m indicators.snapshot --as-of {as_of.isoformat()} --levels 2"


# The app store -------------------------------------------------------------------------------

# `store` (an app store on each backend) comes from conftest.


def long_form(rows: list[tuple]) -> pd.DataFrame:
    """(indicator_id, area_id, numerator, denominator, value) rows as a long form."""
    return pd.DataFrame([{"indicator_id": i, "area_id": a, "area_name": a or "All areas",
                          "level": 2 if a else None, "programme_id": None, "breakdown": None,
                          "numerator": n, "denominator": d, "value": v}
                         for i, a, n, d, v in rows])


def test_load_joins_snapshots_and_targets_up_to_the_as_of_date(store: sa.Engine):
    days = month_ends(D(2026, 1, 1), D(2026, 4, 30))
    for index, day in enumerate(days):
        store_snapshot(store, long_form([
            ("cov.population", None, 50 + 2 * index, 100, (50 + 2 * index) / 100),
            ("cov.population", "D1", 20 + index, 40, (20 + index) / 40),
            ("ref.overdue", "D1", 2, 10, 0.2),  # a small cell every month
        ]), as_of=day, level=2, period_start=day, period_end=day, parameters=PARAMETERS)
    store_snapshot(store, long_form([("cov.population", "D1", 1, 2, 0.5)]), as_of=days[0],
                   level=3, period_start=days[0], period_end=days[0], parameters=PARAMETERS)
    from data_access.targets import store_targets
    store_targets(store, pd.DataFrame([
        target_row("cov.population", None, D(2026, 12, 31), 0.6, D(2025, 12, 31), 0.5),
        target_row("cov.population", "D1", D(2026, 12, 31), 0.55, D(2025, 12, 31), 0.5),
    ]), scope=ALL)
    plan = LinePlan((Line(None, 2, "All areas"), Line("D1", 2, "Peshawar")))
    data = progress.load(store, plan, ["cov.population", "ref.overdue", "nonsense"],
                         programme_id=None, as_of=days[2], threshold=5, scope=ALL)
    assert data.dates == {2: days[:3]}
    assert data.all_dates == days[:3] and not data.no_snapshots and data.has_targets
    population, overdue = data.indicators
    assert list(population.points["value"]) == pytest.approx(
        [50.0, 52.0, 54.0, 50.0, 52.5, 55.0])
    assert list(population.targets["target"]) == pytest.approx([60.0, 55.0])
    assert overdue.hidden == {"Peshawar": 3} and overdue.hidden_count == 3
    table = data.table()
    assert list(table.columns) == list(progress.STATUS_COLUMNS)
    # 54 % on Mar 31 against 52.5 % expected (50 % → 60 % over 2026); Peshawar reached 55 %.
    assert list(table["status_code"]) == ["on_track", "achieved", "no_target", "no_target"]
    assert list(table["latest"]) == ["54.0%", "55.0%", "–", "hidden"]

    empty = progress.load(store, plan, ["cov.population"], programme_id=None,
                          as_of=D(2025, 12, 31), threshold=5, scope=ALL)
    assert empty.no_snapshots and empty.missing_levels == [2]


def test_take_snapshots_stores_each_level_once_per_date(store: sa.Engine):
    day = D(2026, 10, 31)
    steps: list[tuple[float, str]] = []

    def figures_of(level: int) -> pd.DataFrame:
        return long_form([("cov.population", f"A{level}", 10, 20, 0.5),
                          ("cov.population", None, 30, 60, 0.5)])

    for _ in range(2):
        stored = progress.take_snapshots(
            store, figures_of, levels=[1, 2], as_of=day, period_start=D(2026, 8, 1),
            parameters=PARAMETERS, on_step=lambda f, text: steps.append((f, text)))
    assert stored == 4
    assert snapshot_dates(store, 1) == [day] and snapshot_dates(store, 2) == [day]
    assert len(snapshots(store)) == 2  # again replaces
    fractions = [f for f, _ in steps[:5]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert steps[0][1] == "Computing level 1…"


TEMPLATE_AREAS = AREAS[["area_id", "name", "level"]]
XLSX_PROGRAMMES = {"BISP": "BISP Kafaalat", "SEHAT": "Sehat card"}


def filled_template(rows: list[list]) -> bytes:
    areas, programmes = progress.template_frames(AREAS, XLSX_PROGRAMMES)
    wb = load_workbook(io.BytesIO(build_template(areas, programmes)))
    ws = wb["Targets"]
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


GOOD_ROW = ["cov.population", "D1", None, dt.datetime(2025, 12, 31), 50,
            dt.datetime(2027, 6, 30), 70]
WHOLE_ROW = ["cov.population", None, None, None, None, dt.datetime(2027, 6, 30), 80]
BAD_ROW = ["ref.overdue", "D9", None, None, None, dt.datetime(2027, 6, 30), 20]


def known(whole_registry: bool = True) -> dict:
    return {"known_areas": set(AREAS["area_id"]), "known_programmes": set(XLSX_PROGRAMMES),
            "whole_registry": whole_registry}


def test_import_with_one_bad_row_reports_it_and_stores_nothing(store: sa.Engine):
    outcome = targets_file.import_targets(store, filled_template([GOOD_ROW, BAD_ROW, WHOLE_ROW]),
                                      **known(), scope=ALL)
    assert not outcome.ok and outcome.stored == 0
    assert outcome.problems.to_dict("records") == [
        {"row": 3, "column": "area_id",
         "problem": "unknown area `D9` (see the Areas sheet; leave it empty for the whole "
                    "registry)"}]
    assert targets(store, scope=ALL).empty


def test_import_of_good_rows_stores_them_on_the_engines_scale(store: sa.Engine):
    outcome = targets_file.import_targets(store, filled_template([GOOD_ROW, WHOLE_ROW]), **known(), scope=ALL)
    assert outcome.ok and outcome.stored == 2
    stored = targets(store, scope=ALL)
    assert list(stored["target_value"]) == pytest.approx([0.8, 0.7])
    assert list(stored["area_id"]) == [None, "D1"]


def test_a_user_of_some_areas_cannot_set_a_whole_registry_target(store: sa.Engine):
    outcome = targets_file.import_targets(store, filled_template([GOOD_ROW, WHOLE_ROW]),
                                      **known(whole_registry=False), scope=ALL)
    assert [(p["row"], p["column"]) for p in outcome.problems.to_dict("records")] == [
        (3, "area_id")]
    assert targets(store, scope=ALL).empty


@pytest.mark.parametrize(("data", "message"), [
    (b"not a workbook", "not an Excel workbook"),
    (None, "no rows to import"),
])
def test_a_file_that_cannot_be_imported_says_why(store: sa.Engine, data, message):
    outcome = targets_file.import_targets(store, data or filled_template([]), **known(), scope=ALL)
    assert not outcome.ok and message in outcome.file_error
    assert targets(store, scope=ALL).empty


def test_template_frames_hold_areas_and_programmes():
    areas, programmes = progress.template_frames(AREAS, XLSX_PROGRAMMES)
    assert list(areas.columns) == ["area_id", "name", "level"]
    assert programmes.to_dict("records") == [
        {"programme_id": "BISP", "name": "BISP Kafaalat"},
        {"programme_id": "SEHAT", "name": "Sehat card"}]
