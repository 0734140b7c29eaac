"""The analytical copy: the registry's tables in Socle's own DuckDB file, whole or incremental,
giving the same figures, lists and workbook as the registry itself, which is never written."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import fixture_registry as fx
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.analytic_copy import CopyError, current_copy, due, refresh
from data_access.loader import write_registry
from data_access.registry import open_registry
from indicators import compute, default_period_start
from tests.reference import long_form_differences

ROOT = Path(__file__).resolve().parents[1]


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sqlite_registry(path: Path, tables=None) -> sa.Engine:
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, tables or fx.fixture_tables())
    writer.dispose()
    return open_registry(f"sqlite:///{path}")


def _same_figures(live: sa.Engine, copy: sa.Engine, levels=(1, 2, 3)) -> None:
    for level in levels:
        a = compute(live, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level)
        b = compute(copy, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level)
        assert long_form_differences(b, a) == [], level


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_whole_copy_gives_the_registry_figures(make_registry, backend, tmp_path):
    live = make_registry(fx.fixture_tables())
    state = refresh(live, tmp_path / "copy", incremental=True)  # no copy yet: whole
    assert state.kind == "whole" and state.rows["person"] == len(fx.fixture_tables()["person"])
    assert current_copy(tmp_path / "copy") == state
    copy = open_registry(state.url)
    _same_figures(live, copy)
    copy.dispose()


def test_the_registry_is_never_written(tmp_path):
    path = tmp_path / "registry.db"
    live = _sqlite_registry(path)
    before = _checksum(path)
    refresh(live, tmp_path / "copy")
    refresh(live, tmp_path / "copy")
    assert _checksum(path) == before


def _append(path: Path, table: str, row: dict) -> None:
    with sqlite3.connect(path) as conn:
        names = ", ".join(row)
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                     [v.isoformat() if isinstance(v, dt.date) else v for v in row.values()])


def test_an_incremental_copy_takes_new_and_dated_changes(tmp_path):
    path = tmp_path / "registry.db"
    live = _sqlite_registry(path)
    first = refresh(live, tmp_path / "copy")
    late = dt.date.today()  # what happens after a copy is stamped with a later day
    _append(path, "household", {"household_id": "HN", "area_id": "U11", "registered_on": late,
                                "pmt_score": 12.0})
    _append(path, "person", {"person_id": "PN", "household_id": "HN", "sex": "F",
                             "first_name": "New", "disability": 0, "is_head": 1,
                             "registered_on": late})
    # An enrolment that ends after the last copy's latest date: its new ended_on is seen.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE enrolment SET ended_on = ? WHERE enrolment_id = (SELECT min("
                     "enrolment_id) FROM enrolment WHERE ended_on IS NULL)", (late.isoformat(),))
    live.dispose()
    live = open_registry(f"sqlite:///{path}")
    second = refresh(live, tmp_path / "copy")
    assert second.kind == "incremental" and second.path != first.path
    assert second.rows["household"] == first.rows["household"] + 1
    assert second.rows["person"] == first.rows["person"] + 1
    assert not first.path.exists() or first.path in {second.path, first.path}
    _same_figures(live, open_registry(second.url))
    for day in (fx.AS_OF, late):  # the new rows count from their day on
        a = compute(live, as_of=day, period_start=fx.PERIOD_START, level=3)
        b = compute(open_registry(second.url), as_of=day, period_start=fx.PERIOD_START, level=3)
        assert long_form_differences(b, a) == []


def test_a_row_dated_before_the_last_copy_makes_the_copy_whole(tmp_path):
    """A household entered late, registered before the copy's latest date: the dates do not
    show it, the row count does."""
    path = tmp_path / "registry.db"
    live = _sqlite_registry(path)
    refresh(live, tmp_path / "copy")
    _append(path, "household", {"household_id": "HB", "area_id": "U12",
                                "registered_on": fx.D("2025-05-05"), "pmt_score": 10.0})
    live.dispose()
    live = open_registry(f"sqlite:///{path}")
    state = refresh(live, tmp_path / "copy")
    assert state.kind == "whole" and state.rows["household"] == len(fx.HOUSEHOLDS) + 1
    _same_figures(live, open_registry(state.url))


def test_rows_deleted_from_the_registry_make_the_copy_whole(tmp_path):
    path = tmp_path / "registry.db"
    live = _sqlite_registry(path)
    refresh(live, tmp_path / "copy")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM referral WHERE referral_id = 'R1'")
    live.dispose()
    live = open_registry(f"sqlite:///{path}")
    state = refresh(live, tmp_path / "copy")
    assert state.kind == "whole"
    _same_figures(live, open_registry(state.url))


def test_a_reader_keeps_its_copy_while_a_new_one_is_made(tmp_path):
    live = _sqlite_registry(tmp_path / "registry.db")
    first = refresh(live, tmp_path / "copy")
    reader = open_registry(first.url)
    second = refresh(live, tmp_path / "copy", incremental=False)
    third = refresh(live, tmp_path / "copy", incremental=False)
    assert len({first.path, second.path, third.path}) == 3
    # The pointer names the newest; two versions are kept, the oldest removed.
    assert current_copy(tmp_path / "copy").path == third.path
    assert sorted(p.name for p in (tmp_path / "copy").glob("registry-*.duckdb")) == sorted(
        [second.path.name, third.path.name])
    reader.dispose()


def test_a_missing_registry_is_named_and_the_previous_copy_kept(tmp_path):
    live = _sqlite_registry(tmp_path / "registry.db")
    state = refresh(live, tmp_path / "copy")
    (tmp_path / "registry.db").unlink()
    with pytest.raises(CopyError, match="registry.db"):
        refresh(live, tmp_path / "copy")
    assert current_copy(tmp_path / "copy") == state


def test_when_a_refresh_is_due(tmp_path):
    from core.settings import load_settings

    settings = load_settings(env={"SOCLE_ANALYTICS_REFRESH_MINUTES": "15",
                                  "SOCLE_ANALYTICS_WHOLE_REFRESH_HOURS": "24",
                                  "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}, check_files=False)
    live = _sqlite_registry(tmp_path / "registry.db")
    state = refresh(live, tmp_path / "copy")
    assert due(None, settings) == "whole"
    assert due(state, settings, state.copied_at + dt.timedelta(minutes=5)) is None
    assert due(state, settings, state.copied_at + dt.timedelta(minutes=20)) == "incremental"
    assert due(state, settings, state.copied_at + dt.timedelta(hours=25)) == "whole"


def test_the_refresh_command(tmp_path):
    path = tmp_path / "registry.db"
    _sqlite_registry(path).dispose()
    env = {"PATH": "/usr/bin:/bin", "SOCLE_DATABASE_URL": f"sqlite:///{path}",
           "SOCLE_ANALYTICS_COPY_FOLDER": str(tmp_path / "copy"),
           "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}
    done = subprocess.run([sys.executable, "-m", "data_access.refresh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "whole copy" in done.stdout and f"person {len(fx.PERSONS)}" in done.stdout
    assert str(path) in done.stdout
    again = subprocess.run([sys.executable, "-m", "data_access.refresh", "--quiet"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout == ""
    assert current_copy(tmp_path / "copy").kind == "incremental"
    missing = subprocess.run([sys.executable, "-m", "data_access.refresh"], cwd=ROOT,
                             env={**env, "SOCLE_DATABASE_URL": f"sqlite:///{tmp_path}/no.db"},
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "no.db" in missing.stderr and "does not exist" in missing.stderr


def test_the_workbook_is_the_same_through_the_copy_and_live(tmp_path):
    from demo.generator import Options, generate

    registry = tmp_path / "demo.db"
    generate(Options(out=registry, households=400, seed=3, end_date=dt.date(2026, 10, 31)))
    state = refresh(open_registry(f"sqlite:///{registry}"), tmp_path / "copy")
    workbooks = {}
    for name, url in (("live", f"sqlite:///{registry}"), ("copy", state.url)):
        out = tmp_path / f"{name}.xlsx"
        env = {"PATH": "/usr/bin:/bin", "SOCLE_APP_STORE_URL": f"sqlite:///{tmp_path}/store.db",
               "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}
        done = subprocess.run([sys.executable, "-m", "exports", "--database-url", url,
                               "--level", "2", "--as-of", "2026-10-31", "--out", str(out),
                               "--lists", "all", "--quiet"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        workbooks[name] = pd.read_excel(out, sheet_name=None)
    assert workbooks["live"].keys() == workbooks["copy"].keys()
    for sheet, frame in workbooks["live"].items():
        other = workbooks["copy"][sheet]
        if sheet == "Summary":  # the generation time and the database read differ, nothing else
            frame, other = (f[~f.astype(str).apply(lambda row: row.str.contains(
                "Generated|sqlite:|duckdb:").any(), axis=1)] for f in (frame, other))
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), other.reset_index(drop=True),
                                      obj=sheet)


def test_the_cube_computed_ahead_is_what_pages_read(tmp_path):
    """indicators.cube stores every level's long form of the copy's default view; read back,
    any indicators of it equal a computation of them."""
    from core.settings import load_settings
    from data_access.analytic_copy import reading_settings
    from indicators.cube import precompute, stored_figures

    live = _sqlite_registry(tmp_path / "registry.db")
    state = refresh(live, tmp_path / "copy")
    settings = reading_settings(load_settings(env={
        "SOCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "SOCLE_ANALYTICS_COPY_FOLDER": str(tmp_path / "copy"),
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}, check_files=False), state)
    pairs = pd.DataFrame({"person_id_a": ["P1a"], "person_id_b": ["P5a"]})
    keys = precompute(state, settings, pairs=pairs, as_of=fx.AS_OF)
    assert len(keys) == 3 and len(list((tmp_path / "copy" / "figures").glob("*.parquet"))) == 3
    copy = open_registry(state.url)
    start = default_period_start(fx.AS_OF, settings.period_months)
    for level in (1, 2, 3):
        for ids in (None, ("cov.population", "dup.suspected_pairs", "ref.made")):
            stored = stored_figures(state.path.name, str(tmp_path / "copy"), settings,
                                    as_of=fx.AS_OF, period_start=start, level=level,
                                    pairs=pairs, indicator_ids=ids)
            computed = compute(copy, as_of=fx.AS_OF, period_start=start, level=level,
                               suspected_pairs=pairs, indicator_ids=ids)
            pd.testing.assert_frame_equal(stored, computed)
    # Another view (other pairs, another day) is not stored: the page computes it.
    assert stored_figures(state.path.name, str(tmp_path / "copy"), settings, as_of=fx.AS_OF,
                          period_start=start, level=2, pairs=None, indicator_ids=None) is None
