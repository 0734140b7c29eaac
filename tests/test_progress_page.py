"""The Donor progress page under AppTest, on a small demo registry and a real app store file.

The registry is the demo generator's (300 households, 8 union councils: five districts, two of
them empty). Twelve monthly snapshots (2025-11-30 … 2026-10-31, district level) are stored once
by the snapshot command (``indicators.snapshot.main``); each test gets a copy of that store.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from app_under_test import assert_clean, run_app
from openpyxl import load_workbook

from data_access.app_store import open_app_store
from data_access.areas import read_areas
from data_access.context import UserContext
from data_access.registry import open_registry
from data_access.scope import Scope, scope_of
from data_access.snapshots import snapshot_dates, snapshots
from data_access.targets import store_targets, targets
from demo.generator import Options, generate
from exports.targets import build_template
from indicators.catalogue import BY_ID
from indicators.donor_calendar import is_period_end
from indicators.figures import series, snapshot_long_form
from indicators.snapshot import main as snapshot_main
from indicators.snapshot import month_ends
from views import progress

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

PAGE = "pages/progress.py"
AS_OF = dt.date(2026, 10, 31)
MONTHS = month_ends(dt.date(2025, 11, 30), AS_OF)
QUARTERS = [d for d in MONTHS if is_period_end(d, 3)]  # what a donor sees of them
THREE = ("cov.poor_households", "cov.population", "ref.overdue")
DISTRICTS = {"PK601": "Peshawar", "PK602": "Nowshera", "PK603": "Charsadda", "PK604": "Mardan",
             "PK605": "Swabi"}
LINES = ["All areas", "Charsadda", "Mardan", "Nowshera", "Peshawar", "Swabi"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[str, Path]:
    """The demo registry's URL and a store holding its twelve monthly snapshots."""
    folder = tmp_path_factory.mktemp("progress")
    generate(Options(out=folder / "registry.db", households=300, seed=3, union_councils=8))
    url = f"sqlite:///{folder / 'registry.db'}"
    store = folder / "snapshots.db"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SOCLE_"):
                mp.delenv(name)
        mp.setenv("SOCLE_DATABASE_URL", url)
        mp.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{store}")
        assert snapshot_main(["--monthly-from", "2025-11-30", "--monthly-to", AS_OF.isoformat(),
                              "--levels", "2", "--quiet"]) == 0
    return url, store


@pytest.fixture
def empty_store(demo, tmp_path: Path, monkeypatch) -> sa.Engine:
    """The demo registry and an empty app store (no snapshot, no target)."""
    url = f"sqlite:///{tmp_path / 'store' / 'app.db'}"
    monkeypatch.setenv("SOCLE_DATABASE_URL", demo[0])
    monkeypatch.setenv("SOCLE_APP_STORE_URL", url)
    engine = open_app_store(url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(demo, tmp_path: Path, monkeypatch) -> sa.Engine:
    """The demo registry and a copy of the store with the twelve monthly snapshots."""
    path = tmp_path / "app.db"
    shutil.copy(demo[1], path)
    monkeypatch.setenv("SOCLE_DATABASE_URL", demo[0])
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{path}")
    engine = open_app_store(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def open_page(query: dict[str, str] | None = None):
    at = run_app({"as_of": AS_OF.isoformat(), **(query or {})})
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def charts(at) -> list[list[tuple[dict, pd.DataFrame]]]:
    """Each Altair chart as its layers: (layer spec, layer data)."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        data = {d.name: pa.ipc.open_stream(d.data.data).read_pandas()
                for d in chart.proto.datasets}
        top = spec.get("data", {}).get("name")  # a layer without data takes the chart's
        out.append([(layer, data[layer.get("data", {}).get("name", top)])
                    for layer in spec["layer"]])
    return out


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "subheader", "info", "warning",
                                  "success", "title") for e in getattr(at, kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(str(p) for p in parts)


def target_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"indicator_id": i, "area_id": a, "programme_id": None,
                          "baseline_on": dt.date(2025, 11, 30), "baseline_value": b,
                          "target_on": dt.date(2027, 6, 30), "target_value": v}
                         for i, a, b, v in rows])


def expected_points(store: sa.Engine, indicator_id: str, area_id: str | None,
                    scope: Scope = ALL, days=MONTHS) -> list:
    """The line's values (twelve months) as the page must show them: × 100, small cells
    hidden (and, for a donor's scope, the cells its suppression hides)."""
    got = series(store, indicator_ids=[indicator_id], area_ids=[area_id], level=2, scope=scope)
    by_day = {r.as_of: r for r in got.itertuples()}
    out = []
    for day in days:
        row = by_day.get(day)
        small = row is not None and (bool(getattr(row, "suppressed", False)) or any(
            c is not pd.NA and c is not None and 1 <= int(c) < 5
            for c in (row.numerator, row.denominator)))
        value = None if row is None or pd.isna(row.value) or small else float(row.value) * 100
        out.append(value)
    return out


# Empty states --------------------------------------------------------------------------------

def test_without_snapshots_the_page_gives_the_command(empty_store: sa.Engine):
    at = open_page()
    assert not at.get("vega_lite_chart")
    assert "No snapshots of the indicators up to 2026-10-31 yet" in at.info[0].value
    command = ("python -m indicators.snapshot --monthly-from 2025-11-30 --monthly-to "
               "2026-10-31 --levels 2")
    assert command in at.code[0].value
    assert "python -m indicators.snapshot --as-of 2026-10-31 --levels 2" in at.code[0].value
    # The targets can be prepared before any snapshot: the template is offered.
    assert at.get("download_button")
    assert at.file_uploader(key="progress_targets_file")
    assert "District level: no snapshot up to 2026-10-31." in texts(at)


def test_without_targets_the_template_is_offered(store: sa.Engine):
    at = open_page()
    # Every overdue-referral figure of this small registry counts 1 to 4: no chart, a reason.
    assert len(charts(at)) == 2
    assert any("Every figure of this indicator for these areas is hidden: each counts between "
               "1 and 4 units" in i.value for i in at.info)
    assert any("No targets yet for these indicators and areas: download the template"
               in i.value for i in at.info)
    table = at.dataframe[0].value
    assert set(table["status_code"]) == {"no_target"}


# A donor sees three indicators against targets over twelve monthly snapshots -----------------

def test_a_donor_sees_three_indicators_against_targets_over_twelve_months(
        store: sa.Engine, demo, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "donor")
    store_targets(store, target_frame([
        ("cov.poor_households", None, 0.80, 0.95), ("cov.poor_households", "PK601", 0.8, 0.9),
        ("cov.population", None, 0.75, 0.90), ("cov.population", "PK603", 0.7, 0.85),
        ("ref.overdue", None, 0.50, 0.20), ("ref.overdue", "PK601", 0.5, 0.25),
    ]), scope=ALL)
    at = open_page()
    assert [s.value for s in at.subheader][:3] == [BY_ID[i].label for i in THREE]
    drawn = charts(at)
    assert len(drawn) == 3
    registry = open_registry(demo[0])
    donor = scope_of(UserContext("donor"), read_areas(registry))
    registry.dispose()
    for indicator_id, layers in zip(THREE, drawn, strict=True):
        (line_spec, actual), (dash_spec, _), (target_spec, target_points), *_ = layers
        assert line_spec["mark"]["type"] == "line"
        assert dash_spec["mark"]["strokeDash"] == [6, 4]
        assert target_spec["mark"]["shape"] == "diamond"
        # A point per quarter end of the twelve months (the donors' calendar: issue 17; the
        # months between would give their differences away), one line per district and one
        # for the whole registry.
        assert actual.groupby("line").size().to_dict() == dict.fromkeys(LINES, len(QUARTERS))
        for line, area_id in [("All areas", None), *((n, a) for a, n in DISTRICTS.items())]:
            shown = actual[actual["line"] == line].sort_values("date")["value"]
            assert [None if pd.isna(v) else pytest.approx(v) for v in shown] == \
                expected_points(store, indicator_id, area_id, donor, QUARTERS), (indicator_id,
                                                                                 line)
        # The targets, in percent.
        wanted = targets(store, indicator_ids=[indicator_id], scope=ALL)
        assert sorted(target_points["value"]) == pytest.approx(
            sorted(wanted["target_value"] * 100))
        assert line_spec["encoding"]["y"]["title"] == "%"
    assert not drawn[0][0][1]["value"].isna().all()

    # Small cells: overdue referrals of this small registry count 1 or 2 in places.
    overdue = drawn[2][0][1]
    assert overdue["value"].isna().any()
    assert any(c.value.startswith("Gaps: ") for c in at.caption)

    # Each figure's definition in place, and the direction.
    captions = texts(at)
    for indicator_id in THREE:
        assert f"**{BY_ID[indicator_id].label}**: {BY_ID[indicator_id].definition}" in captions
    assert "Lower is better." in captions and "Higher is better." in captions

    # Latest value against target, for every line of every indicator.
    table = at.dataframe[0].value
    assert len(table) == 3 * len(LINES)
    rated = table[table["line"] == "All areas"]
    assert list(rated["target"]) == ["95.0%", "90.0%", "20.0%"]
    assert set(rated["status_code"]) <= {"on_track", "off_track", "achieved", "hidden"}
    assert list(table.loc[table["line"] == "Swabi", "status_code"]) == ["no_target"] * 3

    # No snapshot button for a donor; aggregates only: no person and no household anywhere.
    assert not [b for b in at.button if b.key == "progress_snapshot_now"]
    shown = texts(at)
    registry = sa.create_engine(demo[0])
    with registry.connect() as conn:
        persons = conn.exec_driver_sql(
            "SELECT first_name, national_id, person_id FROM person LIMIT 50").all()
        households = conn.exec_driver_sql("SELECT household_id FROM household LIMIT 50").all()
    registry.dispose()
    for first_name, national_id, person_id in persons:
        assert f"{first_name} " not in shown
        assert national_id is None or str(national_id) not in shown
        assert str(person_id) not in shown
    assert not any(str(h) in shown for (h,) in households)
    for frame in (df.value for df in at.dataframe):
        assert not {"household_id", "person_id", "national_id", "first_name"} & set(frame.columns)


def test_a_district_draws_its_own_line(store: sa.Engine):
    at = open_page({"area": "PK601"})
    for layers in charts(at):
        assert set(layers[0][1]["line"]) == {"Peshawar"}
        assert len(layers[0][1]) == 12


# Targets import ------------------------------------------------------------------------------

def filled(rows: list[list]) -> bytes:
    areas = pd.DataFrame({"area_id": ["PK6", *DISTRICTS], "name": ["KP", *DISTRICTS.values()],
                          "level": [1, 2, 2, 2, 2, 2]})
    wb = load_workbook(io.BytesIO(build_template(areas)))
    for row in rows:
        wb["Targets"].append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


GOOD = [["cov.population", "PK601", None, dt.datetime(2025, 11, 30), 70,
         dt.datetime(2027, 6, 30), 85],
        ["cov.population", None, None, None, None, dt.datetime(2027, 6, 30), 90]]
BAD = ["cov.population", "PK601", None, None, None, "soon", 85]


def test_a_template_with_one_bad_row_shows_that_row_and_stores_nothing(store: sa.Engine):
    at = open_page()
    uploader = at.file_uploader(key="progress_targets_file")
    uploader.set_value(("targets.xlsx", filled([GOOD[0], BAD, GOOD[1]]), XLSX)).run()
    assert not at.exception
    assert "Problems in the file: 1" in at.warning[0].value
    assert "Nothing was imported" in at.warning[0].value
    problems = next(df.value for df in at.dataframe if "problem" in df.value.columns)
    assert problems.to_dict("records") == [
        {"row": 3, "column": "target_on",
         "problem": "target_on `soon` is not a date: type a date (e.g. 2027-06-30)"}]
    assert targets(store, scope=ALL).empty


def test_a_good_template_is_imported_once_and_drawn(store: sa.Engine):
    at = open_page()
    at.file_uploader(key="progress_targets_file").set_value(
        ("targets.xlsx", filled(GOOD), XLSX)).run()
    assert_clean(at)
    assert at.success[0].value == "2 targets imported."
    stored = targets(store, scope=ALL)
    assert list(stored["target_value"]) == pytest.approx([0.9, 0.85])
    population = charts(at)[1]
    target_points = population[2][1]
    assert sorted(target_points["value"]) == pytest.approx([85.0, 90.0])
    imported_at = list(stored["imported_at"])
    at.run()  # a rerun with the same file does not import it again
    assert list(targets(store, scope=ALL)["imported_at"]) == imported_at
    assert at.success[0].value == "2 targets imported."


# Links and choices ---------------------------------------------------------------------------

def test_the_link_reopens_the_same_indicators(store: sa.Engine):
    at = open_page({"indicators": "cov.population,ref.made"})
    assert at.multiselect(key="indicators").value == ["cov.population", "ref.made"]
    assert [s.value for s in at.subheader][:2] == ["Population coverage", "Referrals made"]
    assert len(charts(at)) == 2
    at.multiselect(key="indicators").unselect("ref.made").select("dup.double_dipping").run()
    assert_clean(at)
    link = at.query_params["indicators"]
    link = link[0] if isinstance(link, list) else link
    assert link == "cov.population,dup.double_dipping"

    again = open_page({"indicators": link})
    assert again.multiselect(key="indicators").value == ["cov.population", "dup.double_dipping"]


def test_the_default_link_holds_the_three_indicators(store: sa.Engine):
    at = open_page()
    link = at.query_params["indicators"]
    assert (link[0] if isinstance(link, list) else link) == ",".join(THREE)


def test_a_per_programme_indicator_asks_for_a_programme(store: sa.Engine):
    at = open_page({"indicators": "cov.programme", "programme": "sehat_card"})
    assert at.selectbox(key="programme").value == "sehat_card"
    (layers,) = charts(at)
    got = series(store, indicator_ids=["cov.programme"], area_ids=[None], level=2,
                 programme_id="sehat_card", scope=ALL)
    shown = layers[0][1]
    whole = shown[shown["line"] == "All areas"].sort_values("date")["value"]
    assert list(whole) == pytest.approx([float(v) * 100 for v in got["value"]])


# Snapshots from the page ---------------------------------------------------------------------

def test_an_admin_takes_a_snapshot_now(empty_store: sa.Engine, demo):
    at = open_page()
    at.button(key="progress_snapshot_now").click().run()
    assert_clean(at)
    assert "Snapshot of 2026-10-31 stored" in at.success[0].value
    assert snapshot_dates(empty_store, 2) == [AS_OF]
    # The same figures as the snapshot command's for that date and level.
    command_store = open_app_store(f"sqlite:///{demo[1]}")
    try:
        (by_command,) = [s for s in snapshots(command_store, level=2) if s.as_of == AS_OF]
        (by_page,) = snapshots(empty_store, level=2)
        assert by_page.parameters == by_command.parameters
        assert by_page.period_start == by_command.period_start
        pd.testing.assert_frame_equal(snapshot_long_form(empty_store, by_page.snapshot_id),
                                      snapshot_long_form(command_store, by_command.snapshot_id))
    finally:
        command_store.dispose()
    drawn = charts(at)
    assert len(drawn) == 2  # overdue referrals: every figure a small cell
    assert drawn[0][0][1].groupby("line").size().to_dict() == dict.fromkeys(LINES, 1)
    at.button(key="progress_snapshot_now").click().run()  # again: replaced, not added
    assert snapshot_dates(empty_store, 2) == [AS_OF]


def test_an_unexpected_error_is_a_plain_message(store: sa.Engine, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(progress, "load", broken)
    at = run_app({"as_of": AS_OF.isoformat()})
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "Something went wrong while drawing this page" in at.error[0].value
