"""Snapshots in the app store and the snapshot command, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from core.cli import ProgressBar
from data_access import snapshots as snapshots_module
from data_access.app_store import open_app_store
from data_access.meetings import action_point, meeting
from data_access.registry import open_registry
from data_access.scope import Scope  # noqa: E402
from data_access.snapshots import (
    metadata,
    snapshot_dates,
    snapshots,
    store_snapshot,
)
from data_access.targets import target
from demo.generator import Options, generate
from indicators import compute, default_period_start
from indicators.figures import series, snapshot_long_form
from indicators.snapshot import main, month_ends

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 10, 31)
PARAMETERS = {"poverty_cutoff": 32.0, "referral_sla_days": 30, "period_months": 3}


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    engine = open_app_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory) -> str:
    """A tiny demo registry (300 households, 8 union councils) on a SQLite file."""
    out = tmp_path_factory.mktemp("snapdemo") / "registry.db"
    generate(Options(out=out, households=300, seed=3, union_councils=8))
    return f"sqlite:///{out}"


@pytest.fixture(scope="module")
def computed(registry_url: str) -> dict[int, pd.DataFrame]:
    """The engine's figures on AS_OF at levels 2 and 4, computed directly."""
    engine = open_registry(registry_url)
    try:
        return {level: compute(engine, as_of=AS_OF, level=level,
                               period_start=default_period_start(AS_OF, 3), **PARAMETERS)
                for level in (2, 4)}
    finally:
        engine.dispose()


@pytest.fixture
def command_env(monkeypatch, registry_url: str, store_url: str) -> str:
    """Point the settings at the demo registry and the test store; the store's URL."""
    for name in ("SOCLE_CONFIG", "SOCLE_INDICATORS_POVERTY_CUTOFF",
                 "SOCLE_INDICATORS_REFERRAL_SLA_DAYS", "SOCLE_INDICATORS_PERIOD_MONTHS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOCLE_DATABASE_URL", registry_url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", store_url)
    return store_url


def figure_count(store: sa.Engine) -> int:
    with store.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM snapshot_figure")).scalar_one()


def test_core_tables_match_the_migration(store: sa.Engine):
    inspector = sa.inspect(store)
    for table in (*metadata.tables.values(), meeting, action_point, target):
        columns = [c["name"] for c in inspector.get_columns(table.name)]
        assert columns == [c.name for c in table.columns], table.name
    indexes = {i["name"]: i for i in inspector.get_indexes("snapshot")}
    assert indexes["ux_snapshot_command"]["unique"]


def test_snapshot_round_trips_in_chunks(store: sa.Engine, computed, monkeypatch):
    monkeypatch.setattr(snapshots_module, "CHUNK_ROWS", 97)  # many chunks and a ragged last one
    figures = computed[2]
    snapshot_id = store_snapshot(store, figures, as_of=AS_OF, level=2,
                                 period_start=default_period_start(AS_OF, 3), period_end=AS_OF,
                                 parameters=PARAMETERS)
    back = snapshot_long_form(store, snapshot_id)
    pd.testing.assert_frame_equal(back, figures)
    assert back["value"].isna().any() and back["area_id"].isna().any()  # NULLs survived
    (info,) = snapshots(store)
    assert (info.as_of, info.level, info.source, info.parameters) == (AS_OF, 2, "command",
                                                                     PARAMETERS)


def test_command_twice_leaves_one_snapshot_per_level(store: sa.Engine, command_env, computed,
                                                     capsys):
    argv = ["--as-of", AS_OF.isoformat(), "--levels", "2,4"]
    assert main(argv) == 0
    first = {s.level: s.snapshot_id for s in snapshots(store)}
    assert main(argv) == 0
    second = snapshots(store)
    assert sorted(s.level for s in second) == [2, 4]
    assert {s.source for s in second} == {"command"}
    assert all(s.snapshot_id != first[s.level] for s in second)  # replaced, not kept
    for info in second:
        pd.testing.assert_frame_equal(snapshot_long_form(store, info.snapshot_id),
                                      computed[info.level])
    assert figure_count(store) == len(computed[2]) + len(computed[4])  # no orphan figures
    out = capsys.readouterr()
    assert "stored 2 snapshot(s)" in out.out
    assert "2/2 2026-10-31 level 4" in out.err  # one progress line per step (not a tty)


def test_monthly_snapshots_and_series(store: sa.Engine, command_env, registry_url):
    assert main(["--monthly-from", "2026-07-15", "--monthly-to", "2026-10-30", "--levels", "2",
                 "--quiet"]) == 0
    months = [dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)]
    assert snapshot_dates(store, 2) == months
    assert snapshot_dates(store, 4) == []

    by_date = {s.as_of: snapshot_long_form(store, s.snapshot_id) for s in snapshots(store, level=2)}
    district = next(a for a in by_date[months[0]]["area_id"] if a is not None)
    got = series(store, indicator_ids=["cov.poor_households", "ref.made"],
                 area_ids=[district, None], level=2, scope=ALL)
    assert len(got) == 3 * 2 * 2
    assert set(got["source"]) == {"command"}
    for row in got.itertuples():
        frame = by_date[row.as_of]
        match = frame[(frame["indicator_id"] == row.indicator_id)
                      & frame["programme_id"].isna() & frame["breakdown"].isna()
                      & ((frame["area_id"] == row.area_id) if row.area_id is not None
                         else frame["area_id"].isna())]
        assert len(match) == 1
        assert match["value"].iloc[0] == row.value
        assert match["numerator"].iloc[0] == row.numerator
    assert list(got["as_of"]) == sorted(got["as_of"])

    by_programme = series(store, indicator_ids=["cov.programme"], area_ids=[district], level=2,
                          programme_id="bisp_kafaalat", scope=ALL)
    assert len(by_programme) == 3
    frame = by_date[months[1]]
    expected = frame.loc[(frame["indicator_id"] == "cov.programme")
                         & (frame["area_id"] == district)
                         & (frame["programme_id"] == "bisp_kafaalat"), "value"].iloc[0]
    assert by_programme.loc[by_programme["as_of"] == months[1], "value"].iloc[0] == expected
    assert series(store, indicator_ids=["cov.programme"], area_ids=[district], level=2, scope=ALL).empty


def _one_row(value: float, area_id: str | None = "D1") -> pd.DataFrame:
    return pd.DataFrame([{
        "indicator_id": "cov.poor_households", "area_id": area_id,
        "area_name": "District one" if area_id else "All areas", "level": 2 if area_id else None,
        "programme_id": None, "breakdown": None, "numerator": int(value * 8),
        "denominator": 8, "value": value,
    }])


def test_series_prefers_command_then_newest_meeting(store: sa.Engine):
    june, july = dt.date(2026, 6, 30), dt.date(2026, 7, 31)
    common = {"level": 2, "parameters": PARAMETERS}
    store_snapshot(store, _one_row(0.5), as_of=july, period_start=july, period_end=july,
                   **common)
    store_snapshot(store, _one_row(0.25), as_of=july, period_start=july, period_end=july,
                   source="meeting", **common)
    store_snapshot(store, _one_row(0.125), as_of=june, period_start=june, period_end=june,
                   source="meeting", **common)
    newest = store_snapshot(store, _one_row(0.375), as_of=june, period_start=june,
                            period_end=june, source="meeting", **common)
    got = series(store, indicator_ids=["cov.poor_households"], area_ids=["D1"], level=2, scope=ALL)
    assert list(got["as_of"]) == [june, july]
    assert list(got["value"]) == [0.375, 0.5]
    assert list(got["source"]) == ["meeting", "command"]
    assert got["snapshot_id"].iloc[0] == newest
    assert snapshot_dates(store, 2) == [july]
    assert snapshot_dates(store, 2, source=None) == [june, july]
    # Meeting snapshots are never replaced: four stored, four kept.
    assert len(snapshots(store)) == 4


def test_month_ends():
    assert month_ends(dt.date(2024, 1, 31), dt.date(2024, 4, 29)) == [
        dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)]
    assert month_ends(dt.date(2024, 5, 2), dt.date(2024, 5, 30)) == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_on_a_terminal_and_prints_lines_otherwise():
    tty = _Terminal()
    bar = ProgressBar(2, stream=tty, width=10)
    bar.update(0, 0.5, "2026-10-31 level 2: population")
    bar.step_done(0, "done one")
    bar.step_done(1, "done two")
    bar.close()
    text = tty.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1
    assert "\r[##........]  25% 2026-10-31 level 2: population\r" in text
    assert text.rstrip().endswith("[##########] 100% done two")

    plain = io.StringIO()
    bar = ProgressBar(2, stream=plain, width=10)
    bar.update(0, 0.5, "not shown")
    bar.step_done(0, "one")
    bar.step_done(1, "two")
    bar.close()
    assert plain.getvalue().splitlines() == ["[#####.....]  50% 1/2 one",
                                             "[##########] 100% 2/2 two"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--as-of", "2026-02-30"], "argument --as-of: `2026-02-30` is not a date"),
    (["--levels", "2,x"], "`x` is not a level number"),
    (["--levels", "0"], "unknown level 0"),
    (["--levels", "2,7"], "the registry has no area of level 7 (levels present: 1, 2, 3, 4)"),
    (["--monthly-to", "2026-10-31"], "argument --monthly-to: needs --monthly-from"),
    (["--as-of", "2026-10-31", "--monthly-from", "2026-01-01"], "not allowed with argument"),
    (["--monthly-from", "2026-10-02", "--monthly-to", "2026-10-30"],
     "no month-end between 2026-10-02 and 2026-10-30"),
    (["--config", "/nonexistent/socle.toml"], "configuration file `/nonexistent/socle.toml`"),
])
def test_cli_errors_exit_2_with_one_message(argv, message, command_env, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("python -m indicators.snapshot: error:") and err.count("\n") == 1


@pytest.mark.parametrize("registry", ["sqlite:////nonexistent/registry.db",
                                      "postgresql+psycopg://socle@127.0.0.1:1/nowhere"])
def test_cli_unreachable_registry_exits_2(registry, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SOCLE_DATABASE_URL", registry)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert main(["--as-of", "2026-10-31"]) == 2
    err = capsys.readouterr().err
    assert "registry" in err and "Traceback" not in err
    assert not (tmp_path / "store.db").exists()  # nothing written before the registry opens


def test_cli_as_a_process_prints_no_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SOCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
           "SOCLE_APP_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    result = subprocess.run([sys.executable, "-m", "indicators.snapshot"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("python -m indicators.snapshot: error: registry database "
                                    "file")
    assert "Traceback" not in result.stderr
