"""The app as a user meets it (AppTest), on the small registry of tests/app_under_test.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from app_under_test import (
    AREAS,
    LABELS,
    ROOT,
    assert_clean,
    expected_values,
    run_app,
    shown_values,
)
from streamlit.testing.v1 import AppTest

from data_access.context import UserContext
from data_access.registry import open_registry
from indicators import BY_ID, default_as_of
from ui import queries
from views import figure_cards

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

# The Overview --------------------------------------------------------------------------------

def test_overview_shows_the_headline_figures_of_all_areas(registry_url: str):
    at = run_app()
    assert_clean(at)
    assert [m.label for m in at.metric] == LABELS
    assert at.sidebar.selectbox(key="level").value == 2
    assert at.sidebar.selectbox(key="area").value == "__all__"
    assert shown_values(at) == expected_values(registry_url, level=2, area_id=None)


def test_every_metric_carries_its_definition(registry_url: str):
    at = run_app()
    helps = {m.label: m.help for m in at.metric}
    for indicator_id in ("cov.poor_households", "cov.population", "ref.overdue",
                         "dup.double_dipping", "dq.invalid_rows"):
        ind = BY_ID[indicator_id]
        assert helps[ind.label].startswith(ind.definition)
    assert "registered on or before the as-of date" in helps["Registered households"]
    expander = at.expander[0]
    assert expander.label == "Definitions"
    text = expander.markdown[0].value
    for label in LABELS:
        assert f"**{label}**" in text


@pytest.mark.parametrize("source, said", [("auto", "Registry copied at 20"),
                                          ("live", "Registry last loaded: 20")])
def test_sidebar_shows_as_of_date_and_last_load(registry_url: str, monkeypatch, source, said):
    """The registry is read through its analytical copy by default (the sidebar says when it
    was copied), or live (the sidebar says when it was last written)."""
    monkeypatch.setenv("SOCLE_ANALYTICS_SOURCE", source)
    at = run_app()
    engine = open_registry(registry_url)
    as_of = default_as_of(engine)
    engine.dispose()
    assert at.sidebar.date_input(key="as_of").value == as_of
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert f"Figures as of {as_of.isoformat()}" in captions
    assert said in captions
    assert at.query_params == {"level": "2", "as_of": as_of.isoformat()}


def test_choosing_an_area_changes_figures_and_link(registry_url: str):
    at = run_app()
    at.sidebar.selectbox(key="area").select("D1").run()
    assert_clean(at)
    assert shown_values(at) == expected_values(registry_url, level=2, area_id="D1")
    assert at.query_params["area"] == "D1"
    assert at.query_params["level"] == "2"
    captions = [c.value for c in at.main.caption]
    assert captions[0].startswith("Peshawar · District")
    assert any(c.startswith("All areas: ") for c in captions)

    at.sidebar.selectbox(key="area").select("D2").run()
    assert shown_values(at) == expected_values(registry_url, level=2, area_id="D2")
    assert shown_values(at) != expected_values(registry_url, level=2, area_id="D1")


def test_choosing_a_level_offers_its_areas(registry_url: str):
    at = run_app()
    at.sidebar.selectbox(key="area").select("D2").run()
    at.sidebar.selectbox(key="level").select(3).run()
    assert_clean(at)
    area = at.sidebar.selectbox(key="area")
    assert area.options == ["All areas", "Babuzai", "Mingora", "Peshawar City"]
    assert area.value == "__all__"  # the district is not a tehsil: back to all areas
    assert at.query_params["level"] == "3"
    assert "area" not in at.query_params
    area.select("T2").run()
    assert shown_values(at) == expected_values(registry_url, level=3, area_id="T2")
    assert at.query_params["area"] == "T2"


def test_changing_the_as_of_date_changes_figures_and_link(registry_url: str):
    at = run_app()
    day = dt.date(2024, 7, 15)
    at.sidebar.date_input(key="as_of").set_value(day).run()
    assert_clean(at)
    assert at.query_params["as_of"] == "2024-07-15"
    assert shown_values(at) == expected_values(registry_url, level=2, area_id=None, as_of=day)
    assert shown_values(at) != expected_values(registry_url, level=2, area_id=None)


def test_a_link_reopens_the_same_view(registry_url: str):
    at = run_app({"level": "3", "area": "T1", "as_of": "2024-08-31"})
    assert_clean(at)
    assert at.sidebar.selectbox(key="level").value == 3
    assert at.sidebar.selectbox(key="area").value == "T1"
    assert at.sidebar.date_input(key="as_of").value == dt.date(2024, 8, 31)
    assert shown_values(at) == expected_values(registry_url, level=3, area_id="T1",
                                               as_of=dt.date(2024, 8, 31))


def test_a_link_to_an_area_alone_finds_its_level(registry_url: str):
    at = run_app({"area": "U3"})
    assert_clean(at)
    assert at.sidebar.selectbox(key="level").value == 4
    assert at.sidebar.selectbox(key="area").value == "U3"


@pytest.mark.parametrize("params", [
    {"level": "9", "area": "nowhere", "as_of": "yesterday"},
    {"level": "two", "as_of": "1850-01-01"},
])
def test_a_broken_link_falls_back_to_the_defaults(registry_url: str, params):
    at = run_app(params)
    assert_clean(at)
    assert at.sidebar.selectbox(key="level").value == 2
    assert at.sidebar.selectbox(key="area").value == "__all__"
    assert shown_values(at) == expected_values(registry_url, level=2, area_id=None)


def test_an_area_without_households_says_why(registry_url: str):
    at = run_app({"level": "4", "area": "U4"})
    assert_clean(at)
    assert "No households are registered in UC Kokarai" in at.info[0].value
    values = shown_values(at)
    assert values["Registered households"] == "0"
    assert values["Coverage of the poor"] == "–"


def test_rows_left_out_are_announced(registry_url: str):
    at = run_app()
    assert "break the registry contract" in at.warning[0].value


def test_a_user_limited_to_a_district_sees_only_it(registry_url: str, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", "D2")
    at = run_app()
    assert_clean(at)
    level = at.sidebar.selectbox(key="level")
    assert level.options == ["District", "Tehsil", "Union council"]
    area = at.sidebar.selectbox(key="area")
    assert area.options == ["Swat"]  # no "All areas": the whole registry is not theirs
    assert shown_values(at)["Registered households"] == expected_values(
        registry_url, level=2, area_id="D2")["Registered households"]
    level.select(4).run()
    assert at.sidebar.selectbox(key="area").options == ["UC Kokarai", "UC Mingora"]


def test_an_unexpected_error_is_a_plain_message(registry_url: str, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(figure_cards, "headline_figures", broken)
    at = run_app()
    assert not at.exception
    assert "Something went wrong while drawing this page" in at.error[0].value
    assert "boom" not in at.error[0].value


# Start-up problems ---------------------------------------------------------------------------

def test_missing_registry_file_is_named(tmp_path: Path, monkeypatch):
    missing = tmp_path / "data" / "registry.db"
    monkeypatch.setenv("SOCLE_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    at = run_app()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert str(missing) in message
    assert "does not exist" in message
    assert "python -m demo" in message
    assert not at.metric


def test_registry_breaking_the_contract_is_explained(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE area (area_id TEXT PRIMARY KEY)")
    engine.dispose()
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    at = run_app()
    assert not at.exception
    message = at.error[0].value
    assert "registry contract" in message
    assert "table `household` is missing" in message


def test_bad_setting_is_explained(registry_url: str, monkeypatch):
    monkeypatch.setenv("SOCLE_INDICATORS_REFERRAL_SLA_DAYS", "thirty")
    at = run_app()
    assert not at.exception
    message = at.error[0].value
    assert "SOCLE_INDICATORS_REFERRAL_SLA_DAYS" in message
    assert "configuration" in message


def test_unknown_default_role_is_explained(registry_url: str, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "mayor")
    at = run_app()
    assert not at.exception
    assert "app.default_role" in at.error[0].value


def test_app_store_that_cannot_be_created_is_explained(registry_url: str, tmp_path: Path,
                                                       monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{blocker / 'app.db'}")
    at = run_app()
    assert not at.exception
    assert "app store" in at.error[0].value
    assert "SOCLE_APP_STORE_URL" in at.error[0].value


def test_app_store_is_created_at_start(registry_url: str, tmp_path: Path):
    run_app()
    assert (tmp_path / "store" / "app.db").is_file()


def test_page_run_without_the_entry_script_draws_the_sidebar_itself(registry_url: str,
                                                                    monkeypatch):
    """The first request after the server starts may run the page file alone."""
    monkeypatch.undo()  # no navigation shim: AppTest runs pages/ the old way on reruns
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", "")
    monkeypatch.setenv("SOCLE_DATABASE_URL", registry_url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", registry_url.replace("registry.db", "app.db"))
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=60).run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="level").value == 2
    assert shown_values(at) == expected_values(registry_url, level=2, area_id=None)


# Pure helpers ---------------------------------------------------------------------------------

def area_frame() -> pd.DataFrame:
    return pd.DataFrame(AREAS, columns=["area_id", "name", "level", "parent_id"])


@pytest.mark.parametrize(("areas", "visible"), [
    ((), None),
    (("D2",), {"D2", "T2", "T3", "U3", "U4"}),
    (("T1", "U3"), {"T1", "U1", "U2", "U3"}),
    (("P1",), {a[0] for a in AREAS}),
    (("nowhere",), set()),
])
def test_visible_areas_are_the_context_areas_and_below(areas, visible):
    assert queries.visible_area_ids(area_frame(), UserContext("officer", areas)) == visible


def test_visible_areas_survive_a_parent_cycle():
    frame = pd.DataFrame([("A", "A", 2, "B"), ("B", "B", 2, "A")],
                         columns=["area_id", "name", "level", "parent_id"])
    assert queries.visible_area_ids(frame, UserContext("chair", ("Z",))) == set()


def test_area_choices_disambiguate_equal_names():
    frame = pd.DataFrame([("A1", "Kalam", 3, None), ("A2", "Kalam", 3, None),
                          ("A3", "Bahrain", 3, None)],
                         columns=["area_id", "name", "level", "parent_id"])
    assert queries.area_choices(frame, 3) == {"A1": "Kalam (A1)", "A2": "Kalam (A2)",
                                         "A3": "Bahrain"}


@pytest.mark.parametrize(("levels", "expected"), [([1, 2, 3, 4], 2), ([3, 4], 3), ([1], 1)])
def test_default_level_is_the_district_level_when_offered(levels, expected):
    assert queries.default_level(levels) == expected


def test_headline_figures_of_missing_rows_are_empty():
    empty = pd.DataFrame(columns=["indicator_id", "area_id", "area_name", "level",
                                  "programme_id", "breakdown", "period_start", "period_end",
                                  "numerator", "denominator", "value"])
    figures = figure_cards.headline_figures(empty, "D1")
    assert [f.label for f in figures] == LABELS
    assert all(f.text == "–" for f in figures)


def test_headline_figures_pick_the_area_and_the_whole_registry():
    def row(indicator_id, area_id, numerator, denominator, value, breakdown=None):
        return {"indicator_id": indicator_id, "area_id": area_id, "programme_id": None,
                "breakdown": breakdown, "numerator": numerator, "denominator": denominator,
                "value": value}

    frame = pd.DataFrame([
        row("dq.unassessed_households", "D1", 1, 1200, 1 / 1200),
        row("dq.unassessed_households", None, 3, 5000, 3 / 5000),
        row("cov.population", "D1", 30, 40, 0.75),
        row("cov.population", "D1", 10, 20, 0.5, breakdown="sex=F"),
        row("cov.population", None, 60, 100, 0.6),
        row("dq.invalid_rows", None, 7, 700, 0.01),
    ])
    figures = {f.key: f for f in figure_cards.headline_figures(frame, "D1")}
    assert figures["households"].text == "1,200"
    assert figures["households"].registry_text == "5,000"
    assert figures["persons"].text == "40"
    assert figures["cov.population"].text == "75.0%"
    assert figures["cov.population"].registry_text == "60.0%"
    assert (figures["cov.population"].numerator, figures["cov.population"].denominator) == (30, 40)
    assert figures["dq.invalid_rows"].text == "1.0%"
    assert figures["dq.invalid_rows"].whole_registry_only
    assert figures["dq.invalid_rows"].registry_text is None
    assert figures["cov.poor_households"].empty


def test_scoped_figures_drop_other_areas_and_the_whole_registry():
    frame = pd.DataFrame({"area_id": ["D1", "D2", None], "value": [1.0, 2.0, 3.0]})
    scoped = queries.scope_figures(frame, {"D2"}, UserContext("officer", ("D2",)))
    assert scoped["area_id"].tolist() == ["D2"]
    assert len(queries.scope_figures(frame, None, UserContext("admin"))) == 3


# Translation ----------------------------------------------------------------------------------

def test_translation_falls_back_to_english(monkeypatch):
    from core import i18n

    monkeypatch.setitem(i18n.CATALOGUES, "fr", {"Overview": "Vue d'ensemble",
                                                "{n} areas": "{m} zones"})
    try:
        assert i18n.set_language("fr") == "fr"
        assert i18n.t("Overview") == "Vue d'ensemble"
        assert i18n.t("Area") == "Area"  # missing key: English
        assert i18n.t("{n} areas", n=3) == "3 areas"  # broken translation: English
        assert i18n.set_language("xx") == "en"  # unknown language: English
        assert i18n.t("Overview") == "Overview"
        assert i18n.t("As of {day}") == "As of {day}"  # missing field: text as is
    finally:
        i18n.set_language("en")
