"""views.referrals: referral stages and the monthly trend agree with the engine on
both databases (hand-counted on the fixture registry), and the shaping of tables and lists.

Fixture period [2025-12-01, 2026-02-28]: referrals made R1, R2, R4, R5, R7, R8, R9, R10, R12,
R13 (10). Stages at the end: completed R1, R2, R9, R12; rejected R7; closed after the end
R8 (completed 03-05) and R13 (rejected 03-02); pending R4, R10; accepted R5. Open at the end:
R4, R5, R6 (made before the period), R8, R10, R13; overdue (referred on or before 01-29): R5,
R6, R13.
"""

from __future__ import annotations

import datetime as dt

import fixture_registry as fx
import pandas as pd
import pytest

from data_access.areas import read_area_tree
from indicators import compute
from indicators.lists import DQ_RULES
from views import referrals as rv

D = dt.date.fromisoformat
REFERRAL_IDS = ["ref.made", "ref.completed", "ref.rejected", "ref.overdue"]


def engine_row(figures: pd.DataFrame, indicator_id: str, area_id: str | None = None,
               programme_id: str | None = None) -> tuple[int, int | None]:
    rows = figures[(figures["indicator_id"] == indicator_id) & figures["breakdown"].isna()
                   & (figures["programme_id"].isna() if programme_id is None
                      else figures["programme_id"] == programme_id)
                   & (figures["area_id"].isna() if area_id is None
                      else figures["area_id"] == area_id)]
    assert len(rows) == 1, (indicator_id, area_id, programme_id)
    row = rows.iloc[0]
    return int(row["numerator"]), (None if pd.isna(row["denominator"])
                                   else int(row["denominator"]))


def totals(counts: pd.DataFrame) -> dict[str, int]:
    return {c: int(counts[c].sum()) for c in rv.COUNT_COLUMNS}


def agree(counts: pd.DataFrame, figures: pd.DataFrame, area_id: str | None,
          programme_id: str | None = None) -> None:
    got = totals(counts)
    assert sum(got[s] for s in rv.STAGES) == got["made"]
    assert engine_row(figures, "ref.made", area_id, programme_id)[0] == got["made"]
    assert engine_row(figures, "ref.completed", area_id, programme_id) == (
        got["completed"], got["made"])
    assert engine_row(figures, "ref.rejected", area_id, programme_id) == (
        got["rejected"], got["made"])
    assert engine_row(figures, "ref.overdue", area_id, programme_id) == (
        got["overdue"], got["open"])


# Counting in the database --------------------------------------------------------------------

def test_stages_are_counted_by_hand_and_add_up_to_the_engine_figures(make_registry):
    engine = make_registry(fx.fixture_tables())
    counts = rv.count_referral_stages(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START)
    assert totals(counts) == {"made": 10, "pending": 2, "accepted": 1, "completed": 4,
                              "rejected": 1, "closed_later": 2, "open": 6, "overdue": 3}
    areas = read_area_tree(engine)
    for level in (2, 3):
        figures = compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level,
                          indicator_ids=REFERRAL_IDS)
        agree(counts, figures, None)
        for area_id in sorted(areas.table.loc[areas.table["level"] == level, "area_id"]):
            inside = rv.within(counts, areas.below(area_id))
            agree(inside, figures, area_id)
            for programme_id in ("PH1", "PH2", "PP1", "PP2", "PP3"):
                agree(rv.within(inside, None, programme_id), figures, area_id, programme_id)


def test_the_monthly_trend_equals_the_engine_month_by_month(make_registry):
    engine = make_registry(fx.fixture_tables())
    periods = rv.trend_months(fx.AS_OF, 6)
    monthly = rv.count_monthly_referrals(engine, as_of=fx.AS_OF, months=6)
    trend = rv.monthly_trend(monthly, periods)
    assert trend["made"].sum() > 0 and trend["overdue"].sum() > 0
    for row in trend.itertuples():
        figures = compute(engine, as_of=row.month_end, period_start=row.month_start, level=2,
                          indicator_ids=REFERRAL_IDS)
        assert engine_row(figures, "ref.made")[0] == row.made, row.month_start
        assert engine_row(figures, "ref.completed") == (row.completed, row.made)
        assert engine_row(figures, "ref.rejected") == (row.rejected, row.made)
        assert engine_row(figures, "ref.overdue") == (row.overdue, row.open)
    # February 2026 by hand: made R4, R8, R9, R10, R12 (5); completed by 02-28 R9, R12.
    february = trend.set_index("month_start").loc[D("2026-02-01")]
    assert (february["made"], february["completed"]) == (5, 2)
    # One area and one programme: December in D1 (U11, U12) for PH2 is R1 alone.
    areas = read_area_tree(engine)
    d1 = rv.monthly_trend(monthly, periods, areas.below("D1"), "PH2")
    assert d1.set_index("month_start").loc[D("2025-12-01"), "made"] == 1


@pytest.mark.parametrize(("as_of", "first", "last"), [
    (D("2026-10-31"), (D("2025-11-01"), D("2025-11-30")), (D("2026-10-01"), D("2026-10-31"))),
    (D("2026-11-15"), (D("2025-12-01"), D("2025-12-31")), (D("2026-11-01"), D("2026-11-15"))),
    (D("2024-03-01"), (D("2023-04-01"), D("2023-04-30")), (D("2024-03-01"), D("2024-03-01"))),
])
def test_trend_months_are_calendar_months_ending_on_the_as_of_date(as_of, first, last):
    periods = rv.trend_months(as_of)
    assert len(periods) == 12
    assert periods[0] == first and periods[-1] == last
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        assert start == end + dt.timedelta(days=1)  # no gap, no overlap
    assert (D("2024-02-01"), D("2024-02-29")) in rv.trend_months(D("2024-03-01"))  # leap year
    assert rv.trend_months(as_of, 1) == [last]
    with pytest.raises(ValueError):
        rv.trend_months(as_of, 0)


def test_monthly_trend_fills_empty_months_and_marks_the_partial_one():
    periods = rv.trend_months(D("2026-11-15"), 3)
    monthly = pd.DataFrame([
        {"month_start": D("2026-10-01"), "month_end": D("2026-10-31"), "area_id": "U1",
         "programme_id": "P", "made": 4, "completed": 1, "rejected": 0, "open": 3, "overdue": 0},
        {"month_start": D("2026-10-01"), "month_end": D("2026-10-31"), "area_id": "U2",
         "programme_id": "Q", "made": 2, "completed": 2, "rejected": 0, "open": 2, "overdue": 2},
    ])
    trend = rv.monthly_trend(monthly, periods)
    assert list(trend["month_start"]) == [D("2026-09-01"), D("2026-10-01"), D("2026-11-01")]
    assert list(trend["made"]) == [0, 6, 0]
    assert list(trend["partial"]) == [False, False, True]
    assert trend["completed_pct"].iloc[1] == 50.0 and pd.isna(trend["completed_pct"].iloc[0])
    assert trend["overdue_pct"].iloc[1] == 40.0
    assert list(rv.monthly_trend(monthly, periods, {"U2"})["made"]) == [0, 2, 0]
    assert list(rv.monthly_trend(monthly, periods, None, "P")["made"]) == [0, 4, 0]


# Shaping referral counts ----------------------------------------------------------------------

def counts_frame() -> pd.DataFrame:
    rows = [
        # area, programme, access point, made, pending, accepted, completed, rejected, later, open, overdue
        ("U1", "A", "AP1", 5, 1, 1, 2, 1, 0, 3, 1),
        ("U1", "B", "AP1", 2, 0, 0, 2, 0, 0, 0, 0),
        ("U2", "A", None, 3, 1, 0, 0, 0, 2, 4, 2),
        ("U2", "Z", "AP2", 0, 0, 0, 0, 0, 0, 1, 1),  # an unknown programme, open only
    ]
    return pd.DataFrame(rows, columns=["area_id", "programme_id", "access_point_id",
                                       *rv.COUNT_COLUMNS])


def test_pipeline_stages_add_up_to_the_referrals_made():
    stages = rv.pipeline(counts_frame(), translate=str.upper)
    assert list(stages["stage"]) == list(rv.STAGES)
    assert stages["referrals"].sum() == 10
    assert list(stages["referrals"]) == [2, 1, 4, 1, 2]
    assert list(stages["share"]) == [20.0, 10.0, 40.0, 10.0, 20.0]
    assert stages["label"].iloc[0] == "PENDING"
    empty = rv.pipeline(counts_frame().iloc[0:0])
    assert empty["referrals"].sum() == 0 and empty["share"].isna().all()


def test_by_programme_lists_every_programme_most_referrals_first():
    table = rv.by_programme(counts_frame(), {"A": "Alpha", "B": "Beta", "C": "Gamma"},
                            {"A": 12.5})
    assert list(table["programme_id"]) == ["A", "B", "C", "Z"]
    assert list(table["programme"]) == ["Alpha", "Beta", "Gamma", "Z"]
    assert list(table["made"]) == [8, 2, 0, 0]
    alpha = table.iloc[0]
    assert (alpha["completed_pct"], alpha["overdue_pct"], alpha["median_days"]) == (
        25.0, pytest.approx(3 / 7 * 100, abs=0.05), 12.5)
    assert pd.isna(table.iloc[2]["completed_pct"]) and pd.isna(table.iloc[1]["median_days"])
    assert table["made"].sum() == counts_frame()["made"].sum()


def test_by_access_point_names_points_and_keeps_referrals_without_one():
    points = pd.DataFrame({"access_point_id": ["AP1", "AP2"], "name": ["Desk one", "Desk two"],
                           "kind": ["desk", "camp"]})
    table = rv.by_access_point(counts_frame(), points, translate=lambda s: f"<{s}>")
    assert list(table["access_point"]) == ["Desk one", f"<{rv.NO_ACCESS_POINT}>", "Desk two"]
    assert list(table["made"]) == [7, 3, 0]
    assert table["access_point_id"].tolist() == ["AP1", None, "AP2"]
    assert table["made"].sum() == counts_frame()["made"].sum()
    only_b = rv.by_access_point(rv.within(counts_frame(), None, "B"), points)
    assert list(only_b["access_point_id"]) == ["AP1"]


def test_programme_medians_are_the_engine_values_of_the_area():
    figures = pd.DataFrame([
        {"indicator_id": "ref.days_to_complete", "area_id": "D1", "programme_id": "A",
         "breakdown": None, "value": 4.5},
        {"indicator_id": "ref.days_to_complete", "area_id": "D1", "programme_id": "B",
         "breakdown": None, "value": None},
        {"indicator_id": "ref.days_to_complete", "area_id": None, "programme_id": "A",
         "breakdown": None, "value": 9.0},
        {"indicator_id": "ref.days_to_complete", "area_id": "D1", "programme_id": None,
         "breakdown": None, "value": 3.0},
    ])
    assert rv.programme_medians(figures, "D1") == {"A": 4.5, "B": None}
    assert rv.programme_medians(figures, None) == {"A": 9.0}


@pytest.mark.parametrize(("stored", "linked", "previous", "expected"), [
    (None, None, None, "default"),  # first run, no link: the sidebar's period
    (None, D("2026-01-01"), None, D("2026-01-01")),  # first run from a link
    (None, D("2027-01-01"), None, "default"),  # a link past the as-of date
    (D("2026-02-01"), None, D("2026-08-01"), D("2026-02-01")),  # the user's choice stays
    (D("2026-08-01"), D("2026-02-01"), D("2026-08-01"), "default"),  # following the default
    (D("2026-12-01"), None, D("2026-08-01"), "default"),  # after the as-of date
])
def test_the_period_start_follows_the_sidebar_unless_chosen(stored, linked, previous, expected):
    default = D("2026-09-01")
    got = rv.period_start_choice(stored, linked, default, previous, D("2026-11-30"))
    assert got == (default if expected == "default" else expected)


# Lists ---------------------------------------------------------------------------------------

def chunks() -> list[pd.DataFrame]:
    return [
        pd.DataFrame({"table": ["person", "household", "person"], "rule_id": ["a", "b", "a"],
                      "day": [D("2026-01-02"), None, D("2026-01-03")],
                      "n": pd.array([1, None, 3], dtype="Int64")}),
        pd.DataFrame({"table": ["person"], "rule_id": ["c"], "day": [None], "n": [4]}),
        pd.DataFrame({"table": [], "rule_id": [], "day": [], "n": []}),
        pd.DataFrame({"table": ["household", "person"], "rule_id": ["b", "a"],
                      "day": [None, None], "n": [5, 6]}),
    ]


def test_scan_keeps_filtered_rows_counts_them_and_stops_at_the_limit():
    columns = ["table", "rule_id", "day", "n"]
    scan = rv.scan_list(chunks(), columns=columns, limit=4,
                        group_by=[("table", "rule_id"), ("table",)])
    assert (scan.total, len(scan.frame), scan.truncated) == (6, 4, True)
    assert list(scan.frame["n"].fillna(0)) == [1, 0, 3, 4]  # the list's order
    assert scan.counts[("table", "rule_id")] == {"person.a": 3, "household.b": 2, "person.c": 1}
    assert scan.counts[("table",)] == {"person": 4, "household": 2}

    kept = rv.scan_list(chunks(), columns=columns, limit=10,
                        filters=[(("table", "rule_id"), ("person.a", "person.c"))])
    assert (kept.total, kept.truncated) == (4, False)
    assert list(kept.frame["n"]) == [1, 3, 4, 6]

    none = rv.scan_list(chunks(), columns=columns, filters=[(("table",), ("nothing",))])
    assert none.total == 0 and list(none.frame.columns) == columns


def test_csv_has_the_labels_dates_and_only_the_kept_rows():
    data = rv.write_csv(chunks(), columns=["table", "day", "n"],
                        labels=["Table", "Day", "Number"],
                        filters=[(("rule_id",), ("a",))])
    assert data.startswith(b"\xef\xbb\xbf")  # a byte-order mark: spreadsheets read UTF-8
    lines = data.decode("utf-8-sig").splitlines()
    assert lines == ["Table,Day,Number", "person,2026-01-02,1", "person,2026-01-03,3",
                     "person,,6"]


def test_rule_keys_parse_from_links_in_the_rules_order():
    keys = list(rv.RULES)
    assert len(keys) == len(DQ_RULES) == len(set(keys))  # table.rule_id names one rule
    assert rv.parse_rule_keys(f"{keys[3]}, nonsense,{keys[0]}") == [keys[0], keys[3]]
    assert rv.parse_rule_keys(None) == [] and rv.parse_rule_keys("") == []
    table = rv.rule_table({keys[1]: 7})
    assert list(table["rule_key"]) == keys and table["rows"].sum() == 7
    assert table.set_index("rule_key").at[keys[1], "rows"] == 7


def test_group_counts_put_the_largest_first():
    frame = rv.group_counts({"B": 2, "A": 5, "": 1, "C": 2}, {"A": "Alpha"})
    assert list(frame["name"]) == ["Alpha", "B", "C", "–"]
    assert list(frame["rows"]) == [5, 2, 2, 1]


@pytest.mark.parametrize(("selection", "expected"), [
    ({"selection": {"rows": [1], "columns": []}}, "T2"),
    ({"selection": {"rows": [], "columns": []}}, None),
    ({"selection": {"rows": [5]}}, None),  # a table redrawn shorter since
    (None, None),
])
def test_a_clicked_row_picks_its_area(selection, expected):
    assert rv.picked_area(selection, ["T1", "T2"]) == expected


# Figures by area -----------------------------------------------------------------------------

def long_form(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([
        {"indicator_id": i, "area_id": a, "programme_id": None, "breakdown": b,
         "numerator": n, "denominator": d, "value": (n / d if d else None)}
        for i, a, b, n, d in rows])


def test_figures_by_area_put_the_worst_first_in_percent():
    figures = long_form([
        ("dup.shared_id", "A1", None, 1, 10), ("dup.shared_id", "A2", None, 3, 10),
        ("dup.shared_id", "A3", None, 0, 0), ("dup.double_dipping", "A1", None, 2, 4),
        ("dup.shared_id", "A1", "sex=F", 9, 9), ("dup.shared_id", None, None, 4, 20),
    ])
    shown = pd.DataFrame({"area_id": ["A1", "A2", "A3", "A4"],
                          "name": ["One", "Two", "Three", "Four"]})
    table = rv.figures_by_area(figures, shown, ["dup.shared_id", "dup.double_dipping"])
    assert list(table["area"]) == ["Two", "One", "Four", "Three"]  # no value: last, by name
    by_area = table.set_index("area_id")
    assert by_area.at["A2", "dup.shared_id"] == 30.0
    assert by_area.at["A1", "dup.shared_id:numerator"] == 1
    assert by_area.at["A1", "dup.double_dipping"] == 50.0
    assert pd.isna(by_area.at["A3", "dup.shared_id"])  # nothing to count: no value
    assert pd.isna(by_area.at["A4", "dup.shared_id:denominator"])


def test_left_out_rows_by_table():
    figures = long_form([
        ("dq.invalid_rows", None, None, 7, 100), ("dq.invalid_rows", None, "table=person", 5, 60),
        ("dq.invalid_rows", None, "table=referral", 2, 40),
    ])
    table = rv.left_out_by_table(figures)
    assert table.to_dict("list") == {"table": ["person", "referral"], "left_out": [5, 2],
                                     "rows": [60, 40], "share": [8.3, 5.0]}
