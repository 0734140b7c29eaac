"""The Referrals, Duplicates and Data-quality pages under AppTest.

Most tests run on a small demo registry (1,500 households; planted shared ids, double
enrolments, double dipping and dirty rows), generated once for the module; the empty-area
test uses test_app's registry, whose union council U4 has no household. Every figure shown
is compared with indicators.compute, every list's length with its indicator's numerator.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
from app_under_test import assert_clean, run_app

from data_access.areas import read_areas
from data_access.context import UserContext
from data_access.registry import open_registry
from demo.generator import Options, generate
from indicators import BY_ID, compute, default_period_start
from indicators.lists import LIST_BY_ID
from maps import layers
from ui import list_queries
from views import referrals as rv

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

REFERRALS, DUPLICATES, DATA_QUALITY = ("pages/referrals.py", "pages/duplicates.py",
                                       "pages/data_quality.py")
DEMO_END = dt.date(2026, 10, 31)
PERSONAL = {c.name for spec in LIST_BY_ID.values() for c in spec.columns if c.personal}
REF_IDS = ("ref.made", "ref.completed", "ref.rejected", "ref.overdue", "ref.days_to_complete")
DUP_IDS = ("dup.shared_id", "dup.double_enrolment", "dup.double_dipping")
DQ_IDS = ("dq.adults_without_id", "dq.malformed_id", "dq.unassessed_households")


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("list_pages") / "registry.db"
    generate(Options(out=out, households=1500, seed=5, end_date=DEMO_END, union_councils=40))
    return out


@pytest.fixture
def demo(demo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{demo_file}"
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return url


@lru_cache(maxsize=32)
def figures(url: str, level: int, start: dt.date | None = None,
            as_of: dt.date = DEMO_END) -> pd.DataFrame:
    engine = open_registry(url)
    try:
        return compute(engine, as_of=as_of, level=level,
                       period_start=start or default_period_start(as_of, 3))
    finally:
        engine.dispose()


def row(frame: pd.DataFrame, indicator_id: str, area_id: str | None = None,
        programme_id: str | None = None, breakdown: str | None = None) -> pd.Series:
    rows = frame[(frame["indicator_id"] == indicator_id)
                 & (frame["programme_id"].isna() if programme_id is None
                    else frame["programme_id"] == programme_id)
                 & (frame["breakdown"].isna() if breakdown is None
                    else frame["breakdown"] == breakdown)
                 & (frame["area_id"].isna() if area_id is None else frame["area_id"] == area_id)]
    assert len(rows) == 1, (indicator_id, area_id, programme_id)
    return rows.iloc[0]


def numerator(frame: pd.DataFrame, indicator_id: str, area_id: str | None = None,
              programme_id: str | None = None) -> int:
    return int(row(frame, indicator_id, area_id, programme_id)["numerator"])


def expected_metrics(frame: pd.DataFrame, ids, area_id: str | None = None,
                     programme_id: str | None = None) -> dict[str, str]:
    values = {}
    for indicator_id in ids:
        registry_only = indicator_id == "dq.invalid_rows"
        value = row(frame, indicator_id, None if registry_only else area_id,
                    programme_id)["value"]
        values[BY_ID[indicator_id].label] = BY_ID[indicator_id].format_value(
            None if pd.isna(value) else float(value))
    return values


def shown_metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def open_page(page: str, query: dict[str, str] | None = None):
    at = run_app(query)
    at.switch_page(page).run()
    assert_clean(at)
    return at


def frames(at, *first_columns: str) -> list[pd.DataFrame]:
    n = len(first_columns)
    return [d.value for d in at.dataframe if tuple(d.value.columns)[:n] == first_columns]


def table(at, *first_columns: str) -> pd.DataFrame:
    """The one dataframe whose columns begin with ``first_columns``."""
    found = frames(at, *first_columns)
    assert len(found) == 1, [list(d.value.columns)[:3] for d in at.dataframe]
    return found[0]


def list_length(at, *first_columns: str) -> int:
    """Rows of a list on the page; 0 when the page says it is empty instead."""
    found = frames(at, *first_columns)
    if not found:
        assert any("Nothing to list" in i.value or "No " in i.value for i in at.info)
        return 0
    return len(found[0])


def demo_areas(url: str, level: int) -> list[str]:
    engine = open_registry(url)
    try:
        areas = read_areas(engine)
    finally:
        engine.dispose()
    return sorted(areas.loc[areas["level"] == level, "area_id"])


# Referrals -----------------------------------------------------------------------------------

def test_referrals_default_view_shows_the_engine_figures_and_the_overdue_list(demo: str):
    at = open_page(REFERRALS)
    level2 = figures(demo, 2)
    assert shown_metrics(at) == expected_metrics(level2, REF_IDS)
    # The pipeline's stages add up to ref.made; its completed and rejected are the engine's.
    stages = table(at, "stage").set_index("stage")["referrals"]
    assert stages.sum() == numerator(level2, "ref.made")
    assert stages["completed"] == numerator(level2, "ref.completed")
    assert stages["rejected"] == numerator(level2, "ref.rejected")
    by_programme = table(at, "programme_id")
    assert by_programme["made"].sum() <= numerator(level2, "ref.made")
    for item in by_programme.itertuples():
        assert item.made == numerator(level2, "ref.made", programme_id=item.programme_id)
        assert item.overdue == numerator(level2, "ref.overdue", programme_id=item.programme_id)
    points = table(at, "access_point_id")
    assert points["made"].sum() == numerator(level2, "ref.made")
    trend = table(at, "month_start")
    assert len(trend) == 12 and trend["month_end"].iloc[-1] == DEMO_END
    overdue = table(at, "referral_id")
    assert len(overdue) == numerator(level2, "ref.overdue") > 0
    assert list(overdue["days_open"]) == sorted(overdue["days_open"], reverse=True)
    assert any(c.value.startswith(f"{len(overdue)} rows") for c in at.caption)
    assert at.expander[-1].label == "Definitions"
    assert BY_ID["ref.overdue"].definition in at.expander[-1].markdown[0].value
    assert "programme" not in at.query_params and "period" not in at.query_params


def test_changing_the_programme_filters_figures_list_and_link(demo: str):
    at = open_page(REFERRALS)
    level2 = figures(demo, 2)
    busiest = max(table(at, "programme_id").itertuples(), key=lambda r: r.overdue)
    at.selectbox(key="programme").select(busiest.programme_id).run()
    assert_clean(at)
    assert at.query_params["programme"] == busiest.programme_id
    assert shown_metrics(at) == expected_metrics(level2, REF_IDS,
                                                 programme_id=busiest.programme_id)
    overdue = table(at, "referral_id")
    assert len(overdue) == numerator(level2, "ref.overdue", programme_id=busiest.programme_id)
    assert set(overdue["programme_id"]) == {busiest.programme_id}
    assert table(at, "access_point_id")["made"].sum() == numerator(
        level2, "ref.made", programme_id=busiest.programme_id)
    assert table(at, "stage")["referrals"].sum() == busiest.made


def test_a_referrals_link_reopens_area_programme_and_period(demo: str):
    start = dt.date(2026, 5, 1)
    level2 = figures(demo, 2, start)
    made = level2[(level2["indicator_id"] == "ref.made") & level2["area_id"].notna()
                  & level2["programme_id"].notna() & level2["breakdown"].isna()]
    busiest = made.sort_values("numerator", ascending=False).iloc[0]
    district, programme_id = busiest["area_id"], busiest["programme_id"]
    at = open_page(REFERRALS, {"level": "2", "area": district, "programme": programme_id,
                               "period": start.isoformat()})
    assert at.sidebar.selectbox(key="area").value == district
    assert at.selectbox(key="programme").value == programme_id
    assert at.date_input(key="period").value == start
    assert at.query_params["period"] == start.isoformat()
    assert shown_metrics(at) == expected_metrics(level2, REF_IDS, district, programme_id)
    assert table(at, "stage")["referrals"].sum() == busiest["numerator"] > 0
    assert list_length(at, "referral_id") == numerator(level2, "ref.overdue", district,
                                                       programme_id)
    # Back to the sidebar's period: the link forgets it.
    at.date_input(key="period").set_value(default_period_start(DEMO_END, 3)).run()
    assert_clean(at)
    assert "period" not in at.query_params


# Duplicates ----------------------------------------------------------------------------------

def test_duplicates_default_view_and_lists_equal_the_numerators(demo: str):
    at = open_page(DUPLICATES)
    level2 = figures(demo, 2)
    assert shown_metrics(at) == expected_metrics(level2, DUP_IDS)
    by_area = table(at, "area_id").set_index("area_id")
    assert sorted(by_area.index) == demo_areas(demo, 2)
    for area_id, item in by_area.iterrows():
        for indicator_id in DUP_IDS:
            assert item[f"{indicator_id}:numerator"] == numerator(level2, indicator_id, area_id)
    assert len(table(at, "national_id")) == numerator(level2, "dup.shared_id") > 0
    double = table(at, "unit")
    assert len(double) == numerator(level2, "dup.double_enrolment") > 0
    assert len(table(at, "household_id")) == numerator(level2, "dup.double_dipping") > 0
    # Double enrolment by programme is counted from the list.
    per_programme = [d.value for d in at.dataframe if list(d.value.columns) == [
        "key", "name", "rows"]][0]
    assert dict(zip(per_programme["key"], per_programme["rows"], strict=True)) == \
        double["programme_id"].value_counts().to_dict()


def test_drilling_the_lists_to_an_area(demo: str):
    at = open_page(DUPLICATES)
    level2 = figures(demo, 2)
    district = max(demo_areas(demo, 2), key=lambda a: numerator(level2, "dup.shared_id", a))
    at.selectbox(key="list_area").select(district).run()
    assert_clean(at)
    assert at.query_params["list_area"] == district
    shared = table(at, "national_id")
    assert len(shared) == numerator(level2, "dup.shared_id", district) > 0
    assert set(shared["area_id"]) <= set(demo_areas(demo, 4))
    assert list_length(at, "unit") == numerator(level2, "dup.double_enrolment", district)
    assert list_length(at, "household_id") == numerator(level2, "dup.double_dipping", district)
    # The sidebar's figures stay those of all areas; a link reopens the drilled lists.
    assert shown_metrics(at) == expected_metrics(level2, DUP_IDS)
    again = open_page(DUPLICATES, {"level": "2", "list_area": district})
    assert again.selectbox(key="list_area").value == district
    assert len(table(again, "national_id")) == len(shared)


# Data quality --------------------------------------------------------------------------------

def test_data_quality_default_view_lists_every_offending_row(demo: str):
    at = open_page(DATA_QUALITY)
    level2 = figures(demo, 2)
    assert shown_metrics(at) == expected_metrics(level2, (*DQ_IDS, "dq.invalid_rows"))
    by_area = table(at, "area_id").set_index("area_id")
    for area_id, item in by_area.iterrows():
        for indicator_id in DQ_IDS:
            assert item[f"{indicator_id}:numerator"] == numerator(level2, indicator_id, area_id)
    rows = table(at, "table", "row_id")
    assert len(rows) == sum(numerator(level2, i) for i in (*DQ_IDS, "dq.invalid_rows"))
    per_indicator = rows.groupby("indicator_id").size()
    for indicator_id in (*DQ_IDS, "dq.invalid_rows"):
        assert per_indicator[indicator_id] == numerator(level2, indicator_id)
    assert rows["rule"].notna().all()
    by_rule = table(at, "rule_key").set_index("rule_key")["rows"]
    assert by_rule.sum() == len(rows)
    left_out = table(at, "table", "left_out").set_index("table")["left_out"]
    for name, count in left_out.items():
        assert count == int(row(level2, "dq.invalid_rows", breakdown=f"table={name}")["numerator"])


def test_filtering_a_rule_keeps_its_rows_and_the_link(demo: str):
    at = open_page(DATA_QUALITY)
    level2 = figures(demo, 2)
    at.multiselect(key="rules").select("person.malformed_national_id").run()
    assert_clean(at)
    assert at.query_params["rules"] == "person.malformed_national_id"
    rows = table(at, "table", "row_id")
    assert len(rows) == numerator(level2, "dq.malformed_id") > 0
    assert set(rows["rule_id"]) == {"malformed_national_id"}
    at.multiselect(key="rules").select("household.unassessed_household").run()
    assert len(table(at, "table", "row_id")) == numerator(level2, "dq.malformed_id") + numerator(
        level2, "dq.unassessed_households")
    # The link reopens the filter, drilled to a district.
    district = demo_areas(demo, 2)[-1]
    again = open_page(DATA_QUALITY, {"level": "2", "list_area": district,
                                     "rules": "household.unassessed_household"})
    assert again.multiselect(key="rules").value == ["household.unassessed_household"]
    assert list_length(again, "table", "row_id") == numerator(
        level2, "dq.unassessed_households", district)


def test_with_boundaries_the_chosen_figure_is_mapped(demo: str, demo_file: Path, monkeypatch):
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(demo_file.with_suffix(".geojson")))
    at = open_page(DATA_QUALITY)
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.json)
    areas = next(layer for layer in spec["layers"] if layer["id"] == layers.LAYER_AREAS)
    features = areas["data"]["features"] if isinstance(areas["data"], dict) else areas["data"]
    level2 = figures(demo, 2)
    shown = {f["properties"]["area_id"]: f["properties"]["value"] for f in features}
    assert sorted(shown) == demo_areas(demo, 2)
    for area_id, value in shown.items():
        expected = float(row(level2, "dq.adults_without_id", area_id)["value"])
        assert value == pytest.approx(expected, abs=1e-6)  # the deck rounds values
    at.selectbox(key="map").select("dq.malformed_id").run()
    assert_clean(at)
    assert at.query_params["map"] == "dq.malformed_id"


# Every page -----------------------------------------------------------------------------------

@pytest.mark.parametrize("page", [REFERRALS, DUPLICATES, DATA_QUALITY])
def test_a_donor_has_no_list_page(demo: str, page: str, monkeypatch):
    """Donors see suppressed aggregates only: the list pages (built on lists and unsuppressed
    referral counts) are not in their menu, and data_access refuses them their data
    (tests/test_access.py)."""
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "donor")
    at = run_app()
    assert_clean(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


def test_an_officer_of_one_district_sees_its_referrals_only(demo: str, monkeypatch):
    level2 = figures(demo, 2)
    district = demo_areas(demo, 2)[1]
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", district)
    at = open_page(REFERRALS)
    assert at.sidebar.selectbox(key="area").value == district
    assert shown_metrics(at) == expected_metrics(level2, REF_IDS, district)
    assert table(at, "access_point_id")["made"].sum() == numerator(level2, "ref.made", district)
    assert table(at, "month_start")["made"].sum() > 0
    overdue = table(at, "referral_id")
    assert len(overdue) == numerator(level2, "ref.overdue", district) > 0
    assert set(overdue["area_id"]) <= set(demo_areas(demo, 4))


@pytest.mark.parametrize(("page", "why"), [
    (REFERRALS, "No referral was made in UC Kokarai"),
    (DUPLICATES, "there is nothing that could be duplicated"),
    (DATA_QUALITY, "No households are registered in UC Kokarai"),
])
def test_an_area_without_data_says_why(registry_url: str, page: str, why: str):
    at = open_page(page, {"level": "4", "area": "U4"})
    assert any(why in i.value for i in at.info), [i.value for i in at.info]


def test_an_unexpected_error_is_a_plain_message(demo: str, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(rv, "pipeline", broken)
    at = run_app()
    at.switch_page(REFERRALS).run()
    assert not at.exception
    assert "Something went wrong while drawing this page" in at.error[0].value
    assert "boom" not in at.error[0].value


# Without a page --------------------------------------------------------------------------------

def test_the_csv_download_is_the_whole_filtered_list(demo: str):
    engine = open_registry(demo)
    try:
        options = dict(area_id=None, areas=read_areas(engine), as_of=DEMO_END,
                       period_start=default_period_start(DEMO_END, 3), referral_sla_days=30,
                       poverty_cutoff=32.0)
        admin = list_queries.csv_bytes(engine, "data_quality_rows", context=UserContext("admin"),
                                   filters=[(rv.RULE_COLUMNS, ("person.malformed_national_id",))],
                                   **options)
        officer = list_queries.csv_bytes(engine, "overdue_referrals",
                                     context=UserContext("officer"), **options)
    finally:
        engine.dispose()
    lines = admin.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Table,Row,Area,Area name,Indicator,Rule")
    assert len(lines) - 1 == numerator(figures(demo, 2), "dq.malformed_id")
    assert len(officer.decode("utf-8-sig").splitlines()) - 1 == numerator(
        figures(demo, 2), "ref.overdue")
